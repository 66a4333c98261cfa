//! Configuration of a Guichet instance. Sources, from lowest to highest precedence: built-in
//! defaults, the TOML file given with `--config FILE`, the environment (`GUICHET_TABLE__KEY`,
//! e.g. `GUICHET_HTTP__BIND`), then command-line flags (`--set table.key=value`).
//! `Config::default()`, serialised to a TOML table, is the schema: every value is checked
//! against the type of the default at the same key. Every problem is collected, named after
//! the source that caused it, and reported at once.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use toml::Value;

use crate::domain::media::KNOWN_TYPES;

const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];
const ENV_PREFIX: &str = "GUICHET_";
const FALLBACK_BIND: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub instance: InstanceConfig,
    pub http: HttpConfig,
    pub storage: StorageConfig,
    pub attachments: AttachmentsConfig,
    pub oidc: OidcConfig,
    pub auth: AuthConfig,
    pub portal: PortalConfig,
    pub map: MapConfig,
    pub smtp: SmtpConfig,
    pub inbound_mail: InboundMailConfig,
    pub sms: SmsConfig,
    pub federation: FederationConfig,
    pub log: LogConfig,
}

/// The collectivité this instance serves. Every key is documented in `deploy/guichet.example.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstanceConfig {
    pub name: String,
    pub kind: String,
    /// Code officiel géographique: 5 digits, or 2A/2B and 3 digits; empty when not set.
    pub insee_code: String,
    pub siren: String,
    /// Adds Good Friday and 26 December to public holidays.
    pub alsace_moselle: bool,
    pub contact_email: String,
    pub contact_phone: String,
    pub contact_address: String,
    /// Means and delays of appeal printed on acknowledgements.
    pub appeal_text: String,
    /// Creates default departments and categories on first start.
    pub seed_catalogue: bool,
}

impl Default for InstanceConfig {
    fn default() -> Self {
        InstanceConfig {
            name: "Commune de Guichet".into(),
            kind: "commune".into(),
            insee_code: String::new(),
            siren: String::new(),
            alsace_moselle: false,
            contact_email: String::new(),
            contact_phone: String::new(),
            contact_address: String::new(),
            appeal_text: "Vous pouvez former un recours gracieux auprès du maire ou un recours contentieux devant le \
                          tribunal administratif territorialement compétent dans un délai de deux mois, y compris \
                          par l'application Télérecours citoyens (www.telerecours.fr)."
                .into(),
            seed_catalogue: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub bind: String,
    /// Address citizens reach the instance at, without trailing slash; empty: derived from `bind`.
    pub public_url: String,
    /// PEM certificate chain; with `tls_key`, Guichet serves HTTPS itself.
    pub tls_cert: String,
    pub tls_key: String,
    pub max_body_kib: u64,
    /// Public submissions per client address and minute; 0 disables the limit.
    pub intake_rate_per_minute: u32,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted reverse proxy).
    pub trust_forwarded_for: bool,
    pub shutdown_grace_seconds: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            bind: FALLBACK_BIND.to_string(),
            public_url: String::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
            max_body_kib: 64,
            intake_rate_per_minute: 20,
            trust_forwarded_for: false,
            shutdown_grace_seconds: 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    pub data_dir: String,
    pub cache_capacity_mib: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig { data_dir: "./guichet-data".into(), cache_capacity_mib: 64 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttachmentsConfig {
    pub max_file_mib: u64,
    pub max_request_mib: u64,
    pub max_files: u32,
    /// Subset of [`KNOWN_TYPES`].
    pub allowed_types: Vec<String>,
}

impl Default for AttachmentsConfig {
    fn default() -> Self {
        AttachmentsConfig {
            max_file_mib: 10,
            max_request_mib: 30,
            max_files: 10,
            allowed_types: KNOWN_TYPES.iter().map(|t| (*t).to_owned()).collect(),
        }
    }
}

/// The organisation's OpenID Connect provider. Empty `issuer`: no provider, sign-in links only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// Such as `https://auth.agentconnect.gouv.fr/api/v2`; `http://` only on loopback.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Read the secret from this file instead (first line), to keep it out of the configuration.
    pub client_secret_file: String,
    /// `generic` or `proconnect`.
    pub profile: String,
    /// Empty: the profile's defaults.
    pub scopes: Vec<String>,
    /// Text of the login button.
    pub button_label: String,
    /// Claim names, for providers that use other ones.
    pub claim_email: String,
    pub claim_given_name: String,
    /// Empty: `family_name` (generic) or `usual_name` (proconnect).
    pub claim_family_name: String,
    pub claim_siret: String,
    /// `acr` value required for administrative actions (step-up); empty: none required.
    pub admin_acr: String,
    /// Seconds of clock difference with the provider that are tolerated.
    pub clock_skew_seconds: u64,
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig {
            issuer: String::new(),
            client_id: String::new(),
            client_secret: String::new(),
            client_secret_file: String::new(),
            profile: "generic".into(),
            scopes: Vec::new(),
            button_label: "Se connecter avec le compte de ma collectivité".into(),
            claim_email: "email".into(),
            claim_given_name: "given_name".into(),
            claim_family_name: String::new(),
            claim_siret: "siret".into(),
            admin_acr: String::new(),
            clock_skew_seconds: 60,
        }
    }
}

/// Accounts, sessions and sign-in links.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// A session unused this long ends.
    pub session_idle_minutes: u64,
    /// A session ends this long after the login, used or not.
    pub session_max_hours: u64,
    /// First logins with these e-mail domains are approved without waiting for an admin.
    pub auto_approve_domains: Vec<String>,
    /// Same, by the organisation's SIRET (ProConnect).
    pub auto_approve_sirets: Vec<String>,
    /// Role of accounts approved by those rules.
    pub auto_approve_role: String,
    /// Validity of the first-admin link printed at start-up, and of invitation links.
    pub link_hours: u64,
    /// Validity of a guest's sign-in link.
    pub guest_link_minutes: u64,
    /// Wrong secrets (links, tokens) accepted per client address and minute before refusing.
    pub max_failures_per_minute: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_idle_minutes: 120,
            session_max_hours: 12,
            auto_approve_domains: Vec::new(),
            auto_approve_sirets: Vec::new(),
            auto_approve_role: "agent".into(),
            link_hours: 24,
            guest_link_minutes: 60,
            max_failures_per_minute: 10,
        }
    }
}

