//! A read-only reader of the Berkeley DB 5.3 hash and btree files that
//! sendmail's `makemap` writes (`access.db`, `mailertable.db`,
//! `virtusertable.db`, `aliases.db`, ...), in pure Rust.
//!
//! Why our own: mtad must read the maps a sendmail site already has, and the
//! alternatives are an unmaintained FFI binding to libdb (a C library, and a
//! runtime dependency on it) or crates for the older 1.85 format only. The
//! subset makemap uses is small: one database per file, default hash
//! function and comparison, no encryption, checksums or transactions. This
//! crate reads exactly that subset, refuses the rest by name, and treats the
//! file as untrusted: a damaged or hostile file gives an [`Error`], never a
//! panic, an endless loop or unbounded memory.
//!
//! Lookups are by exact bytes. sendmail's conventions are the caller's:
//! keys are lower-cased unless makemap ran with `-f`, and with `-N` keys and
//! values end in a NUL byte.
//!
//! ```no_run
//! let db = bdb::Db::open(std::path::Path::new("/etc/mail/access.db"))?;
//! if let Some(action) = db.get(b"connect:192.0.2.66")? {
//!     println!("{}", String::from_utf8_lossy(&action));
//! }
//! # Ok::<(), bdb::Error>(())
//! ```

mod btree;
mod error;
mod hash;
mod index;
mod meta;
mod page;

use std::fmt;
use std::io::Read;
use std::path::Path;

pub use error::Error;
pub use index::Index;
use meta::{KindMeta, Meta};
use page::Pages;

/// The largest file [`Db::open`] reads. The whole file is held in memory
/// (maps are small and lookups then need no system calls); the cap keeps a
/// wrong path (a disk image, a log) from taking all memory.
pub const MAX_FILE_SIZE: u64 = 1 << 30;

/// Which access method a database file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `makemap hash`: unordered, one bucket read per lookup.
    Hash,
    /// `makemap btree`: sorted by key bytes.
    Btree,
}

/// An opened database: the file's contents, read once at open, and its
/// validated metadata. Lookups never touch the file again, so a `Db` is a
/// consistent snapshot even if makemap rewrites the file meanwhile; reopen
/// to see a new version.
pub struct Db {
    meta: Meta,
    pages: Pages,
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db")
            .field("kind", &self.kind())
            .field("pagesize", &self.pages.pagesize())
            .field("pages", &self.pages.npages())
            .field("order", &self.pages.order())
            .finish()
    }
}

impl Db {
    /// Opens a hash or btree file, in either byte order, telling which by
    /// its magic number. Fails on files larger than [`MAX_FILE_SIZE`].
    pub fn open(path: &Path) -> Result<Db, Error> {
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        if len > MAX_FILE_SIZE {
            return Err(too_large(len));
        }
        let mut data = Vec::with_capacity(len as usize);
        // The file may grow between the stat and the read; take() keeps the
        // cap anyway.
        file.take(MAX_FILE_SIZE + 1).read_to_end(&mut data)?;
        Db::from_bytes(data)
    }

    /// Opens a database already read into memory: for callers that got the
    /// bytes elsewhere, and for fuzzing without files.
    pub fn from_bytes(data: Vec<u8>) -> Result<Db, Error> {
        if data.len() as u64 > MAX_FILE_SIZE {
            return Err(too_large(data.len() as u64));
        }
        let meta = meta::parse(&data)?;
        let pages = Pages::new(data, meta.order, meta.pagesize);
        match &meta.kind {
            KindMeta::Hash(h) => hash::validate(h, &pages)?,
            KindMeta::Btree(b) => {
                if b.root == 0 || b.root >= pages.npages() {
                    return Err(Error::Corrupt(format!(
                        "btree root page {} in a file of {} pages",
                        b.root,
                        pages.npages()
                    )));
                }
            }
        }
        Ok(Db { meta, pages })
    }

    /// Hash or btree.
    pub fn kind(&self) -> Kind {
        self.meta.kind()
    }

    /// The value stored under exactly `key`, or `None`. Of a key stored
    /// with duplicates (`makemap -d`), the first value.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        match &self.meta.kind {
            KindMeta::Hash(h) => hash::get(h, &self.pages, key),
            KindMeta::Btree(b) => btree::get(b, &self.pages, key),
        }
    }

    /// Every key with its value (the first, for duplicates): in key order
    /// for a btree, in bucket order for a hash. For tests and debugging
    /// output, not lookups. After an `Err` the iteration ends.
    pub fn iter(&self) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), Error>> + '_ {
        let walk = match &self.meta.kind {
            KindMeta::Hash(h) => Walk::Hash(hash::Iter::new(h, &self.pages)),
            KindMeta::Btree(b) => Walk::Btree(btree::Iter::new(b, &self.pages)),
        };
        Pairs { walk, done: false }
    }
}

fn too_large(len: u64) -> Error {
    Error::NotADatabase(format!(
        "file of {len} bytes is larger than the {MAX_FILE_SIZE} this reader loads"
    ))
}

enum Walk<'a> {
    Hash(hash::Iter<'a>),
    Btree(btree::Iter<'a>),
}

/// The iterator behind [`Db::iter`]: stops for good after the first error,
/// so a corrupt page is reported once rather than retried forever.
struct Pairs<'a> {
    walk: Walk<'a>,
    done: bool,
}

