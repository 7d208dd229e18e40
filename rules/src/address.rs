//! From an address to what a mailer gets, as parseaddr.c does it:
//! parseaddr() (prescan, rulesets 3 and 0), buildaddr() (the `$#` triple
//! into mailer, host and user, then rulesets 2, the mailer's R= and 4),
//! remotename() (the rewriting a mailer's S= or R= gives an address), and
//! crackaddr() (the address part of a header value replaced by `$g`).

use crate::meta;
use crate::prescan::{self, MAXATOM, Scan, Table};
use crate::report::{Kind, Message, enhanced_len};
use crate::rewrite::{Call, EX_OK, EX_TEMPFAIL, EX_UNAVAILABLE, strip_quotes};
use crate::symbols::Sym;
use cfparser::model::Mailer;

/// sendmail's MAXNAME: the host and user buffers of buildaddr.
const MAXNAME: usize = 256;

/// Which address is being rewritten (sendmail's RF_ flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    pub sender: bool,
    pub header: bool,
}

/// What buildaddr() made of a `$#` triple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// The mailer's name (`*error*` for the error mailer).
    pub mailer: String,
    pub host: Option<Vec<u8>>,
    pub user: Vec<u8>,
    /// The exit status the triple means (error mailer), EX_OK otherwise.
    pub status: i32,
    /// The DSN status of an error triple (`5.1.1`).
    pub dsn: Option<String>,
    /// Whether the address could not be used (sendmail's QS_BADADDR).
    pub bad: bool,
    /// Whether it is to be queued (a temporary failure).
    pub queue: bool,
}

impl Address {
    fn bad(mailer: &str) -> Address {
        Address {
            mailer: mailer.into(),
            host: None,
            user: Vec::new(),
            status: EX_UNAVAILABLE,
            dsn: None,
            bad: true,
            queue: false,
        }
    }
}

/// The error mailer's exit status words (ErrorCodes in parseaddr.c).
fn error_code(word: &[u8]) -> i32 {
    match word.to_ascii_lowercase().as_slice() {
        b"usage" => 64,
        b"nouser" => 67,
        b"nohost" => 68,
        b"unavailable" => 69,
        b"software" => 70,
        b"tempfail" => 75,
        b"protocol" => 76,
        b"config" => 78,
        _ => EX_UNAVAILABLE,
    }
}

/// dsntoexitstat(): the exit status a DSN code means.
fn dsn_to_exit(dsn: &[u8]) -> i32 {
    let s = String::from_utf8_lossy(dsn);
    let mut parts = s.split('.');
    let class = parts.next().unwrap_or("");
    let subject: i32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let detail: i32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    if class == "2" {
        return EX_OK;
    }
    if class == "4" {
        return EX_TEMPFAIL;
    }
    match (subject, detail) {
        (1, 0) => 65,
        (1, 1) => 67,
        (1, 2) | (1, 5) => 68,
        (1, 3) | (1, 4) => 65,
        (2, _) => 69,
        (3, 4) => 65,
        (3, 5) => 78,
        (3, _) => 70,
        (4, 4) => 68,
        (4, _) => 76,
        (5, _) => 76,
        (6, _) => 65,
        (7, _) => 77,
        _ => EX_UNAVAILABLE,
    }
}

/// hasctrlchar() on the user part parseaddr() resolved: a control
/// character outside quotes, a trailing backslash or an unbalanced quote
/// is refused (each bad byte shown as `?`); the reason, as sendmail 8.17
/// words it, or None.
pub fn control_character(user: &mut [u8]) -> Option<&'static str> {
    let mut quoted = false;
    let mut why = None;
    let mut i = 0;
    while i < user.len() {
        let c = user[i];
        if !quoted && (c < 32 || c == 127) {
            why = Some("non-printable character");
            user[i] = b'?';
            i += 1;
            continue;
        }
        if c == b'"' {
            quoted = !quoted;
        } else if c == b'\\' {
            if i + 1 >= user.len() {
                why = Some("trailing \\ character");
                user[i] = b'?';
                break;
            }
            i += 1;
        }
        i += 1;
    }
    if quoted {
        why = Some("unbalanced quote");
    }
    why
}

