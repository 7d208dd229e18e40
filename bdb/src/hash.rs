//! Hash databases (`makemap hash`): finding a key's bucket, walking the
//! bucket's page chain, and reading every pair for iteration.
//!
//! A key goes to bucket `h & high_mask` (or `& low_mask` when that bucket
//! does not exist yet), `h` being Berkeley DB's default hash function
//! `__ham_func5`. The table grows by doublings; `spares[d]` is the page
//! offset of the buckets of doubling `d`, and a bucket's first page is
//! `bucket + spares[ceil_log2(bucket + 1)]`. A bucket is a chain of hash
//! pages linked by `next_pgno`, each holding key/data item pairs.

use crate::error::{Error, corrupt};
use crate::meta::{HashMeta, NSPARES};
use crate::page::{DupSet, Item, Page, Pages, Pair, Visited, ptype, u32_at};

/// Hash item types (`H_*` in db_page.h), the first byte of every item.
const H_KEYDATA: u8 = 1;
const H_DUPLICATE: u8 = 2;
const H_OFFPAGE: u8 = 3;
const H_OFFDUP: u8 = 4;

/// Berkeley DB's default hash function, `__ham_func5`: FNV-1 (multiply,
/// then xor) on 32 bits with the FNV prime and a zero basis.
pub(crate) fn hash(key: &[u8]) -> u32 {
    key.iter()
        .fold(0u32, |h, &b| h.wrapping_mul(16_777_619) ^ u32::from(b))
}

/// `__db_log2`: the smallest `i` with `2^i >= n`.
fn ceil_log2(n: u64) -> u32 {
    if n <= 1 {
        0
    } else {
        64 - (n - 1).leading_zeros()
    }
}

impl HashMeta {
    /// The bucket a hash value falls in (`__ham_call_hash`).
    fn bucket_of(&self, h: u32) -> Result<u32, Error> {
        let mut bucket = h & self.high_mask;
        if bucket > self.max_bucket {
            bucket &= self.low_mask;
        }
        if bucket > self.max_bucket {
            return corrupt(format!(
                "hash masks {:#x}/{:#x} give bucket {bucket} beyond the last, {}",
                self.high_mask, self.low_mask, self.max_bucket
            ));
        }
        Ok(bucket)
    }

    /// The first page of `bucket` (`BUCKET_TO_PAGE`).
    fn bucket_page(&self, bucket: u32) -> Result<u32, Error> {
        let doubling = ceil_log2(u64::from(bucket) + 1) as usize;
        let Some(&spare) = self.spares.get(doubling) else {
            return corrupt(format!("bucket {bucket} is beyond the {NSPARES} doublings"));
        };
        match bucket.checked_add(spare) {
            Some(p) => Ok(p),
            None => corrupt(format!("bucket {bucket} maps to a page past 2^32")),
        }
    }
}

/// Checks the table against the file once, at open, so that iteration
/// (one pass over buckets `0..=max_bucket`) is bounded by the page count.
pub(crate) fn validate(meta: &HashMeta, pages: &Pages) -> Result<(), Error> {
    if meta.max_bucket >= pages.npages() {
        return corrupt(format!(
            "{} hash buckets in a file of {} pages",
            u64::from(meta.max_bucket) + 1,
            pages.npages()
        ));
    }
    Ok(())
}

/// A bucket page: a hash page, or a blank page standing for a bucket that
/// was allocated and never written (read as empty).
fn bucket_page<'a>(pages: &'a Pages, pgno: u32) -> Result<Option<Page<'a>>, Error> {
    let page = pages.page(pgno)?;
    if page.is_blank() {
        return Ok(None);
    }
    pages
        .typed_page(pgno, &[ptype::HASH, ptype::HASH_UNSORTED], "hash")
        .map(Some)
}

/// Item `i` of a hash page. Hash items carry no length: an item runs from
/// its offset to the previous item's (or the page end, for item 0).
fn item<'a>(page: &Page<'a>, i: u16) -> Result<Item<'a>, Error> {
    let off = page.item_offset(i)?;
    let end = if i == 0 {
        page.bytes.len()
    } else {
        page.item_offset(i - 1)?
    };
    if end <= off {
        return corrupt(format!("page {}: item {i} has no bytes", page.pgno));
    }
    let bytes = &page.bytes[off..end];
    let body = &bytes[1..];
    match bytes[0] {
        H_KEYDATA => Ok(Item::Bytes(body)),
        H_DUPLICATE => Ok(Item::DupSet(DupSet {
            bytes: body,
            order: page.order,
        })),
        // HOFFPAGE: type, 3 unused, pgno, tlen. HOFFDUP: type, 3 unused, pgno.
        H_OFFPAGE => Ok(Item::Overflow {
            pgno: u32_at(bytes, 4, page.order)?,
            tlen: u32_at(bytes, 8, page.order)?,
        }),
        H_OFFDUP => Ok(Item::OffpageDup {
            pgno: u32_at(bytes, 4, page.order)?,
        }),
        t => corrupt(format!(
            "page {}: item {i} has hash item type {t}",
            page.pgno
        )),
    }
}

