//! Configuration of a Guichet instance. Sources, from lowest to highest precedence: built-in
//! defaults, the TOML file given with `--config FILE`, the environment (`GUICHET_TABLE__KEY`,
//! e.g. `GUICHET_HTTP__BIND`), then command-line flags (`--set table.key=value`).
//! `Config::default()`, serialised to a TOML table, is the schema: every value is checked
//! against the type of the default at the same key. Every problem is collected, named after
//! the source that caused it, and reported at once.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::{Table, Value};

use crate::domain::media::KNOWN_TYPES;
use crate::domain::request::is_insee_code;

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

/// Merges the sources into the schema, remembering which source set each key.
struct Loader {
    defaults: Table,
    merged: Table,
    /// "table.key" → source that last set it.
    origins: BTreeMap<String, String>,
    problems: Vec<String>,
}

impl Loader {
    fn new() -> Self {
        let defaults = Table::try_from(Config::default()).unwrap_or_default();
        Loader { merged: defaults.clone(), defaults, origins: BTreeMap::new(), problems: Vec::new() }
    }

    fn merge_file(&mut self, name: &str, text: &str) {
        let source = format!("file {name}");
        let file = match text.parse::<Table>() {
            Ok(file) => file,
            Err(e) => return self.problems.push(format!("{source}: {}", syntax_error(text, &e))),
        };
        for (table, values) in file {
            if !self.defaults.contains_key(&table) {
                self.default_of(&source, &table, "");
                continue;
            }
            let Value::Table(values) = values else {
                let found = values.type_str();
                self.problems.push(format!("{source}: {table}: expected a table [{table}], found {found}"));
                continue;
            };
            for (key, value) in values {
                if let Some(default) = self.default_of(&source, &table, &key) {
                    self.apply(&source, &table, &key, &default, value);
                }
            }
        }
    }

    fn apply_env(&mut self, env: impl IntoIterator<Item = (String, String)>) {
        let mut vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(name, _)| name.strip_prefix(ENV_PREFIX).is_some_and(|rest| rest.contains("__")))
            .collect();
        vars.sort();
        for (name, value) in vars {
            let path = name.strip_prefix(ENV_PREFIX).unwrap_or_default().to_ascii_lowercase();
            if let Some((table, key)) = path.split_once("__") {
                self.set_text(&format!("environment {name}"), table, key, &value);
            }
        }
    }

    /// Sets a value given as text, parsed according to the type of the default.
    fn set_text(&mut self, source: &str, table: &str, key: &str, text: &str) {
        let Some(default) = self.default_of(source, table, key) else { return };
        let want = want(&default);
        match parse_text(&default, text) {
            Some(value) => self.apply(source, table, key, &default, value),
            None => self.problems.push(format!("{source}: [{table}] {key}: expected {want}, found {text:?}")),
        }
    }

    /// The default at `[table] key`, or records that the table or the key is unknown.
    fn default_of(&mut self, source: &str, table: &str, key: &str) -> Option<Value> {
        let Some(known) = self.defaults.get(table).and_then(Value::as_table) else {
            let hint = suggestion(table, self.defaults.keys());
            self.problems.push(format!("{source}: unknown table [{table}]{hint}"));
            return None;
        };
        if let Some(default) = known.get(key) {
            return Some(default.clone());
        }
        let hint = suggestion(key, known.keys());
        self.problems.push(format!("{source}: [{table}] {key}: unknown key{hint}"));
        None
    }

    /// Stores `value` if it has the default's type and fits the field.
    fn apply(&mut self, source: &str, table: &str, key: &str, default: &Value, value: Value) {
        if std::mem::discriminant(default) != std::mem::discriminant(&value) {
            let found = match &value {
                Value::Table(_) | Value::Array(_) => value.type_str().to_owned(),
                scalar => format!("{} {scalar}", scalar.type_str()),
            };
            return self.problems.push(format!("{source}: [{table}] {key}: expected {}, found {found}", want(default)));
        }
        // The schema knows "integer" and "array", not u32 or Vec<String>: try the value alone
        // on the defaults so that a range or element error is reported at its key.
        let mut trial = self.defaults.clone();
        if let Some(Value::Table(t)) = trial.get_mut(table) {
            t.insert(key.to_owned(), value.clone());
        }
        if let Err(e) = Value::Table(trial).try_into::<Config>() {
            let why = match &value {
                Value::Integer(n) if *n < 0 => format!("{n} is negative, expected zero or more"),
                Value::Integer(n) => format!("{n} is too large"),
                Value::Array(_) => format!("expected {}", want(default)),
                _ => e.message().to_owned(),
            };
            return self.problems.push(format!("{source}: [{table}] {key}: {why}"));
        }
        if let Some(Value::Table(t)) = self.merged.get_mut(table) {
            t.insert(key.to_owned(), value);
        }
        self.origins.insert(format!("{table}.{key}"), source.to_owned());
    }
}

