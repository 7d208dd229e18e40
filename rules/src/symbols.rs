//! Interned tokens. Every token text the config holds (rule literals,
//! metasymbols) gets a number once, when the config is compiled, with the
//! number of its lower-cased form beside it, so that comparing a rule's
//! literal with a workspace token is one integer comparison and sendmail's
//! case-insensitive match comes for free.
//!
//! Tokens that only arrive at run time (an address, a map result) are
//! numbered in a [`Scratch`] table of one session, cleared (not freed)
//! when it holds more than [`crate::KEPT_TOKENS`]: a long-running daemon
//! does not grow its shared table with every address it sees.

use rustc_hash::FxHashMap;

/// A token: its number, the number of its lower-cased form, and its first
/// byte. Carrying the last two in the workspace makes a literal compare
/// and a metasymbol test one field read each, with no table lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sym {
    pub id: u32,
    pub fold: u32,
    /// The first byte, 0 for an empty token.
    pub first: u8,
    /// Whether every byte is printable ASCII: the token prints as it is.
    pub plain: bool,
    /// [`STARTS_CALL`] or [`STARTS_LOOKUP`] when the token begins one.
    pub starts: u8,
}

impl Sym {
    /// Token `id` with text `t`, whose lower-cased form is token `fold`.
    fn new(id: u32, fold: u32, t: &[u8]) -> Sym {
        let first = t.first().copied().unwrap_or(0);
        Sym {
            id,
            fold,
            first,
            plain: t.iter().all(|c| (0x20..0x7f).contains(c)),
            starts: starts(first),
        }
    }
}

/// A token that begins a `$>` call.
pub const STARTS_CALL: u8 = 1;
/// A token that begins a `$[` or `$(` lookup.
pub const STARTS_LOOKUP: u8 = 2;

/// What a token whose first byte is `first` begins.
fn starts(first: u8) -> u8 {
    match first {
        crate::meta::CALLSUBR => STARTS_CALL,
        crate::meta::HOSTBEGIN | crate::meta::LOOKUPBEGIN => STARTS_LOOKUP,
        _ => 0,
    }
}

/// The config's own tokens; frozen once compiled.
#[derive(Debug, Default, Clone)]
pub struct Symbols {
    text: Vec<Box<[u8]>>,
    syms: Vec<Sym>,
    index: FxHashMap<Box<[u8]>, u32>,
}

impl Symbols {
    pub fn len(&self) -> usize {
        self.text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    pub fn find(&self, t: &[u8]) -> Option<Sym> {
        self.index.get(t).map(|&i| self.syms[i as usize])
    }

    /// The text of one of the config's own tokens.
    pub fn text_of(&self, s: Sym) -> &[u8] {
        &self.text[s.id as usize]
    }

    /// The token `t`, numbered (with its lower-cased form) if it was not
    /// yet.
    pub fn intern(&mut self, t: &[u8]) -> Sym {
        if let Some(s) = self.find(t) {
            return s;
        }
        let lower = t.to_ascii_lowercase();
        let id = self.text.len() as u32;
        let fold = if lower == t {
            id
        } else {
            self.intern(&lower).id
        };
        let id = self.text.len() as u32;
        let sym = Sym::new(id, fold, t);
        self.text.push(t.into());
        self.syms.push(sym);
        self.index.insert(t.into(), id);
        sym
    }
}

/// Run-time tokens on top of the config's own, for one session.
#[derive(Debug, Default)]
pub struct Scratch {
    text: Vec<Box<[u8]>>,
    syms: Vec<Sym>,
    index: FxHashMap<Box<[u8]>, u32>,
}

impl Scratch {
    /// Forgets the run-time tokens, keeping the memory. A table that
    /// grew large (a hostile rule) is given back.
    pub fn clear(&mut self) {
        if self.is_large() {
            *self = Scratch::default();
        } else {
            self.text.clear();
            self.syms.clear();
            self.index.clear();
        }
    }

    /// More tokens than a session keeps.
    pub fn is_large(&self) -> bool {
        self.text.len() > crate::KEPT_TOKENS
    }

    pub fn len(&self) -> usize {
        self.text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

/// The config's tokens and this call's, seen as one table.
pub struct Syms<'a> {
    pub base: &'a Symbols,
    pub local: &'a mut Scratch,
}

impl Syms<'_> {
    pub fn intern(&mut self, t: &[u8]) -> Sym {
        if let Some(s) = self.base.find(t) {
            return s;
        }
        if let Some(&i) = self.local.index.get(t) {
            return self.local.syms[i as usize];
        }
        let lower = t.to_ascii_lowercase();
        let base_len = self.base.len() as u32;
        let id = base_len + self.local.text.len() as u32;
        let fold = if lower == t {
            id
        } else {
            self.intern(&lower).id
        };
        let id = base_len + self.local.text.len() as u32;
        let sym = Sym::new(id, fold, t);
        self.local.text.push(t.into());
        self.local.syms.push(sym);
        self.local.index.insert(t.into(), id - base_len);
        sym
    }

    pub fn text(&self, s: Sym) -> &[u8] {
        text_of(self.base, self.local, s)
    }

    /// A token's first byte, 0 when it has none.
    pub fn first(&self, s: Sym) -> u8 {
        s.first
    }

    pub fn fold(&self, s: Sym) -> u32 {
        s.fold
    }
}

/// A token's text, from whichever table holds it.
pub fn text_of<'a>(base: &'a Symbols, local: &'a Scratch, s: Sym) -> &'a [u8] {
    let n = base.len() as u32;
    if s.id < n {
        &base.text[s.id as usize]
    } else {
        &local.text[(s.id - n) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_is_shared_across_tables() {
        let mut base = Symbols::default();
        let lh = base.intern(b"localhost");
        let mut scratch = Scratch::default();
        let mut syms = Syms {
            base: &base,
            local: &mut scratch,
        };
        let up = syms.intern(b"LOCALHOST");
        assert_ne!(up, lh);
        assert_eq!(syms.fold(up), lh.id);
        assert_eq!(syms.text(up), b"LOCALHOST");
        let other = syms.intern(b"Other");
        let lower = syms.intern(b"other");
        assert_eq!(syms.fold(other), lower.id);
    }
}
