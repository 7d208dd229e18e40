//! What a rewrite needs from its caller: the macros of the moment (`$&x`
//! and the `macro` map), where trace lines and messages go, and the host
//! and DNS lookups. The daemon, `-bt` and the tests each fill these in
//! their own way.

use crate::report::Message;
use rustc_hash::FxHashMap;

/// Macro values by name (`j`, `client_addr`): bytes, as sendmail keeps
/// them. A set may lie over a shared parent (the config's macros under a
/// session's), so that each session holds only what it set; an unset
/// name then hides the parent's value.
#[derive(Debug, Clone, Default)]
pub struct Macros {
    /// `None`: unset here, whatever the parent says.
    values: FxHashMap<Box<[u8]>, Option<Box<[u8]>>>,
    parent: Option<std::sync::Arc<Macros>>,
}

impl Macros {
    /// sendmail's initmacros(): the macros whose values are the
    /// metasymbols (`$*` is macro `*`, `$?` macro `?`, `$1` macro `1`, …),
    /// through which a translated `$?x … $.` or `$*` in a value becomes
    /// the metasymbol when it is expanded.
    pub fn with_metasymbols() -> Macros {
        use crate::meta::*;
        let mut m = Macros::default();
        for (c, b) in [
            (b'*', MATCHZANY),
            (b'+', MATCHANY),
            (b'-', MATCHONE),
            (b'=', MATCHCLASS),
            (b'~', MATCHNCLASS),
            (b'#', CANONNET),
            (b'@', CANONHOST),
            (b':', CANONUSER),
            (b'>', CALLSUBR),
            (b'?', CONDIF),
            (b'|', CONDELSE),
            (b'.', CONDFI),
            (b'[', HOSTBEGIN),
            (b']', HOSTEND),
            (b'(', LOOKUPBEGIN),
            (b')', LOOKUPEND),
            (b'&', MACRODEXPAND),
        ] {
            m.set(&[c], &[b]);
        }
        for d in b'0'..=b'9' {
            m.set(&[d], &[MATCHREPL, d]);
        }
        m
    }

    /// An empty set over `parent`.
    pub fn over(parent: std::sync::Arc<Macros>) -> Macros {
        Macros {
            values: FxHashMap::default(),
            parent: Some(parent),
        }
    }

    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        match self.values.get(name) {
            Some(v) => v.as_deref(),
            None => self.parent.as_ref().and_then(|p| p.get(name)),
        }
    }

    pub fn set(&mut self, name: &[u8], value: &[u8]) {
        match self.values.get_mut(name) {
            // Reuse the name (and the value's room when it fits).
            Some(Some(v)) if v.len() == value.len() => v.copy_from_slice(value),
            Some(v) => *v = Some(value.into()),
            None => {
                self.values.insert(name.into(), Some(value.into()));
            }
        }
    }

    pub fn unset(&mut self, name: &[u8]) {
        if self.parent.as_ref().is_some_and(|p| p.get(name).is_some()) {
            self.values.insert(name.into(), None);
        } else {
            self.values.remove(name);
        }
    }
}

/// Where the engine's output goes. `-bt` prints trace lines and messages
/// as they come, in order; the daemon keeps the messages and has no
/// trace.
pub trait Output {
    /// Whether trace lines (`NAME   input: …`) are wanted at all; the
    /// engine does not build them otherwise.
    fn tracing(&self) -> bool {
        false
    }
    /// The rule-by-rule debug level (`-d21.N`), 0 when off.
    fn debug_level(&self) -> u8 {
        0
    }
    fn trace(&mut self, _line: &[u8]) {}
    fn message(&mut self, m: Message);
}

/// An [`Output`] that keeps the messages and drops traces.
#[derive(Debug, Default)]
pub struct Collect {
    pub messages: Vec<Message>,
}

impl Output for Collect {
    fn message(&mut self, m: Message) {
        self.messages.push(m);
    }
}

/// The answer of a host or DNS lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    Found(T),
    NotFound,
    /// A temporary failure (no server answered): sendmail's TRY_AGAIN.
    TryAgain,
}

impl<T> Answer<T> {
    /// The found value made into another.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Answer<U> {
        match self {
            Answer::Found(v) => Answer::Found(f(v)),
            Answer::NotFound => Answer::NotFound,
            Answer::TryAgain => Answer::TryAgain,
        }
    }
}

/// Host and DNS lookups. The daemon answers them with hickory-resolver;
/// `-bt` in sendmail's order (the service switch: HostsFile, then DNS).
pub trait Resolver: Send + Sync {
    /// getcanonname(): the canonical name of a host, without a trailing
    /// dot.
    fn canonical_name(&self, name: &str) -> Answer<String>;
    /// The name of an address (`[192.0.2.1]` in `$[ $]`).
    fn address_name(&self, addr: &str) -> Answer<String>;
    /// getmxrr(): the MX hosts of a domain, best first.
    fn mx_hosts(&self, name: &str) -> Answer<Vec<String>>;
    /// A DNS query of one record type (`A`, `MX`, `TXT`, …), the answers
    /// as text.
    fn query(&self, name: &str, rtype: &str) -> Answer<Vec<String>>;
}

/// A resolver that knows nothing: every name is unknown.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoResolver;

impl Resolver for NoResolver {
    fn canonical_name(&self, _: &str) -> Answer<String> {
        Answer::NotFound
    }
    fn address_name(&self, _: &str) -> Answer<String> {
        Answer::NotFound
    }
    fn mx_hosts(&self, _: &str) -> Answer<Vec<String>> {
        Answer::NotFound
    }
    fn query(&self, _: &str, _: &str) -> Answer<Vec<String>> {
        Answer::NotFound
    }
}

/// Everything one call of the engine works with besides the rules.
pub struct Env<'a> {
    pub macros: &'a mut Macros,
    pub out: &'a mut dyn Output,
    pub resolver: &'a dyn Resolver,
    /// DeliveryMode=defer: maps with `-D` are not asked.
    pub defer: bool,
    /// sendmail's e_message: the first "map: lookup (…): deferred".
    pub message: Option<Vec<u8>>,
    /// sendmail's SuprErrs: user errors are not said (setsender's
    /// fallbacks).
    pub quiet: bool,
}

impl<'a> Env<'a> {
    /// An environment with no deferral, no message yet, errors said.
    pub fn new(
        macros: &'a mut Macros,
        out: &'a mut dyn Output,
        resolver: &'a dyn Resolver,
    ) -> Env<'a> {
        Env {
            macros,
            out,
            resolver,
            defer: false,
            message: None,
            quiet: false,
        }
    }

    /// A message, unless user errors are being suppressed.
    pub fn say(&mut self, m: Message) {
        if self.quiet && m.kind == crate::report::Kind::User {
            return;
        }
        self.out.message(m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_over_shared_macros() {
        let mut base = Macros::default();
        base.set(b"j", b"mail.example");
        base.set(b"m", b"example");
        let base = std::sync::Arc::new(base);
        let mut s = Macros::over(base.clone());
        assert_eq!(s.get(b"j"), Some(&b"mail.example"[..]));
        s.set(b"j", b"other.example");
        assert_eq!(s.get(b"j"), Some(&b"other.example"[..]));
        s.unset(b"m");
        assert_eq!(s.get(b"m"), None);
        s.set(b"x", b"1");
        s.unset(b"x");
        assert_eq!(s.get(b"x"), None);
        // The parent is untouched.
        assert_eq!(base.get(b"j"), Some(&b"mail.example"[..]));
        assert_eq!(base.get(b"m"), Some(&b"example"[..]));
    }
}