/// The ruleset number a mailer's S= or R= names (0 when unset).
pub fn mailer_ruleset(call: &Call<'_, '_>, m: &Mailer, sender: bool, header: bool) -> usize {
    let pair = if sender {
        &m.sender_rulesets
    } else {
        &m.recipient_rulesets
    };
    let Some(p) = pair else {
        return 0;
    };
    let name = if header {
        p.header.as_deref().unwrap_or(&p.envelope)
    } else {
        &p.envelope
    };
    call.engine.rules.find(name).unwrap_or(0)
}

impl Call<'_, '_> {
    /// crackaddr() with the config's MustQuoteChars and ColonOkInAddr.
    pub fn crackaddr(&self, addr: &[u8]) -> Vec<u8> {
        let r = &self.engine.rules;
        crate::crack::crackaddr(addr, &r.must_quote, r.colon_ok)
    }

    fn usrerr(&mut self, text: &[u8], to: Option<&[u8]>) {
        self.env.say(Message::new(Kind::User, text, to));
    }

    /// parseaddr(): an address as a recipient (or sender) is parsed:
    /// prescan with the external table, invalidaddr, rulesets 3 and 0,
    /// then buildaddr. `None` where sendmail returns NULL.
    pub fn parse_address(&mut self, addr: &[u8], flags: Flags) -> Option<Address> {
        self.parse_address_to(addr, flags, 0).0
    }

    /// parseaddr() on the address at the start of `addr` that ends at
    /// `delim` outside quotes, comments and brackets (`b' '` for an SMTP
    /// argument followed by ESMTP parameters; 0 for none), and where it
    /// ended. Complaints about the syntax name the whole text, those of
    /// the rules the address alone (sendmail's RF_COPYPADDR).
    pub fn parse_address_to(
        &mut self,
        addr: &[u8],
        flags: Flags,
        delim: u8,
    ) -> (Option<Address>, usize) {
        let mut msgs = Vec::new();
        let mut toks = std::mem::take(&mut *self.tokens);
        let mut scan = Scan::new(Table::External);
        scan.delim = delim;
        let r = prescan::prescan(&self.engine.rules.tables, addr, scan, &mut toks, &mut msgs);
        let end = r.end.min(addr.len());
        for m in msgs {
            self.env.say(m);
        }
        if !r.ok {
            *self.tokens = toks;
            return (None, end);
        }
        let mut ws: Vec<Sym> = toks.iter().map(|t| self.syms.intern(t)).collect();
        *self.tokens = toks;
        let mut checked = addr[..end].to_vec();
        let mut msgs = Vec::new();
        let invalid = prescan::invalid_address(&mut checked, !flags.sender, &mut msgs);
        for mut m in msgs {
            if m.to.is_none() {
                m.to = Some(addr.to_vec());
            }
            self.env.say(m);
        }
        if invalid {
            return (None, end);
        }
        let addr = &addr[..end];
        let mut queue = false;
        if self.rewrite(&mut ws, 3, 0, MAXATOM) == EX_TEMPFAIL {
            queue = true;
        }
        if self.rewrite(&mut ws, 0, 0, MAXATOM) == EX_TEMPFAIL {
            queue = true;
        }
        let mut a = self.build_address(&ws, flags, addr);
        if !a.bad && a.mailer != "*error*" {
            let mut user = a.user.clone();
            if let Some(why) = control_character(&mut user) {
                let code = if flags.sender {
                    "501 5.1.7"
                } else {
                    "501 5.1.3"
                };
                let mut text = format!("{code} Syntax error in mailbox address \"").into_bytes();
                text.extend_from_slice(&user);
                text.extend_from_slice(format!("\" ({why})").as_bytes());
                self.usrerr(&text, None);
                a.bad = true;
                return (Some(a), end);
            }
        }
        // A recipient's queue group: ruleset queuegroup on the user, with
        // complaints suppressed (rscap()).
        if !a.bad
            && !flags.sender
            && !flags.header
            && let Some(&rs) = self.engine.rules.names.get("queuegroup")
        {
            let was = self.env.quiet;
            self.env.quiet = true;
            let user = a.user.clone();
            if let Some(mut q) = self.scan(&user, Table::Internal, false) {
                self.rewrite(&mut q, rs, 0, crate::prescan::PSBUFSIZE);
            }
            self.env.quiet = was;
        }
        if !a.bad && queue {
            let msg = b"050 Transient parse error -- message queued for future delivery";
            self.usrerr(msg, Some(addr));
            a.queue = true;
            a.dsn = Some("4.4.3".into());
        }
        (Some(a), end)
    }

