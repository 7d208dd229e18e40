//! The config's rulesets made ready to run: literals interned and
//! case-folded, left-hand sides turned into patterns, right-hand sides
//! into what substitution copies, classes into sets of lower-cased
//! phrases, and ruleset names and numbers as sendmail has them.

use crate::classes::Classes;
use crate::meta;
use crate::prescan::Tables;
use crate::symbols::{Sym, Symbols};
use cfparser::model::{Token, ruleset::MAX_RULESETS};
use cfparser::{Config, Meta};
use rustc_hash::FxHashMap;

/// One element of a compiled left-hand side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pat {
    /// A literal token, by the number of its lower-cased text.
    Lit(u32),
    /// `$*`
    ZeroOrMore,
    /// `$+`
    OneOrMore,
    /// `$-`
    One,
    /// `$=X`, by class index.
    Class(usize),
    /// `$~X`
    NotClass(usize),
    /// `$@`: matches nothing.
    Zero,
    /// `$&x`: the macro's value at run time.
    Deferred(Box<[u8]>),
}

impl Pat {
    pub fn is_wildcard(&self) -> bool {
        matches!(
            self,
            Pat::ZeroOrMore | Pat::OneOrMore | Pat::One | Pat::Class(_) | Pat::NotClass(_)
        )
    }
}

/// One element of a compiled right-hand side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rhs {
    /// A token copied as it is (a literal or a metasymbol such as `$#`).
    Tok(Sym),
    /// `$1`..`$9`, as the digit.
    Repl(u8),
    /// `$&x`
    Deferred(Box<[u8]>),
}

/// One R line.
#[derive(Debug, Clone)]
pub struct Rule {
    pub lhs: Vec<Pat>,
    pub rhs: Vec<Rhs>,
    /// The number of wildcards on the left-hand side.
    pub wildcards: usize,
    /// A 256-bit summary of the literals on the left-hand side (each
    /// folded token number modulo 256): a workspace without all of them
    /// cannot match, so the rule is not tried (it still counts as failed).
    pub needs: [u64; 4],
    pub line: usize,
    /// The fewest tokens a workspace the rule can match has, and whether
    /// that is also the most (no `$*`, `$+` or `$=X`): a quick no.
    pub min_len: usize,
    pub fixed_len: bool,
    /// Whether the right-hand side calls a ruleset named in quotes.
    pub quoted_call: bool,
    /// The sides as tokens, for `=S` and traces.
    pub lhs_shown: Vec<Vec<u8>>,
    pub rhs_shown: Vec<Vec<u8>>,
}

/// One ruleset.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    /// The name its trace lines carry (RuleSetNames), if it has one.
    pub name: Option<String>,
    pub rules: Vec<Rule>,
    /// Whether an S line (or a mailer) defined it.
    pub defined: bool,
}

/// The compiled rules of one config.
#[derive(Debug)]
pub struct Rules {
    pub syms: Symbols,
    /// By number, 0 to 199.
    pub sets: Vec<RuleSet>,
    pub names: FxHashMap<String, usize>,
    pub classes: Classes,
    pub tables: Tables,
    /// BlankSub: what cataddr puts between two atoms.
    pub space_sub: u8,
    /// ConfigLevel (the V line).
    pub level: u32,
    /// MustQuoteChars, as crackaddr() uses it.
    pub must_quote: Vec<u8>,
    /// ColonOkInAddr: false from config level 6 on unless set.
    pub colon_ok: bool,
    /// The name each ruleset's trace lines carry, by number.
    pub shown_names: Vec<String>,
    /// `$>` targets by the token that names them (a name or number
    /// without quotes): found once, when the rules are compiled.
    pub call_targets: FxHashMap<Sym, usize>,
    /// Quoted `$>` names that have been called. sendmail strips the
    /// quotes of the rule's own token in place when it first calls it, so
    /// `=S` shows it unquoted from then on; mtad shows the same.
    pub called_quoted: std::sync::Mutex<rustc_hash::FxHashSet<(usize, usize, usize)>>,
}

/// Latin-1 text, as cfparser reads the file, back to its bytes.
pub fn latin1(s: &str) -> Vec<u8> {
    s.chars().map(|c| c as u32 as u8).collect()
}

/// The tokenizer tables of a config (its OperatorChars), for callers that
/// scan addresses without running rules.
pub fn address_tables(config: &Config) -> Tables {
    Tables::new(&operator_chars(config))
}