/// Texts of the citizen portal that each collectivité writes for itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortalConfig {
    /// Shown on every page: "non conforme", "partiellement conforme" or "totalement conforme"
    /// (RGAA), as established by an audit.
    pub accessibility_status: String,
    /// The accessibility statement at /accessibilite; paragraphs separated by blank lines.
    pub accessibility_statement: String,
    /// Legal notice and personal data information at /mentions-legales.
    pub legal_notice: String,
    /// Colour of links, buttons and focus outlines (`#rrggbb`); must read on white (4.5:1).
    pub accent_color: String,
    /// The collectivité's logo (PNG or SVG file), shown before its name; empty: none.
    pub logo_file: String,
}

impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig {
            accessibility_status: "non conforme".into(),
            accessibility_statement: "La collectivité s'engage à rendre ses services numériques accessibles, \
                conformément à l'article 47 de la loi n° 2005-102 du 11 février 2005.\n\n\
                Ce site n'a pas encore fait l'objet d'un audit de conformité au référentiel général \
                d'amélioration de l'accessibilité (RGAA) : il est donc non conforme au sens de la loi, \
                même s'il a été conçu pour être utilisable au clavier, avec un lecteur d'écran et sans JavaScript.\n\n\
                Si vous n'arrivez pas à accéder à un contenu ou à un service, contactez la mairie : \
                nous vous répondrons ou vous proposerons une autre façon d'y accéder.\n\n\
                Si vous n'obtenez pas de réponse, vous pouvez saisir le Défenseur des droits \
                (www.defenseurdesdroits.fr)."
                .into(),
            legal_notice: "Ce service est édité par la collectivité. Les informations que vous donnez sont \
                utilisées pour traiter votre demande, par les seuls agents qui en ont la charge, et conservées \
                le temps de son traitement puis selon les durées d'archivage applicables.\n\n\
                Vous pouvez accéder à ces données, les faire rectifier ou demander leur effacement en \
                contactant la mairie. Vous pouvez aussi adresser une réclamation à la CNIL (www.cnil.fr)."
                .into(),
            accent_color: "#1f4e8c".into(),
            logo_file: String::new(),
        }
    }
}

/// Maps (agents' map, location on the request form). No tile server by default: Guichet
/// makes no outbound call unless told to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MapConfig {
    /// Tile URL template, such as `https://tile.openstreetmap.org/{z}/{x}/{y}.png` or the
    /// IGN Géoplateforme's; empty: no map, lists and address fields only.
    pub tile_url: String,
    /// Attribution the tile provider requires, shown on the map.
    pub attribution: String,
    pub center_lat: f64,
    pub center_lon: f64,
    pub zoom: u32,
    /// Publish `/carte`: open requests by category and status, at their place, with nothing
    /// personal (no description, no contact, no address text).
    pub public: bool,
    /// Address search (IGN Géoplateforme format, `{base}/search?q=...`), called by the
    /// citizen's browser; empty: none.
    pub geocoder_url: String,
}

