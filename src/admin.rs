//! The local admin channel: a Unix socket in the data directory (mode 0600) through which
//! command-line tools reach a running server, since sled lets one process open a store.
//! One JSON request per connection, one JSON answer.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::domain::account::Scope;
use crate::domain::actor::{Actor, Role};
use crate::domain::{Error, Result};
use crate::federation::Federation;
use crate::service::Core;
use crate::service::accounts::AccountService;
use crate::service::inbound::InboundService;
use crate::service::tokens::TokenService;
use crate::store::backup;

pub const SOCKET: &str = "admin.sock";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum AdminRequest {
    Token {
        role: Role,
        label: String,
    },
    Invite {
        email: String,
        role: Role,
        departments: Vec<String>,
    },
    AuditVerify,
    Backup {
        dir: PathBuf,
    },
    Check,
    /// An e-mail message, base64.
    IngestMail {
        message: String,
    },
    FederationInvite,
    FederationJoin {
        link: String,
    },
    FederationPeers,
    /// Delivery to each peer: queue, last success, failures, dead letters.
    FederationDeliveries,
    FederationRetry {
        peer: String,
    },
    /// Queue again a message the peer refused.
    FederationResend {
        peer: String,
        message: String,
    },
    FederationCompetences,
    /// Retire the instance key for a new one and tell every active peer.
    FederationRotateKey,
    FederationState {
        peer: String,
    },
    FederationCompetence {
        category: String,
        insee: String,
        peer: String,
    },
    FederationApprove {
        peer: String,
        short_code: String,
    },
    FederationRevoke {
        peer: String,
    },
    FederationMember {
        peer: String,
        member: bool,
    },
    FederationRosters,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AdminResponse {
    pub ok: bool,
    #[serde(default)]
    pub result: serde_json::Value,
    #[serde(default)]
    pub error: String,
    /// The request itself was refused (bad input, too large): trying again will not help.
    #[serde(default)]
    pub refused: bool,
}

/// Consistency of indexes, counters and the audit chain.
#[derive(Debug, Serialize, Deserialize)]
pub struct CheckReport {
    pub requests_problems: Vec<String>,
    pub audit: crate::store::audit::Verification,
}

/// Runs a request against an open store (the server's, or the command line's own).
pub async fn handle(
    core: &std::sync::Arc<Core>,
    data_dir: &Path,
    federation: &Federation,
    request: AdminRequest,
) -> Result<serde_json::Value> {
    let cli = Actor::system("cli");
    match request {
        AdminRequest::FederationInvite => Ok(to_json(&federation.invite(&cli).await?)),
        AdminRequest::FederationJoin { link } => Ok(to_json(&federation.join(&cli, &link).await?)),
        AdminRequest::FederationPeers => Ok(to_json(&federation.peers(&cli)?)),
        AdminRequest::FederationDeliveries => Ok(to_json(&federation.deliveries(&cli)?)),
        AdminRequest::FederationRetry { peer } => {
            federation.retry_now(&cli, &peer).await?;
            Ok(serde_json::json!({"retry": peer}))
        }
        AdminRequest::FederationResend { peer, message } => {
            federation.resend(&cli, &peer, &message).await?;
            Ok(serde_json::json!({"resent": message, "peer": peer}))
        }
        AdminRequest::FederationCompetences => Ok(to_json(&federation.competences(&cli)?)),
        AdminRequest::FederationRotateKey => Ok(to_json(&federation.rotate_key(&cli).await?)),
        AdminRequest::FederationState { peer } => federation.shared_state(&cli, &peer),
        AdminRequest::FederationCompetence { category, insee, peer } => {
            federation.set_competence(&cli, &category, &insee, &peer).await?;
            Ok(to_json(&federation.competences(&cli)?))
        }
        AdminRequest::FederationApprove { peer, short_code } => {
            let (view, told) = federation.approve(&cli, &peer, &short_code).await?;
            Ok(serde_json::json!({"peer": view, "told": told}))
        }
        AdminRequest::FederationRevoke { peer } => Ok(to_json(&federation.revoke(&cli, &peer).await?)),
        AdminRequest::FederationMember { peer, member } => {
            Ok(to_json(&federation.set_member(&cli, &peer, member).await?))
        }
        AdminRequest::FederationRosters => Ok(to_json(&federation.rosters(&cli)?)),
        AdminRequest::Token { role, label } => {
            let issued = TokenService::new(core.clone()).issue(&cli, role, label).await?;
            Ok(to_json(&issued))
        }
        AdminRequest::Invite { email, role, departments } => {
            let scope = if departments.is_empty() { Scope::All } else { Scope::Departments(departments) };
            let link = AccountService::new(core.clone()).invite(&cli, &email, role, scope).await?;
            Ok(to_json(&link))
        }
        AdminRequest::AuditVerify => {
            // Writes are held back while the chain is read, so a busy server reads as it is.
            let (store, repos) = (core.store.clone(), core.repos.clone());
            let verification =
                crate::service::blocking(move || store.exclusive_blocking(move || repos.audit.verify())?).await?;
            Ok(to_json(&verification))
        }
        AdminRequest::Backup { dir } => {
            if !dir.is_absolute() {
                return Err(Error::invalid("relative_path", "dir", "give the backup directory as an absolute path"));
            }
            let (store, repos, data_dir) = (core.store.clone(), core.repos.clone(), data_dir.to_owned());
            let manifest = crate::service::blocking(move || backup::backup(&store, &repos, &data_dir, &dir)).await?;
            Ok(to_json(&manifest))
        }
        AdminRequest::IngestMail { message } => {
            use base64::Engine;
            let raw = base64::engine::general_purpose::STANDARD
                .decode(message)
                .map_err(|_| Error::invalid("malformed", "message", "not base64"))?;
            let s = &core.settings;
            let inbound = InboundService::new(core.clone(), s.inbound_category.clone(), s.inbound_max_bytes);
            Ok(to_json(&inbound.ingest(&raw).await?))
        }
        AdminRequest::Check => {
            let (store, repos) = (core.store.clone(), core.repos.clone());
            let report = crate::service::blocking(move || {
                store.exclusive_blocking(move || -> Result<CheckReport> {
                    Ok(CheckReport {
                        requests_problems: repos.requests.check_consistency()?,
                        audit: repos.audit.verify()?,
                    })
                })?
            })
            .await?;
            Ok(to_json(&report))
        }
    }
}

fn to_json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// Binds the admin socket (mode 0600). Called before the server says it is ready, so that
/// admin commands work as soon as it is.
pub fn bind(data_dir: &Path) -> Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let path = data_dir.join(SOCKET);
    let failed = |e: std::io::Error| Error::Unavailable(format!("admin socket {}: {e}", path.display()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).map_err(failed)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(failed)?;
    Ok(listener)
}

/// Serves admin requests until the task is dropped.
pub async fn serve(listener: UnixListener, core: std::sync::Arc<Core>, data_dir: PathBuf, federation: Arc<Federation>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let (core, data_dir, federation) = (core.clone(), data_dir.clone(), federation.clone());
        tokio::spawn(async move {
            if let Err(e) = answer(stream, &core, &data_dir, &federation).await {
                tracing::warn!(error = %e, "admin request failed");
            }
        });
    }
}