impl Rules {
    pub fn compile(config: &Config) -> Rules {
        let tables = address_tables(config);
        let mut syms = Symbols::default();
        // The one-byte metasymbols, so that a `$#` from a map result is
        // the same token as the `$#` of a rule.
        for b in [
            meta::CANONNET,
            meta::CANONHOST,
            meta::CANONUSER,
            meta::CALLSUBR,
            meta::CONDELSE,
            meta::HOSTBEGIN,
            meta::HOSTEND,
            meta::LOOKUPBEGIN,
            meta::LOOKUPEND,
        ] {
            syms.intern(&[b]);
        }
        let mut classes = Classes::from_config(config);
        let mut sets = vec![RuleSet::default(); MAX_RULESETS as usize];
        let mut names = FxHashMap::default();
        for (n, rs) in &config.rulesets {
            let n = *n as usize;
            if n >= sets.len() {
                continue;
            }
            if let Some(name) = &rs.name {
                names.insert(name.clone(), n);
            }
            let set = &mut sets[n];
            set.name = rs.name.clone();
            set.defined = true;
            for r in &rs.rules {
                set.rules.push(compile_rule(
                    &r.lhs,
                    &r.rhs,
                    r.line,
                    &mut syms,
                    &mut classes,
                ));
            }
        }
        let space_sub = config
            .text("BlankSub")
            .and_then(|s| latin1(&s).first().copied())
            .unwrap_or(b' ');
        let shown_names = (0..sets.len())
            .map(|n| sets[n].name.clone().unwrap_or_else(|| n.to_string()))
            .collect();
        let mut rules = Rules {
            syms,
            sets,
            names,
            classes,
            tables,
            space_sub,
            level: config.version.as_ref().map_or(0, |v| v.level),
            shown_names,
            call_targets: FxHashMap::default(),
            called_quoted: std::sync::Mutex::default(),
            must_quote: match config.text("MustQuoteChars") {
                Some(v) => {
                    let mut m = b"@,;:\\()[]".to_vec();
                    m.extend(latin1(&v));
                    m
                }
                None => b"@,;:\\()[].'".to_vec(),
            },
            colon_ok: config
                .bool("ColonOkInAddr")
                .unwrap_or(config.version.as_ref().is_none_or(|v| v.level < 6)),
        };
        // Every token of the config that names a ruleset after a `$>`,
        // found as callsubr finds it (quotes stripped, then the name or
        // number); names that draw a complaint, and names made at run
        // time, are found at run time.
        let mut targets = FxHashMap::default();
        for n in 0..rules.sets.len() {
            for r in &rules.sets[n].rules {
                for w in r.rhs.windows(2) {
                    if let [Rhs::Tok(call), Rhs::Tok(name)] = w
                        && rules.syms.text_of(*call) == [meta::CALLSUBR]
                        && let text = crate::rewrite::strip_quotes(rules.syms.text_of(*name))
                        && let (Some(rs), None) = rules.find_ruleset(&text)
                    {
                        targets.insert(*name, rs);
                    }
                }
            }
        }
        rules.call_targets = targets;
        rules
    }

    /// strtorwset(p, ST_FIND): the ruleset named or numbered at the start
    /// of `p` (a name runs over letters, digits and `_`). `None` when
    /// there is none; sendmail's complaint about a bad name or number
    /// comes with it.
    pub fn find_ruleset(&self, p: &[u8]) -> (Option<usize>, Option<String>) {
        let p = p.trim_ascii_start();
        let Some(&c) = p.first() else {
            return (None, Some("invalid ruleset name: \"\"".into()));
        };
        if !c.is_ascii() {
            let shown: String = String::from_utf8_lossy(&p[..p.len().min(20)]).into();
            return (None, Some(format!("invalid ruleset name: \"{shown}\"")));
        }
        if c.is_ascii_digit() {
            let digits: Vec<u8> = p.iter().copied().take_while(u8::is_ascii_digit).collect();
            let n: i64 = std::str::from_utf8(&digits)
                .ok()
                .and_then(|d| d.parse().ok())
                .unwrap_or(i64::MAX);
            if n >= (MAX_RULESETS / 2) as i64 {
                return (
                    None,
                    Some(format!("bad ruleset {n} ({} max)", MAX_RULESETS / 2)),
                );
            }
            return (Some(n as usize), None);
        }
        let len = p
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
            .count();
        if len == 0 || !c.is_ascii_alphabetic() {
            let shown: String = String::from_utf8_lossy(&p[..p.len().min(20)]).into();
            return (None, Some(format!("invalid ruleset name: \"{shown}\"")));
        }
        let name = String::from_utf8_lossy(&p[..len]);
        (self.names.get(name.as_ref()).copied(), None)
    }

    /// A ruleset by name or number, for callers that have one.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.find_ruleset(name.as_bytes()).0
    }

    /// The name a ruleset's trace lines carry.
    pub fn trace_name(&self, n: usize) -> String {
        self.sets
            .get(n)
            .and_then(|s| s.name.clone())
            .unwrap_or_else(|| n.to_string())
    }
}

fn operator_chars(config: &Config) -> Vec<u8> {
    if let Some(s) = config.text("OperatorChars") {
        return latin1(&s);
    }
    if config.version.as_ref().is_some_and(|v| v.level < 7)
        && let Some(t) = config.macro_value("o")
    {
        return latin1(&t.expand(&|_| None));
    }
    b".:@[]".to_vec()
}