    /// buildaddr(): the triple at the start of `tv` into an address.
    pub fn build_address(&mut self, tv: &[Sym], flags: Flags, to: &[u8]) -> Address {
        let text = |c: &Call<'_, '_>, i: usize| -> Vec<u8> { c.syms.text(tv[i]).to_vec() };
        if tv.is_empty() || self.syms.text(tv[0]).first() != Some(&meta::CANONNET) {
            self.syserr("554 5.3.5 buildaddr: no mailer in parsed address");
            return Address::bad("*error*");
        }
        let mut i = 1;
        let mname = if i < tv.len() {
            text(self, i)
        } else {
            Vec::new()
        };
        i += 1;
        let mut hostp: Option<usize> = None;
        if i < tv.len() && self.syms.text(tv[i]) == [meta::CANONHOST] {
            i += 1;
            hostp = Some(i);
        }
        while i < tv.len() && self.syms.text(tv[i]) != [meta::CANONUSER] {
            i += 1;
        }
        if i >= tv.len() {
            self.syserr("554 5.3.5 buildaddr: no user");
            return Address::bad("*error*");
        }
        let host: Option<Vec<u8>> = match hostp {
            Some(h) if h == i => None,
            Some(h) => Some(self.cataddr(&tv[h..i], 0, MAXNAME + 1, true)),
            None => None,
        };
        let user_toks = &tv[i + 1..];
        let ubuf = self.cataddr(user_toks, b' ', MAXNAME + 2, false);
        if mname.eq_ignore_ascii_case(b"error") {
            let mut a = Address::bad("*error*");
            a.user = ubuf.clone();
            a.host = host.clone();
            match &host {
                Some(h) if h.contains(&b'.') => {
                    a.dsn = Some(String::from_utf8_lossy(h).into_owned());
                    a.status = dsn_to_exit(h);
                }
                Some(h) if h.first().is_some_and(u8::is_ascii_digit) => {
                    a.status = String::from_utf8_lossy(h)
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect::<String>()
                        .parse()
                        .unwrap_or(0);
                }
                Some(h) => a.status = error_code(h),
                None => a.status = EX_UNAVAILABLE,
            }
            let u = strip_quotes(&ubuf);
            let is_code = u.len() >= 4
                && (b'2'..=b'5').contains(&u[0])
                && u[1].is_ascii_digit()
                && u[2].is_ascii_digit()
                && u[3] == b' ';
            if is_code {
                let code = &u[..3];
                let rest = &u[4..];
                let mut line = code.to_vec();
                line.push(b' ');
                match enhanced_len(rest) {
                    Some(l) if rest.get(l) == Some(&b' ') || rest.len() == l => {
                        line.extend_from_slice(rest);
                    }
                    _ => {
                        if let Some(h) = &host
                            && enhanced_len(h) == Some(h.len())
                        {
                            line.extend_from_slice(h);
                            line.push(b' ');
                        }
                        line.extend_from_slice(rest);
                    }
                }
                self.usrerr(&line, Some(to));
                if u[0] == b'4' {
                    a.queue = true;
                    a.bad = false;
                }
            } else {
                let mut line = b"553 5.3.0 ".to_vec();
                line.extend_from_slice(&u);
                self.usrerr(&line, Some(to));
            }
            return a;
        }
        let config = &self.engine.config;
        let Some(m) = config
            .mailers
            .iter()
            .find(|m| m.name.as_bytes().eq_ignore_ascii_case(&mname))
        else {
            self.syserr(&format!(
                "554 5.3.5 buildaddr: unknown mailer {}",
                String::from_utf8_lossy(&mname)
            ));
            return Address::bad("*error*");
        };
        if host.is_none() && !m.has_flag('l') {
            self.syserr("554 5.3.5 buildaddr: no host");
            return Address::bad("*error*");
        }
        let mut mailer = m;
        let mut start = 0usize;
        let mut p: &[u8] = &ubuf;
        if m.has_flag('@') && p.first() == Some(&b'@') {
            p = &p[1..];
            start = 1;
        }
        if p.first() == Some(&b'"') {
            p = &p[1..];
        }
        let builtin = |name: &str| config.mailers.iter().find(|m| m.name == name);
        if p.first() == Some(&b'|') && m.has_flag('|') {
            mailer = builtin("prog").unwrap_or(m);
        } else if p.first() == Some(&b'/') && m.has_flag('/') {
            mailer = builtin("*file*").unwrap_or(m);
        } else if p.first() == Some(&b':') && m.has_flag(':') {
            let s = strip_quotes(&ubuf);
            if s.len() >= 9 && s[..9].eq_ignore_ascii_case(b":include:") {
                return Address {
                    mailer: "*include*".into(),
                    host,
                    user: s[9..].to_vec(),
                    status: EX_OK,
                    dsn: None,
                    bad: false,
                    queue: false,
                };
            }
        }
        match &host {
            Some(h) => self.env.macros.set(b"h", h),
            None => self.env.macros.unset(b"h"),
        }
        let mut ws: Vec<Sym> = user_toks[start.min(user_toks.len())..].to_vec();
        let maxatom = MAXATOM.saturating_sub(4);
        if self.engine.rules.level >= 10 || !(flags.sender || flags.header) {
            self.rewrite(&mut ws, 2, 0, maxatom);
            let r = mailer_ruleset(self, mailer, false, false);
            if r > 0 {
                self.rewrite(&mut ws, r, 0, maxatom);
            }
        }
        self.rewrite(&mut ws, 4, 0, maxatom);
        let mut user = self.cataddr(&ws, 0, MAXNAME + 2, true);
        let mut host = host;
        if let Some(h) = &mut host
            && !mailer.has_flag('h')
        {
            h.make_ascii_lowercase();
        }
        if !mailer.has_flag('u') {
            user.make_ascii_lowercase();
        }
        Address {
            mailer: mailer.name.clone(),
            host,
            user,
            status: EX_OK,
            dsn: None,
            bad: false,
            queue: false,
        }
    }

