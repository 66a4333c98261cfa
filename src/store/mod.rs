//! The only code that touches sled.
//!
//! Writes go through one applier thread, each as a sled transaction over every registered
//! tree, so a record, its indexes, its counters and its audit entry change together or not
//! at all. A second thread makes applied writes durable in groups (group commit): it calls
//! `flush()` and then fsyncs the store file, because sled's flush alone is not an fsync, and
//! only then answers the writers whose changes that flush covered. `flush_async` is never
//! used (it deadlocks under concurrency in sled 0.34). Reads go straight to the trees.

pub mod accounts;
pub mod agendas;
pub mod audit;
pub mod backup;
pub mod catalogue;
pub mod codec;
pub mod dump;
pub mod federation;
pub mod files;
pub mod keys;
pub mod meta;
pub mod migrate;
pub mod outbox;
pub mod peers;
pub mod requests;
pub mod sessions;
pub mod tokens;
pub mod topics;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use sled::Transactional;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use tokio::sync::oneshot;

use crate::domain::{Error, Result};

/// Position of a tree in the transaction view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeId(usize);

/// Failure inside a write: a sled conflict (retried by sled) or an application error (aborts).
#[derive(Debug)]
pub enum TxError {
    Sled(UnabortableTransactionError),
    App(Error),
}

impl From<UnabortableTransactionError> for TxError {
    fn from(e: UnabortableTransactionError) -> Self {
        TxError::Sled(e)
    }
}

impl From<Error> for TxError {
    fn from(e: Error) -> Self {
        TxError::App(e)
    }
}

pub type TxResult<T> = std::result::Result<T, TxError>;

/// The view of one write. Its changes go to a private overlay first: they reach the shared
/// transaction only if the write succeeds, so a write that fails leaves no trace even though
/// it shares a sled transaction with the writes around it.
pub struct Tx<'a> {
    trees: &'a [TransactionalTree],
    overlay: RefCell<Overlay>,
}

/// A write's changes at one point (see `Tx::checkpoint`).
pub struct Checkpoint(Overlay);

/// Pending changes of one write: (tree, key) → new value, or `None` for a removal.
type Overlay = BTreeMap<(usize, Vec<u8>), Option<Vec<u8>>>;

impl Tx<'_> {
    fn tree(&self, id: TreeId) -> TxResult<&TransactionalTree> {
        self.trees.get(id.0).ok_or_else(|| TxError::App(Error::Internal(format!("unregistered tree {}", id.0))))
    }

    pub fn get(&self, tree: TreeId, key: &[u8]) -> TxResult<Option<sled::IVec>> {
        if let Some(pending) = self.overlay.borrow().get(&(tree.0, key.to_vec())) {
            return Ok(pending.as_deref().map(sled::IVec::from));
        }
        Ok(self.tree(tree)?.get(key)?)
    }

    pub fn insert(&self, tree: TreeId, key: &[u8], value: &[u8]) -> TxResult<()> {
        self.tree(tree)?;
        self.overlay.borrow_mut().insert((tree.0, key.to_vec()), Some(value.to_vec()));
        Ok(())
    }

    pub fn remove(&self, tree: TreeId, key: &[u8]) -> TxResult<()> {
        self.tree(tree)?;
        self.overlay.borrow_mut().insert((tree.0, key.to_vec()), None);
        Ok(())
    }

    /// The write as it stands, to go back to if what follows is given up.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint(self.overlay.borrow().clone())
    }

    /// Forgets everything written since `checkpoint`.
    pub fn rollback(&self, checkpoint: Checkpoint) {
        *self.overlay.borrow_mut() = checkpoint.0;
    }

    /// Moves the overlay into the shared transaction.
    fn merge(self) -> std::result::Result<(), UnabortableTransactionError> {
        for ((tree, key), value) in self.overlay.into_inner() {
            match value {
                Some(value) => self.trees[tree].insert(key, value)?,
                None => self.trees[tree].remove(key)?,
            };
        }
        Ok(())
    }
}

pub(crate) fn store_error(e: sled::Error) -> Error {
    Error::Store(e.to_string())
}

/// Registers the trees repositories need; `start` then launches the writer threads.
pub struct StoreBuilder {
    db: sled::Db,
    dir: PathBuf,
    trees: Vec<sled::Tree>,
}