/// Parses text from the environment or a flag as the type of `default`.
fn parse_text(default: &Value, text: &str) -> Option<Value> {
    match default {
        Value::String(_) => Some(Value::String(text.to_owned())),
        Value::Integer(_) => text.trim().parse::<i64>().ok().map(Value::Integer),
        Value::Boolean(_) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(Value::Boolean(true)),
            "false" | "0" | "no" => Some(Value::Boolean(false)),
            _ => None,
        },
        Value::Array(_) => Some(Value::Array(
            text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.to_owned())).collect(),
        )),
        _ => None,
    }
}

/// What a value of the same type as `default` looks like, for messages.
fn want(default: &Value) -> &'static str {
    match default {
        Value::String(_) => "text (in double quotes in the file)",
        Value::Integer(_) => "a whole number",
        Value::Boolean(_) => "true or false (yes/no or 1/0 in the environment and flags)",
        Value::Array(_) => "a list of texts, such as [\"a\", \"b\"] (a, b in the environment and flags)",
        other => other.type_str(),
    }
}

fn syntax_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_owned(),
    }
}

/// " (did you mean `x`?)" for the closest known name, if close enough.
fn suggestion<'a>(name: &str, known: impl IntoIterator<Item = &'a String>) -> String {
    known
        .into_iter()
        .map(|k| (edit_distance(name, k), k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| format!(" (did you mean {k}?)"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// Semantic validation, each problem attributed to the source of the key concerned.
struct Checks {
    origins: BTreeMap<String, String>,
    problems: Vec<String>,
}

impl Checks {
    /// Records a problem at `path` ("table.key"), named after the source that set the key.
    fn fail(&mut self, path: &str, why: impl Display) {
        let origin = self.origins.get(path).map_or("default", String::as_str);
        let (table, key) = path.split_once('.').unwrap_or((path, ""));
        self.problems.push(format!("{origin}: [{table}] {key}: {why}"));
    }

    fn require(&mut self, ok: bool, path: &str, why: impl Display) {
        if !ok {
            self.fail(path, why);
        }
    }

    fn run(&mut self, c: &Config) {
        let i = &c.instance;
        self.require(!i.name.trim().is_empty(), "instance.name", "must not be empty");
        self.require(["commune", "epci"].contains(&i.kind.as_str()), "instance.kind", "must be commune or epci");
        let why = format!("{:?} is not 5 digits, or 2A/2B and 3 digits", i.insee_code);
        self.require(i.insee_code.is_empty() || is_insee_code(&i.insee_code), "instance.insee_code", why);
        let siren_ok = i.siren.is_empty() || (i.siren.len() == 9 && i.siren.bytes().all(|b| b.is_ascii_digit()));
        self.require(siren_ok, "instance.siren", format!("{:?} is not 9 digits", i.siren));

        let h = &c.http;
        let why = format!("{:?} is not an IP address and port, such as 127.0.0.1:8080 or [::]:8080", h.bind);
        self.require(h.bind.parse::<SocketAddr>().is_ok(), "http.bind", why);
        let why = format!("{:?} is not an address such as https://guichet.example.fr", h.public_url);
        self.require(h.public_url.is_empty() || is_http_url(&h.public_url), "http.public_url", why);
        match (h.tls_cert.is_empty(), h.tls_key.is_empty()) {
            (true, true) => {}
            (false, false) => {
                for (path, file) in [("http.tls_cert", &h.tls_cert), ("http.tls_key", &h.tls_key)] {
                    self.require(Path::new(file).is_file(), path, format!("file {file} does not exist"));
                }
            }
            (false, true) => self.fail("http.tls_cert", "is set but tls_key is empty: set both, or neither"),
            (true, false) => self.fail("http.tls_key", "is set but tls_cert is empty: set both, or neither"),
        }
        self.require(h.max_body_kib >= 1, "http.max_body_kib", "must be at least 1");

        let s = &c.storage;
        self.require(!s.data_dir.trim().is_empty(), "storage.data_dir", "must not be empty");
        self.require(s.cache_capacity_mib >= 8, "storage.cache_capacity_mib", "must be at least 8");

        let a = &c.attachments;
        self.require(a.max_file_mib >= 1, "attachments.max_file_mib", "must be at least 1");
        if a.max_request_mib < a.max_file_mib {
            // Blame the key the administrator changed.
            let request_set = self.origins.contains_key("attachments.max_request_mib");
            let path = if request_set { "attachments.max_request_mib" } else { "attachments.max_file_mib" };
            let (request, file) = (a.max_request_mib, a.max_file_mib);
            self.fail(path, format!("max_request_mib ({request}) must be at least max_file_mib ({file})"));
        }
        self.require(a.max_files >= 1, "attachments.max_files", "must be at least 1");
        for t in &a.allowed_types {
            let why = format!("{t:?} is not one of {}", KNOWN_TYPES.join(", "));
            self.require(KNOWN_TYPES.contains(&t.as_str()), "attachments.allowed_types", why);
        }

        let o = &c.oidc;
        if o.enabled() {
            let why = format!("{:?} must be an https:// address (http:// only on 127.0.0.1 or localhost)", o.issuer);
            self.require(is_issuer_url(&o.issuer), "oidc.issuer", why);
            self.require(!o.client_id.is_empty(), "oidc.client_id", "must be set when oidc.issuer is");
            let secret_set = !o.client_secret.is_empty() || !o.client_secret_file.is_empty();
            self.require(secret_set, "oidc.client_secret", "set client_secret or client_secret_file");
        }
        if !o.client_secret_file.is_empty() && !Path::new(&o.client_secret_file).is_file() {
            self.fail("oidc.client_secret_file", format!("file {} does not exist", o.client_secret_file));
        }
        let why = "must be generic or proconnect";
        self.require(["generic", "proconnect"].contains(&o.profile.as_str()), "oidc.profile", why);
        for scope in &o.scopes {
            let ok = !scope.is_empty() && scope.chars().all(|c| c.is_ascii_graphic() && c != '"' && c != '\\');
            self.require(ok, "oidc.scopes", format!("{scope:?} is not a scope name"));
        }

        let a = &c.auth;
        self.require(a.session_idle_minutes >= 1, "auth.session_idle_minutes", "must be at least 1");
        self.require(a.session_max_hours >= 1, "auth.session_max_hours", "must be at least 1");
        let roles = ["admin", "manager", "agent", "elected"];
        let why = "must be admin, manager, agent or elected";
        self.require(roles.contains(&a.auto_approve_role.as_str()), "auth.auto_approve_role", why);
        for siret in &a.auto_approve_sirets {
            let ok = siret.len() == 14 && siret.bytes().all(|b| b.is_ascii_digit());
            self.require(ok, "auth.auto_approve_sirets", format!("{siret:?} is not 14 digits"));
        }
        for domain in &a.auto_approve_domains {
            let ok = domain.contains('.') && !domain.contains('@') && !domain.contains(char::is_whitespace);
            self.require(ok, "auth.auto_approve_domains", format!("{domain:?} is not a domain such as mairie.fr"));
        }
        self.require(a.link_hours >= 1, "auth.link_hours", "must be at least 1");
        self.require(a.guest_link_minutes >= 1, "auth.guest_link_minutes", "must be at least 1");

        let p = &c.portal;
        let statuses = ["non conforme", "partiellement conforme", "totalement conforme"];
        let why = "must be \"non conforme\", \"partiellement conforme\" or \"totalement conforme\"";
        self.require(statuses.contains(&p.accessibility_status.as_str()), "portal.accessibility_status", why);
        match contrast_on_white(&p.accent_color) {
            None => self.fail("portal.accent_color", format!("{:?} is not a colour such as #1f4e8c", p.accent_color)),
            Some(ratio) if ratio < 4.5 => self.fail(
                "portal.accent_color",
                format!("{} has a contrast of {ratio:.1}:1 on white; at least 4.5:1 is needed (RGAA)", p.accent_color),
            ),
            Some(_) => {}
        }
        if !p.logo_file.is_empty() {
            let kind_ok = [".png", ".svg"].iter().any(|e| p.logo_file.to_ascii_lowercase().ends_with(e));
            self.require(kind_ok, "portal.logo_file", "must be a .png or .svg file");
            self.require(
                Path::new(&p.logo_file).is_file(),
                "portal.logo_file",
                format!("file {} does not exist", p.logo_file),
            );
        }

        let m = &c.map;
        if !m.tile_url.is_empty() {
            let placeholders = ["{z}", "{x}", "{y}"].iter().all(|p| m.tile_url.contains(p));
            let host_ok = m.tile_origin().len() > "https://".len() && !m.tile_origin().contains(['{', ' ', '\'', ';']);
            let why = format!("{:?} must be an https:// (or http://) URL with {{z}}, {{x}} and {{y}}", m.tile_url);
            self.require(is_http_url(&m.tile_origin()) && placeholders && host_ok, "map.tile_url", why);
        }
        self.require((-90.0..=90.0).contains(&m.center_lat), "map.center_lat", "must be between -90 and 90");
        self.require((-180.0..=180.0).contains(&m.center_lon), "map.center_lon", "must be between -180 and 180");
        self.require((1..=19).contains(&m.zoom), "map.zoom", "must be between 1 and 19");
        if !m.geocoder_url.is_empty() {
            let ok = is_http_url(&m.geocoder_url) && !m.geocoder_origin().contains(['{', ' ', '\'', ';']);
            let why = format!("{:?} must be an address such as https://data.geopf.fr/geocodage", m.geocoder_url);
            self.require(ok, "map.geocoder_url", why);
        }

        let l = &c.log;
        self.require(LOG_LEVELS.contains(&l.level.as_str()), "log.level", "must be error, warn, info, debug or trace");
        self.require(["text", "json"].contains(&l.format.as_str()), "log.format", "must be text or json");
    }
}

/// Contrast ratio of `#rrggbb` text on white (WCAG 2.1 relative luminance).
pub fn contrast_on_white(color: &str) -> Option<f64> {
    let hex = color.strip_prefix('#').filter(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()))?;
    let channel = |i: usize| {
        let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).ok()?) / 255.0;
        Some(if c <= 0.03928 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) })
    };
    let luminance = 0.2126 * channel(0)? + 0.7152 * channel(2)? + 0.0722 * channel(4)?;
    Some(1.05 / (luminance + 0.05))
}

/// `https://`, or `http://` on a loopback host (development and tests).
fn is_issuer_url(url: &str) -> bool {
    let url = url.strip_suffix('/').unwrap_or(url);
    if !is_http_url(url) {
        return false;
    }
    match url.strip_prefix("http://") {
        None => url.starts_with("https://"),
        Some(rest) => {
            let host = rest.split('/').next().unwrap_or("");
            let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
            ["127.0.0.1", "localhost", "[::1]"].contains(&host)
        }
    }
}

/// `http://` or `https://`, then a host (and maybe a path) without spaces or trailing slash.
fn is_http_url(url: &str) -> bool {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.ends_with('/') && !r.contains(char::is_whitespace))
}

#[cfg(test)]
mod tests;
