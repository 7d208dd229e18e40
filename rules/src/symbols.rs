//! Interned tokens. Every token text the config holds (rule literals,
//! metasymbols) gets a number once, when the config is compiled, with the
//! number of its lower-cased form beside it, so that comparing a rule's
//! literal with a workspace token is one integer comparison and sendmail's
//! case-insensitive match comes for free.
//!
//! Tokens that only arrive at run time (an address, a map result) are
//! numbered in a [`Scratch`] table that lives for one top-level call and
//! is cleared, not freed, after it: a long-running daemon does not grow
//! its shared table with every address it sees.

use rustc_hash::FxHashMap;

/// A token's number.
pub type Sym = u32;

/// The config's own tokens; frozen once compiled.
#[derive(Debug, Default, Clone)]
pub struct Symbols {
    text: Vec<Box<[u8]>>,
    fold: Vec<Sym>,
    /// Each token's first byte (0 for none): whether it is a metasymbol
    /// is asked of every token after every rewrite.
    first: Vec<u8>,
    index: FxHashMap<Box<[u8]>, Sym>,
}

impl Symbols {
    pub fn len(&self) -> usize {
        self.text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    pub fn find(&self, t: &[u8]) -> Option<Sym> {
        self.index.get(t).copied()
    }

    /// The text of one of the config's own tokens.
    pub fn text_of(&self, s: Sym) -> &[u8] {
        &self.text[s as usize]
    }

    /// The number of `t`, giving it one (and one to its lower-cased form)
    /// if it has none yet.
    pub fn intern(&mut self, t: &[u8]) -> Sym {
        if let Some(s) = self.find(t) {
            return s;
        }
        let lower = t.to_ascii_lowercase();
        let fold = if lower == t {
            self.text.len() as Sym
        } else {
            self.intern(&lower)
        };
        let id = self.text.len() as Sym;
        self.text.push(t.into());
        self.fold.push(fold);
        self.first.push(t.first().copied().unwrap_or(0));
        self.index.insert(t.into(), id);
        id
    }
}

/// Run-time tokens on top of the config's own, for one call.
#[derive(Debug, Default)]
pub struct Scratch {
    text: Vec<Box<[u8]>>,
    fold: Vec<Sym>,
    first: Vec<u8>,
    index: FxHashMap<Box<[u8]>, Sym>,
}

impl Scratch {
    /// Forgets the run-time tokens, keeping the memory. A table that
    /// grew large (a hostile rule) is given back.
    pub fn clear(&mut self) {
        if self.text.len() > 4096 {
            *self = Scratch::default();
        } else {
            self.text.clear();
            self.fold.clear();
            self.first.clear();
            self.index.clear();
        }
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
        if let Some(&s) = self.local.index.get(t) {
            return s;
        }
        let lower = t.to_ascii_lowercase();
        let base_len = self.base.len() as Sym;
        let fold = if lower == t {
            base_len + self.local.text.len() as Sym
        } else {
            self.intern(&lower)
        };
        let id = base_len + self.local.text.len() as Sym;
        self.local.text.push(t.into());
        self.local.fold.push(fold);
        self.local.first.push(t.first().copied().unwrap_or(0));
        self.local.index.insert(t.into(), id);
        id
    }

    pub fn text(&self, s: Sym) -> &[u8] {
        text_of(self.base, self.local, s)
    }

    /// A token's first byte, 0 when it has none.
    pub fn first(&self, s: Sym) -> u8 {
        let n = self.base.len() as Sym;
        if s < n {
            self.base.first[s as usize]
        } else {
            self.local.first[(s - n) as usize]
        }
    }

    pub fn fold(&self, s: Sym) -> Sym {
        let n = self.base.len() as Sym;
        if s < n {
            self.base.fold[s as usize]
        } else {
            self.local.fold[(s - n) as usize]
        }
    }
}

/// A token's text, from whichever table holds it.
pub fn text_of<'a>(base: &'a Symbols, local: &'a Scratch, s: Sym) -> &'a [u8] {
    let n = base.len() as Sym;
    if s < n {
        &base.text[s as usize]
    } else {
        &local.text[(s - n) as usize]
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
        assert_eq!(syms.fold(up), lh);
        assert_eq!(syms.text(up), b"LOCALHOST");
        let other = syms.intern(b"Other");
        assert_eq!(syms.text(syms.fold(other)), b"other");
    }
}
