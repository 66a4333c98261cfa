//! Start-up migrations: refuse a store from a newer release, and rewrite every value whose
//! version byte is older than its kind's current version (through `Versioned::upgrade`).

use super::codec::{self, Versioned};
use super::{Repos, SCHEMA_VERSION, Store};
use crate::domain::request::Request;
use crate::domain::{Error, Result};

/// Values rewritten per transaction.
const CHUNK: usize = 1000;

pub fn run(store: &Store, repos: &Repos) -> Result<()> {
    let schema = repos.meta.get_flag("schema_version")?;
    match schema {
        Some(v) if v > SCHEMA_VERSION => {
            return Err(Error::Store(format!(
                "this store has schema version {v}, newer than this release ({SCHEMA_VERSION}): use a newer Guichet"
            )));
        }
        Some(v) if v == SCHEMA_VERSION => {}
        _ => {
            let meta = repos.meta.clone();
            store.write_blocking(move |tx| meta.set_flag(tx, "schema_version", SCHEMA_VERSION))?;
        }
    }
    // Scanning a million records costs seconds: only when a release raised the version.
    let requests_at = repos.meta.get_flag("request_version")?;
    if requests_at.is_none_or(|v| v < u64::from(Request::VERSION)) {
        let upgraded = upgrade_requests(store, repos)?;
        if upgraded > 0 {
            tracing::info!(upgraded, "requests upgraded to the current schema");
        }
        let meta = repos.meta.clone();
        store.write_blocking(move |tx| meta.set_flag(tx, "request_version", u64::from(Request::VERSION)))?;
    }
    Ok(())
}

/// Rewrites requests stored in an older version. Returns how many were upgraded.
fn upgrade_requests(store: &Store, repos: &Repos) -> Result<usize> {
    let mut stale = Vec::new();
    for item in repos.requests.raw_records() {
        let (key, value) = item?;
        if codec::version_of(&value).is_some_and(|v| v < Request::VERSION) {
            let request: Request = codec::decode(&value)?;
            stale.push((key.to_vec(), codec::encode(&request)?));
        }
    }
    let count = stale.len();
    for chunk in stale.chunks(CHUNK) {
        let chunk = chunk.to_vec();
        let requests = repos.requests.clone();
        store.write_blocking(move |tx| {
            for (key, value) in &chunk {
                requests.put_raw(tx, key, value)?;
            }
            Ok(())
        })?;
    }
    Ok(count)
}

#[cfg(test)]
mod tests;
