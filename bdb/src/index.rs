//! A database's pairs in a hash table: lookups then cost one probe
//! instead of a bucket chain or a descent through pages. The SMTP checks
//! look up a dozen access-map keys per recipient, most of them absent, so
//! this is where a map's time goes.
//!
//! An index gives exactly the answers [`Db::get`] gives. It is built from
//! a full walk of the file, then every key it holds is looked up page by
//! page and must get the same value; a walk that meets damage, or a key
//! the pages answer otherwise, gives no index, and the caller keeps the
//! pages (and meets the damage where `get` does). A key absent from the
//! walk is absent from the pages too, since a hash lookup reads one bucket
//! chain and the walk reads them all.
//!
//! Hash files only. A btree lookup reads the leaf its descent ends in, and
//! in a damaged file that leaf can be off the chain of leaves the walk
//! follows (the damaged-file tests found one), so an index could miss a
//! key the pages find; a btree lookup stays a descent of a few pages.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::Db;

/// FNV-1a over the key bytes: short keys, no attacker choosing them (the
/// admin's own map file), and no dependency.
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// Every key of a database with its first value, held in memory.
pub struct Index {
    pairs: HashMap<Box<[u8]>, Box<[u8]>, BuildHasherDefault<Fnv>>,
}

impl Index {
    /// The index of `db`, or `None` when the file is damaged anywhere the
    /// walk goes or answers a lookup otherwise than the walk.
    /// Always `None` for a btree file (see above).
    pub fn build(db: &Db) -> Option<Index> {
        if db.kind() != crate::Kind::Hash {
            return None;
        }
        let mut pairs: HashMap<Box<[u8]>, Box<[u8]>, BuildHasherDefault<Fnv>> = HashMap::default();
        for pair in db.iter() {
            let (k, v) = pair.ok()?;
            pairs
                .entry(k.into_boxed_slice())
                .or_insert_with(|| v.into_boxed_slice());
        }
        for (k, v) in &pairs {
            match db.get(k) {
                Ok(Some(found)) if *found == **v => {}
                _ => return None,
            }
        }
        Some(Index { pairs })
    }

    /// The value stored under exactly `key`, as [`Db::get`] answers it.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.pairs.get(key).map(|v| &**v)
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether the database holds no key.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_is_fnv1a() {
        let mut h = Fnv::default();
        h.write(b"a");
        assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c);
    }
}
