//! rewrite(): one ruleset applied to a workspace, as sendmail 8.17 applies
//! it. The matching keeps sendmail's backtracking exactly (the leftmost
//! wildcard as short as possible, `$=X` phrases grown one token at a
//! time), because which tokens a `$n` gets decides what the rules do. The
//! right-hand side is substituted, then its lookups are made left to
//! right, then its `$>` calls right to left, each on everything to its
//! right.

use crate::Engine;
use crate::compile::{Pat, Rhs, Rule};
use crate::env::Env;
use crate::meta;
use crate::prescan::{self, MAXATOM, Scan, Table, Tokens};
use crate::report::{Kind, Message};
use crate::symbols::{STARTS_CALL, STARTS_LOOKUP, Sym, Syms};

/// sendmail's exit statuses as the engine returns them.
pub const EX_OK: i32 = 0;
pub const EX_USAGE: i32 = 64;
pub const EX_DATAERR: i32 = 65;
pub const EX_NOTFOUND: i32 = 68;
pub const EX_UNAVAILABLE: i32 = 69;
pub const EX_SOFTWARE: i32 = 70;
pub const EX_TEMPFAIL: i32 = 75;
pub const EX_CONFIG: i32 = 78;

/// MaxRuleRecursion.
const MAX_RULE_RECURSION: usize = 50;
/// MAX_SUBR: `$>` calls in one right-hand side.
const MAX_SUBR: usize = 16;
/// MAX_MAP_ARGS: `%0`..`%9`.
const MAX_MAP_ARGS: usize = 10;
/// MAXKEY: the key buffer of a lookup.
const MAXKEY: usize = 1024;
/// MAXLINE: the class-phrase buffer.
const MAXLINE: usize = 2048;

/// One binding of a wildcard: the pattern, and the tokens it took
/// (`last` is one before `first` for an empty `$*`).
#[derive(Debug, Clone, Copy, Default)]
struct Binding {
    pattern: usize,
    first: usize,
    last: isize,
}

/// Per-call state: the run-time symbol table and reusable buffers.
pub struct Call<'a, 'e> {
    pub engine: &'a Engine,
    pub syms: Syms<'a>,
    pub env: &'a mut Env<'e>,
    pub tokens: &'a mut Tokens,
    /// Whether the last scan said "Address too long" (see Scanned::cut).
    pub last_cut: bool,
    /// Workspace vectors to reuse, so that a rewrite allocates nothing
    /// once the call is warm.
    pub pool: &'a mut Vec<Vec<Sym>>,
    /// Map values and defaults already scanned in this call: the same
    /// `OK` or `<?>` comes back from lookup after lookup.
    pub scanned: &'a mut [rustc_hash::FxHashMap<Vec<u8>, Vec<Sym>>; 2],
    /// The trace line being built, kept for the next one.
    pub trace_buf: &'a mut Vec<u8>,
    /// Byte buffers to reuse (map keys, defaults, class phrases).
    pub bytes: &'a mut Vec<Vec<u8>>,
}

impl Call<'_, '_> {
    fn text(&self, s: Sym) -> &[u8] {
        self.syms.text(s)
    }

    /// syserr(): a message from a broken config or a limit.
    pub fn syserr(&mut self, text: &str) {
        self.env
            .say(Message::new(Kind::System, text.as_bytes(), None));
    }

    /// Tokens made from text by prescan, interned.
    pub fn scan(&mut self, text: &[u8], table: Table, ignore: bool) -> Option<Vec<Sym>> {
        self.scan_saying(text, table, ignore).0
    }

    /// [`Call::scan`], and whether prescan said nothing about the text.
    fn scan_saying(&mut self, text: &[u8], table: Table, ignore: bool) -> (Option<Vec<Sym>>, bool) {
        let mut msgs = Vec::new();
        let mut scan = Scan::new(table);
        scan.ignore = ignore;
        let mut toks = std::mem::take(&mut *self.tokens);
        let r = prescan::prescan(&self.engine.rules.tables, text, scan, &mut toks, &mut msgs);
        self.last_cut = r.cut;
        let quiet = msgs.is_empty();
        for m in msgs {
            self.env.say(m);
        }
        // A scan that failed on some tokens gives none; one that failed
        // before the first gives the empty list.
        let out =
            (r.ok || toks.is_empty()).then(|| toks.iter().map(|t| self.syms.intern(t)).collect());
        *self.tokens = toks;
        (out, quiet)
    }

