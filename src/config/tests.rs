use toml::Table;

use super::loader::{edit_distance, suggestion};
use super::*;

const EXAMPLE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/guichet.example.toml"));

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn load(file: Option<&str>, env: &[(&str, &str)], flags: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::load(file.map(|f| ("guichet.toml", f)), owned(env), &owned(flags))
}

fn problems(file: Option<&str>, env: &[(&str, &str)], flags: &[(&str, &str)]) -> Vec<String> {
    match load(file, env, flags) {
        Ok(c) => panic!("expected problems, got {c:?}"),
        Err(e) => e.problems,
    }
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("guichet-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn file(&self, name: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, "-----BEGIN-----").unwrap();
        path.to_str().unwrap().to_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn defaults_are_valid() {
    assert_eq!(load(None, &[], &[]).unwrap(), Config::default());
    assert_eq!(load(Some(""), &[], &[]).unwrap(), Config::default());
}

#[test]
fn the_example_parses_to_the_defaults_and_documents_every_key() {
    assert_eq!(load(Some(EXAMPLE), &[], &[]).unwrap(), Config::default());
    let schema = Table::try_from(Config::default()).unwrap();
    assert_eq!(schema.len(), 13);
    for (table, values) in schema {
        assert!(EXAMPLE.contains(&format!("\n[{table}]\n")), "[{table}] missing from the example");
        for key in values.as_table().unwrap().keys() {
            assert!(EXAMPLE.contains(&format!("\n{key} = ")), "[{table}] {key} missing from the example");
            let documented = EXAMPLE.split(&format!("\n{key} = ")).next().unwrap().trim_end().lines().last().unwrap();
            assert!(documented.starts_with('#'), "[{table}] {key} has no comment above it");
        }
    }
}

#[test]
fn file_then_environment_then_flags() {
    let file = "[http]\nbind = \"127.0.0.1:9000\"\n[storage]\ndata_dir = \"/srv/a\"\n";
    let c = load(Some(file), &[], &[]).unwrap();
    assert_eq!((c.http.bind.as_str(), c.storage.data_dir.as_str()), ("127.0.0.1:9000", "/srv/a"));
    let env = [("GUICHET_HTTP__BIND", "127.0.0.1:9001")];
    let c = load(Some(file), &env, &[]).unwrap();
    assert_eq!((c.http.bind.as_str(), c.storage.data_dir.as_str()), ("127.0.0.1:9001", "/srv/a"));
    let c = load(Some(file), &env, &[("http.bind", "0.0.0.0:9002")]).unwrap();
    assert_eq!(c.http.bind, "0.0.0.0:9002");
    assert_eq!(c.http.bind_addr(), "0.0.0.0:9002".parse().unwrap());
    // Flags apply in order: the last wins.
    let c = load(None, &[], &[("log.level", "debug"), ("log.level", "warn")]).unwrap();
    assert_eq!(c.log.level, "warn");
}

#[test]
fn environment_names_map_to_table_and_key() {
    let env = [
        ("GUICHET_STORAGE__DATA_DIR", "/var/lib/guichet"),
        ("GUICHET_LOG", "debug"),
        ("GUICHET_SOMETHING", "ignored"),
        ("HOME", "/root"),
        ("HTTP__BIND", "ignored"),
    ];
    let c = load(None, &env, &[]).unwrap();
    assert_eq!(c.storage.data_dir, "/var/lib/guichet");
    assert_eq!(c.storage.data_dir(), PathBuf::from("/var/lib/guichet"));
    assert_eq!(Config { storage: c.storage.clone(), ..Config::default() }, c);
}

#[test]
fn environment_values_are_typed_by_the_default() {
    let env = [
        ("GUICHET_INSTANCE__ALSACE_MOSELLE", "yes"),
        ("GUICHET_INSTANCE__SEED_CATALOGUE", "0"),
        ("GUICHET_HTTP__TRUST_FORWARDED_FOR", "TRUE"),
        ("GUICHET_HTTP__INTAKE_RATE_PER_MINUTE", "0"),
        ("GUICHET_STORAGE__CACHE_CAPACITY_MIB", " 256 "),
        ("GUICHET_ATTACHMENTS__ALLOWED_TYPES", "image/png, application/pdf,"),
        ("GUICHET_INSTANCE__NAME", " Mairie de Saint-Jean "),
    ];
    let c = load(None, &env, &[]).unwrap();
    assert!(c.instance.alsace_moselle);
    assert!(!c.instance.seed_catalogue);
    assert!(c.http.trust_forwarded_for);
    assert_eq!(c.http.intake_rate_per_minute, 0);
    assert_eq!(c.storage.cache_capacity_mib, 256);
    assert_eq!(c.attachments.allowed_types, ["image/png", "application/pdf"]);
    assert_eq!(c.instance.name, " Mairie de Saint-Jean ", "strings are taken as they are");
    let c = load(None, &[("GUICHET_ATTACHMENTS__ALLOWED_TYPES", "")], &[("instance.alsace_moselle", "no")]).unwrap();
    assert!(c.attachments.allowed_types.is_empty());
    assert!(!c.instance.alsace_moselle);
    // Coordinates: decimal in flags and the environment, whole numbers accepted in a file.
    let c =
        load(Some("[map]\ncenter_lon = 2"), &[("GUICHET_MAP__CENTER_LAT", "48.8771")], &[("map.zoom", "15")]).unwrap();
    assert!((c.map.center_lat - 48.8771).abs() < 1e-9 && (c.map.center_lon - 2.0).abs() < 1e-9);
    let p = problems(None, &[], &[("map.center_lat", "nord"), ("map.center_lon", "NaN")]);
    assert!(p.len() == 2 && p.iter().all(|m| m.contains("a number such as 48.85")), "{p:?}");
}

#[test]
fn unparsable_text_values_are_reported() {
    let p = problems(
        None,
        &[
            ("GUICHET_INSTANCE__ALSACE_MOSELLE", "maybe"),
            ("GUICHET_STORAGE__CACHE_CAPACITY_MIB", "lots"),
            ("GUICHET_HTTP__MAX_BODY_KIB", "-3"),
        ],
        &[("attachments.max_files", "5000000000")],
    );
    assert_eq!(p.len(), 4, "{p:#?}");
    assert!(p[0].starts_with("environment GUICHET_HTTP__MAX_BODY_KIB: [http] max_body_kib: -3 is negative"), "{p:#?}");
    assert!(p[1].starts_with("environment GUICHET_INSTANCE__ALSACE_MOSELLE: [instance] alsace_moselle: expected true"));
    assert!(
        p[2].contains("GUICHET_STORAGE__CACHE_CAPACITY_MIB: [storage] cache_capacity_mib: expected a whole number")
    );
    assert_eq!(p[3], "flag --set attachments.max_files: [attachments] max_files: 5000000000 is too large");
}

#[test]
fn every_problem_is_reported_at_once() {
    let file = "[htp]\nbind = 1\n\n[http]\nbind = \"nowhere\"\ntls_cert = \"/etc/ssl/guichet.pem\"\n";
    let err = load(
        Some(file),
        &[("GUICHET_STORAGE__CACHE_CAPACITY_MIB", "-3"), ("GUICHET_HTTP__NOPE", "1")],
        &[("log.level", "loud")],
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("invalid configuration:\n  - "), "{text}");
    let expected = [
        "file guichet.toml: unknown table [htp] (did you mean http?)",
        "environment GUICHET_HTTP__NOPE: [http] nope: unknown key",
        "environment GUICHET_STORAGE__CACHE_CAPACITY_MIB: [storage] cache_capacity_mib: -3 is negative",
        "file guichet.toml: [http] bind: \"nowhere\" is not an IP address",
        "file guichet.toml: [http] tls_cert: is set but tls_key is empty",
        "flag --set log.level: [log] level: must be",
    ];
    assert_eq!(err.problems.len(), expected.len(), "{text}");
    for (problem, expected) in err.problems.iter().zip(expected) {
        assert!(problem.starts_with(expected), "{expected:?} expected, found {problem:?}");
    }
}

#[test]
fn unknown_keys_in_the_file_are_reported() {
    let file = "[storage]\ndatadir = \"/srv\"\n\n[http]\nport = 80\n";
    let p = problems(Some(file), &[], &[]);
    assert_eq!(
        p,
        [
            "file guichet.toml: [http] port: unknown key",
            "file guichet.toml: [storage] datadir: unknown key (did you mean data_dir?)",
        ]
    );
    let p = problems(Some("name = \"Mairie\"\n"), &[], &[]);
    assert_eq!(p, ["file guichet.toml: unknown table [name]"]);
    let p = problems(None, &[("GUICHET_STORAGE__DATADIR", "/srv")], &[("htp.bind", "x")]);
    assert_eq!(
        p,
        [
            "environment GUICHET_STORAGE__DATADIR: [storage] datadir: unknown key (did you mean data_dir?)",
            "flag --set htp.bind: unknown table [htp] (did you mean http?)",
        ]
    );
}

#[test]
fn wrong_types_in_the_file_are_reported() {
    let file = "http = 3\n[instance]\nalsace_moselle = \"yes\"\nname = 12\n[storage]\ncache_capacity_mib = 64.5\n\
                [attachments]\nmax_files = -1\nallowed_types = [1, 2]\n";
    let p = problems(Some(file), &[], &[]);
    assert_eq!(p.len(), 6, "{p:#?}");
    let expected = [
        "[attachments] allowed_types: expected a list of texts",
        "[attachments] max_files: -1 is negative",
        "http: expected a table [http], found integer",
        "[instance] alsace_moselle: expected true or false",
        "[instance] name: expected text",
        "[storage] cache_capacity_mib: expected a whole number",
    ];
    for expected in expected {
        assert!(p.iter().any(|p| p.starts_with("file guichet.toml: ") && p.contains(expected)), "{expected}: {p:#?}");
    }
}

#[test]
fn a_syntax_error_is_located_and_other_sources_still_checked() {
    let p = problems(Some("[http]\nbind = 127.0.0.1\n"), &[("GUICHET_LOG__LEVEL", "loud")], &[]);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(p[0].starts_with("file guichet.toml: line 2, column "), "{p:#?}");
    assert!(p[1].starts_with("environment GUICHET_LOG__LEVEL: [log] level"), "{p:#?}");
}

#[test]
fn tls_needs_both_files_and_they_must_exist() {
    let p = problems(None, &[], &[("http.tls_cert", "/nonexistent/a.pem"), ("http.tls_key", "/nonexistent/b.pem")]);
    assert_eq!(
        p,
        [
            "flag --set http.tls_cert: [http] tls_cert: file /nonexistent/a.pem does not exist",
            "flag --set http.tls_key: [http] tls_key: file /nonexistent/b.pem does not exist",
        ]
    );
    let p = problems(None, &[("GUICHET_HTTP__TLS_KEY", "/nonexistent/b.pem")], &[]);
    assert_eq!(
        p,
        ["environment GUICHET_HTTP__TLS_KEY: [http] tls_key: is set but tls_cert is empty: set both, or neither"]
    );

    let dir = Scratch::new("tls");
    let (cert, key) = (dir.file("cert.pem"), dir.file("key.pem"));
    let p = problems(None, &[], &[("http.tls_cert", &cert), ("http.tls_key", "/nonexistent/b.pem")]);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(p[0].contains("tls_key"));
    let c = load(None, &[], &[("http.tls_cert", &cert), ("http.tls_key", &key)]).unwrap();
    assert_eq!(c.http.tls_paths(), Some((PathBuf::from(&cert), PathBuf::from(&key))));
    assert_eq!(c.public_url("127.0.0.1:8443".parse().unwrap()), "https://127.0.0.1:8443");
    assert_eq!(Config::default().http.tls_paths(), None);
}

#[test]
fn public_url_is_normalised_or_derived() {
    let bound: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let c = load(None, &[("GUICHET_HTTP__PUBLIC_URL", "https://guichet.example.fr/")], &[]).unwrap();
    assert_eq!(c.http.public_url, "https://guichet.example.fr");
    assert_eq!(c.public_url(bound), "https://guichet.example.fr");
    assert_eq!(Config::default().public_url(bound), "http://127.0.0.1:8080");
    assert_eq!(Config::default().public_url("0.0.0.0:80".parse().unwrap()), "http://127.0.0.1:80");
    assert_eq!(Config::default().public_url("[::]:80".parse().unwrap()), "http://[::1]:80");
    for bad in ["guichet.example.fr", "ftp://x", "https://", "https://x.fr//", "https://x y"] {
        let p = problems(None, &[], &[("http.public_url", bad)]);
        assert_eq!(p.len(), 1, "{bad}: {p:#?}");
        assert!(p[0].starts_with("flag --set http.public_url: [http] public_url: "), "{p:#?}");
    }
}

#[test]
fn semantic_rules() {
    let ok = [("instance.insee_code", "2A004"), ("instance.siren", "217500016"), ("instance.kind", "epci")];
    let c = load(None, &[], &ok).unwrap();
    assert_eq!((c.instance.insee_code.as_str(), c.instance.kind.as_str()), ("2A004", "epci"));
    assert_eq!(load(None, &[], &[("instance.insee_code", "75056")]).unwrap().instance.insee_code, "75056");
    assert!(load(None, &[], &[("sms.url", "https://sms.example.fr/send?to={to}&text={text}")]).is_ok());
    let bad: &[(&str, &str, &str)] = &[
        ("instance.insee_code", "2C004", "[instance] insee_code"),
        ("instance.insee_code", "7505", "[instance] insee_code"),
        ("instance.siren", "21750001", "[instance] siren"),
        ("instance.siren", "21750001X", "[instance] siren"),
        ("instance.kind", "region", "[instance] kind"),
        ("instance.name", " ", "[instance] name"),
        ("http.bind", "localhost:8080", "[http] bind"),
        ("http.max_body_kib", "0", "[http] max_body_kib"),
        ("storage.data_dir", "", "[storage] data_dir"),
        ("storage.cache_capacity_mib", "7", "[storage] cache_capacity_mib"),
        ("attachments.max_file_mib", "0", "[attachments] max_file_mib"),
        ("attachments.max_files", "0", "[attachments] max_files"),
        ("attachments.allowed_types", "image/png,text/html", "[attachments] allowed_types: \"text/html\""),
        ("log.format", "xml", "[log] format"),
        ("sms.url", "https://sms.example.fr/send?to={to}", "[sms] url"),
        ("sms.url", "ftp://sms.example.fr/{to}/{text}", "[sms] url"),
    ];
    for (key, value, expected) in bad {
        let p = problems(None, &[], &[(key, value)]);
        assert_eq!(p.len(), 1, "{key}={value}: {p:#?}");
        assert!(p[0].starts_with(&format!("flag --set {key}: {expected}")), "{key}={value}: {p:#?}");
    }
}

#[test]
fn a_cross_key_problem_names_the_key_that_was_changed() {
    let p = problems(None, &[("GUICHET_ATTACHMENTS__MAX_FILE_MIB", "50")], &[]);
    assert_eq!(
        p,
        ["environment GUICHET_ATTACHMENTS__MAX_FILE_MIB: [attachments] max_file_mib: max_request_mib (30) must be at \
         least max_file_mib (50)"]
    );
    let p = problems(None, &[], &[("attachments.max_request_mib", "5")]);
    assert!(p[0].starts_with("flag --set attachments.max_request_mib: [attachments] max_request_mib: "), "{p:#?}");
    let c = load(None, &[], &[("attachments.max_file_mib", "1"), ("attachments.max_request_mib", "1")]).unwrap();
    assert_eq!((c.attachments.max_file_bytes(), c.attachments.max_request_bytes()), (1 << 20, 1 << 20));
}

#[test]
fn overrides_are_table_dot_key_equals_value() {
    assert_eq!(Config::parse_override("http.bind=0.0.0.0:80").unwrap(), ("http.bind".into(), "0.0.0.0:80".into()));
    assert_eq!(Config::parse_override(" log.level = debug").unwrap(), ("log.level".into(), " debug".into()));
    assert_eq!(Config::parse_override("instance.name=A=B").unwrap(), ("instance.name".into(), "A=B".into()));
    for bad in ["nonsense", "bind=x", ".bind=x", "http.=x"] {
        assert!(Config::parse_override(bad).unwrap_err().starts_with(&format!("--set {bad}: expected")), "{bad}");
    }
    assert_eq!(problems(None, &[], &[("bind", "x")]), ["flag --set bind: expected table.key, such as http.bind"]);
}

#[test]
fn byte_helpers_and_fallbacks() {
    let c = Config::default();
    assert_eq!(c.http.max_body_bytes(), 64 * 1024);
    assert_eq!(c.attachments.max_file_bytes(), 10 * 1024 * 1024);
    assert_eq!(c.attachments.max_request_bytes(), 30 * 1024 * 1024);
    let http = HttpConfig { bind: "nowhere".into(), max_body_kib: u64::MAX, ..HttpConfig::default() };
    assert_eq!(http.bind_addr(), "127.0.0.1:8080".parse().unwrap());
    assert_eq!(http.max_body_bytes(), u64::MAX);
}

#[test]
fn suggestions_need_a_close_name() {
    assert_eq!(edit_distance("datadir", "data_dir"), 1);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(suggestion("zzzz", ["http".to_owned()].iter()), "");
}

#[test]
fn the_accent_colour_must_read_on_white() {
    let problems = problems(None, &[], &[("portal.accent_color", "#ffcc00")]);
    assert!(problems[0].contains("contrast of 1.") && problems[0].contains("4.5:1"), "{problems:?}");
}