impl Default for MapConfig {
    fn default() -> Self {
        MapConfig {
            tile_url: String::new(),
            attribution: "© les contributeurs d'OpenStreetMap".into(),
            center_lat: 46.6,
            center_lon: 2.4,
            zoom: 6,
            public: false,
            geocoder_url: String::new(),
        }
    }
}

impl MapConfig {
    /// Scheme and host of the tile URL (what the Content-Security-Policy must allow).
    pub fn tile_origin(&self) -> String {
        origin(&self.tile_url)
    }

    /// Scheme and host of the geocoder (allowed in the Content-Security-Policy's connect-src).
    pub fn geocoder_origin(&self) -> String {
        origin(&self.geocoder_url)
    }
}

/// `scheme://host[:port]` of a URL, or nothing.
fn origin(url: &str) -> String {
    let Some(after) = url.find("://").map(|i| i + 3) else { return String::new() };
    let end = url[after..].find('/').map_or(url.len(), |i| i + after);
    url[..end].to_owned()
}

/// Outgoing e-mail: acknowledgements and answers to citizens. Without a host, no e-mail is
/// sent (acknowledgements are still shown and printable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u32,
    /// `starttls` (submission, port 587), `tls` (implicit TLS, port 465), or `none` (loopback
    /// only: a relay on the same machine).
    pub security: String,
    pub username: String,
    pub password: String,
    /// A file holding the password (first line), rather than the password itself.
    pub password_file: String,
    /// The sender, such as `Mairie de Saint-Exemple <mairie@saint-exemple.fr>`.
    pub from: String,
    /// First wait after a failed delivery, doubled at each new failure up to an hour.
    pub retry_base_seconds: u32,
    /// Whether managers and admins get the daily list of overdue requests.
    pub overdue_digest: bool,
    /// From which hour (Paris time, 0 to 23) of each working day the digest is sent.
    pub digest_hour: u32,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: String::new(),
            port: 587,
            security: "starttls".into(),
            username: String::new(),
            password: String::new(),
            password_file: String::new(),
            from: String::new(),
            retry_base_seconds: 30,
            overdue_digest: true,
            digest_hour: 8,
        }
    }
}

/// E-mail received at the collectivité's address, delivered by the mail server to
/// `guichet mail ingest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InboundMailConfig {
    /// Category of the requests made from e-mails (agents reclassify them).
    pub category: String,
    /// Larger messages are refused, and the sender told so by the mail server.
    pub max_message_mib: u32,
    /// A mailbox to read over IMAP (implicit TLS), as well as or instead of messages
    /// delivered to `guichet mail ingest`; empty: none.
    pub imap_host: String,
    pub imap_port: u32,
    pub imap_username: String,
    pub imap_password: String,
    /// A file holding the password (first line), rather than the password itself.
    pub imap_password_file: String,
    pub imap_mailbox: String,
    pub imap_poll_seconds: u32,
    /// A certificate (PEM) to trust besides the public authorities, for a server with a
    /// certificate of its own.
    pub imap_ca_file: String,
}

impl Default for InboundMailConfig {
    fn default() -> Self {
        InboundMailConfig {
            category: "autre".into(),
            max_message_mib: 25,
            imap_host: String::new(),
            imap_port: 993,
            imap_username: String::new(),
            imap_password: String::new(),
            imap_password_file: String::new(),
            imap_mailbox: "INBOX".into(),
            imap_poll_seconds: 60,
            imap_ca_file: String::new(),
        }
    }
}

/// Federation with the other instances of the territory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FederationConfig {
    /// Lets the federation client reach private and loopback addresses (and plain http):
    /// for tests and development only.
    pub allow_private_addresses: bool,
    /// Wait after a first failed delivery to a peer, in seconds; doubled at each failure
    /// in a row, up to an hour.
    pub retry_base_seconds: u32,
    /// Admins are told by e-mail when a peer has been unreachable this many hours.
    pub unreachable_alert_hours: u32,
    /// Moves this instance's clock by this many seconds: for tests of clocks that differ
    /// between instances only; 0 in service.
    pub test_clock_offset_seconds: i64,
}

impl Default for FederationConfig {
    fn default() -> Self {
        FederationConfig {
            allow_private_addresses: false,
            retry_base_seconds: 30,
            unreachable_alert_hours: 24,
            test_clock_offset_seconds: 0,
        }
    }
}

