//! Btree databases (`makemap btree`): descending from the root to the leaf
//! that holds a key, walking the leaves in order for iteration, and reading
//! the first value of an off-page duplicate tree (shared with hash files).
//!
//! Internal pages (`P_IBTREE`) hold `BINTERNAL` items: the smallest key of
//! a child and its page number, the first item's key standing for "less
//! than everything". Leaves (`P_LBTREE`) hold key/data pairs of `BKEYDATA`
//! or `BOVERFLOW` items, sorted by the default comparison (bytewise, a
//! prefix first), and are chained left to right by `next_pgno`. Every page
//! records its level (leaves 1), which must drop by one per step down: that
//! bounds the descent and rules out cycles in it.

use std::cmp::Ordering;

use crate::error::{Error, corrupt};
use crate::meta::BtreeMeta;
use crate::page::{Item, Page, Pages, Pair, Visited, ptype};

/// Btree item types (`B_*` in db_page.h), in the low 7 bits of the type
/// byte; the high bit marks a deleted item.
const B_KEYDATA: u8 = 1;
const B_DUPLICATE: u8 = 2;
const B_OVERFLOW: u8 = 3;
const B_DELETE: u8 = 0x80;
/// Leaves are level 1 (`LEAFLEVEL`).
const LEAF_LEVEL: u8 = 1;
/// Pages of an off-page duplicate tree.
const DUP_PAGES: &[u8] = &[ptype::IBTREE, ptype::IRECNO, ptype::LDUP, ptype::LRECNO];
/// `BINTERNAL` header: len u16, type u8, unused u8, pgno u32, nrecs u32.
const BINTERNAL_SIZE: usize = 12;
/// `BOVERFLOW`: unused u16, type u8, unused u8, pgno u32, tlen u32.
const BOVERFLOW_SIZE: usize = 12;

/// A leaf item and whether it is marked deleted.
fn leaf_item<'a>(page: &Page<'a>, i: u16) -> Result<(Item<'a>, bool), Error> {
    let off = page.item_offset(i)?;
    let t = page.slice(off + 2, 1)?[0];
    let item = match t & !B_DELETE {
        B_KEYDATA => {
            let len = page.u16_at(off)? as usize;
            Item::Bytes(page.slice(off + 3, len)?)
        }
        B_OVERFLOW => {
            page.slice(off, BOVERFLOW_SIZE)?;
            Item::Overflow {
                pgno: page.u32_at(off + 4)?,
                tlen: page.u32_at(off + 8)?,
            }
        }
        B_DUPLICATE => {
            page.slice(off, BOVERFLOW_SIZE)?;
            Item::OffpageDup {
                pgno: page.u32_at(off + 4)?,
            }
        }
        other => {
            return corrupt(format!(
                "page {}: item {i} has btree item type {other}",
                page.pgno
            ));
        }
    };
    Ok((item, t & B_DELETE != 0))
}

/// The key and child page of internal item `i`.
fn internal_item<'a>(page: &Page<'a>, i: u16) -> Result<(Item<'a>, u32), Error> {
    let off = page.item_offset(i)?;
    let len = page.u16_at(off)? as usize;
    let t = page.slice(off + 2, 1)?[0];
    let child = page.u32_at(off + 4)?;
    let data = page.slice(off + BINTERNAL_SIZE, len)?;
    let key = match t & !B_DELETE {
        B_KEYDATA => Item::Bytes(data),
        B_OVERFLOW => {
            if data.len() < BOVERFLOW_SIZE {
                return corrupt(format!(
                    "page {}: short overflow key in item {i}",
                    page.pgno
                ));
            }
            Item::Overflow {
                pgno: page.u32_at(off + BINTERNAL_SIZE + 4)?,
                tlen: page.u32_at(off + BINTERNAL_SIZE + 8)?,
            }
        }
        other => {
            return corrupt(format!(
                "page {}: internal item {i} has type {other}",
                page.pgno
            ));
        }
    };
    Ok((key, child))
}