impl StoreBuilder {
    pub fn open(dir: &Path, cache_capacity_bytes: u64) -> Result<StoreBuilder> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Store(format!("{}: {e}", dir.display())))?;
        let db = open_db(dir, cache_capacity_bytes, std::time::Duration::from_secs(2)).map_err(|e| match e {
            sled::Error::Io(io) if is_lock_error(&io) => {
                Error::Unavailable("the store is in use by another process (is `guichet serve` running?)".into())
            }
            other => store_error(other),
        })?;
        Ok(StoreBuilder { db, dir: dir.to_owned(), trees: Vec::new() })
    }

    /// Opens (or creates) a tree and returns its handle for reads and its id for writes.
    pub fn tree(&mut self, name: &str) -> Result<(sled::Tree, TreeId)> {
        let tree = self.db.open_tree(name).map_err(store_error)?;
        self.trees.push(tree.clone());
        Ok((tree, TreeId(self.trees.len() - 1)))
    }

    pub fn start(self) -> Result<Store> {
        let db_file = File::open(self.dir.join("db"))
            .map_err(|e| Error::Store(format!("cannot open the store file for fsync: {e}")))?;
        let (jobs_tx, jobs_rx) = mpsc::channel::<Message>();
        let (flush_tx, flush_rx) = mpsc::channel::<Vec<Completion>>();
        let trees = self.trees;
        let applier = std::thread::Builder::new()
            .name("store-applier".into())
            .spawn(move || apply_loop(&trees, &jobs_rx, &flush_tx))
            .map_err(|e| Error::Internal(e.to_string()))?;
        let db = self.db.clone();
        let flusher = std::thread::Builder::new()
            .name("store-flusher".into())
            .spawn(move || flush_loop(&db, &db_file, &flush_rx))
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(Store {
            inner: Arc::new(Inner {
                db: self.db,
                jobs: Mutex::new(Some(jobs_tx)),
                threads: Mutex::new(vec![applier, flusher]),
            }),
        })
    }
}

type Completion = Box<dyn FnOnce(Result<()>) + Send>;
/// Runs one write inside the batch's transaction. A failed write answers its caller at once
/// and returns `None`; a successful one returns what to do once the batch is durable.
type Job = Box<dyn FnOnce(&BatchView<'_>) -> Option<Completion> + Send>;

/// The shared transaction of a batch, and whether a write broke it half-way.
struct BatchView<'a> {
    trees: &'a [TransactionalTree],
    broken: std::cell::Cell<bool>,
}

/// Writes applied in one sled transaction: counters, sequences and the audit head that many
/// writes touch are then written once per batch instead of once per write.
const MAX_BATCH: usize = 256;

enum Message {
    Write(Job),
    /// Runs with every earlier write applied and durable, and no write in progress.
    Exclusive(Box<dyn FnOnce() + Send>),
}

/// Applies writes in batches, one sled transaction each, handing them to the flusher.
fn apply_loop(trees: &[sled::Tree], jobs: &mpsc::Receiver<Message>, flusher: &mpsc::Sender<Vec<Completion>>) {
    let mut next = None;
    loop {
        let first = match next.take() {
            Some(message) => message,
            None => match jobs.recv() {
                Ok(message) => message,
                Err(_) => return,
            },
        };
        let mut batch = Vec::new();
        let mut exclusive = None;
        match first {
            Message::Write(job) => batch.push(job),
            Message::Exclusive(run) => exclusive = Some(run),
        }
        while exclusive.is_none() && batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(Message::Write(job)) => batch.push(job),
                Ok(Message::Exclusive(run)) => exclusive = Some(run),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            let completions = apply_batch(trees, batch);
            if flusher.send(completions).is_err() {
                return;
            }
        }
        if let Some(run) = exclusive {
            // Make everything before it durable, then run with writes held back.
            let (done_tx, done_rx) = mpsc::channel();
            let marker: Completion = Box::new(move |_| {
                let _ = done_tx.send(());
            });
            if flusher.send(vec![marker]).is_err() {
                return;
            }
            let _ = done_rx.recv();
            run();
        }
        next = jobs.try_recv().ok();
    }
}

/// Runs a batch of writes in one transaction. With a single applier thread nothing else
/// writes, so sled never has to retry; if it did, the jobs (already consumed) fail cleanly.
fn apply_batch(trees: &[sled::Tree], batch: Vec<Job>) -> Vec<Completion> {
    let jobs = RefCell::new(Some(batch));
    let outcome = trees.transaction(|view| {
        let Some(batch) = jobs.borrow_mut().take() else {
            return Err(ConflictableTransactionError::Abort(()));
        };
        let batch_view = BatchView { trees: view, broken: std::cell::Cell::new(false) };
        let completions = batch.into_iter().filter_map(|job| job(&batch_view)).collect::<Vec<_>>();
        if batch_view.broken.get() {
            return Err(ConflictableTransactionError::Abort(()));
        }
        Ok(completions)
    });
    match outcome {
        Ok(completions) => completions,
        Err(e) => {
            // The completions of the batch were dropped unanswered: their writers are told
            // the write failed, and none of it was committed.
            let message = match e {
                TransactionError::Abort(()) => "a write failed half-way or was retried".to_owned(),
                TransactionError::Storage(e) => e.to_string(),
            };
            tracing::error!(error = %message, "batch of writes not committed");
            Vec::new()
        }
    }
}