/// Text messages to citizens who chose SMS, through the HTTP gateway of any provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsConfig {
    /// The gateway's address, with `{to}` (the number) and `{text}` (the message), both
    /// URL-encoded, where the provider expects them; empty: no SMS.
    pub url: String,
    /// An authentication header, such as `Authorization: Bearer …`; empty: none.
    pub auth_header: String,
}

impl InboundMailConfig {
    pub fn max_bytes(&self) -> usize {
        (self.max_message_mib as usize).saturating_mul(1 << 20)
    }
}

impl SmtpConfig {
    pub fn enabled(&self) -> bool {
        !self.host.is_empty()
    }
}

impl OidcConfig {
    pub fn enabled(&self) -> bool {
        !self.issuer.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub level: String,
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: "info".into(), format: "text".into() }
    }
}

impl HttpConfig {
    /// The listening address (`Config::load` has checked that `bind` parses).
    pub fn bind_addr(&self) -> SocketAddr {
        self.bind.parse().unwrap_or(FALLBACK_BIND)
    }

    /// Certificate and key paths, when both are set.
    pub fn tls_paths(&self) -> Option<(PathBuf, PathBuf)> {
        (!self.tls_cert.is_empty() && !self.tls_key.is_empty())
            .then(|| (PathBuf::from(&self.tls_cert), PathBuf::from(&self.tls_key)))
    }

    pub fn max_body_bytes(&self) -> u64 {
        self.max_body_kib.saturating_mul(1 << 10)
    }
}

impl StorageConfig {
    pub fn data_dir(&self) -> PathBuf {
        PathBuf::from(&self.data_dir)
    }
}

impl AttachmentsConfig {
    pub fn max_file_bytes(&self) -> u64 {
        self.max_file_mib.saturating_mul(1 << 20)
    }

    pub fn max_request_bytes(&self) -> u64 {
        self.max_request_mib.saturating_mul(1 << 20)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl Config {
    /// The URL citizens and agents reach this instance at, without trailing slash: `public_url`
    /// when set, else derived from the address actually bound (a wildcard address such as
    /// 0.0.0.0 is replaced by loopback, since links to it lead nowhere).
    pub fn public_url(&self, bound: SocketAddr) -> String {
        let url = self.http.public_url.strip_suffix('/').unwrap_or(&self.http.public_url);
        if !url.is_empty() {
            return url.to_owned();
        }
        let scheme = if self.http.tls_paths().is_some() { "https" } else { "http" };
        let mut addr = bound;
        if addr.ip().is_unspecified() {
            addr.set_ip(if addr.is_ipv4() { Ipv4Addr::LOCALHOST.into() } else { Ipv6Addr::LOCALHOST.into() });
        }
        format!("{scheme}://{addr}")
    }

    /// Parses "table.key=value" from a `--set` flag.
    pub fn parse_override(s: &str) -> Result<(String, String), String> {
        let expected = || format!("--set {s}: expected table.key=value, such as http.bind=0.0.0.0:8080");
        let (key, value) = s.split_once('=').ok_or_else(expected)?;
        let key = key.trim();
        match key.split_once('.') {
            Some((table, name)) if !table.is_empty() && !name.is_empty() => Ok((key.to_owned(), value.to_owned())),
            _ => Err(expected()),
        }
    }

    /// `file`: optional (path, contents) already read by the caller (a read error is reported by the caller);
    /// `env`: iterator of environment (name, value); `overrides`: CLI (dotted key, value).
    pub fn load(
        file: Option<(&str, &str)>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let mut loader = Loader::new();
        if let Some((name, text)) = file {
            loader.merge_file(name, text);
        }
        loader.apply_env(env);
        for (dotted, value) in overrides {
            let source = format!("flag --set {dotted}");
            match dotted.split_once('.') {
                Some((table, key)) if !table.is_empty() && !key.is_empty() => {
                    loader.set_text(&source, table.trim(), key.trim(), value);
                }
                _ => loader.problems.push(format!("{source}: expected table.key, such as http.bind")),
            }
        }
        let Loader { merged, origins, mut problems, .. } = loader;
        let mut config = match Value::Table(merged).try_into::<Config>() {
            Ok(config) => config,
            Err(e) => {
                problems.push(format!("configuration: {}", e.message()));
                return Err(ConfigError { problems });
            }
        };
        if let Some(url) = config.http.public_url.strip_suffix('/') {
            config.http.public_url = url.to_owned();
        }
        let mut checks = Checks { origins, problems };
        checks.run(&config);
        if checks.problems.is_empty() { Ok(config) } else { Err(ConfigError { problems: checks.problems }) }
    }
}

mod loader;
use loader::Loader;

mod checks;
use checks::Checks;

#[cfg(test)]
mod tests;
