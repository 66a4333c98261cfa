//! The floor under durable intake: sled alone on this machine, without HTTP, JSON or
//! Guichet's data model. Writer threads insert and wait for a shared flush (sled's `flush`
//! then `fdatasync` of its file, as Guichet's group commit does), so the figure is what
//! "a bare sled insert with shared flushes" reaches here, to compare intake against.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

#[derive(clap::Args)]
pub struct BareArgs {
    /// Concurrent writers, each waiting for its write to be durable before the next.
    #[arg(long, default_value_t = 32)]
    pub writers: usize,
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Keys per write, applied as one atomic batch: one value of `--value-bytes` and the
    /// others 24-byte index-like keys with empty values.
    #[arg(long, default_value_t = 1)]
    pub keys: usize,
    #[arg(long, default_value_t = 1024)]
    pub value_bytes: usize,
    /// Each write as a plain `insert` of its one key instead of an atomic batch: sled's
    /// batches and transactions take a global lock that `flush()` holds while it waits for
    /// the disk, plain inserts do not.
    #[arg(long, conflicts_with = "keys")]
    pub plain: bool,
    /// Made durable by a log file of its own instead of sled's `flush()` and an fsync per
    /// group: each group's bytes appended to the file and fsynced, sled never flushed. What
    /// a write-ahead log in front of sled would give.
    #[arg(long)]
    pub log: bool,
    /// A fresh store is made in `WORK_DIR/bare-sled` (removed first).
    #[arg(long, value_name = "DIR")]
    pub work_dir: PathBuf,
}

pub struct BareRun {
    pub writes_per_second: f64,
    pub flushes: u64,
}

/// Flushes counted as begun and done: a write is durable once a flush that began after it
/// is done.
#[derive(Default)]
struct Flushes {
    begun: u64,
    done: u64,
    /// The highest flush a writer waits for.
    wanted: u64,
}