/// A btree page reached by descent: the types allowed and the level it
/// must be at (`None` at the root, whose level is whatever it says).
fn tree_page<'a>(pages: &'a Pages, pgno: u32, level: Option<u8>) -> Result<Page<'a>, Error> {
    let page = pages.page(pgno)?;
    if matches!(page.ptype(), ptype::IRECNO | ptype::LRECNO) {
        return corrupt(format!("page {pgno} is a recno page in a btree"));
    }
    let page = pages.typed_page(pgno, &[ptype::IBTREE, ptype::LBTREE], "btree")?;
    let ok = match (page.ptype(), level) {
        (ptype::LBTREE, _) => page.level() == LEAF_LEVEL && level.is_none_or(|l| l == LEAF_LEVEL),
        (_, None) => page.level() > LEAF_LEVEL,
        (_, Some(l)) => page.level() == l && l > LEAF_LEVEL,
    };
    if !ok {
        return corrupt(format!(
            "btree page {pgno} (type {}) is at level {}, expected {}",
            page.ptype(),
            page.level(),
            level.map_or("the root's".to_string(), |l| l.to_string())
        ));
    }
    if page.entries() == 0 && page.ptype() == ptype::IBTREE {
        return corrupt(format!("internal page {pgno} is empty"));
    }
    Ok(page)
}

/// Descends from the root to the leaf whose key range holds `key`, or to
/// the leftmost leaf when `key` is `None`.
fn find_leaf<'a>(
    meta: &BtreeMeta,
    pages: &'a Pages,
    key: Option<&[u8]>,
) -> Result<Page<'a>, Error> {
    let mut page = tree_page(pages, meta.root, None)?;
    while page.ptype() == ptype::IBTREE {
        let n = page.entries();
        // The last item whose key is <= the search key; item 0 is -infinity.
        let child_idx = match key {
            None => 0,
            Some(key) => {
                let (mut lo, mut hi) = (1u16, n);
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    let (k, _) = internal_item(&page, mid)?;
                    if pages.compare_key(key, &k)? == Ordering::Less {
                        hi = mid;
                    } else {
                        lo = mid + 1;
                    }
                }
                lo - 1
            }
        };
        let (_, child) = internal_item(&page, child_idx)?;
        page = tree_page(pages, child, Some(page.level() - 1))?;
    }
    Ok(page)
}

/// Number of key/data pairs on a leaf, which must hold whole pairs.
fn pairs(page: &Page<'_>) -> Result<u16, Error> {
    let n = page.entries();
    if !n.is_multiple_of(2) {
        return corrupt(format!("leaf page {}: odd number of items", page.pgno));
    }
    Ok(n / 2)
}

