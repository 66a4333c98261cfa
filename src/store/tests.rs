//! The write path: serial application, group commit, aborts that leave nothing.

use super::*;

#[test]
fn concurrent_writers_share_flushes_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, repos) = open(dir.path(), 16 << 20).unwrap();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (store, meta) = (store.clone(), repos.meta.clone());
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let meta = meta.clone();
                        store.write_blocking(move |tx| meta.next(tx, "test")).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(repos.meta.sequence("test").unwrap(), 1600);
        store.close();
    }
    let (store, repos) = open(dir.path(), 16 << 20).unwrap();
    assert_eq!(repos.meta.sequence("test").unwrap(), 1600, "durable across a reopen");
    store.close();
}

#[test]
fn an_aborted_write_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, repos) = open(dir.path(), 16 << 20).unwrap();
    let meta = repos.meta.clone();
    let result: Result<u64> = store.write_blocking(move |tx| {
        meta.next(tx, "a")?;
        meta.next(tx, "b")?;
        Err(Error::invalid("nope", "field", "refused after two writes").into())
    });
    assert!(matches!(result, Err(Error::Invalid { code: "nope", .. })));
    assert_eq!(repos.meta.sequence("a").unwrap(), 0);
    assert_eq!(repos.meta.sequence("b").unwrap(), 0);
    store.close();
}