async fn answer(
    stream: UnixStream,
    core: &std::sync::Arc<Core>,
    data_dir: &Path,
    federation: &Federation,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    // Room for an e-mail message (base64) of the largest size accepted.
    BufReader::new(read.take(48 * 1024 * 1024)).read_line(&mut line).await?;
    let response = match serde_json::from_str::<AdminRequest>(&line) {
        Err(e) => AdminResponse {
            ok: false,
            result: serde_json::Value::Null,
            error: format!("bad request: {e}"),
            refused: true,
        },
        Ok(request) => {
            tracing::info!(command = ?std::mem::discriminant(&request), "admin command");
            match handle(core, data_dir, federation, request).await {
                Ok(result) => AdminResponse { ok: true, result, error: String::new(), refused: false },
                Err(e) => AdminResponse {
                    ok: false,
                    result: serde_json::Value::Null,
                    refused: e.is_refusal(),
                    error: e.to_string(),
                },
            }
        }
    };
    let mut bytes = serde_json::to_vec(&response).unwrap_or_default();
    bytes.push(b'\n');
    write.write_all(&bytes).await?;
    write.shutdown().await
}

/// Sends a request to a running server. `Ok(None)` when no server listens.
pub async fn call(data_dir: &Path, request: &AdminRequest) -> Result<Option<serde_json::Value>> {
    let path = data_dir.join(SOCKET);
    let Ok(mut stream) = UnixStream::connect(&path).await else {
        return Ok(None);
    };
    let mut bytes = serde_json::to_vec(request).map_err(|e| Error::Internal(e.to_string()))?;
    bytes.push(b'\n');
    let io = |e: std::io::Error| Error::Unavailable(format!("admin socket: {e}"));
    stream.write_all(&bytes).await.map_err(io)?;
    let mut line = String::new();
    // Backups of large stores take a while; an hour is the outer bound.
    tokio::time::timeout(Duration::from_secs(3600), BufReader::new(stream).read_line(&mut line))
        .await
        .map_err(|_| Error::Unavailable("the server did not answer".into()))?
        .map_err(io)?;
    let response: AdminResponse =
        serde_json::from_str(&line).map_err(|e| Error::Unavailable(format!("bad answer from the server: {e}")))?;
    match response {
        AdminResponse { ok: true, result, .. } => Ok(Some(result)),
        AdminResponse { refused: true, error, .. } => {
            Err(Error::Invalid { code: "refused", field: None, message: error })
        }
        AdminResponse { error, .. } => Err(Error::Unavailable(error)),
    }
}

/// Whether a server answers on the admin socket of `data_dir`.
pub async fn server_running(data_dir: &Path) -> bool {
    UnixStream::connect(data_dir.join(SOCKET)).await.is_ok()
}