/// Looks `key` up; of several duplicates, the first one's value.
pub(crate) fn get(meta: &BtreeMeta, pages: &Pages, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
    let leaf = find_leaf(meta, pages, Some(key))?;
    let npairs = pairs(&leaf)?;
    // The first pair whose key is >= the search key.
    let (mut lo, mut hi) = (0u16, npairs);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let (k, _) = leaf_item(&leaf, 2 * mid)?;
        if pages.compare_key(key, &k)? == Ordering::Greater {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    for p in lo..npairs {
        let (k, kdel) = leaf_item(&leaf, 2 * p)?;
        if !pages.key_equals(key, &k)? {
            break;
        }
        let (v, vdel) = leaf_item(&leaf, 2 * p + 1)?;
        if !kdel && !vdel {
            return pages.value_bytes(&v).map(Some);
        }
    }
    Ok(None)
}

/// The first live value of the off-page duplicate tree rooted at `root`:
/// for sorted duplicates a btree (`P_IBTREE` over `P_LDUP` leaves), for
/// unsorted ones (`makemap -d`) a recno tree (`P_IRECNO` over `P_LRECNO`).
/// Its leaves hold single data items, not pairs.
pub(crate) fn first_duplicate(pages: &Pages, root: u32) -> Result<Vec<u8>, Error> {
    let mut pgno = root;
    let mut level: Option<u8> = None;
    // Down the left edge; the level must drop by one per step.
    let leaf = loop {
        let page = pages.typed_page(pgno, DUP_PAGES, "duplicate")?;
        if level.is_some_and(|l| page.level() != l) || page.level() == 0 {
            return corrupt(format!(
                "duplicate page {pgno} is at level {}",
                page.level()
            ));
        }
        if matches!(page.ptype(), ptype::LDUP | ptype::LRECNO) {
            if page.level() != LEAF_LEVEL {
                return corrupt(format!(
                    "duplicate leaf {pgno} is at level {}",
                    page.level()
                ));
            }
            break page;
        }
        if page.level() <= LEAF_LEVEL {
            return corrupt(format!(
                "duplicate internal page {pgno} is at level {}",
                page.level()
            ));
        }
        // BINTERNAL has the child at +4, RINTERNAL (pgno, nrecs) at +0.
        let off = page.item_offset(0)?;
        pgno = if page.ptype() == ptype::IBTREE {
            page.u32_at(off + 4)?
        } else {
            page.u32_at(off)?
        };
        level = Some(page.level() - 1);
    };
    // The first leaf item not marked deleted, along the leaf chain.
    let mut page = leaf;
    let mut steps = 0u32;
    loop {
        steps += 1;
        if steps > pages.npages() {
            return corrupt(format!("duplicate leaf chain from page {root} loops"));
        }
        for i in 0..page.entries() {
            match leaf_item(&page, i)? {
                (_, true) => continue,
                (Item::OffpageDup { .. }, _) => {
                    return corrupt("a duplicate tree inside a duplicate tree");
                }
                (item, false) => return pages.value_bytes(&item),
            }
        }
        match page.next_pgno() {
            0 => return corrupt(format!("duplicate tree at page {root} holds no value")),
            next => page = pages.typed_page(next, &[page.ptype()], "duplicate")?,
        }
    }
}

/// Every pair in key order, each key once (with its first value), walking
/// the leaf chain. One `Visited` for the pass: a leaf reached twice is a
/// loop.
pub(crate) struct Iter<'a> {
    meta: &'a BtreeMeta,
    pages: &'a Pages,
    /// Whether the leftmost leaf has been found.
    started: bool,
    /// The leaf being read; 0 at the end.
    pgno: u32,
    /// The next pair on it.
    pair: u16,
    visited: Visited,
    /// The last key returned, to report a key with duplicates once.
    prev: Option<Vec<u8>>,
}

impl<'a> Iter<'a> {
    pub(crate) fn new(meta: &'a BtreeMeta, pages: &'a Pages) -> Iter<'a> {
        Iter {
            meta,
            pages,
            started: false,
            pgno: 0,
            pair: 0,
            visited: Visited::new(pages.npages()),
            prev: None,
        }
    }

    fn enter(&mut self, pgno: u32) -> Result<(), Error> {
        if !self.visited.insert(pgno) {
            return corrupt(format!("btree leaf chain loops at page {pgno}"));
        }
        self.pgno = pgno;
        self.pair = 0;
        Ok(())
    }

    pub(crate) fn next_pair(&mut self) -> Result<Option<Pair>, Error> {
        if !self.started {
            self.started = true;
            let first = find_leaf(self.meta, self.pages, None)?.pgno;
            self.enter(first)?;
        }
        while self.pgno != 0 {
            // Level 1 admits leaves only.
            let leaf = tree_page(self.pages, self.pgno, Some(LEAF_LEVEL))?;
            let npairs = pairs(&leaf)?;
            while self.pair < npairs {
                let p = self.pair;
                self.pair += 1;
                let (k, kdel) = leaf_item(&leaf, 2 * p)?;
                let (v, vdel) = leaf_item(&leaf, 2 * p + 1)?;
                if kdel || vdel {
                    continue;
                }
                let key = self.pages.key_bytes(&k)?;
                if self.prev.as_deref() == Some(&key[..]) {
                    continue;
                }
                let value = self.pages.value_bytes(&v)?;
                self.prev = Some(key.clone());
                return Ok(Some((key, value)));
            }
            match leaf.next_pgno() {
                0 => self.pgno = 0,
                next => self.enter(next)?,
            }
        }
        Ok(None)
    }
}
