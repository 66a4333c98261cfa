//! Migrations tested on a fixture written by the first release (request version 1):
//! `tests/fixtures/migrations/dump-v1.jsonl` was exported by that release, unchanged since.

use super::*;
use crate::domain::request::Notify;
use crate::store::{self, codec, dump};

const FIXTURE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/migrations/dump-v1.jsonl"));

/// The requests of the fixture as they were stored: version byte 1, then JSON.
fn v1_records() -> Vec<(u64, Vec<u8>)> {
    FIXTURE
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["kind"] == "request")
        .map(|l| {
            assert_eq!(l["version"], 1, "the fixture holds version 1 records");
            let mut bytes = vec![1u8];
            bytes.extend(serde_json::to_vec(&l["value"]).unwrap());
            (l["value"]["id"].as_u64().unwrap(), bytes)
        })
        .collect()
}

#[test]
fn version_1_records_are_upgraded_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let records = v1_records();
    assert_eq!(records.len(), 3);
    {
        let (store, repos) = store::open(dir.path(), 16 << 20).unwrap();
        let (requests, meta) = (repos.requests.clone(), repos.meta.clone());
        let raw = records.clone();
        store
            .write_blocking(move |tx| {
                for (id, bytes) in &raw {
                    requests.put_raw(tx, &id.to_be_bytes(), bytes)?;
                }
                // As the first release left it.
                meta.set_flag(tx, "request_version", 1)
            })
            .unwrap();
        store.close();
    }
    let (store, repos) = store::open(dir.path(), 16 << 20).unwrap();
    for item in repos.requests.raw_records() {
        let (_, value) = item.unwrap();
        assert_eq!(codec::version_of(&value), Some(Request::VERSION), "rewritten in the current version");
    }
    let with_email = repos.requests.get(2).unwrap().unwrap();
    assert_eq!(with_email.contact.email, "marie.dupont@example.fr");
    assert_eq!(with_email.notify, Notify::Email);
    let phone_only = repos.requests.get(3).unwrap().unwrap();
    assert_eq!(phone_only.notify, Notify::None);
    assert_eq!(repos.meta.get_flag("request_version").unwrap(), Some(u64::from(Request::VERSION)));
    store.close();
}

#[test]
fn a_version_1_dump_imports_into_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let (store, repos) = store::open(dir.path(), 16 << 20).unwrap();
    let stats = dump::import(&store, &repos, || Ok(FIXTURE.as_bytes())).unwrap();
    assert_eq!((stats.requests, stats.audit_entries, stats.categories), (3, 7, 14));
    assert_eq!(repos.requests.get(2).unwrap().unwrap().notify, Notify::Email);
    assert!(repos.requests.check_consistency().unwrap().is_empty());
    assert_eq!(repos.audit.verify().unwrap().broken, None);
    // Registration numbers continue after the imported ones.
    assert_eq!(repos.meta.sequence("registration/2026").unwrap(), 3);
    store.close();
}

#[test]
fn a_store_from_a_newer_release_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, repos) = store::open(dir.path(), 16 << 20).unwrap();
        let meta = repos.meta.clone();
        store.write_blocking(move |tx| meta.set_flag(tx, "schema_version", SCHEMA_VERSION + 1)).unwrap();
        store.close();
    }
    let err = store::open(dir.path(), 16 << 20).err().unwrap();
    assert!(err.to_string().contains("newer"), "{err}");
}

#[test]
fn a_bad_dump_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, repos) = store::open(dir.path(), 16 << 20).unwrap();
    // Valid up to the last line, which breaks the audit chain.
    let mut lines: Vec<&str> = FIXTURE.lines().collect();
    let last_audit = lines.iter().rposition(|l| l.contains("\"kind\":\"audit_entry\"")).unwrap();
    let tampered = lines[last_audit].replace("\"target\":\"", "\"target\":\"x");
    lines[last_audit] = &tampered;
    let text = lines.join("\n");
    let err = dump::import(&store, &repos, || Ok(text.as_bytes())).unwrap_err();
    assert!(err.to_string().contains("line"), "{err}");
    assert!(repos.requests.iter().next().is_none(), "nothing imported");
    assert!(repos.catalogue.departments().unwrap().is_empty());
    store.close();
}