    /// A map result, a default or a `$&x` value as tokens, scanned once
    /// per call: a scan that said nothing is kept and its tokens reused.
    /// Appends the tokens to `out`; false when the scan failed.
    fn scan_result_into(&mut self, text: &[u8], table: Table, out: &mut Vec<Sym>) -> bool {
        let which = usize::from(table == Table::Internal);
        if let Some(t) = self.scanned[which].get(text) {
            // Only a quiet scan is kept, and a quiet scan is not cut.
            self.last_cut = false;
            out.extend_from_slice(t);
            return true;
        }
        let (scanned, quiet) = self.scan_saying(text, table, false);
        let Some(t) = scanned else {
            return false;
        };
        out.extend_from_slice(&t);
        if quiet {
            self.scanned[which].insert(text.to_vec(), t);
        }
        true
    }

    /// cataddr(): tokens joined into text, `space` between two atoms
    /// (0 = BlankSub), at most `size - 2` bytes as sendmail's buffer
    /// allows; `external` turns METAQUOTE+c into c.
    pub fn cataddr(&self, toks: &[Sym], space: u8, size: usize, external: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        self.cataddr_into(toks, space, size, external, &mut out);
        out
    }

    /// [`Call::cataddr`] appending to `out`, for callers with a buffer.
    pub fn cataddr_into(
        &self,
        toks: &[Sym],
        space: u8,
        size: usize,
        external: bool,
        out: &mut Vec<u8>,
    ) {
        let space = if space == 0 {
            self.engine.rules.space_sub
        } else {
            space
        };
        let tables = &self.engine.rules.tables;
        let mut left = size as isize - 2;
        let mut was_atom = false;
        'tokens: for &t in toks {
            if left <= 0 {
                break;
            }
            let text = self.text(t);
            let is_atom = text.first().is_some_and(|&c| tables.is_atom_start(c));
            if was_atom && is_atom {
                out.push(space);
                left -= 1;
                if left <= 0 {
                    break;
                }
            }
            let mut i = 0;
            while i < text.len() {
                left -= 1;
                if left <= 0 {
                    break 'tokens;
                }
                let c = text[i];
                i += 1;
                if c == meta::METAQUOTE && external && i < text.len() {
                    out.push(text[i]);
                    i += 1;
                } else {
                    out.push(c);
                }
            }
            was_atom = is_atom;
        }
    }

    /// A byte buffer from the call's pool, empty.
    fn take_bytes(&mut self) -> Vec<u8> {
        let mut b = self.bytes.pop().unwrap_or_default();
        b.clear();
        b
    }

    fn give_bytes(&mut self, b: Vec<u8>) {
        self.bytes.push(b);
    }

    fn trace_line(&mut self, name: &str, what: &str, ws: &[Sym]) {
        let mut line = std::mem::take(self.trace_buf);
        line.clear();
        let n = &name.as_bytes()[..name.len().min(16)];
        line.extend_from_slice(n);
        line.resize(16, b' ');
        line.extend_from_slice(what.as_bytes());
        self.push_tokens(&mut line, ws);
        self.env.out.trace(&line);
        *self.trace_buf = line;
    }

    /// printav(): a blank and each token as xputs prints it.
    pub fn push_tokens(&self, line: &mut Vec<u8>, ws: &[Sym]) {
        let classes = &self.engine.rules.classes;
        for &t in ws {
            line.push(b' ');
            let text = self.text(t);
            if t.plain {
                line.extend_from_slice(text);
            } else {
                // A `$=X` token may come from outside with any id byte.
                meta::xputs(line, text, &|id| {
                    classes
                        .try_name(id as usize)
                        .map(<[u8]>::to_vec)
                        .unwrap_or_default()
                });
            }
        }
    }

    /// rewrite(pvp, ruleset, reclevel, e, maxatom).
    pub fn rewrite(
        &mut self,
        ws: &mut Vec<Sym>,
        rs: usize,
        reclevel: usize,
        maxatom: usize,
    ) -> i32 {
        let engine = self.engine;
        let name: &str = &engine.rules.shown_names[rs];
        let tracing = self.env.out.tracing();
        if tracing {
            self.trace_line(name, "   input:", ws);
        }
        let reclevel = reclevel + 1;
        if reclevel - 1 > MAX_RULE_RECURSION {
            self.syserr(&format!(
                "rewrite: excessive recursion (max {MAX_RULE_RECURSION}), ruleset {name}"
            ));
            return EX_CONFIG;
        }
        if maxatom == 0 {
            return EX_USAGE;
        }
        let mut rstat = EX_OK;
        let rules = &engine.rules.sets[rs].rules;
        let debug = self.env.out.debug_level();
        let mut ruleno = 1usize;
        let mut loopcount = 0usize;
        let mut r = 0usize;
        let mut bindings = [Binding::default(); 10];
        let mut phrase = self.take_bytes();
        let mut pending: Vec<Vec<u8>> = Vec::new();
        let mut npvp: Vec<Sym> = self.pool.pop().unwrap_or_default();
        // The workspace's literal summary, made again only when a rule
        // that needs a literal is tried after lookups or calls changed it.
        let mut have = [0u64; 4];
        let mut ws_dirty = true;
        while r < rules.len() {
            let rule = &rules[r];
            let rule_index = r;
            if let Some(&first) = ws.first()
                && self.syms.first(first) == meta::CANONNET
            {
                break;
            }
            if debug >= 12 {
                let mut l = if debug >= 15 {
                    format!("-----trying rule (line {}):", rule.line).into_bytes()
                } else {
                    b"-----trying rule:".to_vec()
                };
                for t in &rule.lhs_shown {
                    l.push(b' ');
                    l.extend_from_slice(t);
                }
                self.env.out.trace(&l);
            }
            loopcount += 1;
            if loopcount > 100 {
                self.syserr(&format!(
                    "554 5.3.5 Infinite loop in ruleset {name}, rule {ruleno}"
                ));
                break;
            }
            if ws_dirty && rule.needs != [0u64; 4] {
                have = [0u64; 4];
                for &t in ws.iter() {
                    let b = (self.syms.fold(t) & 255) as usize;
                    have[b / 64] |= 1 << (b % 64);
                }
                ws_dirty = false;
            }
            let possible = debug >= 10
                || (ws.len() >= rule.min_len
                    && (!rule.fixed_len || ws.len() == rule.min_len)
                    && (0..4).all(|i| rule.needs[i] & !have[i] == 0));
            let matched = if possible {
                let r = self.matches(rule, ws, &mut bindings, &mut phrase, &mut pending);
                for l in pending.drain(..) {
                    self.env.out.trace(&l);
                }
                r
            } else {
                None
            };
            let Some(nb) = matched else {
                if debug >= 10 {
                    self.env.out.trace(b"----- rule fails");
                }
                r += 1;
                ruleno += 1;
                loopcount = 0;
                continue;
            };
            if debug >= 12 {
                let mut l = b"-----rule matches:".to_vec();
                for t in &rule.rhs_shown {
                    l.push(b' ');
                    l.extend_from_slice(t);
                }
                self.env.out.trace(&l);
            }
            let mut rhs: &[Rhs] = &rule.rhs;
            let mut stop_after = false;
            let mut skipped = 0usize;
            if let Some(Rhs::Tok(s)) = rhs.first() {
                match self.text(*s) {
                    [meta::CANONUSER] => {
                        rhs = &rhs[1..];
                        skipped = 1;
                        r += 1;
                        ruleno += 1;
                        loopcount = 0;
                    }
                    [meta::CANONHOST] => {
                        rhs = &rhs[1..];
                        skipped = 1;
                        stop_after = true;
                    }
                    _ => {}
                }
            }
            // Substitute, noting what the new workspace holds as it is made.
            npvp.clear();
            let mut nhave = [0u64; 4];
            // Which of calls and lookups the new workspace holds.
            let mut nactive = 0u8;
            for (k, item) in rhs.iter().enumerate() {
                // A quoted `$>` name is called below, and sendmail strips
                // the quotes of the rule's own token when it does: `=S`
                // shows it so from then on.
                if rule.quoted_call
                    && let Rhs::Tok(s) = item
                    && k > 0
                    && matches!(rhs[k - 1], Rhs::Tok(c) if self.text(c) == [meta::CALLSUBR])
                    && self.text(*s).contains(&b'"')
                    && let Ok(mut seen) = self.engine.rules.called_quoted.lock()
                {
                    seen.insert((rs, rule_index, k + skipped));
                }
                match item {
                    Rhs::Repl(d) => {
                        let i = (*d as usize).wrapping_sub(1);
                        if i >= nb {
                            self.syserr(&format!(
                                "554 5.3.5 rewrite: ruleset {name}: replacement ${d} out of bounds"
                            ));
                            return EX_CONFIG;
                        }
                        let b = bindings[i];
                        if b.last >= b.first as isize {
                            let bound = &ws[b.first..=b.last as usize];
                            // sendmail stops at the token that would not fit.
                            if npvp.len() + bound.len() > maxatom {
                                return self.too_long();
                            }
                            for &t in bound {
                                note(&mut nhave, &mut nactive, t);
                            }
                            npvp.extend_from_slice(bound);
                        }
                    }
                    Rhs::Tok(s) => {
                        if npvp.len() >= maxatom {
                            return self.too_long();
                        }
                        note(&mut nhave, &mut nactive, *s);
                        npvp.push(*s);
                    }
                    Rhs::Deferred(m) => {
                        if npvp.len() >= maxatom {
                            return self.too_long();
                        }
                        let value = self.env.macros.get(m).map(<[u8]>::to_vec);
                        if debug >= 2 {
                            let shown = value
                                .as_deref()
                                .map_or_else(|| b"(NULL)".to_vec(), |v| v.to_vec());
                            let mut l = b"rewrite: RHS $&{".to_vec();
                            l.extend_from_slice(m);
                            l.extend_from_slice(b"} => \"");
                            l.extend_from_slice(&shown);
                            l.push(b'"');
                            self.env.out.trace(&l);
                        }
                        let Some(v) = value.filter(|v| !v.is_empty()) else {
                            continue;
                        };
                        let mut toks = self.pool.pop().unwrap_or_default();
                        toks.clear();
                        if !self.scan_result_into(&v, Table::External, &mut toks) {
                            return EX_DATAERR;
                        }
                        for &t in &toks {
                            note(&mut nhave, &mut nactive, t);
                            npvp.push(t);
                            if npvp.len() >= maxatom {
                                return self.too_long();
                            }
                        }
                        self.pool.push(toks);
                    }
                }
            }
            // Lookups, then calls (a found value is new text, so calls
            // are looked for after any lookup).
            let looked_up = nactive & STARTS_LOOKUP != 0;
            if looked_up {
                match self.lookups(&mut npvp, maxatom, &mut rstat) {
                    Ok(()) => {}
                    Err(status) => return status,
                }
            }
            let reworked = looked_up || nactive & STARTS_CALL != 0;
            if reworked {
                let status = self.call_subroutines(&mut npvp, reclevel);
                if rstat == EX_OK || status == EX_TEMPFAIL {
                    rstat = status;
                }
            }
            std::mem::swap(ws, &mut npvp);
            if reworked {
                ws_dirty = true;
            } else {
                have = nhave;
                ws_dirty = false;
            }
            if debug >= 4 {
                let mut l = b"rewritten as:".to_vec();
                self.push_tokens(&mut l, ws);
                self.env.out.trace(&l);
            }
            if stop_after {
                break;
            }
        }
        if tracing {
            self.trace_line(name, " returns:", ws);
        }
        npvp.clear();
        self.pool.push(npvp);
        self.give_bytes(phrase);
        rstat
    }

    fn too_long(&mut self) -> i32 {
        self.syserr("554 5.3.0 rewrite: expansion too long");
        EX_DATAERR
    }

    /// Matches one rule's left-hand side; the number of bindings made, or
    /// None when it does not match.
    fn matches(
        &self,
        rule: &Rule,
        ws: &[Sym],
        m: &mut [Binding; 10],
        phrase: &mut Vec<u8>,
        pending: &mut Vec<Vec<u8>>,
    ) -> Option<usize> {
        // Where the phrase in `phrase` ends (the index after its last
        // token), so that a backup into a class binding rebuilds it.
        let mut phrase_end = usize::MAX;
        let mut phrase_owner = (usize::MAX, usize::MAX);
        enum Step {
            Advance,
            Backup,
            Extend,
        }
        let lhs = &rule.lhs;
        let n = ws.len();
        let mut mlp = 0usize;
        let mut rvp = 0usize;
        let mut avp = 0usize;
        let mut step = Step::Advance;
        loop {
            match step {
                Step::Advance => {
                    if avp >= n && rvp >= lhs.len() {
                        return Some(mlp);
                    }
                    if rvp >= lhs.len() {
                        step = Step::Backup;
                        continue;
                    }
                    let rp = &lhs[rvp];
                    if avp >= n && !matches!(rp, Pat::ZeroOrMore | Pat::Zero) {
                        step = Step::Backup;
                        continue;
                    }
                    match rp {
                        Pat::Class(_) => {
                            m[mlp].pattern = rvp;
                            m[mlp].first = avp;
                            step = Step::Extend;
                            continue;
                        }
                        Pat::NotClass(c) if self.in_class(*c, &ws[avp..=avp]) => {
                            step = Step::Backup;
                            continue;
                        }
                        Pat::OneOrMore if rvp + 1 == lhs.len() => {
                            // Last in the pattern: sendmail grows it to the
                            // end of the workspace one token at a time.
                            m[mlp] = Binding {
                                pattern: rvp,
                                first: avp,
                                last: n as isize - 1,
                            };
                            avp = n;
                            mlp += 1;
                        }
                        Pat::NotClass(_) | Pat::One | Pat::OneOrMore => {
                            m[mlp] = Binding {
                                pattern: rvp,
                                first: avp,
                                last: avp as isize,
                            };
                            avp += 1;
                            mlp += 1;
                        }
                        Pat::ZeroOrMore => {
                            // sendmail would grow this binding one token
                            // at a time while the literal after it fails
                            // (or, last in the pattern, to the end);
                            // going straight there gives the same binding.
                            let stop = match lhs.get(rvp + 1) {
                                Some(Pat::Lit(f)) => self.next_literal(ws, avp, *f),
                                None => n,
                                _ => avp,
                            };
                            m[mlp] = Binding {
                                pattern: rvp,
                                first: avp,
                                last: stop as isize - 1,
                            };
                            avp = stop;
                            mlp += 1;
                        }
                        Pat::Zero => {}
                        Pat::Deferred(name) => {
                            if self.env.out.debug_level() >= 2 {
                                let mut l = b"rewrite: LHS $&{".to_vec();
                                l.extend_from_slice(name);
                                l.extend_from_slice(b"} => \"");
                                match self.env.macros.get(name) {
                                    Some(v) => l.extend_from_slice(v),
                                    None => l.extend_from_slice(b"(NULL)"),
                                }
                                l.push(b'"');
                                pending.push(l);
                            }
                            if let Some(value) = self.env.macros.get(name) {
                                let start = avp;
                                let mut v = value;
                                let mut ok = true;
                                while !v.is_empty() {
                                    if avp >= n {
                                        ok = false;
                                        break;
                                    }
                                    let t = self.text(ws[avp]);
                                    if v.len() < t.len() || !v[..t.len()].eq_ignore_ascii_case(t) {
                                        ok = false;
                                        break;
                                    }
                                    v = &v[t.len()..];
                                    avp += 1;
                                }
                                if !ok {
                                    avp = start;
                                    step = Step::Backup;
                                    continue;
                                }
                            }
                        }
                        Pat::Lit(f) => {
                            if self.syms.fold(ws[avp]) != *f {
                                step = Step::Backup;
                                continue;
                            }
                            avp += 1;
                        }
                    }
                    rvp += 1;
                }
                Step::Extend => {
                    if avp >= n {
                        step = Step::Backup;
                        continue;
                    }
                    let Pat::Class(c) = lhs[rvp] else {
                        return None;
                    };
                    // The phrase grows by one token: cataddr's join, done
                    // incrementally, and no longer than the longest member.
                    if avp == m[mlp].first {
                        phrase.clear();
                        phrase_owner = (mlp, avp);
                    } else if phrase_end != avp || phrase_owner != (mlp, m[mlp].first) {
                        phrase_owner = (mlp, m[mlp].first);
                        phrase.clear();
                        self.cataddr_into(&ws[m[mlp].first..avp], 0, MAXLINE, true, phrase);
                    }
                    if avp > m[mlp].first && self.is_atom(ws[avp - 1]) && self.is_atom(ws[avp]) {
                        phrase.push(self.engine.rules.space_sub);
                    }
                    push_external(phrase, self.text(ws[avp]));
                    m[mlp].last = avp as isize;
                    avp += 1;
                    phrase_end = avp;
                    let classes = &self.engine.rules.classes;
                    if phrase.len() > classes.longest(c) {
                        // No longer phrase can be a member either.
                        avp = n;
                        step = Step::Backup;
                        continue;
                    }
                    if !classes.contains(c, phrase) {
                        continue;
                    }
                    mlp += 1;
                    rvp += 1;
                    step = Step::Advance;
                }
                Step::Backup => {
                    let mut resumed = false;
                    while mlp > 0 {
                        mlp -= 1;
                        rvp = m[mlp].pattern;
                        avp = (m[mlp].last + 1) as usize;
                        if avp >= n {
                            continue;
                        }
                        match lhs[rvp] {
                            Pat::OneOrMore | Pat::ZeroOrMore => {
                                let stop = match lhs.get(rvp + 1) {
                                    Some(Pat::Lit(f)) => self.next_literal(ws, avp + 1, *f),
                                    None => n,
                                    _ => avp + 1,
                                };
                                m[mlp].last = stop as isize - 1;
                                avp = stop;
                                rvp += 1;
                                mlp += 1;
                                step = Step::Advance;
                                resumed = true;
                                break;
                            }
                            Pat::Class(_) => {
                                m[mlp].last = avp as isize;
                                step = Step::Extend;
                                resumed = true;
                                break;
                            }
                            _ => {}
                        }
                    }
                    if !resumed {
                        return None;
                    }
                }
            }
        }
    }

    /// The first place at or after `from` holding a token that folds to
    /// `f`, or the end of the workspace.
    fn next_literal(&self, ws: &[Sym], from: usize, f: u32) -> usize {
        let mut k = from;
        while k < ws.len() && self.syms.fold(ws[k]) != f {
            k += 1;
        }
        k
    }

    fn is_atom(&self, t: Sym) -> bool {
        self.text(t)
            .first()
            .is_some_and(|&c| self.engine.rules.tables.is_atom_start(c))
    }

    /// wordinclass(cataddr(tokens), class).
    fn in_class(&self, class: usize, toks: &[Sym]) -> bool {
        let classes = &self.engine.rules.classes;
        // One token with no quoted byte is its own phrase.
        if let [t] = toks
            && let text = self.text(*t)
            && text.len() < MAXLINE - 2
            && !text.contains(&meta::METAQUOTE)
        {
            return classes.contains(class, text);
        }
        let phrase = self.cataddr(toks, 0, MAXLINE, true);
        classes.contains(class, &phrase)
    }

    /// The `$[ … $]` and `$( … $)` lookups of a substituted right-hand
    /// side, left to right; results are not scanned again.
    fn lookups(&mut self, v: &mut Vec<Sym>, maxatom: usize, rstat: &mut i32) -> Result<(), i32> {
        let mut i = 0usize;
        while i < v.len() {
            let (end_byte, map_name, key_start) = match self.syms.first(v[i]) {
                meta::HOSTBEGIN => (
                    meta::HOSTEND,
                    self.engine.maps.find(b"host").ok_or(b"host".to_vec()),
                    i + 1,
                ),
                meta::LOOKUPBEGIN => {
                    let Some(&name) = v.get(i + 1) else {
                        self.syserr("554 5.3.0 rewrite: missing mapname");
                        return Err(EX_CONFIG);
                    };
                    let text = self.text(name);
                    (
                        meta::LOOKUPEND,
                        self.engine.maps.find(text).ok_or_else(|| text.to_vec()),
                        i + 2,
                    )
                }
                _ => {
                    i += 1;
                    continue;
                }
            };
            let map = match map_name {
                Ok(m) => Some(m),
                Err(name) => {
                    self.syserr(&format!(
                        "554 5.3.0 rewrite: map {} not found",
                        String::from_utf8_lossy(&name)
                    ));
                    None
                }
            };
            // Split into key, `$@` arguments and the `$:` default, up to
            // the first end token.
            let mut close = key_start;
            while close < v.len() && self.syms.first(v[close]) != end_byte {
                close += 1;
            }
            let mut key_end: Option<usize> = None;
            let mut args: Vec<Vec<u8>> = Vec::new();
            let mut arg_start: Option<usize> = None;
            let mut default: Option<(usize, usize)> = None;
            let mut default_start: Option<usize> = None;
            for j in key_start..=close {
                let first = if j == close {
                    end_byte
                } else {
                    self.syms.first(v[j])
                };
                if j < close && first != meta::CANONHOST && first != meta::CANONUSER {
                    continue;
                }
                key_end.get_or_insert(j);
                if let Some(s) = arg_start.take() {
                    let a = self.cataddr(&v[s..j], 0, 1 << 12, true);
                    if args.len() < MAX_MAP_ARGS - 1 {
                        args.push(a);
                    }
                }
                if let Some(s) = default_start.take() {
                    default = Some((s, j));
                }
                match first {
                    meta::CANONHOST if j < close => arg_start = Some(j + 1),
                    meta::CANONUSER if j < close => default_start = Some(j + 1),
                    _ => {}
                }
            }
            let key_end = key_end.unwrap_or(close);
            let key_toks = &v[key_start..key_end];
            let space = map.map_or(0, |m| self.engine.maps.space_sub(m));
            let mut key = self.take_bytes();
            self.cataddr_into(key_toks, space, MAXKEY, true, &mut key);
            let (found, status) = match map {
                Some(m) => {
                    let engine = self.engine;
                    let argrefs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                    engine.maps.lookup(m, &mut key, &argrefs, self.env)
                }
                None => (None, EX_OK),
            };
            self.give_bytes(key);
            if status == EX_TEMPFAIL {
                *rstat = EX_TEMPFAIL;
            }
            let mut replacement = self.pool.pop().unwrap_or_default();
            replacement.clear();
            let scanned = match (found, default) {
                (Some(value), _) if value.is_empty() => true,
                (Some(value), _) => {
                    self.scan_result_into(&value, Table::External, &mut replacement)
                }
                (None, Some((s, e))) => {
                    let mut text = self.take_bytes();
                    self.cataddr_into(&v[s..e], 0, MAXKEY, false, &mut text);
                    let ok = text.is_empty()
                        || self.scan_result_into(&text, Table::Internal, &mut replacement);
                    self.give_bytes(text);
                    ok
                }
                (None, None) => {
                    replacement.extend_from_slice(&v[key_start..key_end]);
                    true
                }
            };
            if !scanned {
                return Err(EX_DATAERR);
            }
            let after = if close < v.len() { close + 1 } else { close };
            if i + replacement.len() >= maxatom && !replacement.is_empty() {
                self.syserr("554 5.3.0 rewrite: expansion too long");
                return Err(EX_DATAERR);
            }
            let n = replacement.len();
            v.splice(i..after, replacement.iter().copied());
            self.pool.push(replacement);
            i += n;
            if v.len() > maxatom {
                self.syserr("554 5.3.0 rewrite: expansion too long");
                return Err(EX_DATAERR);
            }
        }
        Ok(())
    }

    /// callsubr(): the `$>` calls of a right-hand side, the last first,
    /// each rewriting everything to its right in place.
    fn call_subroutines(&mut self, v: &mut Vec<Sym>, reclevel: usize) -> i32 {
        let mut calls = [(0usize, 0usize); MAX_SUBR];
        let mut ncalls = 0usize;
        let mut j = 0usize;
        while j < v.len() {
            if self.syms.first(v[j]) == meta::CALLSUBR && j + 1 < v.len() {
                let (found, name) = match self.engine.rules.call_targets.get(&v[j + 1]) {
                    Some(&rs) => (Some(rs), None),
                    None => {
                        let name = strip_quotes(self.text(v[j + 1]));
                        let (rs, complaint) = self.engine.rules.find_ruleset(&name);
                        if let Some(c) = complaint {
                            self.syserr(&c);
                        }
                        (rs, Some(name))
                    }
                };
                let name = |c: &Self| {
                    name.clone()
                        .unwrap_or_else(|| strip_quotes(c.text(v[j + 1])))
                };
                let Some(rs) = found else {
                    self.syserr(&format!(
                        "554 5.3.5 Unknown ruleset {}",
                        String::from_utf8_lossy(&name(self))
                    ));
                    return EX_CONFIG;
                };
                if self.engine.rules.sets[rs].rules.is_empty() {
                    if self.env.out.debug_level() >= 3 {
                        let l = format!(
                            "-----skip subr {} ({rs})",
                            String::from_utf8_lossy(&name(self))
                        );
                        self.env.out.trace(l.as_bytes());
                    }
                    v.drain(j..j + 2);
                    continue;
                }
                if ncalls + 1 >= MAX_SUBR {
                    self.syserr(&format!(
                        "554 5.3.0 Too many subroutine calls ({MAX_SUBR} max)"
                    ));
                    return EX_CONFIG;
                }
                calls[ncalls] = (rs, j);
                ncalls += 1;
            }
            j += 1;
        }
        let mut rstat = EX_OK;
        for &(rs, at) in calls[..ncalls].iter().rev() {
            v.drain(at..at + 2);
            let mut tail = self.pool.pop().unwrap_or_default();
            tail.clear();
            tail.extend_from_slice(&v[at..]);
            v.truncate(at);
            let status = self.rewrite(&mut tail, rs, reclevel, MAXATOM.saturating_sub(at));
            v.extend_from_slice(&tail);
            self.pool.push(tail);
            if status != EX_OK && status != EX_TEMPFAIL {
                return status;
            }
            if rstat == EX_OK || status == EX_TEMPFAIL {
                rstat = status;
            }
        }
        rstat
    }
}

