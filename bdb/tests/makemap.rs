//! Maps written by the real sendmail makemap at test time: every key of the
//! source must come back with its exact value, `iter()` must give back the
//! source, and near-miss keys must be absent. makemap is the writer mtad
//! has to agree with, so these are the tests that matter most.

mod support;

use bdb::{Db, Kind};
use support::*;

const ACCESS: &str = "\
# a comment
Connect:localhost\t\tRELAY
Connect:127.0.0.1\t\tRELAY
Connect:192.0.2.66\t\tREJECT
Connect:Spam.Example.COM\tERROR:5.7.1:550 Connections from spam.example.com refused
From:spammer@example.com\tREJECT
To:partner.example.org\t\tRELAY
Spam:abuse@\t\t\tFRIEND
empty-ish\t\t\tx
";

fn both_kinds(flags: &[&str], name: &str, source: &str, fold: bool, nul: bool) -> Option<[Db; 2]> {
    let tool = makemap()?;
    let dir = tempfile::tempdir().unwrap();
    let expected = parse_source(source.as_bytes(), fold, nul);
    let mut out = Vec::new();
    for (kind, want) in [("hash", Kind::Hash), ("btree", Kind::Btree)] {
        let path = make_map(
            &tool,
            dir.path(),
            kind,
            flags,
            &format!("{name}-{kind}"),
            source.as_bytes(),
        );
        let db = Db::open(&path).unwrap_or_else(|e| panic!("open {kind} map: {e}"));
        assert_eq!(db.kind(), want);
        check_map(&db, &expected);
        out.push(db);
    }
    out.try_into().ok()
}

#[test]
fn small_maps_fold_keys() {
    let Some([hash, btree]) = both_kinds(&[], "access", ACCESS, true, false) else {
        return;
    };
    for db in [&hash, &btree] {
        assert_eq!(
            db.get(b"connect:spam.example.com").unwrap().unwrap()[..11],
            *b"ERROR:5.7.1"
        );
        assert_eq!(db.get(b"Connect:Spam.Example.COM").unwrap(), None);
        assert_eq!(db.get(b"").unwrap(), None);
    }
    // A btree iterates in key order.
    let keys: Vec<Vec<u8>> = btree.iter().map(|p| p.unwrap().0).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn f_keeps_case() {
    let Some([hash, _]) = both_kinds(&["-f"], "access", ACCESS, false, false) else {
        return;
    };
    assert!(hash.get(b"Connect:Spam.Example.COM").unwrap().is_some());
    assert_eq!(hash.get(b"connect:spam.example.com").unwrap(), None);
}

#[test]
fn n_appends_nul() {
    let Some(dbs) = both_kinds(&["-N"], "access", ACCESS, true, true) else {
        return;
    };
    for db in &dbs {
        assert_eq!(
            db.get(b"connect:localhost\0").unwrap().as_deref(),
            Some(&b"RELAY\0"[..])
        );
        assert_eq!(db.get(b"connect:localhost").unwrap(), None);
    }
}

#[test]
fn thousands_of_keys() {
    // Enough for many hash bucket splits and a btree of several levels.
    let mut source = String::new();
    for i in 0..8000u32 {
        let pad = "p".repeat((i % 97) as usize);
        source.push_str(&format!(
            "user{i}@host{}.example\tlocal:user{i}{pad}\n",
            i % 13
        ));
    }
    let Some([hash, btree]) = both_kinds(&[], "big", &source, true, false) else {
        return;
    };
    assert_eq!(hash.iter().count(), 8000);
    assert_eq!(btree.iter().count(), 8000);
    assert!(format!("{btree:?}").contains("pages"));
}

#[test]
fn long_keys_and_values_use_overflow_pages() {
    // makemap takes lines of at most 1022 bytes; items of more than about
    // 1010 bytes go to overflow pages in a 4096-byte-page btree. (Hash
    // overflow needs items over pagesize/4 = 1024 bytes: see db_load.rs.)
    let mut source = String::new();
    for i in 0..30usize {
        source.push_str(&format!("k{i:02} {}\n", "v".repeat(985 + i)));
        source.push_str(&format!("{}{i:02} x{i}\n", "K".repeat(985 + i)));
    }
    for i in 0..200 {
        source.push_str(&format!("short{i} {}\n", "s".repeat(i * 3 + 1)));
    }
    let Some(_) = both_kinds(&[], "long", &source, true, false) else {
        return;
    };
    let tool = makemap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = make_map(&tool, dir.path(), "btree", &[], "long", source.as_bytes());
    let types = page_types(&path, 4096);
    assert!(types.contains(&P_OVERFLOW), "no overflow page in {types:?}");
}

#[test]
fn duplicates_give_the_first_value() {
    // -d keeps every value; a long run of them moves to an off-page
    // duplicate tree (recno pages).
    let mut source = String::from("dup v0\ndup v1\ndup v2\nother x\n");
    for i in 0..400 {
        source.push_str(&format!("many value-{i:04}\n"));
    }
    let Some(tool) = makemap() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let expected = parse_source(source.as_bytes(), true, false);
    for kind in ["hash", "btree"] {
        let path = make_map(
            &tool,
            dir.path(),
            kind,
            &["-d"],
            &format!("dup-{kind}"),
            source.as_bytes(),
        );
        let types = page_types(&path, 4096);
        assert!(
            types.contains(&6),
            "{kind}: no off-page duplicate leaf in {types:?}"
        );
        let db = Db::open(&path).unwrap();
        check_map(&db, &expected);
        assert_eq!(
            db.get(b"many").unwrap().as_deref(),
            Some(&b"value-0000"[..])
        );
    }
}

#[test]
fn empty_map() {
    let Some(dbs) = both_kinds(&[], "empty", "# nothing\n", true, false) else {
        return;
    };
    for db in &dbs {
        assert_eq!(db.iter().count(), 0);
        assert_eq!(db.get(b"anything").unwrap(), None);
    }
}
