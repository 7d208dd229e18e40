//! Pages and the items on them, read with every offset bounds-checked.
//!
//! A Berkeley DB file is an array of equal-sized pages in the byte order of
//! the machine that wrote it. Everything the hash and btree code needs goes
//! through [`Pages`] and [`Page`], so that the one place that turns a number
//! from the file into a slice index is here: a bad number becomes
//! [`Error::Corrupt`], never an out-of-bounds panic. Overflow chains (values
//! too big for a page) are walked here too, bounded by the page count and by
//! the length the item claims, so a looping or lying chain ends in an error.

use std::cmp::Ordering;

use crate::error::{Error, corrupt};

/// A key and its value, as iteration returns them.
pub(crate) type Pair = (Vec<u8>, Vec<u8>);

/// Size of the generic page header (`PAGE` in db_page.h): lsn 8, pgno 4,
/// prev_pgno 4, next_pgno 4, entries 2, hf_offset 2, level 1, type 1.
pub(crate) const HEADER_SIZE: usize = 26;

/// Page types (`P_*` in db_page.h) this reader meets.
pub(crate) mod ptype {
    pub const HASH_UNSORTED: u8 = 2;
    pub const IBTREE: u8 = 3;
    pub const IRECNO: u8 = 4;
    pub const LBTREE: u8 = 5;
    pub const LRECNO: u8 = 6;
    pub const OVERFLOW: u8 = 7;
    pub const LDUP: u8 = 12;
    pub const HASH: u8 = 13;
}

/// Byte order of the file: the writer's, recorded by which way round the
/// magic number reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    Little,
    Big,
}

impl Order {
    pub(crate) fn u16(self, b: [u8; 2]) -> u16 {
        match self {
            Order::Little => u16::from_le_bytes(b),
            Order::Big => u16::from_be_bytes(b),
        }
    }

    pub(crate) fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Order::Little => u32::from_le_bytes(b),
            Order::Big => u32::from_be_bytes(b),
        }
    }
}

/// Reads a `u32` at `off` of `bytes`, or says the structure is cut short.
pub(crate) fn u32_at(bytes: &[u8], off: usize, order: Order) -> Result<u32, Error> {
    match bytes.get(off..off.saturating_add(4)) {
        Some(b) => Ok(order.u32([b[0], b[1], b[2], b[3]])),
        None => corrupt(format!("4-byte field at offset {off} is past the end")),
    }
}

/// Reads a `u16` at `off` of `bytes`, or says the structure is cut short.
pub(crate) fn u16_at(bytes: &[u8], off: usize, order: Order) -> Result<u16, Error> {
    match bytes.get(off..off.saturating_add(2)) {
        Some(b) => Ok(order.u16([b[0], b[1]])),
        None => corrupt(format!("2-byte field at offset {off} is past the end")),
    }
}

/// The whole file, split into pages. Page 0 is the metadata page; data
/// pages are 1.. and page number 0 in a link means "none".
pub(crate) struct Pages {
    data: Vec<u8>,
    order: Order,
    pagesize: usize,
    npages: u32,
}

impl Pages {
    /// `pagesize` has been validated by the metadata parser (a power of two,
    /// 512..=65536) and `data` holds at least one page.
    pub(crate) fn new(data: Vec<u8>, order: Order, pagesize: usize) -> Pages {
        // A trailing partial page (a truncated file) is not a page: a link
        // to it is reported as corrupt when followed.
        let npages = u32::try_from(data.len() / pagesize).unwrap_or(u32::MAX);
        Pages {
            data,
            order,
            pagesize,
            npages,
        }
    }

    pub(crate) fn order(&self) -> Order {
        self.order
    }

    pub(crate) fn pagesize(&self) -> usize {
        self.pagesize
    }

    /// Pages wholly present in the file: the bound for every chain walk.
    pub(crate) fn npages(&self) -> u32 {
        self.npages
    }