    /// remotename(): an address as mailer `m` gets it, in the envelope or
    /// a header, as sender or recipient. The status is 75 when a lookup
    /// failed temporarily.
    pub fn remote_name(&mut self, name: &[u8], m: &Mailer, flags: Flags) -> (Vec<u8>, i32) {
        let mut status = EX_OK;
        let rwset = mailer_ruleset(self, m, flags.sender, flags.header);
        let addr_type = [
            if flags.header { b'h' } else { b'e' },
            b' ',
            if flags.sender { b's' } else { b'r' },
        ];
        self.env.macros.set(b"addr_type", &addr_type);
        let fancy: Vec<u8> = if m.has_flag('c') {
            vec![meta::MACROEXPAND, b'g']
        } else {
            self.crackaddr(name)
        };
        let Some(mut ws) = self.scan(name, Table::External, false) else {
            // sendmail gives back the name, cut to MAXNAME if prescan cut it.
            let keep = if self.last_cut {
                name.len().min(MAXNAME)
            } else {
                name.len()
            };
            return (name[..keep].to_vec(), status);
        };
        if ws.is_empty() {
            return (name.to_vec(), status);
        }
        if self.rewrite(&mut ws, 3, 0, MAXATOM) == EX_TEMPFAIL {
            status = EX_TEMPFAIL;
        }
        let second = if flags.sender { 1 } else { 2 };
        if self.rewrite(&mut ws, second, 0, MAXATOM) == EX_TEMPFAIL {
            status = EX_TEMPFAIL;
        }
        if rwset > 0 && self.rewrite(&mut ws, rwset, 0, MAXATOM) == EX_TEMPFAIL {
            status = EX_TEMPFAIL;
        }
        if self.rewrite(&mut ws, 4, 0, MAXATOM) == EX_TEMPFAIL {
            status = EX_TEMPFAIL;
        }
        let lbuf = self.cataddr(&ws, 0, MAXNAME + 1, false);
        // The frame is expanded with $g the rewritten address, as sendmail
        // does: bytes of the address that are macro codes act as such.
        let old_g = self.env.macros.get(b"g").map(<[u8]>::to_vec);
        self.env.macros.set(b"g", &lbuf);
        let out = crate::expand::expand(self.env.macros, &fancy, MAXNAME + 1);
        match old_g {
            Some(g) => self.env.macros.set(b"g", &g),
            None => self.env.macros.unset(b"g"),
        }
        (out, status)
    }

