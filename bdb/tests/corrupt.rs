//! Damaged files: real maps (makemap's, and db_load's for overflow chains,
//! small pages and duplicate trees) cut short and with bytes changed at many
//! offsets, page headers and links in particular. Each must open to an
//! `Err` or to a `Db` whose every call returns, without a panic, within a
//! watchdog's time; chain cycles must be reported as `Corrupt`.

mod support;

use std::sync::mpsc;
use std::time::Duration;

use bdb::{Db, Error};
use support::*;

/// A real file to damage, with the keys to look up in it.
struct Sample {
    name: String,
    data: Vec<u8>,
    pagesize: usize,
    keys: Vec<Vec<u8>>,
}

/// The real files to damage: what makemap and db_load are there to write.
fn samples() -> Vec<Sample> {
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    let mut source = String::new();
    for i in 0..400 {
        source.push_str(&format!("key{i} value{i}{}\n", "v".repeat(i % 40)));
    }
    for i in 0..5 {
        source.push_str(&format!("long{i} {}\n", "L".repeat(1012 + i)));
        source.push_str(&format!("dup {i}\n"));
    }
    for i in 0..300 {
        source.push_str(&format!("many {i}\n"));
    }
    let pairs = parse_source(source.as_bytes(), true, false);
    let keys: Vec<Vec<u8>> = pairs.iter().map(|(k, _)| k.clone()).collect();
    if let Some(tool) = makemap() {
        for kind in ["hash", "btree"] {
            let path = make_map(&tool, dir.path(), kind, &["-d"], kind, source.as_bytes());
            out.push(Sample {
                name: format!("makemap {kind}"),
                data: std::fs::read(path).unwrap(),
                pagesize: 4096,
                keys: keys.clone(),
            });
        }
    }
    if let Some(tool) = db_load() {
        let mut rng = Rng(9);
        let pairs: Vec<_> = (0..300usize)
            .map(|i| {
                let key = format!("k{i}{}", "x".repeat(if i % 20 == 0 { 200 } else { 0 }));
                (
                    key.into_bytes(),
                    rng.bytes(if i % 15 == 0 { 1500 } else { 20 }),
                )
            })
            .collect();
        let keys: Vec<Vec<u8>> = pairs.iter().map(|(k, _)| k.clone()).collect();
        for (kind, lorder) in [("hash", "1234"), ("btree", "4321")] {
            let header = ["db_pagesize=512".to_string(), format!("db_lorder={lorder}")];
            let header: Vec<&str> = header.iter().map(String::as_str).collect();
            let path = load_map(
                &tool,
                dir.path(),
                &format!("loaded-{kind}.db"),
                kind,
                &header,
                &pairs,
            );
            let db = Db::open(&path).unwrap();
            assert!(format!("{db:?}").contains("pagesize: 512,"), "{db:?}");
            out.push(Sample {
                name: format!("db_load {kind}"),
                data: std::fs::read(path).unwrap(),
                pagesize: 512,
                keys: keys.clone(),
            });
        }
    }
    out
}

/// Every call on a possibly damaged file; panics only on a runaway
/// iteration (more pairs than the file has bytes).
fn exercise(data: Vec<u8>, keys: &[Vec<u8>]) {
    let limit = data.len();
    let Ok(db) = Db::from_bytes(data) else {
        return;
    };
    assert!(
        db.iter().take(limit).count() < limit,
        "iteration does not end"
    );
    for k in keys.iter().step_by(7) {
        let _ = db.get(k);
    }
    let _ = db.get(b"absent key");
    // An index of a damaged file, when one is built, answers as the pages.
    if let Some(index) = bdb::Index::build(&db) {
        for k in keys.iter().step_by(7) {
            assert_eq!(index.get(k), db.get(k).ok().flatten().as_deref(), "{k:?}");
        }
    }
}

/// Runs `f` on a thread and fails if it has not finished in `secs`.
fn with_watchdog(secs: u64, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => worker.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("damaged files: no result within {secs} s"),
    }
}

