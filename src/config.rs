//! One configuration: built-in defaults < TOML file (`--config FILE`) < environment
//! (`GUICHET_TABLE__KEY`) < command-line flags. The defaults, serialised, are the schema:
//! every value from a file, the environment or a flag is checked against the type of the
//! default at the same key, and every problem is reported at once.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::domain::media::KNOWN_TYPES;
use crate::domain::request::is_insee_code;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub instance: InstanceConfig,
    pub http: HttpConfig,
    pub storage: StorageConfig,
    pub attachments: AttachmentsConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstanceConfig {
    pub name: String,
    pub kind: String,
    pub insee_code: String,
    pub siren: String,
    pub alsace_moselle: bool,
    pub contact_email: String,
    pub contact_phone: String,
    pub contact_address: String,
    pub appeal_text: String,
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
            appeal_text: "Vous pouvez former un recours gracieux auprès du maire, ou un recours contentieux devant \
                          le tribunal administratif territorialement compétent, dans un délai de deux mois à \
                          compter de la décision, y compris par l'application Télérecours citoyens \
                          (www.telerecours.fr)."
                .into(),
            seed_catalogue: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub bind: String,
    pub public_url: String,
    pub tls_cert: String,
    pub tls_key: String,
    pub max_body_kib: u64,
    pub intake_rate_per_minute: u32,
    pub trust_forwarded_for: bool,
    pub shutdown_grace_seconds: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            bind: "127.0.0.1:8080".into(),
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
    pub fn bind_addr(&self) -> SocketAddr {
        self.bind.parse().unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)))
    }

    pub fn tls_paths(&self) -> Option<(PathBuf, PathBuf)> {
        (!self.tls_cert.is_empty() && !self.tls_key.is_empty())
            .then(|| (PathBuf::from(&self.tls_cert), PathBuf::from(&self.tls_key)))
    }

    pub fn max_body_bytes(&self) -> u64 {
        self.max_body_kib * 1024
    }
}

impl StorageConfig {
    pub fn data_dir(&self) -> PathBuf {
        PathBuf::from(&self.data_dir)
    }
}

impl AttachmentsConfig {
    pub fn max_file_bytes(&self) -> u64 {
        self.max_file_mib << 20
    }

    pub fn max_request_bytes(&self) -> u64 {
        self.max_request_mib << 20
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl Config {
    /// The URL citizens and agents reach this instance at.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        if self.http.public_url.is_empty() {
            let scheme = if self.http.tls_paths().is_some() { "https" } else { "http" };
            format!("{scheme}://{bound}")
        } else {
            self.http.public_url.trim_end_matches('/').to_owned()
        }
    }

    /// Parses `table.key=value` from a `--set` flag.
    pub fn parse_override(s: &str) -> Result<(String, String), String> {
        let (key, value) = s.split_once('=').ok_or_else(|| format!("--set {s}: expected table.key=value"))?;
        Ok((key.trim().to_owned(), value.to_owned()))
    }

    /// `file`: (name, contents) already read; `env`: the process environment; `overrides`:
    /// command-line (dotted key, value) pairs.
    pub fn load(
        file: Option<(&str, &str)>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let mut problems = Vec::new();
        let mut table = schema();
        if let Some((name, text)) = file {
            match toml::from_str::<toml::Table>(text) {
                Ok(from_file) => merge_file(&mut table, &from_file, name, &mut problems),
                Err(e) => problems.push(format!("file {name}: {}", e.message())),
            }
        }
        let mut env: Vec<(String, String)> =
            env.into_iter().filter(|(k, _)| k.starts_with("GUICHET_") && k.contains("__")).collect();
        env.sort();
        for (name, value) in env {
            let path = name["GUICHET_".len()..].to_ascii_lowercase();
            let Some((section, key)) = path.split_once("__") else { continue };
            set_string(&mut table, section, key, &value, &format!("environment {name}"), &mut problems);
        }
        for (dotted, value) in overrides {
            let source = format!("flag {dotted}");
            match dotted.split_once('.') {
                Some((section, key)) => set_string(&mut table, section, key, value, &source, &mut problems),
                None => problems.push(format!("{source}: expected table.key")),
            }
        }
        let config = match Config::deserialize(toml::Value::Table(table)) {
            Ok(config) => config,
            Err(e) => {
                problems.push(e.to_string());
                return Err(ConfigError { problems });
            }
        };
        config.validate(&mut problems);
        if problems.is_empty() { Ok(config) } else { Err(ConfigError { problems }) }
    }

