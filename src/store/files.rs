//! Attachment files, stored once under their SHA-256 in `{data_dir}/files/ab/cdef…`.
//!
//! Uploads are streamed to a temporary file while hashed and measured; the type is read
//! from the first bytes. A refused or interrupted upload leaves nothing behind (the
//! temporary file is removed on drop); an accepted one is fsynced before it is renamed
//! into place, so a file referenced by a durable record is itself durable.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::domain::audit::hex;
use crate::domain::media;
use crate::domain::{Error, Result};

#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
    /// Files received by requests not yet committed: how many hold each, and whether the
    /// file was new (then it goes if no committed request ends up referencing it).
    pending: Arc<Mutex<HashMap<String, Pending>>>,
}

#[derive(Debug, Default)]
struct Pending {
    holders: usize,
    unreferenced: bool,
}

/// A file written and verified, ready to be referenced by a request. Give it back with
/// `FileStore::release` once the request is written or refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub sha256: String,
    pub size: u64,
    pub media_type: &'static str,
}

impl FileStore {
    pub fn open(data_dir: &Path) -> Result<FileStore> {
        let dir = data_dir.join("files");
        std::fs::create_dir_all(dir.join("tmp")).map_err(|e| Error::Store(format!("files directory: {e}")))?;
        // Left-overs of uploads interrupted by a crash.
        if let Ok(entries) = std::fs::read_dir(dir.join("tmp")) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(FileStore { dir, pending: Arc::default() })
    }

    /// Ends the hold of an upload: `referenced` when a durable request now refers to it. A
    /// file that was new and that no request took is removed, so refused input leaves nothing.
    pub fn release(&self, file: &StoredFile, referenced: bool) {
        let Ok(mut pending) = self.pending.lock() else { return };
        let Some(entry) = pending.get_mut(&file.sha256) else { return };
        entry.holders = entry.holders.saturating_sub(1);
        if referenced {
            entry.unreferenced = false;
        }
        if entry.holders == 0 {
            if entry.unreferenced
                && let Some(path) = self.path(&file.sha256)
            {
                let _ = std::fs::remove_file(path);
            }
            pending.remove(&file.sha256);
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of a stored file, if the hash is well-formed.
    pub fn path(&self, sha256: &str) -> Option<PathBuf> {
        let valid = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| self.dir.join(&sha256[..2]).join(&sha256[2..]))
    }

    pub async fn read(&self, sha256: &str) -> Result<Vec<u8>> {
        let path = self.path(sha256).ok_or(Error::not_found("attachment"))?;
        tokio::fs::read(path).await.map_err(|_| Error::not_found("attachment"))
    }

    pub async fn begin(&self, max_bytes: u64, allowed: &[String]) -> Result<Upload> {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).map_err(|e| Error::Internal(e.to_string()))?;
        let path = self.dir.join("tmp").join(hex(&random));
        let file = tokio::fs::File::create(&path).await.map_err(|e| Error::Store(format!("upload: {e}")))?;
        Ok(Upload {
            store: self.clone(),
            temp: TempFile(path),
            file,
            hasher: Sha256::new(),
            head: Vec::with_capacity(media::SNIFF_LEN),
            size: 0,
            max_bytes,
            allowed: allowed.to_vec(),
        })
    }
}

/// Removes the temporary file unless the upload was completed.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

pub struct Upload {
    store: FileStore,
    temp: TempFile,
    file: tokio::fs::File,
    hasher: Sha256,
    head: Vec<u8>,
    size: u64,
    max_bytes: u64,
    allowed: Vec<String>,
}

impl Upload {
    pub async fn write(&mut self, chunk: &[u8]) -> Result<()> {
        self.size += chunk.len() as u64;
        if self.size > self.max_bytes {
            return Err(Error::TooLarge {
                message: format!("a file is limited to {} MiB", self.max_bytes / (1024 * 1024)),
            });
        }
        if self.head.len() < media::SNIFF_LEN {
            let take = (media::SNIFF_LEN - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
            if self.head.len() == media::SNIFF_LEN {
                self.check_type()?;
            }
        }
        self.hasher.update(chunk);
        self.file.write_all(chunk).await.map_err(|e| Error::Store(format!("upload: {e}")))
    }

    fn check_type(&self) -> Result<&'static str> {
        match media::sniff(&self.head) {
            Some(t) if self.allowed.iter().any(|a| a == t) => Ok(t),
            _ => Err(Error::UnsupportedType { message: format!("accepted file types: {}", self.allowed.join(", ")) }),
        }
    }

    pub async fn finish(mut self) -> Result<StoredFile> {
        if self.size == 0 {
            return Err(Error::invalid("empty_file", "file", "the file is empty"));
        }
        let media_type = self.check_type()?;
        self.file.flush().await.map_err(|e| Error::Store(format!("upload: {e}")))?;
        self.file.sync_all().await.map_err(|e| Error::Store(format!("upload: {e}")))?;
        let sha256 = hex(&self.hasher.finalize_reset());
        let target = self.store.path(&sha256).ok_or_else(|| Error::Internal("bad hash".into()))?;
        let parent = target.parent().map(Path::to_path_buf).unwrap_or_default();
        tokio::fs::create_dir_all(&parent).await.map_err(|e| Error::Store(format!("upload: {e}")))?;
        let file = StoredFile { sha256, size: self.size, media_type };
        // Checked, renamed and held under the pending lock, so a concurrent release cannot
        // remove the file in between.
        let exists = {
            let mut pending =
                self.store.pending.lock().map_err(|_| Error::Internal("file store lock poisoned".into()))?;
            let exists = target.exists();
            if !exists {
                std::fs::rename(&self.temp.0, &target).map_err(|e| Error::Store(format!("upload: {e}")))?;
                self.temp.0 = PathBuf::new();
            }
            let entry = pending.entry(file.sha256.clone()).or_default();
            entry.holders += 1;
            // A file already on disk and not pending is referenced by a committed request.
            entry.unreferenced |= !exists;
            exists
        };
        // Same content already stored: the temporary copy is dropped with `self`.
        if !exists && let Ok(dir) = tokio::fs::File::open(&parent).await {
            let _ = dir.sync_all().await;
        }
        Ok(file)
    }
}