#[test]
fn truncated_files() {
    let samples = samples();
    if samples.is_empty() {
        return;
    }
    with_watchdog(300, move || {
        let mut rng = Rng(5);
        for Sample {
            name,
            data,
            pagesize,
            keys,
        } in &samples
        {
            let mut lens: Vec<usize> = (0..data.len() / pagesize)
                .flat_map(|p| [p * pagesize, p * pagesize + 1, (p + 1) * pagesize - 1])
                .collect();
            lens.extend((0..300).map(|_| rng.below(data.len())));
            for len in lens {
                exercise(data[..len].to_vec(), keys);
            }
            assert!(Db::from_bytes(data.clone()).is_ok(), "{name} undamaged");
        }
    });
}

#[test]
fn changed_bytes() {
    let samples = samples();
    if samples.is_empty() {
        return;
    }
    with_watchdog(300, move || {
        let mut rng = Rng(6);
        for Sample {
            data,
            pagesize,
            keys,
            ..
        } in &samples
        {
            // The metadata, every page header and the start of its index
            // array, then offsets anywhere.
            let mut offsets: Vec<usize> = (0..256).collect();
            for p in 1..data.len() / pagesize {
                offsets.extend((0..40).map(|o| p * pagesize + o));
                offsets.push((p + 1) * pagesize - 1);
            }
            offsets.extend((0..1500).map(|_| rng.below(data.len())));
            for off in offsets {
                let pattern = match rng.below(4) {
                    0 => 0xff,
                    1 => 1 << rng.below(8),
                    _ => (rng.next() as u8) | 1,
                };
                let mut bad = data.clone();
                bad[off] ^= pattern;
                exercise(bad, keys);
            }
            // Whole fields set to telling values: zero, all ones, small
            // page numbers.
            for _ in 0..1000 {
                let off = rng.below(data.len() - 4);
                let value: u32 = match rng.below(4) {
                    0 => 0,
                    1 => u32::MAX,
                    _ => rng.below(data.len() / pagesize + 2) as u32,
                };
                let mut bad = data.clone();
                bad[off..off + 4].copy_from_slice(&value.to_le_bytes());
                exercise(bad.clone(), keys);
                bad[off..off + 4].copy_from_slice(&value.to_be_bytes());
                exercise(bad, keys);
            }
        }
    });
}

#[test]
fn garbage_pages_behind_a_real_meta_page() {
    let samples = samples();
    if samples.is_empty() {
        return;
    }
    with_watchdog(120, move || {
        let mut rng = Rng(7);
        for Sample {
            data,
            pagesize,
            keys,
            ..
        } in &samples
        {
            for _ in 0..200 {
                let mut bad = data[..*pagesize].to_vec();
                bad.extend(rng.bytes(data.len() - pagesize));
                exercise(bad, keys);
            }
        }
    });
}

#[test]
fn link_cycles_are_corrupt() {
    let samples = samples();
    with_watchdog(120, move || {
        for Sample {
            name,
            data,
            pagesize,
            ..
        } in &samples
        {
            let little = data[12] != 0;
            // Point every data page's next_pgno at itself: a bucket chain,
            // leaf chain or overflow chain that loops.
            let mut bad = data.clone();
            for p in 1..data.len() / pagesize {
                let n = p as u32;
                let field = if little {
                    n.to_le_bytes()
                } else {
                    n.to_be_bytes()
                };
                bad[p * pagesize + 16..p * pagesize + 20].copy_from_slice(&field);
            }
            let db = Db::from_bytes(bad).unwrap();
            let results: Vec<_> = db.iter().collect();
            match results.last() {
                // A looping overflow chain shows as one longer than its item.
                Some(Err(Error::Corrupt(msg))) => assert!(
                    ["loop", "twice", "more than its"]
                        .iter()
                        .any(|w| msg.contains(w)),
                    "{name}: {msg}"
                ),
                other => panic!("{name}: iteration over a cycle ended with {other:?}"),
            }
        }
    });
}