/// How long a small group waits for more writes before its flush, and how many make a group
/// worth flushing at once. A flush (sled's write-out plus the fsync) costs the same for one
/// write or fifty: under load, waiting a little lets more writers share it.
const GATHER_FOR: std::time::Duration = std::time::Duration::from_micros(300);
const GATHER_UP_TO: usize = 16;

/// Makes applied writes durable in groups and then answers their writers.
fn flush_loop(db: &sled::Db, db_file: &File, batches: &mpsc::Receiver<Vec<Completion>>) {
    while let Ok(mut completions) = batches.recv() {
        let deadline = std::time::Instant::now() + GATHER_FOR;
        loop {
            while let Ok(more) = batches.try_recv() {
                completions.extend(more);
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if completions.len() >= GATHER_UP_TO || left.is_zero() {
                break;
            }
            match batches.recv_timeout(left) {
                Ok(more) => completions.extend(more),
                Err(_) => break,
            }
        }
        let started = std::time::Instant::now();
        let flushed = db.flush().map_err(store_error);
        let flush_time = started.elapsed();
        let result = flushed.and_then(|_| db_file.sync_data().map_err(|e| Error::Store(format!("fsync: {e}"))));
        tracing::debug!(
            writes = completions.len(),
            flush_us = flush_time.as_micros() as u64,
            total_us = started.elapsed().as_micros() as u64,
            "group commit"
        );
        if let Err(e) = &result {
            tracing::error!(error = %e, "store flush failed");
        }
        for complete in completions {
            complete(result.as_ref().map(|_| ()).map_err(|e| Error::Store(e.to_string())));
        }
    }
}

struct Inner {
    db: sled::Db,
    jobs: Mutex<Option<mpsc::Sender<Message>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl Store {
    fn send(&self, message: Message) -> Result<()> {
        let jobs = self.inner.jobs.lock().map_err(|_| Error::Internal("store lock poisoned".into()))?;
        let sender = jobs.as_ref().ok_or_else(|| Error::Unavailable("the store is closed".into()))?;
        sender.send(message).map_err(|_| Error::Unavailable("the store is closed".into()))
    }

    fn submit<T, F>(&self, write: F, answer: impl FnOnce(Result<T>) + Send + 'static) -> Result<()>
    where
        T: Send + 'static,
        F: Fn(&Tx<'_>) -> TxResult<T> + Send + 'static,
    {
        let job: Job = Box::new(move |batch: &BatchView<'_>| {
            let tx = Tx { trees: batch.trees, overlay: RefCell::new(BTreeMap::new()) };
            let outcome = match write(&tx) {
                Ok(value) => tx.merge().map(|()| value).map_err(|e| {
                    // Part of this write may be in the shared transaction: the batch must not commit.
                    batch.broken.set(true);
                    match e {
                        UnabortableTransactionError::Storage(e) => store_error(e),
                        UnabortableTransactionError::Conflict => Error::Store("write conflict".into()),
                    }
                }),
                Err(TxError::App(e)) => Err(e),
                Err(TxError::Sled(UnabortableTransactionError::Storage(e))) => Err(store_error(e)),
                Err(TxError::Sled(UnabortableTransactionError::Conflict)) => Err(Error::Store("write conflict".into())),
            };
            match outcome {
                Ok(value) => Some(Box::new(move |flushed: Result<()>| answer(flushed.map(|()| value))) as Completion),
                Err(e) => {
                    answer(Err(e));
                    None
                }
            }
        });
        self.send(Message::Write(job))
    }

    /// Runs `write` atomically and returns once its effect is durable.
    pub async fn write<T, F>(&self, write: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Tx<'_>) -> TxResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.submit(write, move |result| {
            let _ = tx.send(result);
        })?;
        rx.await.map_err(|_| Error::Unavailable("the store stopped during a write".into()))?
    }

    /// Same as `write`, for code outside the async runtime (command line, import, start-up).
    pub fn write_blocking<T, F>(&self, write: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Tx<'_>) -> TxResult<T> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        self.submit(write, move |result| {
            let _ = tx.send(result);
        })?;
        rx.recv().map_err(|_| Error::Unavailable("the store stopped during a write".into()))?
    }

    /// Runs `f` on a quiescent, durable store: every acknowledged write is in, none is applied
    /// meanwhile. Used for consistent exports and backups. Blocks the calling thread.
    pub fn exclusive_blocking<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let (tx, rx) = mpsc::channel();
        self.send(Message::Exclusive(Box::new(move || {
            let _ = tx.send(f());
        })))?;
        rx.recv().map_err(|_| Error::Unavailable("the store stopped".into()))
    }

    /// Whether the store answers reads and the writer threads are running.
    pub fn is_ready(&self) -> bool {
        let running = self.inner.jobs.lock().map(|j| j.is_some()).unwrap_or(false);
        running && self.inner.db.get(b"").is_ok()
    }

    pub fn size_on_disk(&self) -> u64 {
        self.inner.db.size_on_disk().unwrap_or(0)
    }

    /// Stops the writer threads after every queued write is applied and flushed.
    pub fn close(&self) {
        if let Ok(mut jobs) = self.inner.jobs.lock() {
            jobs.take();
        }
        let threads = self.inner.threads.lock().map(|mut t| std::mem::take(&mut *t)).unwrap_or_default();
        for thread in threads {
            let _ = thread.join();
        }
        if let Err(e) = self.inner.db.flush() {
            tracing::error!(error = %e, "final flush failed");
        }
    }
}

