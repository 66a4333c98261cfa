//! Start-up, the application state, the servers, and graceful shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ed25519_dalek::SigningKey;

use crate::auth::oidc::OidcClient;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::domain::account::AutoApproval;
use crate::domain::actor::Role;
use crate::domain::holidays::HolidayCalendar;
use crate::domain::portal::{Logo, PortalSettings};
use crate::federation::Federation;
use crate::service::accounts::AccountService;
use crate::service::agendas::AgendaService;
use crate::service::audit::AuditService;
use crate::service::catalogue::CatalogueService;
use crate::service::guests::GuestService;
use crate::service::portal::PortalService;
use crate::service::requests::RequestService;
use crate::service::sessions::SessionService;
use crate::service::tokens::TokenService;
use crate::service::topics::TopicService;
use crate::service::{AuthSettings, Core, Settings};
use crate::store::backup::{KEY_FILE, KEYS_DIR};
use crate::store::files::FileStore;
use crate::web::listener::{AppListener, ClientAddr, tls_acceptor};
use crate::web::middleware::RateLimiter;
use crate::web::{AppState, WebSettings};
use crate::{admin, store};

/// File in the data directory where the server writes the address it listens on.
pub const ADDRESS_FILE: &str = "http.addr";

/// Where the sled store lives inside the data directory.
pub fn store_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("store")
}

/// Every private key of the instance: `instance.key` (created on first start) and those
/// made by rotations.
pub fn load_key_ring(data_dir: &Path) -> anyhow::Result<crate::federation::KeyRing> {
    let first = load_or_create_key(data_dir)?;
    let mut others = Vec::new();
    let dir = data_dir.join(KEYS_DIR);
    if dir.is_dir() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "key") {
                let bytes: [u8; 32] = std::fs::read(&path)?
                    .as_slice()
                    .try_into()
                    .with_context(|| format!("{} is not a 32-byte ed25519 key", path.display()))?;
                others.push(SigningKey::from_bytes(&bytes));
            }
        }
    }
    Ok(crate::federation::KeyRing::new(first, others, dir))
}

