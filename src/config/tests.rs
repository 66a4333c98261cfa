use super::*;

fn load(file: Option<&str>, env: &[(&str, &str)], flags: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let flags: Vec<(String, String)> = flags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    Config::load(file.map(|f| ("guichet.toml", f)), env, &flags)
}

const EXAMPLE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/guichet.example.toml"));

#[test]
fn defaults_are_valid() {
    assert_eq!(load(None, &[], &[]).unwrap(), Config::default());
}

#[test]
fn the_example_parses_equals_the_defaults_and_documents_every_key() {
    assert_eq!(load(Some(EXAMPLE), &[], &[]).unwrap(), Config::default());
    for (section, values) in schema() {
        assert!(EXAMPLE.contains(&format!("[{section}]")), "[{section}] missing from the example");
        for key in values.as_table().unwrap().keys() {
            assert!(EXAMPLE.contains(&format!("\n{key} = ")), "[{section}] {key} missing from the example");
        }
    }
}

#[test]
fn file_then_environment_then_flags() {
    let file = "[http]\nbind = \"127.0.0.1:9000\"\n[storage]\ndata_dir = \"/srv/a\"\n";
    let c = load(Some(file), &[], &[]).unwrap();
    assert_eq!(c.http.bind, "127.0.0.1:9000");
    let c = load(Some(file), &[("GUICHET_HTTP__BIND", "127.0.0.1:9001"), ("GUICHET_STORAGE__DATA_DIR", "/srv/b")], &[])
        .unwrap();
    assert_eq!((c.http.bind.as_str(), c.storage.data_dir.as_str()), ("127.0.0.1:9001", "/srv/b"));
    let c = load(Some(file), &[("GUICHET_HTTP__BIND", "127.0.0.1:9001")], &[("http.bind", "0.0.0.0:9002")]).unwrap();
    assert_eq!(c.http.bind, "0.0.0.0:9002");
}

#[test]
fn environment_values_are_typed_by_the_default() {
    let c = load(
        None,
        &[
            ("GUICHET_INSTANCE__ALSACE_MOSELLE", "yes"),
            ("GUICHET_HTTP__INTAKE_RATE_PER_MINUTE", "0"),
            ("GUICHET_ATTACHMENTS__ALLOWED_TYPES", "image/png, application/pdf"),
            ("GUICHET_LOG", "debug"),
            ("HOME", "/root"),
        ],
        &[],
    )
    .unwrap();
    assert!(c.instance.alsace_moselle);
    assert_eq!(c.http.intake_rate_per_minute, 0);
    assert_eq!(c.attachments.allowed_types, ["image/png", "application/pdf"]);
}

#[test]
fn every_problem_is_reported_at_once() {
    let file =
        "[htp]\nbind = 1\n[http]\nbind = \"nowhere\"\nmax_body_kib = \"big\"\ntls_cert = \"/nonexistent/cert.pem\"\n";
    let err = load(
        Some(file),
        &[("GUICHET_STORAGE__CACHE_CAPACITY_MIB", "-3"), ("GUICHET_HTTP__NOPE", "1")],
        &[("log.level", "loud")],
    )
    .unwrap_err();
    let text = err.to_string();
    for expected in
        ["unknown table [htp]", "max_body_kib: expected integer", "cache_capacity_mib", "GUICHET_HTTP__NOPE"]
    {
        assert!(text.contains(expected), "{expected} not in:\n{text}");
    }
    // The values that did parse are still validated, together.
    assert!(text.contains("[http] bind"), "{text}");
    assert!(text.contains("[http] tls_cert"), "{text}");
    assert!(text.contains("[log] level"), "{text}");
    assert_eq!(err.problems.len(), 7, "{text}");
}

#[test]
fn tls_needs_both_files_and_they_must_exist() {
    let err = load(None, &[], &[("http.tls_cert", "/nonexistent/a.pem"), ("http.tls_key", "/nonexistent/b.pem")])
        .unwrap_err();
    assert_eq!(err.problems.len(), 2, "{err}");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&cert, "x").unwrap();
    std::fs::write(&key, "x").unwrap();
    let c =
        load(None, &[], &[("http.tls_cert", cert.to_str().unwrap()), ("http.tls_key", key.to_str().unwrap())]).unwrap();
    assert!(c.http.tls_paths().is_some());
    assert!(c.public_url("127.0.0.1:1".parse().unwrap()).starts_with("https://"));
}

#[test]
fn overrides_are_table_dot_key() {
    assert_eq!(Config::parse_override("http.bind=0.0.0.0:80").unwrap(), ("http.bind".into(), "0.0.0.0:80".into()));
    assert!(Config::parse_override("nonsense").is_err());
    assert!(load(None, &[], &[("bind", "x")]).is_err());
}
