//! What the bdb integration tests share: finding and running the real
//! writers of Berkeley DB files (sendmail's makemap, and db5.3_load for what
//! makemap cannot write), and checking an opened map against its source.
//!
//! A test whose tool is missing prints "SKIPPED: ..." and returns, except in
//! CI (`CI=true`), where it fails: there a test must not pass having checked
//! nothing.

#![allow(dead_code)] // each test file uses a different part

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use bdb::Db;

/// Reports a missing tool: a panic in CI, a SKIPPED line elsewhere.
pub fn tool_missing(what: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{what} is missing, and CI=true: refusing to skip");
    }
    eprintln!("SKIPPED: {what} is missing");
}

/// sendmail's makemap: `$MTAD_MAKEMAP`, else the reference install under
/// /opt/ref (`/work/shared/tools/install-sendmail-ref` puts it there).
pub fn makemap() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = match std::env::var_os("MTAD_MAKEMAP") {
        Some(p) => vec![p.into()],
        None => [
            "/opt/ref/sendmail/usr/sbin/makemap",
            "/opt/ref/sendmail/usr/libexec/sendmail/makemap",
        ]
        .iter()
        .map(PathBuf::from)
        .collect(),
    };
    let found = candidates.into_iter().find(|p| p.is_file());
    if found.is_none() {
        tool_missing("sendmail's makemap (set MTAD_MAKEMAP or run install-sendmail-ref)");
    }
    found
}