    /// setsender(): the envelope sender as sendmail takes it: parsed as
    /// a sender (an unusable one replaced by the user's own name, then
    /// `$n`, then postmaster, with the complaints suppressed), then
    /// rewritten by rulesets 3, 1 and 4 into `$f`. Returns the parsed
    /// address (`/sender` prints its user).
    pub fn set_sender(&mut self, from: &[u8], user_name: &[u8]) -> Option<Address> {
        self.set_sender_to(from, user_name, 0).0
    }

    /// [`Call::set_sender`] on the address at the start of `from` that
    /// ends at `delim` (as [`Call::parse_address_to`]), and where it ended.
    pub fn set_sender_to(
        &mut self,
        from: &[u8],
        user_name: &[u8],
        delim: u8,
    ) -> (Option<Address>, usize) {
        self.env.macros.set(b"x", b"");
        self.env.macros.set(b"addr_type", b"e s");
        let flags = Flags {
            sender: true,
            header: false,
        };
        let usable = |a: &Option<Address>| {
            a.as_ref().is_some_and(|a| {
                !a.bad && !matches!(a.mailer.as_str(), "prog" | "*file*" | "*include*")
            })
        };
        let (mut a, end) = self.parse_address_to(from, flags, delim);
        let from = &from[..end];
        let mut used = from.to_vec();
        if !usable(&a) {
            if a.as_ref().is_some_and(|a| !a.bad) {
                self.usrerr(b"553 5.1.7 Invalid sender address", Some(from));
            }
            let was = self.env.quiet;
            self.env.quiet = true;
            a = None;
            if from != user_name {
                used = user_name.to_vec();
                a = self.parse_address(user_name, flags);
            }
            if a.is_none() {
                used = self.env.macros.get(b"n").unwrap_or(b"").to_vec();
                let plain = Flags::default();
                a = self.parse_address(&used.clone(), plain);
                if a.is_none() {
                    used = b"postmaster".to_vec();
                    a = self.parse_address(b"postmaster", plain);
                }
            }
            self.env.quiet = was;
        }
        let Some(mut ws) = self.scan(&used, Table::Internal, false) else {
            return (a, end);
        };
        self.rewrite(&mut ws, 3, 0, MAXATOM);
        self.rewrite(&mut ws, 1, 0, MAXATOM);
        self.rewrite(&mut ws, 4, 0, MAXATOM);
        self.env.macros.unset(b"addr_type");
        let mut f = self.cataddr(&ws, 0, MAXNAME, false);
        let mailer = a
            .as_ref()
            .and_then(|a| self.engine.config.mailer(&a.mailer))
            .cloned();
        if f.first() == Some(&b'@') && !mailer.as_ref().is_some_and(|m| m.has_flag('<')) {
            f.insert(0, b'<');
            f.push(b'>');
        }
        self.env.macros.set(b"f", &f);
        if mailer.as_ref().is_some_and(|m| m.has_flag('C')) {
            self.env.macros.set(b"addr_type", b"e s");
            self.rewrite(&mut ws, 3, 0, MAXATOM);
            self.rewrite(&mut ws, 1, 0, MAXATOM);
            self.rewrite(&mut ws, 4, 0, MAXATOM);
            self.env.macros.unset(b"addr_type");
        }
        (a, end)
    }
}

#[cfg(test)]
mod tests {
    use super::control_character;

    fn check(s: &[u8]) -> (Option<&'static str>, Vec<u8>) {
        let mut v = s.to_vec();
        let why = control_character(&mut v);
        (why, v)
    }

    #[test]
    fn control_characters_as_hasctrlchar_sees_them() {
        assert_eq!(check(b"a@b"), (None, b"a@b".to_vec()));
        assert_eq!(
            check(b"a\x07b@c"),
            (Some("non-printable character"), b"a?b@c".to_vec())
        );
        // Quoted, a control character is a literal.
        assert_eq!(check(b"\"a\x1bb\"@c").0, None);
        assert_eq!(check(b"\"a@c").0, Some("unbalanced quote"));
        assert_eq!(
            check(b"a\\"),
            (Some("trailing \\ character"), b"a?".to_vec())
        );
        assert_eq!(check(b"a\\\"b@c").0, None, "an escaped quote");
    }
}