fn meta_byte(m: Meta) -> u8 {
    match m {
        Meta::MatchZeroOrMore => meta::MATCHZANY,
        Meta::MatchOneOrMore => meta::MATCHANY,
        Meta::MatchOne => meta::MATCHONE,
        Meta::Host => meta::CANONHOST,
        Meta::Mailer => meta::CANONNET,
        Meta::User => meta::CANONUSER,
        Meta::Call => meta::CALLSUBR,
        Meta::HostBegin => meta::HOSTBEGIN,
        Meta::HostEnd => meta::HOSTEND,
        Meta::LookupBegin => meta::LOOKUPBEGIN,
        Meta::LookupEnd => meta::LOOKUPEND,
    }
}

/// A token as `=S` shows it.
fn shown(t: &Token) -> Vec<u8> {
    match t {
        Token::Word(w) => meta::printable(&latin1(w)),
        other => latin1(&other.to_string()),
    }
}

fn compile_rule(
    lhs: &[Token],
    rhs: &[Token],
    line: usize,
    syms: &mut Symbols,
    classes: &mut Classes,
) -> Rule {
    let mut pats = Vec::with_capacity(lhs.len());
    for t in lhs {
        let p = match t {
            Token::Word(w) => Pat::Lit(fold(syms, &latin1(w))),
            Token::Op(c) => Pat::Lit(fold(syms, &latin1(&c.to_string()))),
            Token::Meta(Meta::MatchZeroOrMore) => Pat::ZeroOrMore,
            Token::Meta(Meta::MatchOneOrMore) => Pat::OneOrMore,
            Token::Meta(Meta::MatchOne) => Pat::One,
            Token::Meta(Meta::Host) => Pat::Zero,
            Token::Meta(m) => Pat::Lit(fold(syms, &[meta_byte(*m)])),
            Token::Replacement(n) => Pat::Lit(fold(syms, &[meta::MATCHREPL, b'0' + n])),
            Token::Class(n) => Pat::Class(classes.index(&latin1(&n.0))),
            Token::NotClass(n) => Pat::NotClass(classes.index(&latin1(&n.0))),
            Token::Deferred(n) => Pat::Deferred(latin1(&n.0).into()),
            Token::CondElse => Pat::Lit(fold(syms, &[meta::CONDELSE])),
        };
        pats.push(p);
    }
    let mut wildcards = pats.iter().filter(|p| p.is_wildcard()).count();
    if wildcards > 9 {
        // sendmail: "R line: too many wildcards", and the LHS is empty.
        pats.clear();
        wildcards = 0;
    }
    let mut out = Vec::with_capacity(rhs.len());
    for t in rhs {
        let r = match t {
            Token::Word(w) => Rhs::Tok(syms.intern(&latin1(w))),
            Token::Op(c) => Rhs::Tok(syms.intern(&latin1(&c.to_string()))),
            Token::Meta(m) => Rhs::Tok(syms.intern(&[meta_byte(*m)])),
            Token::Replacement(n) => Rhs::Repl(*n),
            Token::Class(n) => Rhs::Tok(syms.intern(&[meta::MATCHCLASS, class_id(classes, &n.0)])),
            Token::NotClass(n) => {
                Rhs::Tok(syms.intern(&[meta::MATCHNCLASS, class_id(classes, &n.0)]))
            }
            Token::Deferred(n) => Rhs::Deferred(latin1(&n.0).into()),
            Token::CondElse => Rhs::Tok(syms.intern(&[meta::CONDELSE])),
        };
        out.push(r);
    }
    let mut needs = [0u64; 4];
    for p in &pats {
        if let Pat::Lit(f) = p {
            let b = (*f & 255) as usize;
            needs[b / 64] |= 1 << (b % 64);
        }
    }
    let min_len = pats
        .iter()
        .filter(|p| {
            matches!(
                p,
                Pat::Lit(_) | Pat::One | Pat::OneOrMore | Pat::Class(_) | Pat::NotClass(_)
            )
        })
        .count();
    let fixed_len = pats
        .iter()
        .all(|p| matches!(p, Pat::Lit(_) | Pat::One | Pat::NotClass(_) | Pat::Zero));
    let quoted_call = rhs.windows(2).any(|w| {
        matches!(&w[0], Token::Meta(Meta::Call))
            && matches!(&w[1], Token::Word(x) if x.contains('"'))
    });
    Rule {
        lhs: pats,
        rhs: out,
        wildcards,
        needs,
        min_len,
        fixed_len,
        quoted_call,
        line,
        lhs_shown: lhs.iter().map(shown).collect(),
        rhs_shown: rhs.iter().map(shown).collect(),
    }
}

/// A class as the id byte of a `$=X` token: its own letter, or the high
/// bit and its index.
fn class_id(classes: &mut Classes, name: &str) -> u8 {
    let bytes = latin1(name);
    let i = classes.index(&bytes);
    match bytes.as_slice() {
        [c] if *c < 0x80 => *c,
        _ => 0x80 | (i as u8 & 0x7f),
    }
}

/// The number of a literal's lower-cased text, which is what it is
/// compared by.
fn fold(syms: &mut Symbols, t: &[u8]) -> u32 {
    syms.intern(&t.to_ascii_lowercase()).id
}

/// A path from config bytes.
pub fn latin1_path(b: &[u8]) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStrExt;
    std::path::PathBuf::from(std::ffi::OsStr::from_bytes(b))
}