    fn validate(&self, problems: &mut Vec<String>) {
        let mut bad = |key: &str, why: &str| problems.push(format!("{key}: {why}"));
        let i = &self.instance;
        if i.name.trim().is_empty() {
            bad("[instance] name", "must not be empty");
        }
        if i.kind != "commune" && i.kind != "epci" {
            bad("[instance] kind", "is commune or epci");
        }
        if !(i.insee_code.is_empty() || is_insee_code(&i.insee_code)) {
            bad("[instance] insee_code", "is 5 characters (digits, or 2A/2B and 3 digits)");
        }
        if !(i.siren.is_empty() || (i.siren.len() == 9 && i.siren.bytes().all(|b| b.is_ascii_digit()))) {
            bad("[instance] siren", "is 9 digits");
        }
        let h = &self.http;
        if h.bind.parse::<SocketAddr>().is_err() {
            bad("[http] bind", &format!("{:?} is not an address such as 127.0.0.1:8080", h.bind));
        }
        if !(h.public_url.is_empty() || h.public_url.starts_with("http://") || h.public_url.starts_with("https://")) {
            bad("[http] public_url", "starts with http:// or https://");
        }
        match (h.tls_cert.is_empty(), h.tls_key.is_empty()) {
            (true, true) => {}
            (false, false) => {
                for (key, path) in [("[http] tls_cert", &h.tls_cert), ("[http] tls_key", &h.tls_key)] {
                    if !std::path::Path::new(path).is_file() {
                        bad(key, &format!("{path} does not exist"));
                    }
                }
            }
            _ => bad("[http] tls_cert", "tls_cert and tls_key are set together"),
        }
        if h.max_body_kib == 0 {
            bad("[http] max_body_kib", "must be at least 1");
        }
        if self.storage.data_dir.trim().is_empty() {
            bad("[storage] data_dir", "must not be empty");
        }
        if self.storage.cache_capacity_mib < 8 {
            bad("[storage] cache_capacity_mib", "must be at least 8");
        }
        let a = &self.attachments;
        if a.max_file_mib == 0 {
            bad("[attachments] max_file_mib", "must be at least 1");
        }
        if a.max_request_mib < a.max_file_mib {
            bad("[attachments] max_request_mib", "must be at least max_file_mib");
        }
        if a.max_files == 0 {
            bad("[attachments] max_files", "must be at least 1");
        }
        for t in &a.allowed_types {
            if !KNOWN_TYPES.contains(&t.as_str()) {
                bad("[attachments] allowed_types", &format!("{t} is not one of {}", KNOWN_TYPES.join(", ")));
            }
        }
        if !["error", "warn", "info", "debug", "trace"].contains(&self.log.level.as_str()) {
            bad("[log] level", "is error, warn, info, debug or trace");
        }
        if self.log.format != "text" && self.log.format != "json" {
            bad("[log] format", "is text or json");
        }
    }
}

/// The defaults as a TOML table: the schema every source is checked against.
fn schema() -> toml::Table {
    match toml::Value::try_from(Config::default()) {
        Ok(toml::Value::Table(t)) => t,
        _ => toml::Table::new(),
    }
}

fn same_type(a: &toml::Value, b: &toml::Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn merge_file(schema: &mut toml::Table, file: &toml::Table, name: &str, problems: &mut Vec<String>) {
    for (section, values) in file {
        let Some(toml::Value::Table(target)) = schema.get_mut(section) else {
            problems.push(format!("file {name}: unknown table [{section}]"));
            continue;
        };
        let toml::Value::Table(values) = values else {
            problems.push(format!("file {name}: {section} must be a table"));
            continue;
        };
        for (key, value) in values {
            match target.get_mut(key) {
                None => problems.push(format!("file {name}: [{section}] {key}: unknown key")),
                Some(default) if !same_type(default, value) => problems.push(format!(
                    "file {name}: [{section}] {key}: expected {}, found {}",
                    default.type_str(),
                    value.type_str()
                )),
                Some(slot) => *slot = value.clone(),
            }
        }
    }
}

/// Sets a value given as text, parsed according to the type of the default.
fn set_string(
    schema: &mut toml::Table,
    section: &str,
    key: &str,
    text: &str,
    source: &str,
    problems: &mut Vec<String>,
) {
    let Some(slot) = schema.get_mut(section).and_then(|t| t.as_table_mut()).and_then(|t| t.get_mut(key)) else {
        problems.push(format!("{source}: unknown key [{section}] {key}"));
        return;
    };
    let parsed = match slot {
        toml::Value::String(_) => Some(toml::Value::String(text.to_owned())),
        toml::Value::Integer(_) => text.trim().parse::<i64>().ok().filter(|v| *v >= 0).map(toml::Value::Integer),
        toml::Value::Boolean(_) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(toml::Value::Boolean(true)),
            "false" | "0" | "no" | "off" => Some(toml::Value::Boolean(false)),
            _ => None,
        },
        toml::Value::Array(_) => Some(toml::Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        )),
        _ => None,
    };
    match parsed {
        Some(value) => *slot = value,
        None => problems.push(format!("{source}: [{section}] {key}: expected {}, found {text:?}", slot.type_str())),
    }
}

#[cfg(test)]
mod tests;