pub fn run(args: &BareArgs) -> anyhow::Result<BareRun> {
    let dir = args.work_dir.join("bare-sled");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    let db = open(&dir)?;
    let tree = db.open_tree("records")?;
    let db_file = std::fs::File::open(dir.join("db"))?;
    let mut log = if args.log { Some(std::fs::File::create(dir.join("bench.log"))?) } else { None };
    let log_bytes = vec![b'x'; args.value_bytes + 24 * (args.keys.max(1) - 1)];
    let state = Arc::new((Mutex::new(Flushes::default()), Condvar::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let next_key = Arc::new(AtomicU64::new(0));

    let flusher = {
        let (state, stop, db, next_key) = (state.clone(), stop.clone(), db.clone(), next_key.clone());
        std::thread::spawn(move || -> anyhow::Result<u64> {
            let (lock, wake) = &*state;
            let mut logged = 0;
            loop {
                {
                    let mut flushes = lock.lock().expect("flush state");
                    while flushes.wanted <= flushes.done {
                        if stop.load(Ordering::Relaxed) {
                            return Ok(flushes.done);
                        }
                        flushes = wake.wait_timeout(flushes, Duration::from_millis(10)).expect("flush state").0;
                    }
                    flushes.begun += 1;
                }
                match log.as_mut() {
                    // As many bytes as the writes begun since the last group (their records).
                    Some(log) => {
                        use std::io::Write;
                        let begun = next_key.load(Ordering::Relaxed);
                        log.write_all(&log_bytes.repeat((begun - logged) as usize))?;
                        logged = begun;
                        log.sync_data()?;
                    }
                    None => {
                        db.flush()?;
                        db_file.sync_data()?;
                    }
                }
                lock.lock().expect("flush state").done += 1;
                wake.notify_all();
            }
        })
    };

    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let writers = (0..args.writers.max(1))
        .map(|_| {
            let (state, written, next_key, tree) = (state.clone(), written.clone(), next_key.clone(), tree.clone());
            let (keys, value, plain) = (args.keys.max(1), vec![b'x'; args.value_bytes], args.plain);
            std::thread::spawn(move || -> anyhow::Result<()> {
                let (lock, wake) = &*state;
                while Instant::now() < deadline {
                    let n = next_key.fetch_add(1, Ordering::Relaxed);
                    let mut batch = sled::Batch::default();
                    batch.insert(&n.to_be_bytes(), value.as_slice());
                    for k in 1..keys {
                        batch.insert(&index_key(k, n), &[]);
                    }
                    if plain {
                        tree.insert(n.to_be_bytes(), value.as_slice())?;
                    } else {
                        tree.apply_batch(batch)?;
                    }
                    let mut flushes = lock.lock().expect("flush state");
                    let durable_at = flushes.begun + 1;
                    flushes.wanted = flushes.wanted.max(durable_at);
                    wake.notify_all();
                    while flushes.done < durable_at {
                        flushes = wake.wait(flushes).expect("flush state");
                    }
                    drop(flushes);
                    if Instant::now() <= deadline {
                        written.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(())
            })
        })
        .collect::<Vec<_>>();
    for writer in writers {
        writer.join().map_err(|_| anyhow::anyhow!("a writer panicked"))??;
    }
    let elapsed = started.elapsed().min(Duration::from_secs(args.seconds)).as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let flushes = flusher.join().map_err(|_| anyhow::anyhow!("the flusher panicked"))??;
    drop(tree);
    drop(db);
    std::fs::remove_dir_all(&dir).ok();
    Ok(BareRun { writes_per_second: written.load(Ordering::Relaxed) as f64 / elapsed, flushes })
}

/// sled's cache here: Guichet's default (`[storage] cache_capacity_mib`).
pub fn cache_mib() -> u64 {
    guichet::config::StorageConfig::default().cache_capacity_mib
}

/// The configuration Guichet's store uses, with its default cache, on a fresh directory.
fn open(dir: &Path) -> anyhow::Result<sled::Db> {
    Ok(guichet::store::sled_config(dir, cache_mib() << 20).open()?)
}

#[derive(clap::Args)]
pub struct MemoryArgs {
    /// Records to store (a request each).
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Keys per record: the record itself and index-like keys (24 bytes, empty values,
    /// scattered as a tracking code or a due date would be). Filling 1,000,000 records
    /// with 12 keys outgrew 24 GiB here (sled holds much of a bulk fill of scattered keys in
    /// memory); 5 keys fit.
    #[arg(long, default_value_t = 5)]
    pub keys: usize,
    /// The size of a record (a request's is about 1.8 KiB in the benchmark's dump).
    #[arg(long, default_value_t = 1800)]
    pub value_bytes: usize,
    /// The store is made once in `WORK_DIR/bare-sled-memory-RECORDS-KEYS`, then reused.
    #[arg(long, value_name = "DIR")]
    pub work_dir: PathBuf,
    /// Only open the store, wait, and print the resident memory (run by the command itself,
    /// in a process of its own, so that what filling the store allocated does not count).
    #[arg(long, hide = true)]
    pub open_only: bool,
}

pub struct MemoryRun {
    pub keys: u64,
    pub resident_mib: f64,
    pub disk_mib: f64,
}

/// Fills a store with `records` × `keys` keys (once), then opens it in a fresh process and
/// measures that process's resident memory two seconds later: the floor sled sets for a
/// store of that many keys, whatever the application does with it.
pub fn memory(args: &MemoryArgs) -> anyhow::Result<MemoryRun> {
    let keys = args.keys.max(1);
    let dir = args.work_dir.join(format!("bare-sled-memory-{}-{keys}", args.records));
    if args.open_only {
        let db = open(&dir)?;
        std::thread::sleep(Duration::from_secs(2));
        println!("{}", crate::report::memory(std::process::id())?.0);
        drop(db);
        return Ok(MemoryRun { keys: 0, resident_mib: 0.0, disk_mib: 0.0 });
    }
    if !dir.join("filled").exists() {
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        let db = open(&dir)?;
        let tree = db.open_tree("records")?;
        let value = vec![b'x'; args.value_bytes];
        for chunk in (0..args.records).collect::<Vec<_>>().chunks(1000) {
            let mut batch = sled::Batch::default();
            for &n in chunk {
                batch.insert(&n.to_be_bytes(), value.as_slice());
                for k in 1..keys {
                    batch.insert(&index_key(k, n), &[]);
                }
            }
            tree.apply_batch(batch)?;
        }
        db.flush()?;
        drop(tree);
        drop(db);
        // sled writes its page-table snapshot when a store is opened: once more, so that the
        // measured open reads it instead of replaying the log.
        guichet::store::settle(&dir, cache_mib() << 20)?;
        std::fs::write(dir.join("filled"), b"")?;
    }
    let out = std::process::Command::new(std::env::current_exe()?)
        .args(["bare-sled-memory", "--open-only", "--records", &args.records.to_string()])
        .args(["--keys", &keys.to_string(), "--work-dir"])
        .arg(&args.work_dir)
        .output()?;
    anyhow::ensure!(out.status.success(), "opening the store: {}", String::from_utf8_lossy(&out.stderr));
    let resident: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().context("resident memory")?;
    Ok(MemoryRun {
        keys: args.records * keys as u64,
        resident_mib: crate::report::mib(resident),
        disk_mib: crate::report::mib(crate::report::dir_size(&dir)?),
    })
}

/// An index-like key: which index, then a value scattered over the key space, then the id.
fn index_key(k: usize, n: u64) -> [u8; 24] {
    let mut index = [0u8; 24];
    index[..8].copy_from_slice(&(k as u64).to_be_bytes());
    index[8..16].copy_from_slice(&n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    index[16..].copy_from_slice(&n.to_be_bytes());
    index
}