/// Runs `makemap FLAGS KIND DIR/NAME < source` and returns DIR/NAME.db.
/// `-C /dev/null`: makemap reads a sendmail.cf only for TrustedUser, and
/// without -C it wants /etc/mail/sendmail.cf, which need not exist.
pub fn make_map(
    tool: &Path,
    dir: &Path,
    kind: &str,
    flags: &[&str],
    name: &str,
    source: &[u8],
) -> PathBuf {
    let base = dir.join(name);
    let mut child = Command::new(tool)
        .arg("-C")
        .arg("/dev/null")
        .args(flags)
        .arg(kind)
        .arg(&base)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run makemap");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), source).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "makemap {flags:?} {kind} {name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut db = base.into_os_string();
    db.push(".db");
    db.into()
}

/// Berkeley DB 5.3's db_load: `$MTAD_DB_LOAD`, db5.3_load or db_load on
/// PATH, else unpacked (not installed) by `tests/fetch-db-util` under
/// target/test-deps.
pub fn db_load() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MTAD_DB_LOAD") {
        return Some(p.into());
    }
    for name in ["db5.3_load", "db_load"] {
        if Command::new(name)
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success() && o.stdout.starts_with(b"Berkeley DB 5.3"))
        {
            return Some(name.into());
        }
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../target"));
    let dir = target.join("test-deps/db5.3-util");
    let load = dir.join("usr/bin/db5.3_load");
    let fetched = Command::new(manifest.join("tests/fetch-db-util"))
        .arg(&dir)
        .status()
        .is_ok_and(|s| s.success());
    if fetched && load.is_file() {
        return Some(load);
    }
    tool_missing("db5.3_load (set MTAD_DB_LOAD, or let tests/fetch-db-util unpack db5.3-util)");
    None
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes DIR/NAME with db_load from `pairs`, in db_dump's bytevalue
/// format (binary-safe). `header` adds lines such as `db_pagesize=512`.
pub fn load_map(
    tool: &Path,
    dir: &Path,
    name: &str,
    kind: &str,
    header: &[&str],
    pairs: &[(Vec<u8>, Vec<u8>)],
) -> PathBuf {
    let mut input = format!("VERSION=3\nformat=bytevalue\ntype={kind}\n");
    for h in header {
        input.push_str(h);
        input.push('\n');
    }
    input.push_str("HEADER=END\n");
    for (k, v) in pairs {
        input.push_str(&format!(" {}\n {}\n", hex(k), hex(v)));
    }
    input.push_str("DATA=END\n");
    let path = dir.join(name);
    let src = dir.join(format!("{name}.in"));
    std::fs::write(&src, input).unwrap();
    let out = Command::new(tool)
        .arg("-f")
        .arg(&src)
        .arg(&path)
        .output()
        .expect("run db_load");
    assert!(
        out.status.success(),
        "db_load {name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// The pairs makemap makes of `source`: `#` comments and blank lines
/// skipped, the key up to the first white space, the value after the white
/// space following it; keys lower-cased (ASCII) unless `fold` is false;
/// with `nul` (`-N`) a NUL appended to both. For duplicate keys the first
/// value stays.
pub fn parse_source(source: &[u8], fold: bool, nul: bool) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for line in source.split(|&b| b == b'\n') {
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        let ws = |b: &u8| b.is_ascii_whitespace();
        let kend = line.iter().position(ws).unwrap_or(line.len());
        let mut key = line[..kend].to_vec();
        let rest = &line[kend..];
        let vstart = rest.iter().position(|b| !ws(b)).unwrap_or(rest.len());
        let mut value = rest[vstart..].to_vec();
        if fold {
            key.make_ascii_lowercase();
        }
        if nul {
            key.push(0);
            value.push(0);
        }
        if !out.iter().any(|(k, _)| *k == key) {
            out.push((key, value));
        }
    }
    out
}

/// Every expected key is found with its exact value, `iter()` yields
/// exactly the expected pairs, and keys next to the real ones are absent;
/// the same of the file's [`bdb::Index`] (hash files have one).
pub fn check_map(db: &Db, expected: &[(Vec<u8>, Vec<u8>)]) {
    let index = bdb::Index::build(db);
    assert_eq!(index.is_some(), db.kind() == bdb::Kind::Hash, "indexed");
    if let Some(index) = &index {
        assert_eq!(index.len(), expected.len(), "keys in the index");
        for (k, v) in expected {
            assert_eq!(
                index.get(k),
                Some(&v[..]),
                "index value of {:?}",
                String::from_utf8_lossy(k)
            );
        }
    }
    let want: BTreeMap<&[u8], &[u8]> = expected.iter().map(|(k, v)| (&k[..], &v[..])).collect();
    assert_eq!(want.len(), expected.len(), "test source has duplicate keys");
    for (k, v) in &want {
        let got = db
            .get(k)
            .unwrap_or_else(|e| panic!("get {:?}: {e}", String::from_utf8_lossy(k)));
        assert_eq!(
            got.as_deref(),
            Some(*v),
            "value of {:?}",
            String::from_utf8_lossy(k)
        );
    }
    let mut got = BTreeMap::new();
    for pair in db.iter() {
        let (k, v) = pair.expect("iter");
        assert!(
            got.insert(k.clone(), v).is_none(),
            "iter yields {k:?} twice"
        );
    }
    let got: BTreeMap<&[u8], &[u8]> = got.iter().map(|(k, v)| (&k[..], &v[..])).collect();
    assert_eq!(
        got.len(),
        want.len(),
        "iter() yields {} pairs, source has {}",
        got.len(),
        want.len()
    );
    assert!(got == want, "iter() differs from the source");
    for k in want.keys().take(500) {
        for absent in [
            [*k, b"x"].concat(),
            k[..k.len().saturating_sub(1)].to_vec(),
            k.to_ascii_uppercase(),
        ] {
            if !want.contains_key(&absent[..]) {
                assert_eq!(
                    db.get(&absent).unwrap(),
                    None,
                    "{:?} is absent",
                    String::from_utf8_lossy(&absent)
                );
                assert_eq!(index.as_ref().and_then(|i| i.get(&absent)), None);
            }
        }
    }
}

/// The page type byte of every page of a file, to assert that a test
/// really exercised overflow or duplicate pages.
pub fn page_types(path: &Path, pagesize: usize) -> Vec<u8> {
    let data = std::fs::read(path).unwrap();
    data.chunks_exact(pagesize).map(|p| p[25]).collect()
}

pub const P_OVERFLOW: u8 = 7;
pub const P_IBTREE: u8 = 3;
pub const P_LDUP: u8 = 12;

/// A small deterministic pseudo-random generator (xorshift64*), so that
/// the generated maps and corruptions are the same on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}