    /// Data page `pgno`, without any check of what is on it.
    pub(crate) fn page(&self, pgno: u32) -> Result<Page<'_>, Error> {
        if pgno == 0 {
            return corrupt("a link points at the metadata page 0");
        }
        if pgno >= self.npages {
            return corrupt(format!(
                "page {pgno} is past the end of the file ({} pages)",
                self.npages
            ));
        }
        let start = pgno as usize * self.pagesize;
        Ok(Page {
            bytes: &self.data[start..start + self.pagesize],
            order: self.order,
            pgno,
        })
    }

    /// Data page `pgno`, which must carry its own number and one of `types`.
    /// The self-number check catches links into the wrong place early.
    pub(crate) fn typed_page(
        &self,
        pgno: u32,
        types: &[u8],
        what: &str,
    ) -> Result<Page<'_>, Error> {
        let page = self.page(pgno)?;
        if page.own_pgno() != pgno {
            return corrupt(format!(
                "{what} page {pgno} says it is page {}",
                page.own_pgno()
            ));
        }
        if !types.contains(&page.ptype()) {
            return corrupt(format!("{what} page {pgno} has page type {}", page.ptype()));
        }
        Ok(page)
    }

    /// Reads an overflow item: the chain of overflow pages starting at
    /// `pgno` holding `tlen` bytes in all. With `limit`, stops after that
    /// many bytes (enough to compare against a key of known length).
    ///
    /// Every page must contribute at least one byte and no more than the
    /// remaining length, so the walk takes at most `min(tlen, npages)` steps.
    pub(crate) fn overflow(
        &self,
        pgno: u32,
        tlen: u32,
        limit: Option<usize>,
    ) -> Result<Vec<u8>, Error> {
        let tlen = tlen as usize;
        // An item cannot be larger than the file holding it; this also bounds
        // the allocation below by the file size.
        if tlen > self.data.len() {
            return corrupt(format!(
                "overflow item at page {pgno} claims {tlen} bytes, more than the file"
            ));
        }
        let want = limit.map_or(tlen, |l| l.min(tlen));
        let mut out = Vec::with_capacity(want);
        let mut got = 0usize;
        let mut next = pgno;
        let mut steps = 0u32;
        while out.len() < want {
            if next == 0 {
                return corrupt(format!(
                    "overflow chain from page {pgno} ends after {got} of {tlen} bytes"
                ));
            }
            steps += 1;
            if steps > self.npages {
                return corrupt(format!("overflow chain from page {pgno} loops"));
            }
            let page = self.typed_page(next, &[ptype::OVERFLOW], "overflow")?;
            // On overflow pages hf_offset is the number of bytes held.
            let len = page.hf_offset() as usize;
            if len == 0 || HEADER_SIZE + len > self.pagesize {
                return corrupt(format!("overflow page {next} holds {len} bytes"));
            }
            if got + len > tlen {
                return corrupt(format!(
                    "overflow chain from page {pgno} holds more than its {tlen} bytes"
                ));
            }
            let chunk = &page.bytes[HEADER_SIZE..HEADER_SIZE + len];
            let take = chunk.len().min(want - out.len());
            out.extend_from_slice(&chunk[..take]);
            got += len;
            next = page.next_pgno();
        }
        Ok(out)
    }

    /// Compares the search `key` with a stored key item, reading no more of
    /// an overflow key than is needed to decide (`key.len() + 1` bytes).
    pub(crate) fn compare_key(&self, key: &[u8], item: &Item<'_>) -> Result<Ordering, Error> {
        match *item {
            Item::Bytes(b) => Ok(key.cmp(b)),
            Item::Overflow { pgno, tlen } => {
                let prefix = self.overflow(pgno, tlen, Some(key.len().saturating_add(1)))?;
                Ok(key.cmp(&prefix[..]))
            }
            Item::DupSet(_) | Item::OffpageDup { .. } => {
                corrupt("a duplicate set where a key belongs")
            }
        }
    }

    /// Whether the stored key item is exactly `key`. An overflow key of a
    /// different length is rejected without reading it.
    pub(crate) fn key_equals(&self, key: &[u8], item: &Item<'_>) -> Result<bool, Error> {
        match *item {
            Item::Overflow { tlen, .. } if tlen as usize != key.len() => Ok(false),
            _ => Ok(self.compare_key(key, item)? == Ordering::Equal),
        }
    }

    /// The bytes of a key item.
    pub(crate) fn key_bytes(&self, item: &Item<'_>) -> Result<Vec<u8>, Error> {
        match *item {
            Item::Bytes(b) => Ok(b.to_vec()),
            Item::Overflow { pgno, tlen } => self.overflow(pgno, tlen, None),
            Item::DupSet(_) | Item::OffpageDup { .. } => {
                corrupt("a duplicate set where a key belongs")
            }
        }
    }

    /// The bytes of a data item; of a duplicate set, its first value.
    pub(crate) fn value_bytes(&self, item: &Item<'_>) -> Result<Vec<u8>, Error> {
        match *item {
            Item::Bytes(b) => Ok(b.to_vec()),
            Item::Overflow { pgno, tlen } => self.overflow(pgno, tlen, None),
            Item::DupSet(set) => first_of_dup_set(set).map(<[u8]>::to_vec),
            Item::OffpageDup { pgno } => crate::btree::first_duplicate(self, pgno),
        }
    }
}

/// The first value of a hash on-page duplicate set (`H_DUPLICATE`): a run of
/// `len u16, bytes, len u16` entries in the file's byte order, after the
/// type byte (which the caller has stripped).
fn first_of_dup_set(set: DupSet<'_>) -> Result<&[u8], Error> {
    let DupSet { bytes, order } = set;
    let len = u16_at(bytes, 0, order)? as usize;
    let Some(value) = bytes.get(2..2 + len) else {
        return corrupt("duplicate set entry runs past its item");
    };
    if u16_at(bytes, 2 + len, order)? as usize != len {
        return corrupt("duplicate set entry lengths disagree");
    }
    Ok(value)
}