/// Notes a token in a workspace's literal summary, and whether it starts
/// a call or a lookup.
#[inline]
fn note(have: &mut [u64; 4], active: &mut u8, t: Sym) {
    let b = (t.fold & 255) as usize;
    have[b / 64] |= 1 << (b % 64);
    *active |= t.starts;
}

/// A token's bytes as cataddr's external form copies them (METAQUOTE
/// and a byte become the byte).
fn push_external(out: &mut Vec<u8>, text: &[u8]) {
    let mut i = 0;
    while i < text.len() {
        if text[i] == meta::METAQUOTE && i + 1 < text.len() {
            out.push(text[i + 1]);
            i += 2;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
}

/// stripquotes(): every unescaped `"` removed, and each `\\` escape made
/// the character it escapes.
pub fn strip_quotes(s: &[u8]) -> Vec<u8> {
    let mut out = s.to_vec();
    strip_quotes_in_place(&mut out);
    out
}

/// [`strip_quotes`] on a buffer, which only shrinks.
pub fn strip_quotes_in_place(v: &mut Vec<u8>) {
    let mut w = 0;
    let mut i = 0;
    while i < v.len() {
        let c = v[i];
        i += 1;
        if c == b'\\' {
            if i < v.len() {
                v[w] = v[i];
                w += 1;
                i += 1;
            }
            continue;
        }
        if c == b'"' {
            continue;
        }
        v[w] = c;
        w += 1;
    }
    v.truncate(w);
}