/// The key/data pair at index `i` (even) of a hash page.
fn pair<'a>(page: &Page<'a>, i: u16) -> Result<(Item<'a>, Item<'a>), Error> {
    if i + 1 >= page.entries() {
        return corrupt(format!("page {}: odd number of items", page.pgno));
    }
    Ok((item(page, i)?, item(page, i + 1)?))
}

/// Looks `key` up: one bucket chain, at most as many pages as the file has.
pub(crate) fn get(meta: &HashMeta, pages: &Pages, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
    let bucket = meta.bucket_of(hash(key))?;
    let mut pgno = meta.bucket_page(bucket)?;
    // A chain longer than the file has pages loops. Counting, not marking,
    // keeps a lookup free of allocation.
    let mut steps = 0u32;
    while pgno != 0 {
        steps += 1;
        if steps > pages.npages() {
            return corrupt(format!("bucket {bucket}: page chain loops"));
        }
        let Some(page) = bucket_page(pages, pgno)? else {
            return Ok(None);
        };
        let n = page.entries();
        if n % 2 != 0 {
            return corrupt(format!("page {}: odd number of items", page.pgno));
        }
        // The value of a pair is read only when its key is the one asked.
        for i in (0..n).step_by(2) {
            let k = item(&page, i)?;
            if pages.key_equals(key, &k)? {
                let v = item(&page, i + 1)?;
                return pages.value_bytes(&v).map(Some);
            }
        }
        pgno = page.next_pgno();
    }
    Ok(None)
}

/// Every pair, bucket by bucket. One `Visited` for the whole pass: in a
/// sound file every page belongs to one bucket, so the pass is linear in
/// the page count whatever the links say.
pub(crate) struct Iter<'a> {
    meta: &'a HashMeta,
    pages: &'a Pages,
    /// The next bucket to start.
    bucket: u64,
    /// The page being read; 0 when between buckets.
    pgno: u32,
    /// The next item index on that page.
    idx: u16,
    visited: Visited,
}

impl<'a> Iter<'a> {
    pub(crate) fn new(meta: &'a HashMeta, pages: &'a Pages) -> Iter<'a> {
        Iter {
            meta,
            pages,
            bucket: 0,
            pgno: 0,
            idx: 0,
            visited: Visited::new(pages.npages()),
        }
    }

    fn enter(&mut self, pgno: u32) -> Result<(), Error> {
        if !self.visited.insert(pgno) {
            return corrupt(format!(
                "page {pgno} is reached twice from the hash buckets"
            ));
        }
        self.pgno = pgno;
        self.idx = 0;
        Ok(())
    }

    pub(crate) fn next_pair(&mut self) -> Result<Option<Pair>, Error> {
        loop {
            if self.pgno == 0 {
                if self.bucket > u64::from(self.meta.max_bucket) {
                    return Ok(None);
                }
                let first = self.meta.bucket_page(self.bucket as u32)?;
                self.bucket += 1;
                self.enter(first)?;
            }
            let Some(page) = bucket_page(self.pages, self.pgno)? else {
                self.pgno = 0;
                continue;
            };
            if self.idx < page.entries() {
                let (k, v) = pair(&page, self.idx)?;
                self.idx += 2;
                let key = self.pages.key_bytes(&k)?;
                let value = self.pages.value_bytes(&v)?;
                return Ok(Some((key, value)));
            }
            match page.next_pgno() {
                0 => self.pgno = 0,
                next => self.enter(next)?,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_berkeley_db() {
        // h_charkey of every hash file Berkeley DB 5.3 writes.
        assert_eq!(hash(b"%$sniglet^&\0"), 0x5e68_8dd1);
        assert_eq!(hash(b""), 0);
        assert_eq!(hash(b"a"), 0x61);
    }

    #[test]
    fn log2_is_ceiling() {
        let got: Vec<u32> = [0, 1, 2, 3, 4, 5, 8, 9, 1 << 32].map(ceil_log2).to_vec();
        assert_eq!(got, [0, 0, 1, 2, 2, 3, 3, 4, 32]);
    }

    #[test]
    fn bucket_pages_follow_spares() {
        // The table of a 3000-key makemap file (db_dump: spares 1 1 2 2 4).
        let mut spares = [0; NSPARES];
        spares[..5].copy_from_slice(&[1, 1, 2, 2, 4]);
        let meta = HashMeta {
            max_bucket: 13,
            high_mask: 0xf,
            low_mask: 0x7,
            spares,
        };
        let pages: Vec<u32> = (0..=13).map(|b| meta.bucket_page(b).unwrap()).collect();
        assert_eq!(pages, [1, 2, 4, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16, 17]);
        assert_eq!(meta.bucket_of(0xe).unwrap(), 6);
        assert_eq!(meta.bucket_of(0xd).unwrap(), 13);
        let mut bad = meta.clone();
        bad.low_mask = 0xf;
        assert!(bad.bucket_of(0xe).is_err());
        assert!(meta.bucket_page(u32::MAX).is_err());
    }
}