impl Iterator for Pairs<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = match &mut self.walk {
            Walk::Hash(it) => it.next_pair(),
            Walk::Btree(it) => it.next_pair(),
        };
        match next {
            Ok(Some(pair)) => Some(Ok(pair)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The reader against two small files written by the real makemap
    //! (testdata/, with their source), whole and damaged in every way a
    //! loop over the bytes can reach: cut at every length, each byte
    //! flipped. Damage must give `Err` or some answer, never a panic or a
    //! hang.

    use super::*;

    const HASH: &[u8] = include_bytes!("../testdata/small-hash.db");
    const BTREE: &[u8] = include_bytes!("../testdata/small-btree.db");
    const SOURCE: &str = include_str!("../testdata/small.txt");

    /// The source's pairs, keys lower-cased as makemap does.
    fn source() -> Vec<(Vec<u8>, Vec<u8>)> {
        SOURCE
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let (k, v) = l.split_once(char::is_whitespace).unwrap();
                (
                    k.to_ascii_lowercase().into_bytes(),
                    v.trim_start().as_bytes().to_vec(),
                )
            })
            .collect()
    }

    /// Everything a caller can do with a file; the result does not matter.
    fn exercise(data: Vec<u8>, keys: &[(Vec<u8>, Vec<u8>)]) {
        let Ok(db) = Db::from_bytes(data) else {
            return;
        };
        let _ = db.kind();
        let _ = format!("{db:?}");
        // A file of 3 pages cannot hold more pairs than this: an iteration
        // that gets here does not end.
        assert!(db.iter().take(10_000).count() < 10_000);
        for (k, _) in keys {
            let _ = db.get(k);
        }
        let _ = db.get(b"absent");
        let _ = db.get(b"");
        // An index built from a damaged file answers as its pages do.
        if let Some(index) = Index::build(&db) {
            for k in keys
                .iter()
                .map(|(k, _)| &k[..])
                .chain([&b"absent"[..], b""])
            {
                let pages = db.get(k).ok().flatten();
                assert_eq!(index.get(k), pages.as_deref(), "{k:?}");
            }
        }
    }

    #[test]
    fn fixtures_hold_their_source() {
        let pairs = source();
        assert_eq!(pairs.len(), 7);
        for (data, kind) in [(HASH, Kind::Hash), (BTREE, Kind::Btree)] {
            let db = Db::from_bytes(data.to_vec()).unwrap();
            assert_eq!(db.kind(), kind);
            for (k, v) in &pairs {
                assert_eq!(db.get(k).unwrap().as_ref(), Some(v), "{kind:?} {k:?}");
            }
            assert_eq!(db.get(b"Connect:localhost").unwrap(), None);
            if let Some(index) = Index::build(&db) {
                assert_eq!(kind, Kind::Hash, "only hash files are indexed");
                assert_eq!(index.len(), pairs.len());
                for (k, v) in &pairs {
                    assert_eq!(index.get(k), Some(&v[..]), "{kind:?} {k:?}");
                }
                assert_eq!(index.get(b"Connect:localhost"), None);
            } else {
                assert_eq!(kind, Kind::Btree, "a sound hash file is indexed");
            }
            let mut all: Vec<_> = db.iter().map(Result::unwrap).collect();
            all.sort();
            let mut want = pairs.clone();
            want.sort();
            assert_eq!(all, want);
        }
    }

    #[test]
    fn every_truncation_length() {
        let pairs = source();
        for data in [HASH, BTREE] {
            for len in 0..data.len() {
                let cut = data[..len].to_vec();
                if len < 4096 {
                    assert!(Db::from_bytes(cut).is_err(), "{len} bytes opened");
                    continue;
                }
                exercise(cut, &pairs);
            }
        }
    }

    #[test]
    fn every_byte_flipped() {
        let pairs = source();
        for data in [HASH, BTREE] {
            for off in 0..data.len() {
                for pattern in [0xff, 0x01, 0x80] {
                    let mut bad = data.to_vec();
                    bad[off] ^= pattern;
                    exercise(bad, &pairs);
                }
            }
        }
    }

    #[test]
    fn not_databases() {
        for data in [
            vec![],
            vec![0; 100],
            vec![0; 8192],
            vec![0xff; 8192],
            b"hello\n".repeat(1000),
        ] {
            assert!(matches!(Db::from_bytes(data), Err(Error::NotADatabase(_))));
        }
        // A Berkeley DB 1.85 hash file: the magic comes first.
        let mut old = vec![0; 8192];
        old[..4].copy_from_slice(&0x0006_1561u32.to_le_bytes());
        match Db::from_bytes(old) {
            Err(Error::NotADatabase(msg)) => assert!(msg.contains("1.85"), "{msg}"),
            other => panic!("{other:?}"),
        }
        let e = Db::open(Path::new("/nonexistent/map.db")).unwrap_err();
        assert!(matches!(e, Error::Io(_)));
        assert!(std::error::Error::source(&e).is_some());
        assert!(e.to_string().starts_with("I/O error"));
    }

    #[test]
    fn byte_swapped_fixture_is_refused_cleanly() {
        // Swapping only the magic makes every other field wrong-endian: the
        // reader must notice, not wander off.
        let mut bad = HASH.to_vec();
        bad[12..16].reverse();
        assert!(Db::from_bytes(bad).is_err());
    }
}
