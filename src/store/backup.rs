//! Consistent backups while the server runs, and restoring them into a new data directory.
//!
//! A backup directory holds `guichet.jsonl` (the store-neutral dump, taken with writes held
//! back for its duration, so every acknowledged write before it is in and nothing after it
//! is half in), `files/` (attachments, immutable and content-addressed, copied after the
//! dump: files referenced by the dump are all there), `instance.key` and `keys/` (the keys
//! made by rotations), and `MANIFEST.json`.

use std::fs;
use std::io::{BufReader, BufWriter};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::dump::{self, DumpStats};
use super::{Repos, Store};
use crate::domain::{Error, Result};

pub const DUMP_FILE: &str = "guichet.jsonl";
pub const KEY_FILE: &str = "instance.key";
/// The keys made by rotations.
pub const KEYS_DIR: &str = "keys";

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub created_at: jiff::Timestamp,
    pub requests: u64,
    pub audit_entries: u64,
    pub files: u64,
}

fn io(context: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Store(format!("{context}: {e}"))
}

/// Writes a backup of the running store into `target`, which must be absent or empty.
pub fn backup(store: &Store, repos: &Repos, data_dir: &Path, target: &Path) -> Result<Manifest> {
    if target.exists() && fs::read_dir(target).map_err(io("backup directory"))?.next().is_some() {
        return Err(Error::conflict("not_empty", format!("{} is not empty", target.display())));
    }
    fs::create_dir_all(target).map_err(io("backup directory"))?;
    let dump_path = target.join(DUMP_FILE);
    let file = fs::File::create(&dump_path).map_err(io("backup dump"))?;
    let repos_for_dump = repos.clone();
    let stats: DumpStats = store.exclusive_blocking(move || {
        let mut out = BufWriter::new(file);
        let stats = dump::export(&repos_for_dump, &mut out)?;
        let file = out.into_inner().map_err(|e| Error::Store(format!("backup dump: {e}")))?;
        file.sync_all().map_err(io("backup dump"))?;
        Ok::<_, Error>(stats)
    })??;
    let files = copy_tree(&data_dir.join("files"), &target.join("files"))?;
    copy_keys(data_dir, target)?;
    let manifest = Manifest {
        format: dump::FORMAT.to_owned(),
        created_at: jiff::Timestamp::now(),
        requests: stats.requests,
        audit_entries: stats.audit_entries,
        files,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Internal(e.to_string()))?;
    fs::write(target.join("MANIFEST.json"), json).map_err(io("backup manifest"))?;
    Ok(manifest)
}

/// Restores a backup into `data_dir`, which must hold no store yet.
pub fn restore(backup_dir: &Path, data_dir: &Path, cache_capacity_bytes: u64) -> Result<DumpStats> {
    let dump_path = backup_dir.join(DUMP_FILE);
    if !dump_path.is_file() {
        return Err(Error::invalid("not_a_backup", "backup", format!("{} has no {DUMP_FILE}", backup_dir.display())));
    }
    if data_dir.join("store").exists() {
        return Err(Error::conflict(
            "not_empty",
            format!("{} already holds a store: restore into a new data directory", data_dir.display()),
        ));
    }
    fs::create_dir_all(data_dir).map_err(io("data directory"))?;
    let (store, repos) = super::open(&data_dir.join("store"), cache_capacity_bytes)?;
    let result = dump::import(&store, &repos, || fs::File::open(&dump_path).map(BufReader::new));
    store.close();
    drop((store, repos));
    let stats = result?;
    super::settle(&data_dir.join("store"), cache_capacity_bytes)?;
    copy_tree(&backup_dir.join("files"), &data_dir.join("files"))?;
    copy_keys(backup_dir, data_dir)?;
    Ok(stats)
}

/// Copies attachment files (two levels: `ab/cdef…`), skipping temporary uploads.
fn copy_tree(from: &Path, to: &Path) -> Result<u64> {
    let mut count = 0;
    if !from.is_dir() {
        return Ok(0);
    }
    for shard in fs::read_dir(from).map_err(io("files"))? {
        let shard = shard.map_err(io("files"))?;
        if shard.file_name() == "tmp" || !shard.path().is_dir() {
            continue;
        }
        let target = to.join(shard.file_name());
        fs::create_dir_all(&target).map_err(io("files"))?;
        for file in fs::read_dir(shard.path()).map_err(io("files"))? {
            let file = file.map_err(io("files"))?;
            let dest = target.join(file.file_name());
            if !dest.exists() {
                fs::copy(file.path(), &dest).map_err(io("files"))?;
                fs::File::open(&dest).and_then(|f| f.sync_all()).map_err(io("files"))?;
            }
            count += 1;
        }
    }
    Ok(count)
}

/// Copies the instance's private keys (mode 0600).
fn copy_keys(from: &Path, to: &Path) -> Result<()> {
    if from.join(KEY_FILE).exists() {
        copy_private(&from.join(KEY_FILE), &to.join(KEY_FILE))?;
    }
    let dir = from.join(KEYS_DIR);
    if dir.is_dir() {
        fs::create_dir_all(to.join(KEYS_DIR)).map_err(io("keys"))?;
        for entry in fs::read_dir(&dir).map_err(io("keys"))? {
            let entry = entry.map_err(io("keys"))?;
            copy_private(&entry.path(), &to.join(KEYS_DIR).join(entry.file_name()))?;
        }
    }
    Ok(())
}

fn copy_private(from: &Path, to: &Path) -> Result<()> {
    let bytes = fs::read(from).map_err(io("instance key"))?;
    crate::store::write_private_file(to, &bytes)
}
