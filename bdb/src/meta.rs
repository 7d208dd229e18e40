//! The metadata page (page 0): which kind of database, which byte order,
//! which page size, and where the data starts.
//!
//! This is where a file is accepted or turned away, so every Berkeley DB
//! feature that changes the page layout and that makemap never uses
//! (encryption, page checksums, partitions, sub-databases, recno, btree
//! compression, a custom hash function) is refused here with a message that
//! names it, rather than misread later. Layout: `DBMETA` (72 bytes) followed
//! by `HMETA` or `BTMETA` fields, in db_page.h of Berkeley DB 5.3.

use crate::Kind;
use crate::error::{Error, corrupt};
use crate::hash::hash;
use crate::page::{Order, u32_at};

const HASH_MAGIC: u32 = 0x0006_1561;
const BTREE_MAGIC: u32 = 0x0005_3162;
const QUEUE_MAGIC: u32 = 0x0004_2253;
const HEAP_MAGIC: u32 = 0x0007_4582;

/// Field offsets in the metadata page.
const OFF_MAGIC: usize = 12;
const OFF_VERSION: usize = 16;
const OFF_PAGESIZE: usize = 20;
const OFF_ENCRYPT_ALG: usize = 24;
const OFF_TYPE: usize = 25;
const OFF_METAFLAGS: usize = 26;
const OFF_FLAGS: usize = 48;
const OFF_MAX_BUCKET: usize = 72;
const OFF_HIGH_MASK: usize = 76;
const OFF_LOW_MASK: usize = 80;
const OFF_CHARKEY: usize = 92;
const OFF_SPARES: usize = 96;
const OFF_ROOT: usize = 88;
/// Bytes of page 0 the parser looks at (the end of the hash spares).
const META_MIN: usize = OFF_SPARES + 4 * NSPARES;

/// Number of hash "spares" (one per doubling of the table).
pub(crate) const NSPARES: usize = 32;

const P_HASHMETA: u8 = 8;
const P_BTREEMETA: u8 = 9;

/// `metaflags`: page checksums, range or callback partitioning.
const DBMETA_CHKSUM: u8 = 0x01;
const DBMETA_PART: u8 = 0x02 | 0x04;
/// Hash `flags`: sub-databases.
const DB_HASH_SUBDB: u32 = 0x02;
/// Btree `flags`: record numbers as keys, sub-databases, compression.
const BTM_RECNO: u32 = 0x002;
const BTM_SUBDB: u32 = 0x020;
const BTM_COMPRESS: u32 = 0x080;

/// The key Berkeley DB hashes when it creates a hash file, storing the
/// result (`h_charkey`) so that a later open can tell whether it is using
/// the same hash function. Includes the terminating NUL: BDB passes
/// `sizeof(CHARKEY)`.
const CHARKEY: &[u8] = b"%$sniglet^&\0";

/// What page 0 says, validated.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    pub order: Order,
    pub pagesize: usize,
    pub kind: KindMeta,
}

#[derive(Debug, Clone)]
pub(crate) enum KindMeta {
    Hash(HashMeta),
    Btree(BtreeMeta),
}

impl Meta {
    pub(crate) fn kind(&self) -> Kind {
        match self.kind {
            KindMeta::Hash(_) => Kind::Hash,
            KindMeta::Btree(_) => Kind::Btree,
        }
    }
}

/// The hash table's shape: how a hash value picks a bucket and a bucket its
/// first page.
#[derive(Debug, Clone)]
pub(crate) struct HashMeta {
    pub max_bucket: u32,
    pub high_mask: u32,
    pub low_mask: u32,
    pub spares: [u32; NSPARES],
}

#[derive(Debug, Clone)]
pub(crate) struct BtreeMeta {
    pub root: u32,
}

fn not_db<T>(why: impl Into<String>) -> Result<T, Error> {
    Err(Error::NotADatabase(why.into()))
}