/// Loads the instance key, or creates it (mode 0600) on first start.
pub fn load_or_create_key(data_dir: &Path) -> anyhow::Result<SigningKey> {
    let path = data_dir.join(KEY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let bytes: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .with_context(|| format!("{} is not a 32-byte ed25519 key", path.display()))?;
            Ok(SigningKey::from_bytes(&bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
            store::write_private_file(&path, &seed)?;
            tracing::info!(path = %path.display(), "instance key created");
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Opens the store and builds the shared core of the services.
pub fn open_core(config: &Config, clock: Arc<dyn Clock>, public_url: String) -> anyhow::Result<Arc<Core>> {
    let data_dir = config.storage.data_dir();
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let cache = config.storage.cache_capacity_mib * 1024 * 1024;
    let (store, repos) = store::open(&store_dir(&data_dir), cache)?;
    let files = FileStore::open(&data_dir)?;
    let a = &config.attachments;
    let i = &config.instance;
    let settings = Settings {
        instance_name: i.name.clone(),
        public_url,
        contact_email: i.contact_email.clone(),
        contact_phone: i.contact_phone.clone(),
        contact_address: i.contact_address.clone(),
        appeal_text: i.appeal_text.clone(),
        calendar: HolidayCalendar::new(i.alsace_moselle),
        max_files: a.max_files as usize,
        max_file_bytes: a.max_file_bytes(),
        max_request_bytes: a.max_request_bytes(),
        allowed_types: a.allowed_types.clone(),
        auth: auth_settings(config)?,
        mail_enabled: config.smtp.enabled(),
        sms_enabled: !config.sms.url.is_empty(),
        inbound_category: config.inbound_mail.category.clone(),
        inbound_max_bytes: config.inbound_mail.max_bytes(),
    };
    let ring = load_key_ring(&data_dir)?;
    if let Some(own) = repos.federation.own_keys()? {
        ring.set_state(own).map_err(|e| anyhow::anyhow!("{e} (in {})", data_dir.join(KEYS_DIR).display()))?;
    }
    let outbox = Arc::new(crate::federation::Outbox::new(settings.public_url.clone(), Arc::new(ring)));
    Ok(Arc::new(Core { store, repos, files, clock, settings, wake_mailer: Arc::default(), outbox }))
}

fn auth_settings(config: &Config) -> anyhow::Result<AuthSettings> {
    let a = &config.auth;
    let role = Role::parse(&a.auto_approve_role).context("[auth] auto_approve_role")?;
    let minutes = |m: u64| jiff::SignedDuration::from_mins(i64::try_from(m).unwrap_or(i64::MAX / 120));
    Ok(AuthSettings {
        session_idle: minutes(a.session_idle_minutes),
        session_max: minutes(a.session_max_hours.saturating_mul(60)),
        auto_approval: AutoApproval {
            email_domains: a.auto_approve_domains.iter().map(|d| d.to_lowercase()).collect(),
            sirets: a.auto_approve_sirets.clone(),
            role,
        },
        link_validity: minutes(a.link_hours.saturating_mul(60)),
        guest_link_validity: minutes(a.guest_link_minutes),
        admin_acr: config.oidc.admin_acr.clone(),
    })
}

/// A secret given in the configuration, or the first line of the file named instead (so
/// that it stays out of the configuration file); `key` names that setting in errors.
fn secret_or_file(secret: &str, file: &str, key: &str) -> anyhow::Result<String> {
    if file.is_empty() {
        return Ok(secret.to_owned());
    }
    let text = std::fs::read_to_string(file).with_context(|| format!("{key} {file}"))?;
    Ok(text.lines().next().unwrap_or_default().trim().to_owned())
}

/// The identity provider client, if `[oidc]` names one.
fn oidc_client(config: &Config, public_url: &str) -> anyhow::Result<Option<Arc<OidcClient>>> {
    let o = &config.oidc;
    if !o.enabled() {
        return Ok(None);
    }
    let secret = secret_or_file(&o.client_secret, &o.client_secret_file, "[oidc] client_secret_file")?;
    Ok(Some(Arc::new(OidcClient::new(o, secret, public_url)?)))
}

/// What delivers the outbox: the SMTP server of `[smtp]` and the SMS gateway of `[sms]`,
/// if either is set.
fn senders(config: &Config) -> anyhow::Result<Option<crate::service::mail::Senders>> {
    let sms = if config.sms.url.is_empty() {
        None
    } else {
        Some(crate::service::mail::SmsGateway::new(&config.sms.url, &config.sms.auth_header)?)
    };
    let mail = mailer(config)?;
    if mail.is_none() && sms.is_none() {
        return Ok(None);
    }
    let retry_base = jiff::SignedDuration::from_secs(i64::from(config.smtp.retry_base_seconds.max(1)));
    Ok(Some(crate::service::mail::Senders { mail, sms, retry_base }))
}

/// The mailbox of `[inbound_mail]` read over IMAP, if a host is set.
fn mailbox(config: &Config) -> anyhow::Result<Option<crate::service::imap::Mailbox>> {
    let m = &config.inbound_mail;
    if m.imap_host.is_empty() {
        return Ok(None);
    }
    let password = secret_or_file(&m.imap_password, &m.imap_password_file, "[inbound_mail] imap_password_file")?;
    let mailbox = crate::service::imap::Mailbox::new(
        &m.imap_host,
        u16::try_from(m.imap_port).context("[inbound_mail] imap_port")?,
        (m.imap_username.clone(), password),
        &m.imap_mailbox,
        std::time::Duration::from_secs(u64::from(m.imap_poll_seconds)),
        &m.imap_ca_file,
    )
    .context("[inbound_mail] imap_ca_file")?;
    Ok(Some(mailbox))
}

/// The e-mail sender of `[smtp]`, if a host is set.
fn mailer(config: &Config) -> anyhow::Result<Option<crate::service::mail::Mailer>> {
    let m = &config.smtp;
    if !m.enabled() {
        return Ok(None);
    }
    let password = secret_or_file(&m.password, &m.password_file, "[smtp] password_file")?;
    let credentials = (!m.username.is_empty()).then(|| (m.username.clone(), password));
    let port = u16::try_from(m.port).context("[smtp] port")?;
    let mailer = crate::service::mail::Mailer::new(&m.host, port, &m.security, credentials, &m.from)?;
    tracing::info!(host = %m.host, port, security = %m.security, "e-mail through SMTP");
    Ok(Some(mailer))
}

/// The portal settings of the configuration, with the logo file named by `[portal] logo_file`.
fn configured_portal(config: &Config) -> anyhow::Result<PortalSettings> {
    let p = &config.portal;
    let logo = if p.logo_file.is_empty() {
        None
    } else {
        let path = &p.logo_file;
        let bytes = std::fs::read(path).with_context(|| format!("[portal] logo_file {path}"))?;
        // An SVG is accepted from the configuration, written by whoever runs the server.
        let media_type = if path.to_ascii_lowercase().ends_with(".svg") { "image/svg+xml" } else { "image/png" };
        Some(Logo { media_type: media_type.into(), bytes: bytes.into() })
    };
    Ok(PortalSettings {
        accessibility_status: p.accessibility_status.clone(),
        accessibility_statement: p.accessibility_statement.clone(),
        legal_notice: p.legal_notice.clone(),
        accent_color: p.accent_color.clone(),
        public_map: config.map.public,
        logo,
        revision: 0,
    })
}

/// This instance in the federation: its identity (from `[instance]` and the public URL)
/// and its key.
pub fn federation(core: &Arc<Core>, config: &Config) -> anyhow::Result<Arc<Federation>> {
    let (s, i) = (&core.settings, &config.instance);
    let code = if i.kind == "commune" && !i.insee_code.is_empty() { &i.insee_code } else { &i.siren };
    let identity = crate::federation::Identity {
        base_url: s.public_url.clone(),
        name: s.instance_name.clone(),
        kind: i.kind.clone(),
        code: if code.is_empty() { i.insee_code.clone() } else { code.clone() },
    };
    let instance = crate::federation::Instance::new(identity, core.outbox.ring().clone());
    let f = &config.federation;
    let retry_base = Duration::from_secs(u64::from(f.retry_base_seconds));
    let delivery = (retry_base, f.unreachable_alert_hours);
    Ok(Arc::new(Federation::new(core.clone(), instance, f.allow_private_addresses, delivery)?))
}

pub fn state(core: &Arc<Core>, config: &Config, federation: Arc<Federation>) -> anyhow::Result<AppState> {
    let s = &core.settings;
    let origin = {
        let url = &s.public_url;
        let after_scheme = url.find("://").map_or(0, |i| i + 3);
        let end = url[after_scheme..].find('/').map_or(url.len(), |i| i + after_scheme);
        url[..end].to_owned()
    };
    Ok(AppState {
        requests: RequestService::new(core.clone()),
        mail: crate::service::mail::MailService::new(core.clone()),
        agendas: AgendaService::new(core.clone()),
        topics: TopicService::new(core.clone()),
        catalogue: CatalogueService::new(core.clone()),
        tokens: TokenService::new(core.clone()),
        audit: AuditService::new(core.clone()),
        accounts: AccountService::new(core.clone()),
        sessions: SessionService::new(core.clone()),
        guests: GuestService::new(core.clone()),
        portal: PortalService::new(core.clone(), configured_portal(config)?)?,
        federation,
        oidc: oidc_client(config, &s.public_url)?,
        failures: Arc::new(RateLimiter::new(config.auth.max_failures_per_minute)),
        store: core.store.clone(),
        files: core.files.clone(),
        web: Arc::new(WebSettings {
            instance_name: s.instance_name.clone(),
            public_url: s.public_url.clone(),
            max_body_bytes: usize::try_from(config.http.max_body_bytes()).unwrap_or(usize::MAX),
            max_file_bytes: s.max_file_bytes,
            max_request_bytes: s.max_request_bytes,
            max_files: s.max_files,
            allowed_types: s.allowed_types.clone(),
            trust_forwarded_for: config.http.trust_forwarded_for,
            secure_cookies: s.public_url.starts_with("https://"),
            public_origin: origin,
            session_max_seconds: config.auth.session_max_hours.saturating_mul(3600),
            admin_acr: config.oidc.admin_acr.clone(),
            map: crate::web::MapSettings {
                tile_url: config.map.tile_url.clone(),
                tile_origin: config.map.tile_origin(),
                attribution: config.map.attribution.clone(),
                center: (config.map.center_lat, config.map.center_lon, u8::try_from(config.map.zoom).unwrap_or(6)),
                geocoder_url: config.map.geocoder_url.trim_end_matches('/').to_owned(),
                geocoder_origin: config.map.geocoder_origin(),
            },
        }),
        intake_limiter: Arc::new(RateLimiter::new(config.http.intake_rate_per_minute)),
    })
}

/// `guichet serve`: runs until SIGTERM or ctrl-c, then stops accepting, lets requests in
/// flight finish (up to the grace period), and flushes the store.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let data_dir = config.storage.data_dir();
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let bind = config.http.bind_addr();
    let tcp = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("listening on {bind}"))?;
    let local = tcp.local_addr()?;
    let public_url = config.public_url(local);
    let offset = config.federation.test_clock_offset_seconds;
    let clock: Arc<dyn Clock> = if offset == 0 {
        Arc::new(SystemClock)
    } else {
        tracing::warn!(
            offset_seconds = offset,
            "this instance's clock is moved (federation.test_clock_offset_seconds)"
        );
        Arc::new(crate::clock::OffsetClock(jiff::SignedDuration::from_secs(offset)))
    };
    let core = open_core(&config, clock, public_url.clone())?;
    let i = &config.instance;
    if i.contact_email.is_empty() && i.contact_phone.is_empty() && i.contact_address.is_empty() {
        tracing::warn!(
            "no contact details in [instance] (contact_email, contact_phone, contact_address): acknowledgements \
             must tell citizens how to reach the department in charge (CRPA R112-11-1)"
        );
    }
    if config.instance.seed_catalogue && CatalogueService::new(core.clone()).seed_if_new().await? {
        tracing::info!("default catalogue of departments and categories created");
    }
    if AgendaService::new(core.clone()).seed_if_new().await? {
        tracing::info!("the collectivité's agenda created");
    }
    let listener = match config.http.tls_paths() {
        Some((cert, key_path)) => {
            let acceptor = tls_acceptor(&cert, &key_path).map_err(anyhow::Error::msg)?;
            AppListener::tls(tcp, acceptor)?
        }
        None => AppListener::plain(tcp),
    };
    let admin_socket =
        admin::bind(&data_dir).context("the admin channel is needed by `guichet backup`, `admin token`...")?;
    let federation = federation(&core, &config)?;
    let fingerprint = federation.instance().fingerprint();
    let admin = tokio::spawn(admin::serve(admin_socket, core.clone(), data_dir.clone(), federation.clone()));
    let peers = tokio::spawn(crate::federation::run(federation.clone()));
    let app_state = state(&core, &config, federation)?;
    if let Some(link) = app_state.accounts.bootstrap_link().await? {
        // The one way in on a new instance: printed, never stored in clear.
        tracing::warn!(url = %link.url, expires_at = %link.expires_at, "no administrator yet: open this single-use link to become the first one");
    }
    let sweeper = tokio::spawn(sweep_expired(app_state.sessions.clone()));
    let mailer = senders(&config)?
        .map(|senders| tokio::spawn(crate::service::mail::run(core.clone(), senders, app_state.portal.clone())));
    let mailbox = mailbox(&config)?.map(|m| tokio::spawn(crate::service::imap::run(core.clone(), m)));
    let digest = (config.smtp.enabled() && config.smtp.overdue_digest).then(|| {
        let hour = u8::try_from(config.smtp.digest_hour).unwrap_or(8);
        tokio::spawn(crate::service::digest::run(core.clone(), hour))
    });
    let app = crate::web::router(app_state);
    std::fs::write(data_dir.join(ADDRESS_FILE), local.to_string())?;
    tracing::info!(address = %local, url = %public_url, instance_key = %fingerprint, "Guichet is listening");

    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, app.into_make_service_with_connect_info::<ClientAddr>()).with_graceful_shutdown(
        async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        },
    );
    let grace = Duration::from_secs(config.http.shutdown_grace_seconds);
    let finished_in_time = tokio::select! {
        result = server => { result?; true }
        () = async move {
            let _ = stop_rx.wait_for(|stopped| *stopped).await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!("requests still running after the grace period; stopping anyway");
            false
        }
    };
    admin.abort();
    sweeper.abort();
    // A batch being sent is removed from its queue only once the peer answered for it:
    // at worst it is sent again at the next start, and the peer answers "duplicate".
    peers.abort();
    // A message being sent is either recorded as sent or still queued: either way nothing
    // is lost, at worst it is sent again at the next start.
    for task in mailer.iter().chain(digest.iter()).chain(mailbox.iter()) {
        task.abort();
    }
    let _ = std::fs::remove_file(data_dir.join(admin::SOCKET));
    let _ = std::fs::remove_file(data_dir.join(ADDRESS_FILE));
    let store = core.store.clone();
    tokio::task::spawn_blocking(move || store.close()).await?;
    let _ = admin.await;
    for task in mailer.into_iter().chain(digest).chain(mailbox) {
        let _ = task.await;
    }
    drop(core);
    // Lets sled write its snapshot now rather than replay this run's log at the next start;
    // not when connections outlived the grace period, as they still hold the store.
    if !finished_in_time {
        tracing::info!("stopped; the store will replay its log at the next start");
        return Ok(());
    }
    let cache = config.storage.cache_capacity_mib << 20;
    let dir = store_dir(&data_dir);
    match tokio::task::spawn_blocking(move || store::settle(&dir, cache)).await? {
        Ok(()) => tracing::info!("stopped cleanly"),
        Err(e) => tracing::warn!(error = %e, "stopped; the store will replay its log at the next start"),
    }
    Ok(())
}

/// Removes expired sessions, logins and links every ten minutes.
async fn sweep_expired(sessions: SessionService) {
    let mut every = tokio::time::interval(Duration::from_secs(600));
    loop {
        every.tick().await;
        match sessions.sweep().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(removed = n, "expired sessions, logins and links removed"),
            Err(e) => tracing::warn!(error = %e, "sweeping expired sessions failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: no new connections, finishing requests in flight");
}

/// The address a running server wrote, for tools and tests.
pub fn bound_address(data_dir: &Path) -> Option<SocketAddr> {
    std::fs::read_to_string(data_dir.join(ADDRESS_FILE)).ok()?.trim().parse().ok()
}