/// The bytes of a hash on-page duplicate set, after its type byte.
#[derive(Clone, Copy)]
pub(crate) struct DupSet<'a> {
    pub bytes: &'a [u8],
    pub order: Order,
}

/// A key or data item, located but not yet read.
#[derive(Clone, Copy)]
pub(crate) enum Item<'a> {
    /// Stored on the page.
    Bytes(&'a [u8]),
    /// Stored on a chain of overflow pages.
    Overflow { pgno: u32, tlen: u32 },
    /// Hash only: several values for one key, on the page.
    DupSet(DupSet<'a>),
    /// Several values for one key, in a tree of their own.
    OffpageDup { pgno: u32 },
}

/// One page: a bounds-checked window on `pagesize` bytes of the file.
#[derive(Clone, Copy)]
pub(crate) struct Page<'a> {
    pub bytes: &'a [u8],
    pub order: Order,
    pub pgno: u32,
}

impl<'a> Page<'a> {
    fn hdr_u32(&self, off: usize) -> u32 {
        // The header is always within a page (pagesize >= 512).
        self.order.u32([
            self.bytes[off],
            self.bytes[off + 1],
            self.bytes[off + 2],
            self.bytes[off + 3],
        ])
    }

    fn hdr_u16(&self, off: usize) -> u16 {
        self.order.u16([self.bytes[off], self.bytes[off + 1]])
    }

    /// The page number the page records for itself.
    pub(crate) fn own_pgno(&self) -> u32 {
        self.hdr_u32(8)
    }

    pub(crate) fn next_pgno(&self) -> u32 {
        self.hdr_u32(16)
    }

    pub(crate) fn entries(&self) -> u16 {
        self.hdr_u16(20)
    }

    pub(crate) fn hf_offset(&self) -> u16 {
        self.hdr_u16(22)
    }

    pub(crate) fn level(&self) -> u8 {
        self.bytes[24]
    }

    pub(crate) fn ptype(&self) -> u8 {
        self.bytes[25]
    }

    /// Whether the header is all zeros: a page the writer allocated (a hash
    /// bucket never split into) but never initialised.
    pub(crate) fn is_blank(&self) -> bool {
        self.bytes[..HEADER_SIZE].iter().all(|&b| b == 0)
    }

    /// The offset of item `i` from the index array after the header,
    /// checked to lie after the array and inside the page.
    pub(crate) fn item_offset(&self, i: u16) -> Result<usize, Error> {
        let n = self.entries();
        if i >= n {
            return corrupt(format!("page {}: item {i} of {n}", self.pgno));
        }
        let table_end = HEADER_SIZE + 2 * n as usize;
        if table_end > self.bytes.len() {
            return corrupt(format!("page {}: {n} entries do not fit", self.pgno));
        }
        let off = self.hdr_u16(HEADER_SIZE + 2 * i as usize) as usize;
        if off < table_end || off >= self.bytes.len() {
            return corrupt(format!("page {}: item {i} at bad offset {off}", self.pgno));
        }
        Ok(off)
    }

    /// `len` bytes at `off`, or an error naming the page.
    pub(crate) fn slice(&self, off: usize, len: usize) -> Result<&'a [u8], Error> {
        match self.bytes.get(off..off.saturating_add(len)) {
            Some(s) => Ok(s),
            None => corrupt(format!(
                "page {}: {len} bytes at offset {off} run past the page",
                self.pgno
            )),
        }
    }

    pub(crate) fn u32_at(&self, off: usize) -> Result<u32, Error> {
        u32_at(self.bytes, off, self.order)
    }

    pub(crate) fn u16_at(&self, off: usize) -> Result<u16, Error> {
        u16_at(self.bytes, off, self.order)
    }
}

/// A set of page numbers, one bit each: detects a page reached twice in one
/// walk (a cycle) in memory proportional to the page count.
pub(crate) struct Visited {
    bits: Vec<u64>,
}

impl Visited {
    pub(crate) fn new(npages: u32) -> Visited {
        Visited {
            bits: vec![0; (npages as usize).div_ceil(64)],
        }
    }

    /// Marks `pgno`; false if it was marked already (or is out of range,
    /// which [`Pages::page`] reports on its own).
    pub(crate) fn insert(&mut self, pgno: u32) -> bool {
        let (word, bit) = (pgno as usize / 64, pgno % 64);
        match self.bits.get_mut(word) {
            Some(w) if *w & (1 << bit) == 0 => {
                *w |= 1 << bit;
                true
            }
            Some(_) => false,
            None => true,
        }
    }
}