/// Parses and validates page 0 from the start of the file.
pub(crate) fn parse(file: &[u8]) -> Result<Meta, Error> {
    if file.len() < META_MIN {
        return not_db(format!("file is only {} bytes long", file.len()));
    }
    let (kind_magic, order) = magic(file)?;
    let u32f = |off| u32_at(file, off, order);
    let version = u32f(OFF_VERSION)?;
    let pagesize = u32f(OFF_PAGESIZE)?;
    let name = if kind_magic == HASH_MAGIC {
        "hash"
    } else {
        "btree"
    };
    // 8 and 9 are Berkeley DB 4.x/5.x (5.3 writes 9), 10 is 6.x; older
    // versions had other page layouts.
    if !(8..=10).contains(&version) {
        return not_db(format!(
            "{name} version {version} (only 8 to 10 are supported)"
        ));
    }
    if !(512..=65536).contains(&pagesize) || !pagesize.is_power_of_two() {
        return not_db(format!("page size {pagesize}"));
    }
    let pagesize = pagesize as usize;
    if file.len() < pagesize {
        return corrupt(format!(
            "file of {} bytes is shorter than its first page ({pagesize})",
            file.len()
        ));
    }
    if file[OFF_ENCRYPT_ALG] != 0 {
        return not_db("the file is encrypted");
    }
    let metaflags = file[OFF_METAFLAGS];
    if metaflags & DBMETA_CHKSUM != 0 {
        return not_db("the file has page checksums");
    }
    if metaflags & DBMETA_PART != 0 {
        return not_db("the database is partitioned");
    }
    let flags = u32f(OFF_FLAGS)?;
    let ptype = file[OFF_TYPE];
    let kind = if kind_magic == HASH_MAGIC {
        if ptype != P_HASHMETA {
            return corrupt(format!("hash metadata page has page type {ptype}"));
        }
        if flags & DB_HASH_SUBDB != 0 {
            return not_db("the file holds several databases");
        }
        let charkey = u32f(OFF_CHARKEY)?;
        if charkey != hash(CHARKEY) {
            return not_db("the hash file was written with a non-default hash function");
        }
        let mut spares = [0u32; NSPARES];
        for (i, s) in spares.iter_mut().enumerate() {
            *s = u32f(OFF_SPARES + 4 * i)?;
        }
        KindMeta::Hash(HashMeta {
            max_bucket: u32f(OFF_MAX_BUCKET)?,
            high_mask: u32f(OFF_HIGH_MASK)?,
            low_mask: u32f(OFF_LOW_MASK)?,
            spares,
        })
    } else {
        if ptype != P_BTREEMETA {
            return corrupt(format!("btree metadata page has page type {ptype}"));
        }
        if flags & BTM_RECNO != 0 {
            return not_db("the file is a recno database, not a btree");
        }
        if flags & BTM_SUBDB != 0 {
            return not_db("the file holds several databases");
        }
        if flags & BTM_COMPRESS != 0 {
            return not_db("the btree is compressed");
        }
        KindMeta::Btree(BtreeMeta {
            root: u32f(OFF_ROOT)?,
        })
    };
    Ok(Meta {
        order,
        pagesize,
        kind,
    })
}

/// Which magic number the file has and which way round it reads.
fn magic(file: &[u8]) -> Result<(u32, Order), Error> {
    for order in [Order::Little, Order::Big] {
        match u32_at(file, OFF_MAGIC, order)? {
            m @ (HASH_MAGIC | BTREE_MAGIC) => return Ok((m, order)),
            QUEUE_MAGIC => return not_db("a queue database"),
            HEAP_MAGIC => return not_db("a heap database"),
            _ => {}
        }
    }
    // Berkeley DB 1.85 (db185, sendmail's old NEWDB) puts the magic first.
    for order in [Order::Little, Order::Big] {
        if let m @ (HASH_MAGIC | BTREE_MAGIC) = u32_at(file, 0, order)? {
            let name = if m == HASH_MAGIC { "hash" } else { "btree" };
            return not_db(format!("a Berkeley DB 1.85 {name} file"));
        }
    }
    not_db("no Berkeley DB hash or btree magic number")
}
