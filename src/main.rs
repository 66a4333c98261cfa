//! The `guichet` command: parse, load the configuration, start.

use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use guichet::admin::{self, AdminRequest};
use guichet::app;
use guichet::clock::SystemClock;
use guichet::config::Config;
use guichet::domain::actor::Role;
use guichet::store::{self, backup, dump};

/// sysexits.h: the message itself is refused.
const EX_DATAERR: i32 = 65;
/// sysexits.h: try again later.
const EX_TEMPFAIL: i32 = 75;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "guichet", version, about = "Citizen requests for French communes and their intercommunality")]
struct Cli {
    /// Configuration file (TOML). Without it, built-in defaults apply.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Overrides `[storage] data_dir`.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<String>,
    /// Overrides `[http] bind`.
    #[arg(long, global = true, value_name = "ADDR")]
    bind: Option<String>,
    /// Overrides any key: `--set table.key=value` (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    set: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve,
    /// Administration tasks (work whether the server runs or not).
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The audit journal.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Check that indexes, counters and the audit chain agree with the records.
    Check,
    /// Take a consistent backup (store, files, key) into an empty directory, server running or not.
    Backup { dir: PathBuf },
    /// Restore a backup into the data directory (which must not hold a store; server stopped).
    Restore { dir: PathBuf },
    /// Write a store-neutral dump (JSON Lines) of everything (server stopped; use `backup` otherwise).
    Export {
        /// Output file; standard output by default.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Load a dump into an empty data directory (server stopped).
    Import { file: PathBuf },
    /// Pairing with the other instances of the territory (the server must run: the other
    /// instance calls it back).
    Federation {
        #[command(subcommand)]
        command: FederationCommand,
    },
    /// E-mail received by the collectivité.
    Mail {
        #[command(subcommand)]
        command: MailCommand,
    },
}

#[derive(Subcommand)]
enum FederationCommand {
    /// Create a single-use invitation (valid seven days): a link to hand to the other
    /// instance's admin, and this instance's key fingerprint to read out to them.
    Invite,
    /// Join the instance that made the invitation LINK; prints its name and the short code
    /// to compare with its admin.
    Join { link: String },
    /// The paired instances and the ones being paired, with their short codes.
    Peers,
    /// Approve a peer that joined with our invitation, giving the short code its admin read
    /// out (the same as ours); tells it.
    Approve {
        peer: String,
        #[arg(long)]
        code: String,
    },
    /// Stop exchanging with a peer (its queues are frozen; nothing is deleted).
    Revoke { peer: String },
    /// At an EPCI: list a peer among the members its roster names (`--off` to remove it;
    /// it is told, and stops trusting the others through this EPCI).
    Member {
        peer: String,
        #[arg(long)]
        off: bool,
    },
    /// The rosters received from EPCIs: their members, keys and categories.
    Rosters,
    /// Delivery to each peer: messages waiting, the oldest, last success, failures,
    /// "unreachable since", and the messages it refused.
    Deliveries,
    /// Send what waits for PEER now, without waiting for the end of its backoff.
    Retry { peer: String },
    /// Queue again MESSAGE, which PEER refused (a dead letter of `deliveries`), once what
    /// made it refuse is mended; sent at once.
    Resend { peer: String, message: String },
    /// The competence table: which paired instance handles which category.
    Competences,
    /// Retire the instance key for a new one: every active peer is told by a message
    /// signed with both keys, after what was queued before.
    RotateKey,
    /// A hash of what this instance holds of the requests it shares with PEER: the same on
    /// both sides once every message has arrived.
    State { peer: String },
    /// Say that PEER handles CATEGORY (for the commune --insee, else everywhere); without
    /// --peer, the competence comes back to this instance.
    Competence {
        category: String,
        #[arg(long, default_value = "")]
        insee: String,
        #[arg(long, default_value = "")]
        peer: String,
    },
}

#[derive(Subcommand)]
enum MailCommand {
    /// Read one message (RFC 5322) on standard input, as a mail server delivers it: a new
    /// request, or a message added to the request whose tracking code it carries. Exits with
    /// 65 (EX_DATAERR) when the message is refused, so that the mail server tells the sender,
    /// and 75 (EX_TEMPFAIL) when it could not be recorded now, so that it tries again later.
    Ingest,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an API token for scripts and integrations; printed once.
    Token {
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Create an agent's account and print a single-use sign-in link for them (works with no
    /// identity provider; with one, they can also log in there with the same address).
    Invite {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Limit what they see to these departments (repeatable); every request otherwise.
        #[arg(long = "department", value_name = "ID")]
        departments: Vec<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the hash chain; names the first broken entry.
    Verify,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| "one of admin, manager, agent, elected, guest".to_owned())
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let file = match &cli.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Some((path.display().to_string(), text))
        }
        None => None,
    };
    let mut overrides = Vec::new();
    if let Some(dir) = &cli.data_dir {
        overrides.push(("storage.data_dir".to_owned(), dir.clone()));
    }
    if let Some(bind) = &cli.bind {
        overrides.push(("http.bind".to_owned(), bind.clone()));
    }
    for s in &cli.set {
        overrides.push(Config::parse_override(s).map_err(anyhow::Error::msg)?);
    }
    let file = file.as_ref().map(|(p, t)| (p.as_str(), t.as_str()));
    // Variables that are not valid UTF-8 cannot be Guichet settings: skip them instead of panicking.
    let env = std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    Ok(Config::load(file, env, &overrides)?)
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GUICHET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{},sled=warn", config.log.level)));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if config.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match load_config(&cli) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Asks the running server, or opens the store when none runs.
async fn through_server_or_store(config: &Config, request: AdminRequest) -> anyhow::Result<serde_json::Value> {
    let data_dir = config.storage.data_dir();
    if let Some(result) = admin::call(&data_dir, &request).await? {
        return Ok(result);
    }
    let core = app::open_core(config, Arc::new(SystemClock), config.public_url(config.http.bind_addr()))?;
    let federation = app::federation(&core, config)?;
    let result = admin::handle(&core, &data_dir, &federation, request).await;
    drop(federation);
    let store = core.store.clone();
    tokio::task::spawn_blocking(move || store.close()).await?;
    Ok(result?)
}

async fn refuse_if_running(data_dir: &Path, what: &str) -> anyhow::Result<()> {
    if admin::server_running(data_dir).await {
        bail!("the server is running on {}: stop it before {what} (nothing was changed)", data_dir.display());
    }
    Ok(())
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let data_dir = config.storage.data_dir();
    match command {
        Command::Serve => app::serve(config).await,
        Command::Mail { command: MailCommand::Ingest } => {
            use std::io::Read;

            use base64::Engine;
            let limit = config.inbound_mail.max_bytes();
            let mut raw = Vec::new();
            std::io::stdin().take(limit as u64 + 1).read_to_end(&mut raw)?;
            let message = base64::engine::general_purpose::STANDARD.encode(&raw);
            match through_server_or_store(&config, AdminRequest::IngestMail { message }).await {
                Ok(result) => {
                    println!("{result}");
                    Ok(())
                }
                Err(e) => {
                    eprintln!("{e}");
                    // The mail server bounces a refused message to its sender, and keeps
                    // one that met a failure here to deliver it again later.
                    let refused = e.downcast_ref::<guichet::domain::Error>().is_some_and(|e| e.is_refusal());
                    std::process::exit(if refused { EX_DATAERR } else { EX_TEMPFAIL });
                }
            }
        }
        Command::Federation { command } => {
            let request = match command {
                FederationCommand::Invite => AdminRequest::FederationInvite,
                FederationCommand::Join { link } => AdminRequest::FederationJoin { link },
                FederationCommand::Peers => AdminRequest::FederationPeers,
                FederationCommand::Approve { peer, code } => AdminRequest::FederationApprove { peer, short_code: code },
                FederationCommand::Revoke { peer } => AdminRequest::FederationRevoke { peer },
                FederationCommand::Member { peer, off } => AdminRequest::FederationMember { peer, member: !off },
                FederationCommand::Rosters => AdminRequest::FederationRosters,
                FederationCommand::Deliveries => AdminRequest::FederationDeliveries,
                FederationCommand::Retry { peer } => AdminRequest::FederationRetry { peer },
                FederationCommand::Resend { peer, message } => AdminRequest::FederationResend { peer, message },
                FederationCommand::Competences => AdminRequest::FederationCompetences,
                FederationCommand::RotateKey => AdminRequest::FederationRotateKey,
                FederationCommand::State { peer } => AdminRequest::FederationState { peer },
                FederationCommand::Competence { category, insee, peer } => {
                    AdminRequest::FederationCompetence { category, insee, peer }
                }
            };
            let result = through_server_or_store(&config, request).await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
            Ok(())
        }
        Command::Admin { command: AdminCommand::Token { role, label } } => {
            let result = through_server_or_store(&config, AdminRequest::Token { role, label }).await?;
            let token = result.get("token").and_then(|t| t.as_str()).unwrap_or_default();
            println!("{token}");
            eprintln!("Token {} ({}) created. It is shown only once.", result["id"], role.as_str());
            Ok(())
        }
        Command::Admin { command: AdminCommand::Invite { email, role, departments } } => {
            let result = through_server_or_store(&config, AdminRequest::Invite { email, role, departments }).await?;
            println!("{}", result.get("url").and_then(|u| u.as_str()).unwrap_or_default());
            let emailed = if result["emailed"] == true { " It was also sent to them by e-mail." } else { "" };
            eprintln!("Single-use sign-in link, valid until {}.{emailed}", result["expires_at"]);
            Ok(())
        }
        Command::Audit { command: AuditCommand::Verify } => {
            let result = through_server_or_store(&config, AdminRequest::AuditVerify).await?;
            let verification: store::audit::Verification = serde_json::from_value(result)?;
            match verification.broken {
                None => {
                    println!("audit chain intact: {} entries", verification.entries);
                    Ok(())
                }
                Some(broken) => bail!("{broken} ({} entries verified before it)", verification.entries),
            }
        }
        Command::Check => {
            let result = through_server_or_store(&config, AdminRequest::Check).await?;
            let report: admin::CheckReport = serde_json::from_value(result)?;
            for problem in &report.requests_problems {
                eprintln!("inconsistent: {problem}");
            }
            if let Some(broken) = &report.audit.broken {
                eprintln!("{broken}");
            }
            if report.requests_problems.is_empty() && report.audit.broken.is_none() {
                println!(
                    "consistent: indexes and counters match the records; audit chain intact ({} entries)",
                    report.audit.entries
                );
                Ok(())
            } else {
                bail!("the store is inconsistent")
            }
        }
        Command::Backup { dir } => {
            let dir = std::path::absolute(&dir)?;
            let result = through_server_or_store(&config, AdminRequest::Backup { dir: dir.clone() }).await?;
            println!("backup written to {}: {result}", dir.display());
            Ok(())
        }
        Command::Restore { dir } => {
            refuse_if_running(&data_dir, "restoring").await?;
            let cache = config.storage.cache_capacity_mib * 1024 * 1024;
            let stats = tokio::task::spawn_blocking(move || backup::restore(&dir, &data_dir, cache)).await??;
            println!("restored: {}", serde_json::to_string(&stats)?);
            Ok(())
        }
        Command::Export { output } => {
            refuse_if_running(&data_dir, "exporting (or use `guichet backup DIR`)").await?;
            let (store, repos) = store::open(&app::store_dir(&data_dir), config.storage.cache_capacity_mib << 20)?;
            let result = tokio::task::spawn_blocking(move || -> anyhow::Result<dump::DumpStats> {
                let stats = match output {
                    Some(path) => {
                        let mut out = BufWriter::new(std::fs::File::create(&path)?);
                        let stats = dump::export(&repos, &mut out)?;
                        out.into_inner()?.sync_all()?;
                        stats
                    }
                    None => dump::export(&repos, &mut BufWriter::new(std::io::stdout().lock()))?,
                };
                Ok(stats)
            })
            .await?;
            store.close();
            let stats = result?;
            eprintln!("exported: {}", serde_json::to_string(&stats)?);
            std::io::stderr().flush()?;
            Ok(())
        }
        Command::Import { file } => {
            refuse_if_running(&data_dir, "importing").await?;
            std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?;
            let (store, repos) = store::open(&app::store_dir(&data_dir), config.storage.cache_capacity_mib << 20)?;
            let s = store.clone();
            let open = move || std::fs::File::open(&file).map(BufReader::new);
            let result = tokio::task::spawn_blocking(move || dump::import(&s, &repos, open)).await?;
            store.close();
            drop(store);
            let stats = result?;
            store::settle(&app::store_dir(&data_dir), config.storage.cache_capacity_mib << 20)?;
            println!("imported: {}", serde_json::to_string(&stats)?);
            Ok(())
        }
    }
}