/// Every repository, opened on one store.
#[derive(Clone)]
pub struct Repos {
    pub meta: meta::MetaRepo,
    pub agendas: agendas::AgendaRepo,
    pub topics: topics::TopicRepo,
    pub outbox: outbox::OutboxRepo,
    pub audit: audit::AuditRepo,
    pub catalogue: catalogue::CatalogueRepo,
    pub tokens: tokens::TokenRepo,
    pub requests: requests::RequestRepo,
    pub accounts: accounts::AccountRepo,
    pub sessions: sessions::SessionRepo,
    pub peers: peers::PeerRepo,
    pub federation: federation::FederationRepo,
}

/// Schema of the store as a whole; a store written by a newer release is refused.
pub const SCHEMA_VERSION: u64 = 1;

/// Opens the store in `dir`, upgrades older values, and starts the writer threads.
pub fn open(dir: &Path, cache_capacity_bytes: u64) -> Result<(Store, Repos)> {
    let mut builder = StoreBuilder::open(dir, cache_capacity_bytes)?;
    let repos = Repos {
        meta: meta::MetaRepo::open(&mut builder)?,
        agendas: agendas::AgendaRepo::open(&mut builder)?,
        topics: topics::TopicRepo::open(&mut builder)?,
        outbox: outbox::OutboxRepo::open(&mut builder)?,
        audit: audit::AuditRepo::open(&mut builder)?,
        catalogue: catalogue::CatalogueRepo::open(&mut builder)?,
        tokens: tokens::TokenRepo::open(&mut builder)?,
        requests: requests::RequestRepo::open(&mut builder)?,
        accounts: accounts::AccountRepo::open(&mut builder)?,
        sessions: sessions::SessionRepo::open(&mut builder)?,
        peers: peers::PeerRepo::open(&mut builder)?,
        federation: federation::FederationRepo::open(&mut builder)?,
    };
    let store = builder.start()?;
    migrate::run(&store, &repos)?;
    Ok((store, repos))
}

/// sled reports a store opened by someone else only through this message.
fn is_lock_error(e: &std::io::Error) -> bool {
    e.to_string().contains("could not acquire lock")
}

/// The one sled configuration every open of the store uses.
pub fn sled_config(dir: &Path, cache_capacity_bytes: u64) -> sled::Config {
    sled::Config::new()
        .path(dir)
        .cache_capacity(cache_capacity_bytes)
        .mode(sled::Mode::HighThroughput)
        // The flusher thread makes writes durable; sled's own timer would only add flushes.
        .flush_every_ms(None)
}

/// Opens a closed store once and closes it again. sled 0.34 writes its page-table snapshot
/// only when a store is opened, and replays on the next open everything logged since: after
/// an import, a restore or a server run, this makes the next start read the snapshot instead
/// of replaying gigabytes of log. Every handle on the store must have been dropped.
pub fn settle(dir: &Path, cache_capacity_bytes: u64) -> Result<()> {
    let db = open_db(dir, cache_capacity_bytes, std::time::Duration::from_secs(10)).map_err(store_error)?;
    db.flush().map_err(store_error)?;
    Ok(())
}

/// Opens sled, waiting up to `patience` for the file lock: sled's I/O threads may still
/// hold a handle this process just dropped for a moment (the lock goes with the last
/// reference). Another process holding it is reported once `patience` is over.
fn open_db(dir: &Path, cache_capacity_bytes: u64, patience: std::time::Duration) -> sled::Result<sled::Db> {
    let deadline = std::time::Instant::now() + patience;
    loop {
        match sled_config(dir, cache_capacity_bytes).open() {
            Err(sled::Error::Io(e)) if is_lock_error(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Writes a file readable by its owner only (mode 0600), durably.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::Store(format!("{}: {e}", path.display())))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|e| Error::Store(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests;
