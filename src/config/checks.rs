//! Semantic validation of a loaded configuration: every problem, named after the source
//! that set the key concerned.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::net::SocketAddr;
use std::path::Path;

use super::{Config, LOG_LEVELS};
use crate::domain::media::KNOWN_TYPES;
use crate::domain::portal::{ACCESSIBILITY_STATUSES, contrast_on_white};
use crate::domain::request::is_insee_code;

/// Semantic validation, each problem attributed to the source of the key concerned.
pub(super) struct Checks {
    pub(super) origins: BTreeMap<String, String>,
    pub(super) problems: Vec<String>,
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

    pub(super) fn run(&mut self, c: &Config) {
        let i = &c.instance;
        self.require(!i.name.trim().is_empty(), "instance.name", "must not be empty");
        self.require(["commune", "epci"].contains(&i.kind.as_str()), "instance.kind", "must be commune or epci");
        let why = format!("{:?} is not 5 digits, or 2A/2B and 3 digits", i.insee_code);
        self.require(i.insee_code.is_empty() || is_insee_code(&i.insee_code), "instance.insee_code", why);
        let siren_ok = i.siren.is_empty() || (i.siren.len() == 9 && i.siren.bytes().all(|b| b.is_ascii_digit()));
        self.require(siren_ok, "instance.siren", format!("{:?} is not 9 digits", i.siren));

        let f = &c.federation;
        let why = "must be between 1 and 3600";
        self.require((1..=3600).contains(&f.retry_base_seconds), "federation.retry_base_seconds", why);
        let why = "must be between 1 and 720";
        self.require((1..=720).contains(&f.unreachable_alert_hours), "federation.unreachable_alert_hours", why);
        let why = "must be between -2592000 and 2592000 (30 days)";
        let offset = f.test_clock_offset_seconds;
        self.require((-2_592_000..=2_592_000).contains(&offset), "federation.test_clock_offset_seconds", why);

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
        let why = "must be \"non conforme\", \"partiellement conforme\" or \"totalement conforme\"";
        self.require(
            ACCESSIBILITY_STATUSES.contains(&p.accessibility_status.as_str()),
            "portal.accessibility_status",
            why,
        );
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

        let smtp = &c.smtp;
        if smtp.enabled() {
            let loopback = ["127.0.0.1", "localhost", "::1"].contains(&smtp.host.as_str());
            match smtp.security.as_str() {
                "starttls" | "tls" => {}
                "none" => {
                    self.require(loopback, "smtp.security", "\"none\" is for a relay on this machine (127.0.0.1) only")
                }
                other => self.fail("smtp.security", format!("{other:?} must be starttls, tls or none")),
            }
            self.require((1..=65535).contains(&smtp.port), "smtp.port", "must be between 1 and 65535");
            self.require(smtp.digest_hour <= 23, "smtp.digest_hour", "must be an hour between 0 and 23");
            let from_ok = smtp.from.parse::<lettre::message::Mailbox>().is_ok();
            self.require(from_ok, "smtp.from", "must be an address such as Mairie <mairie@example.fr>");
            if !smtp.password_file.is_empty() {
                self.require(Path::new(&smtp.password_file).is_file(), "smtp.password_file", "file does not exist");
            }
        }

        let imap = &c.inbound_mail;
        if !imap.imap_host.is_empty() {
            self.require(
                (1..=65535).contains(&imap.imap_port),
                "inbound_mail.imap_port",
                "must be between 1 and 65535",
            );
            self.require(!imap.imap_username.is_empty(), "inbound_mail.imap_username", "is needed to read the mailbox");
            self.require(!imap.imap_mailbox.is_empty(), "inbound_mail.imap_mailbox", "names the folder to read");
            self.require(
                (5..=86_400).contains(&imap.imap_poll_seconds),
                "inbound_mail.imap_poll_seconds",
                "must be between 5 and 86400",
            );
            for (key, path) in [
                ("inbound_mail.imap_password_file", &imap.imap_password_file),
                ("inbound_mail.imap_ca_file", &imap.imap_ca_file),
            ] {
                if !path.is_empty() {
                    self.require(Path::new(path).is_file(), key, "file does not exist");
                }
            }
        }

        let sms = &c.sms;
        if !sms.url.is_empty() {
            let ok = (sms.url.starts_with("https://") || sms.url.starts_with("http://"))
                && sms.url.contains("{to}")
                && sms.url.contains("{text}");
            self.require(ok, "sms.url", "must be an http(s) address with {to} and {text}");
            let header_ok = sms.auth_header.is_empty()
                || sms.auth_header.split_once(':').is_some_and(|(n, _)| !n.trim().is_empty());
            self.require(header_ok, "sms.auth_header", "must look like Name: value");
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
pub(super) fn is_http_url(url: &str) -> bool {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.ends_with('/') && !r.contains(char::is_whitespace))
}
