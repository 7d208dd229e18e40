//! Files written by Berkeley DB 5.3's own db_load, for what makemap cannot
//! write: makemap reads lines of at most 1022 bytes and always gets the
//! default page size, so hash overflow items (over pagesize/4), values of
//! several KB, the smallest and largest page sizes, deep trees and the
//! other byte order come from db_load, linked against the same libdb-5.3.
//! Also the files this reader must refuse by name (checksums, encryption,
//! recno, queue).

mod support;

use std::path::PathBuf;

use bdb::{Db, Error, Kind};
use support::*;
use tempfile::TempDir;

fn kinds() -> [(&'static str, Kind); 2] {
    [("hash", Kind::Hash), ("btree", Kind::Btree)]
}

/// Loads `pairs` as hash and as btree with `header` and checks both.
/// Returns the directory (removed when dropped) and the hash and btree file.
fn load_and_check(
    name: &str,
    header: &[&str],
    pairs: &[(Vec<u8>, Vec<u8>)],
) -> Option<(TempDir, Vec<PathBuf>)> {
    let tool = db_load()?;
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (kind, want) in kinds() {
        let path = load_map(
            &tool,
            dir.path(),
            &format!("{name}-{kind}.db"),
            kind,
            header,
            pairs,
        );
        let db = Db::open(&path).unwrap_or_else(|e| panic!("open {name} {kind}: {e}"));
        assert_eq!(db.kind(), want);
        // db_load silently keeps the page size of an existing file: make
        // sure the one asked for is the one tested.
        if let Some(size) = header.iter().find_map(|h| h.strip_prefix("db_pagesize=")) {
            assert!(
                format!("{db:?}").contains(&format!("pagesize: {size},")),
                "{db:?}"
            );
        }
        check_map(&db, pairs);
        paths.push(path);
    }
    Some((dir, paths))
}

#[test]
fn values_of_several_kilobytes() {
    let mut rng = Rng(1);
    let mut pairs = Vec::new();
    for i in 0..60usize {
        pairs.push((format!("big{i}").into_bytes(), rng.bytes(2000 + i * 300)));
        pairs.push((
            vec![b'k'; 1100 + i * 50],
            format!("long key {i}").into_bytes(),
        ));
        pairs.push((
            format!("small{i}").into_bytes(),
            format!("v{i}").into_bytes(),
        ));
    }
    let Some((_dir, paths)) = load_and_check("kb", &[], &pairs) else {
        return;
    };
    for path in &paths {
        assert!(
            page_types(path, 4096).contains(&P_OVERFLOW),
            "{path:?} has no overflow page"
        );
    }
}

#[test]
fn small_pages_deep_trees() {
    // 512-byte pages: thousands of keys make a btree several levels deep
    // whose internal pages hold overflow keys, and many hash doublings.
    let mut rng = Rng(2);
    let mut pairs = Vec::new();
    for i in 0..4000usize {
        let key = if i % 10 == 0 {
            let mut k = format!("long{i:05}").into_bytes();
            k.extend(std::iter::repeat_n(b'x', 150 + i % 100));
            k
        } else {
            format!("key{i:05}").into_bytes()
        };
        let len = rng.below(if i % 7 == 0 { 700 } else { 40 });
        pairs.push((key, rng.bytes(len)));
    }
    let Some((_dir, paths)) = load_and_check("small", &["db_pagesize=512"], &pairs) else {
        return;
    };
    let types = page_types(&paths[1], 512);
    assert!(
        types.iter().filter(|&&t| t == P_IBTREE).count() > 5,
        "btree is shallow"
    );
}

#[test]
fn big_endian_files() {
    let mut rng = Rng(3);
    let pairs: Vec<_> = (0..3000usize)
        .map(|i| {
            (
                format!("be{i}").into_bytes(),
                rng.bytes(if i % 100 == 0 { 5000 } else { i % 50 }),
            )
        })
        .collect();
    let Some((_dir, paths)) = load_and_check("be", &["db_lorder=4321", "db_pagesize=1024"], &pairs)
    else {
        return;
    };
    // The magic really is stored big-endian.
    for path in &paths {
        let head = std::fs::read(path).unwrap();
        assert_eq!(head[12], 0, "{path:?} is not big-endian");
    }
}

#[test]
fn largest_pages() {
    let pairs: Vec<_> = (0..5000u32)
        .map(|i| {
            (
                i.to_be_bytes().to_vec(),
                format!("{i}").repeat((i % 20) as usize),
            )
        })
        .map(|(k, v)| (k, v.into_bytes()))
        .collect();
    load_and_check("64k", &["db_pagesize=65536"], &pairs);
}

#[test]
fn binary_keys_and_empty_values() {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (vec![0], b"nul".to_vec()),
        (vec![0, 0], b"two nuls".to_vec()),
        (vec![0xff; 3], vec![]),
        (b"a".to_vec(), vec![0; 10]),
        (b"a\0".to_vec(), b"a nul".to_vec()),
        (b"ab".to_vec(), vec![]),
    ];
    let mut rng = Rng(4);
    for _ in 0..500 {
        let len = 1 + rng.below(30);
        let key = rng.bytes(len);
        if !pairs.iter().any(|(k, _)| *k == key) {
            let vlen = rng.below(30);
            pairs.push((key, rng.bytes(vlen)));
        }
    }
    load_and_check("bin", &[], &pairs);
}

#[test]
fn btree_with_record_numbers_is_read() {
    let pairs: Vec<_> = (0..2000)
        .map(|i| (format!("r{i}").into_bytes(), format!("{i}").into_bytes()))
        .collect();
    let Some(tool) = db_load() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = load_map(
        &tool,
        dir.path(),
        "recnum.db",
        "btree",
        &["recnum=1", "db_pagesize=512"],
        &pairs,
    );
    check_map(&Db::open(&path).unwrap(), &pairs);
}

#[test]
fn unsupported_files_are_refused_by_name() {
    let Some(tool) = db_load() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &[&str], &str)] = &[
        ("checksum", &["-t", "btree", "-c", "chksum=1"], "checksums"),
        ("encrypted", &["-t", "hash", "-P", "secret"], "encrypted"),
        ("recno", &["-t", "recno"], "recno"),
        ("queue", &["-t", "queue", "-c", "re_len=8"], "queue"),
    ];
    for (name, args, why) in cases {
        let path = dir.path().join(format!("{name}.db"));
        let mut child = std::process::Command::new(&tool)
            .arg("-T")
            .args(*args)
            .arg(&path)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"a\nb\n").unwrap();
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success(), "db_load {name}");
        match Db::open(&path) {
            Err(Error::NotADatabase(msg)) => assert!(msg.contains(why), "{name}: {msg}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn presized_hash_table_with_blank_buckets() {
    // h_ffactor with h_nelem makes Berkeley DB create all buckets at once;
    // the file is sparse and most bucket pages are never written (zeros).
    let pairs: Vec<_> = (0..500)
        .map(|i| (format!("pre{i}").into_bytes(), format!("{i}").into_bytes()))
        .collect();
    let Some(tool) = db_load() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = load_map(
        &tool,
        dir.path(),
        "presized.db",
        "hash",
        &["h_ffactor=10", "h_nelem=20000"],
        &pairs,
    );
    let types = page_types(&path, 4096);
    assert!(
        types.iter().filter(|&&t| t == 0).count() > 1000,
        "few blank pages"
    );
    check_map(&Db::open(&path).unwrap(), &pairs);
}
