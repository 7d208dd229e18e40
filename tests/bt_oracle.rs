//! A differential test of `mtad -bt` against the real sendmail 8.17 in
//! address test mode: many test-mode lines, made by a seeded generator from
//! what each config holds (its rulesets, mailers, maps, classes and
//! macros), are given to both, each transcript is split into one answer per
//! command (at sendmail's "> " prompt), and the answers are compared byte
//! for byte.
//!
//! Every mismatch (the input line, sendmail's answer, mtad's) goes to
//! `target/bt-oracle/mismatches.txt`; the share of identical answers is
//! printed per config and overall, and must be at least 99 %.
//!
//! Configs: the shared fixtures, the generated tests/mc/*.mc, and three
//! made here from .mc text (virtusertable, genericstable, mailertable,
//! domaintable; masquerading with a LOCAL_RULE_0; access_db, delay_checks,
//! dnsbl) with maps built by the real makemap.
//!
//! Needs root (private namespaces) and the reference sendmail that
//! ../shared/tools/install-sendmail-ref unpacks under /opt/ref; without
//! them the test says SKIPPED (and fails under `CI=true`).
//!
//! `BT_ORACLE_SEED` changes the seed, `BT_ORACLE_LINES` scales the number
//! of lines per config (percent, default 100).

use mtad_e2e::{bin, config_from_mc, generated_configs, shared_fixtures, skip, workspace};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

// ---------------------------------------------------------------------------
// A small deterministic PRNG (splitmix64).

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// 0..n
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    /// true with probability pct/100
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
    fn pick_s(&mut self, v: &[&str]) -> Vec<u8> {
        self.pick(v).as_bytes().to_vec()
    }
}

fn seed_of(name: &str) -> u64 {
    let base: u64 = std::env::var("BT_ORACLE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5e4d_6d61_696c_0817);
    // FNV-1a over the config's name: each config has its own stream.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ base;
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

// ---------------------------------------------------------------------------
// What a config holds, read from its text.

#[derive(Default, Debug)]
struct CfInfo {
    rulesets: Vec<String>,
    mailers: Vec<String>,
    maps: Vec<String>,
    classes: Vec<String>,
    macros: Vec<String>,
    w: Vec<String>,
}

/// A macro or class name after D/C/F: `x` or `{name}`.
fn name_after(rest: &str) -> Option<String> {
    let mut chars = rest.chars();
    match chars.next()? {
        '{' => rest[1..].find('}').map(|e| rest[1..1 + e].to_string()),
        c if c.is_ascii_graphic() => Some(c.to_string()),
        _ => None,
    }
}

fn scan(cf: &Path) -> CfInfo {
    let bytes = std::fs::read(cf).expect("read the .cf");
    let text = String::from_utf8_lossy(&bytes);
    let mut info = CfInfo::default();
    for line in text.lines() {
        let Some(first) = line.chars().next() else {
            continue;
        };
        let rest = &line[first.len_utf8()..];
        match first {
            'S' => {
                let name: String = rest
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '=')
                    .collect();
                if !name.is_empty() {
                    info.rulesets.push(name);
                }
            }
            'M' => {
                if let Some(name) = rest.split(',').next() {
                    let name = name.trim();
                    if !name.is_empty() {
                        info.mailers.push(name.to_string());
                    }
                }
            }
            'K' => {
                if let Some(name) = rest.split_whitespace().next() {
                    info.maps.push(name.to_string());
                }
            }
            'C' | 'F' => {
                if let Some(n) = name_after(rest) {
                    if first == 'C' && n == "w" {
                        let words = if rest.starts_with('{') {
                            ""
                        } else {
                            &rest[1..]
                        };
                        info.w.extend(words.split_whitespace().map(String::from));
                    }
                    if !info.classes.contains(&n) {
                        info.classes.push(n);
                    }
                }
            }
            'D' => {
                if let Some(n) = name_after(rest)
                    && !info.macros.contains(&n)
                {
                    info.macros.push(n);
                }
            }
            _ => {}
        }
    }
    info
}

// ---------------------------------------------------------------------------
// The generator of test-mode lines.

const LOCALS: &[&str] = &[
    "user",
    "root",
    "postmaster",
    "labuser",
    "info",
    "sales",
    "nobody",
    "abuse",
    "blocked",
    "spammer",
    "friend",
    "MAILER-DAEMON",
    "user+detail",
    "user+",
    "+detail",
    "first.last",
    "a_b",
    "x-y",
    "UsEr",
    "ROOT",
    "mail",
    "daemon",
    "uucp",
    "webmaster",
    "someone",
    "postmaster+x",
    "lab.user",
    "a",
    "Z9",
    "user+a+b",
    "o'brien",
    "x=y",
    "~tilde",
    "#hash",
    "a.b.c",
    "user.",
    ".user",
];

const LOCAL_DOMAINS: &[&str] = &[
    "localhost",
    "mail.lab.example",
    "lab.example",
    "localhost.localdomain",
    "[127.0.0.1]",
    "mail",
    "MAIL.LAB.EXAMPLE",
    "LocalHost",
    "mail.lab.example.",
    "local.lab.example",
    "Lab.Example",
];

const REMOTE_DOMAINS: &[&str] = &[
    "remote.example.com",
    "example.com",
    "example.net",
    "foo.example.net",
    "partner.example.org",
    "virtual.example.org",
    "x.blackhole.example",
    "relay.example.net",
    "host.lab.example",
    "host",
    "spam.example.com",
    "bulk.example.com",
    "catchall.example.org",
    "a.b.c.d.e.f",
    "foo.UUCP",
    "bar.BITNET",
    "old.example.com",
    "legacy.lab.example",
    "masq.example",
    "special.example",
    "sub.lab.example",
    "c",
    "[192.0.2.66]",
    "[1.2.3.4]",
    "[IPv6:::1]",
    "[IPv6:2001:db8::1]",
    "[300.1.1.1]",
    "[1.2.3]",
    "127.0.0.1",
    "x..y",
    ".lead",
    "trail.",
    "-dash.example",
    "under_score.example",
    "xn--bcher-kva.example",
    "EXAMPLE.COM",
    "sub.partner.example.org",
    "relay",
    "mx.remote.example.com",
    "Virtual.Example.Org",
    "a.example.net",
];

const HOSTS: &[&str] = &[
    "mail.lab.example",
    "mail",
    "localhost",
    "relay.example.net",
    "relay",
    "mx.remote.example.com",
    "host.lab.example",
    "host",
    "partner.example.org",
    "remote.example.com",
    "example.com",
    "c",
    "[127.0.0.1]",
    "[192.0.2.1]",
    "unknown.example.com",
    "evil.example.com",
    "spam.example.com",
    "HOST",
    "Mail.Lab.Example",
    "host.",
    "a.b",
    "",
];

const CLIENT_ADDRS: &[&str] = &[
    "127.0.0.1",
    "192.0.2.66",
    "192.0.2.99",
    "10.1.2.3",
    "IPv6:::1",
    "1.2.3.4",
    "192.0.2.1",
    "::1",
    "0.0.0.0",
    "255.255.255.255",
    "127.0.0.2",
];

const CLIENT_NAMES: &[&str] = &[
    "localhost",
    "unknown.example.com",
    "evil.example.com",
    "spam.example.com",
    "mail.lab.example",
    "partner.example.org",
    "host.lab.example",
    "[1.2.3.4]",
    "localhost.localdomain",
    "",
];

const MAP_KEYS: &[&str] = &[
    "Connect:127.0.0.1",
    "connect:127.0.0.1",
    "Connect:192.0.2.66",
    "Connect:localhost",
    "Connect:spam.example.com",
    "From:spammer@example.com",
    "from:spammer@example.com",
    "From:bulk.example.com",
    "From:friend@partner.example.org",
    "To:partner.example.org",
    "To:blocked@lab.example",
    "GreetPause:localhost",
    "ClientRate:127.0.0.1",
    "ClientConn:127.0.0.1",
    "Spam:abuse@",
    "Spam:abuse@lab.example",
    "example.net",
    ".example.net",
    "partner.example.org",
    "local.lab.example",
    ".blackhole.example",
    "x.blackhole.example",
    "info@virtual.example.org",
    "sales@virtual.example.org",
    "nobody@virtual.example.org",
    "@virtual.example.org",
    "INFO@VIRTUAL.EXAMPLE.ORG",
    "labuser",
    "root",
    "LabUser",
    "postmaster",
    "old.example.com",
    "legacy.lab.example",
    "host.lab.example",
    "relay.example.net",
    "localhost",
    "mail",
    "nosuchkey",
    "",
    "a b",
    "\"a b\"",
    "\"quoted\"",
    "1",
    "+",
    "127.0.0.1",
    "66.2.0.192",
    "{j}",
    "j",
    "{client_addr}",
    "user@lab.example",
    "lab.example",
    "virtual.example.org",
    "mail.lab.example",
];

const ONE_LETTER_MACROS: &[&str] = &[
    "j", "m", "w", "k", "_", "n", "o", "q", "l", "e", "Z", "v", "x", "a", "c", "h", "u", "z", "s",
    "r", "f", "g", "p", "y",
];

const BRACED_MACROS: &[&str] = &[
    "opMode",
    "daemon_name",
    "daemon_flags",
    "client_addr",
    "client_name",
    "client_port",
    "client_resolve",
    "if_addr",
    "mail_from",
    "mail_mailer",
    "rcpt_addr",
    "auth_type",
    "verify",
    "server_name",
    "nosuchmacro",
    "hop_count",
    "addr_type",
    "deliveryMode",
    "MTAHost",
    "Host",
    "ntries",
];

const ONE_LETTER_CLASSES: &[&str] = &[
    "w", "m", "t", "k", "e", "P", "R", "G", "M", "N", "E", "U", "V", "L", "O", "B", "Y", "D", "X",
];

fn upper(s: &[u8]) -> Vec<u8> {
    s.to_ascii_uppercase()
}

struct Gen<'a> {
    rng: Rng,
    info: &'a CfInfo,
    local_domains: Vec<String>,
}

impl<'a> Gen<'a> {
    fn new(info: &'a CfInfo, seed: u64) -> Gen<'a> {
        let mut local_domains: Vec<String> = LOCAL_DOMAINS.iter().map(|s| s.to_string()).collect();
        for w in &info.w {
            if !w.contains('$') && !local_domains.contains(w) {
                local_domains.push(w.clone());
            }
        }
        Gen {
            rng: Rng(seed),
            info,
            local_domains,
        }
    }

    fn local(&mut self) -> Vec<u8> {
        let mut l = self.rng.pick_s(LOCALS);
        if self.rng.chance(8) {
            l = upper(&l);
        }
        l
    }

    fn domain(&mut self) -> Vec<u8> {
        let mut d = if self.rng.chance(40) {
            let i = self.rng.below(self.local_domains.len());
            self.local_domains[i].as_bytes().to_vec()
        } else {
            self.rng.pick_s(REMOTE_DOMAINS)
        };
        if self.rng.chance(6) {
            d = upper(&d);
        }
        if self.rng.chance(4) {
            d.push(b'.');
        }
        d
    }

    fn eight_bit(&mut self) -> u8 {
        if self.rng.chance(70) {
            self.rng.range(0xa0, 0xfe) as u8
        } else {
            self.rng.range(0x80, 0x9f) as u8
        }
    }

    fn simple(&mut self) -> Vec<u8> {
        let mut a = self.local();
        a.push(b'@');
        a.extend(self.domain());
        a
    }

    fn long(&mut self) -> Vec<u8> {
        let mut a = Vec::new();
        match self.rng.below(6) {
            0 => {
                // 250-300 bytes, a long local part
                let n = self.rng.range(240, 290);
                while a.len() < n {
                    a.push(b"abcdefghij"[self.rng.below(10)]);
                }
                a.extend(b"@remote.example.com");
            }
            1 => {
                // 250-300 bytes, a long domain
                a.extend(b"user@");
                let n = self.rng.range(245, 295);
                while a.len() < n {
                    a.extend(b"sub.");
                }
                a.extend(b"example.com");
            }
            2 => {
                // 1000+ tokens
                let n = self.rng.range(500, 560);
                for _ in 0..n {
                    a.extend(b"a.");
                }
                a.extend(b"b@c");
            }
            3 => {
                // 1000+ specials
                let n = self.rng.range(1000, 1100);
                for _ in 0..n {
                    a.push(*self.rng.pick(b",.@:%!"));
                }
            }
            4 => {
                // a long route
                a.push(b'<');
                let n = self.rng.range(20, 60);
                for i in 0..n {
                    if i > 0 {
                        a.push(b',');
                    }
                    a.extend(format!("@h{i}.example.net").as_bytes());
                }
                a.extend(b":user@remote.example.com>");
            }
            _ => {
                // many addresses
                let n = self.rng.range(15, 40);
                for i in 0..n {
                    if i > 0 {
                        a.extend(b", ");
                    }
                    a.extend(self.simple());
                }
            }
        }
        a
    }

    fn addr(&mut self) -> Vec<u8> {
        let mut a: Vec<u8> = match self.rng.below(40) {
            0..=3 => self.local(),
            4..=10 => self.simple(),
            11 | 12 => [b"<".as_ref(), &self.simple(), b">"].concat(),
            13 => [b"\"Display Name\" <".as_ref(), &self.simple(), b">"].concat(),
            14 => [b"Display Name <".as_ref(), &self.simple(), b">"].concat(),
            15 => [self.simple(), b" (Comment)".to_vec()].concat(),
            16 => [b"(Comment) ".as_ref(), &self.simple()].concat(),
            17 => {
                let l = self.local();
                let d = self.domain();
                [l, b" (b) @ ".to_vec(), d].concat()
            }
            18 => {
                let (r1, r2, s) = (self.domain(), self.domain(), self.simple());
                [b"<@".as_ref(), &r1, b",@", &r2, b":", &s, b">"].concat()
            }
            19 => {
                let (r1, s) = (self.domain(), self.simple());
                [b"<@".as_ref(), &r1, b":", &s, b">"].concat()
            }
            20 => {
                let (l, h, d) = (self.local(), self.domain(), self.domain());
                if self.rng.chance(50) {
                    [l, b"%".to_vec(), h, b"@".to_vec(), d].concat()
                } else {
                    let h2 = self.domain();
                    [l, b"%".to_vec(), h, b"%".to_vec(), h2].concat()
                }
            }
            21 => {
                let (h, l) = (self.domain(), self.local());
                match self.rng.below(3) {
                    0 => [h, b"!".to_vec(), l].concat(),
                    1 => {
                        let h2 = self.domain();
                        [h, b"!".to_vec(), h2, b"!".to_vec(), l].concat()
                    }
                    _ => {
                        let d = self.domain();
                        [h, b"!".to_vec(), l, b"@".to_vec(), d].concat()
                    }
                }
            }
            22 => {
                let l = self.local();
                let lit = self.rng.pick_s(&[
                    "[1.2.3.4]",
                    "[127.0.0.1]",
                    "[192.0.2.66]",
                    "[IPv6:::1]",
                    "[10.0.0.1",
                    "[]",
                    "[a.b]",
                ]);
                [l, b"@".to_vec(), lit].concat()
            }
            23 => {
                let q = self.rng.pick_s(&[
                    "\"quoted local\"",
                    "\"\\\"q\\\"\"",
                    "\"a\\b\"",
                    "\"@\"",
                    "\"\"",
                    "\"a b\"",
                    "\"user@host\"",
                    "\" \"",
                    "\"<>\"",
                    "\"a,b\"",
                ]);
                let d = self.domain();
                [q, b"@".to_vec(), d].concat()
            }
            24 => {
                let (l, d1, d2) = (self.local(), self.domain(), self.domain());
                [l, b"@".to_vec(), d1, b"@".to_vec(), d2].concat()
            }
            25 => {
                let (a, b) = (self.simple(), self.simple());
                match self.rng.below(3) {
                    0 => [b"list: ".as_ref(), &a, b", ", &b, b";"].concat(),
                    1 => b"undisclosed-recipients:;".to_vec(),
                    _ => [b"group:".as_ref(), &a, b";"].concat(),
                }
            }
            26 => {
                let n = self.rng.range(2, 6);
                let mut v = Vec::new();
                for i in 0..n {
                    if i > 0 {
                        v.extend(b", ");
                    }
                    v.extend(self.addr_plain());
                }
                v
            }
            27 => self.rng.pick_s(&[
                "", " ", "   ", "\t", " \t ", "<>", "< >", "<@>", "@", ":;", "::", "()", "\"\"",
            ]),
            28 | 29 => {
                let s = self.simple();
                let kind = self.rng.below(10);
                match kind {
                    0 => [b"<".to_vec(), s].concat(),
                    1 => [s, b">".to_vec()].concat(),
                    2 => [b"(".to_vec(), s].concat(),
                    3 => [s, b")".to_vec()].concat(),
                    4 => [b"\"".to_vec(), s].concat(),
                    5 => [b"<<".to_vec(), s, b">>".to_vec()].concat(),
                    6 => [b"<".to_vec(), s, b">>".to_vec()].concat(),
                    7 => [s, b"\\".to_vec()].concat(),
                    8 => [b"a (b".to_vec(), s].concat(),
                    _ => [s, b" \"x".to_vec()].concat(),
                }
            }
            30 => self.rng.pick_s(&[
                "a\\@b",
                "\\a@b",
                "a\\\\b@c",
                "\\\\",
                "\\",
                "user\\@remote.example.com",
                "\\\"q\\\"@lab.example",
                "a\\ b@c",
                "a@b\\.c",
                "<a\\>@b>",
            ]),
            31 | 32 => self.long(),
            33 => {
                let n = self.rng.range(3, 30);
                let mut v = b",".repeat(n);
                if self.rng.chance(50) {
                    v = [self.simple(), v, self.simple()].concat();
                }
                v
            }
            34 | 35 => {
                // 8-bit bytes
                let mut s = self.simple();
                let n = self.rng.range(1, 3);
                for _ in 0..n {
                    let at = self.rng.below(s.len() + 1);
                    let b = self.eight_bit();
                    s.insert(at, b);
                }
                s
            }
            36 => {
                let (a, b) = (self.simple(), self.simple());
                match self.rng.below(3) {
                    0 => [a, b" $| ".to_vec(), b].concat(),
                    1 => b"$|".to_vec(),
                    _ => [b"$| ".to_vec(), a].concat(),
                }
            }
            37 => self.rng.pick_s(&[
                "@lab.example",
                "user@",
                "@",
                "a:b",
                "user@lab.example.",
                "user@.lab.example",
                "user @ localhost",
                "a . b @ c . d",
                "$x",
                "$#local",
                "$@",
                "$:",
                "$*",
                "user@$j",
                "<user@localhost>,",
                ",user",
                "user;",
                "a<b>c",
                "<a><b>",
            ]),
            _ => self.local(),
        };
        // mutations
        if self.rng.chance(6) {
            let c = self.rng.pick_s(&[
                "<", ">", "(", ")", "\"", "\\", ",", ";", ":", "@", "!", "%", "[", "]", "$", "|",
            ]);
            let at = self.rng.below(a.len() + 1);
            a.splice(at..at, c);
        }
        if self.rng.chance(3) {
            let b = self.eight_bit();
            let at = self.rng.below(a.len() + 1);
            a.insert(at, b);
        }
        if self.rng.chance(3) {
            a.extend(self.rng.pick_s(&[" ", "  ", "\t", " \t"]));
        }
        a
    }

    fn addr_plain(&mut self) -> Vec<u8> {
        match self.rng.below(3) {
            0 => self.local(),
            1 => self.simple(),
            _ => [b"<".as_ref(), &self.simple(), b">"].concat(),
        }
    }

    fn has(&self, rs: &str) -> bool {
        self.info.rulesets.iter().any(|r| r == rs)
    }

    fn check_line(&mut self) -> Vec<u8> {
        let checks: Vec<String> = self
            .info
            .rulesets
            .iter()
            .filter(|r| {
                r.starts_with("check_")
                    || r.starts_with("Basic_check")
                    || r.starts_with("Local_check")
                    || r.starts_with("tls_")
                    || r.starts_with("srv_")
                    || r.starts_with("clt_")
                    || r.starts_with("try_tls")
                    || r.contains("trust_auth")
                    || r.contains("greet_pause")
                    || r.starts_with("ConnControl")
                    || r.starts_with("ConnRate")
                    || *r == "RateControl"
                    || *r == "Translate"
                    || *r == "DelayTLS"
                    || *r == "LookUpDomain"
                    || *r == "LookUpAddress"
                    || *r == "SearchList"
                    || *r == "TLS_connection"
                    || r.starts_with("A_")
                    || r.starts_with("D_")
                    || r.contains("Relay")
                    || r.contains("relay")
                    || r.contains("Auth")
            })
            .cloned()
            .collect();
        if checks.is_empty() {
            return [b"3,0 ".to_vec(), self.addr()].concat();
        }
        let name = if self.rng.chance(40) && self.has("check_rcpt") {
            "check_rcpt".to_string()
        } else if self.rng.chance(30) && self.has("check_mail") {
            "check_mail".to_string()
        } else if self.rng.chance(30) && self.has("check_relay") {
            "check_relay".to_string()
        } else {
            self.rng.pick(&checks).clone()
        };
        let arg = if name.contains("relay")
            || name.contains("Relay")
            || name.contains("Conn")
            || name.contains("Rate")
            || name.contains("greet")
        {
            let n = self.rng.pick_s(CLIENT_NAMES);
            let a = self.rng.pick_s(CLIENT_ADDRS);
            [n, b" $| ".to_vec(), a].concat()
        } else if name.contains("compat")
            || name.contains("LookUp")
            || name.contains("tls")
            || name.contains("TLS")
            || name.contains("auth")
            || name.contains("Auth")
            || name.contains("SearchList")
            || name.starts_with("A_")
            || name.starts_with("D_")
        {
            let (a, b) = (self.addr(), self.addr());
            [a, b" $| ".to_vec(), b].concat()
        } else if self.rng.chance(70) {
            [b"<".as_ref(), &self.simple(), b">"].concat()
        } else {
            self.addr()
        };
        [name.into_bytes(), b" ".to_vec(), arg].concat()
    }

    fn ruleset_list(&mut self) -> Vec<u8> {
        let named = &self.info.rulesets;
        let mut v: Vec<u8> = match self.rng.below(12) {
            0..=5 => b"3,0".to_vec(),
            6 => self.rng.pick_s(&[
                "0", "3", "3,1", "3,2", "3,4", "3,0,4", "3,1,4", "3,2,4", "3,3", "1", "2", "4",
                "5", "3,5",
            ]),
            7 => b"canonify,parse".to_vec(),
            8 if !named.is_empty() => {
                let r = self.rng.pick(named).clone();
                format!("3,{r}").into_bytes()
            }
            9 if !named.is_empty() => self.rng.pick(named).clone().into_bytes(),
            10 => self.rng.pick_s(&[
                "99",
                "3,nosuchruleset",
                "3,,0",
                "3 ,0",
                "3,0,",
                ",0",
                "300",
                "-1",
                "3,0,3,0,3,0",
            ]),
            _ => b"3,0".to_vec(),
        };
        v.push(b' ');
        v
    }

    fn line(&mut self) -> Vec<u8> {
        let r = self.rng.below(1000);
        match r {
            0..=349 => {
                let rs = self.ruleset_list();
                [rs, self.addr()].concat()
            }
            350..=499 => [b"/parse ".to_vec(), self.addr()].concat(),
            500..=589 => {
                let mut mailers: Vec<String> = self.info.mailers.clone();
                mailers.push("nosuchmailer".into());
                let m = if self.rng.chance(40) && mailers.iter().any(|m| m == "esmtp") {
                    "esmtp".to_string()
                } else {
                    self.rng.pick(&mailers).clone()
                };
                [
                    b"/try ".to_vec(),
                    m.into_bytes(),
                    b" ".to_vec(),
                    self.addr(),
                ]
                .concat()
            }
            590..=629 => [
                b"/tryflags ".to_vec(),
                self.rng.pick_s(&[
                    "es", "er", "hs", "hr", "ES", "HR", "s", "e", "h", "r", "x", "", "eshr", "HS",
                ]),
            ]
            .concat(),
            630..=659 => {
                let mut h = self.rng.pick_s(HOSTS);
                if self.rng.chance(10) {
                    h = self.addr();
                }
                [b"/canon ".to_vec(), h].concat()
            }
            660..=719 => {
                let mut maps = self.info.maps.clone();
                maps.push("nosuchmap".into());
                let m = self.rng.pick(&maps).clone();
                let key = if self.rng.chance(70) {
                    self.rng.pick_s(MAP_KEYS)
                } else if self.rng.chance(50) {
                    self.addr()
                } else {
                    self.domain()
                };
                let key = if self.rng.chance(8) { upper(&key) } else { key };
                [b"/map ".to_vec(), m.into_bytes(), b" ".to_vec(), key].concat()
            }
            720..=789 => self.query(),
            790..=839 => self.define(),
            840..=929 => self.check_line(),
            930..=954 => {
                let mut v = b"=S".to_vec();
                match self.rng.below(8) {
                    0 => v.extend(self.rng.pick_s(&[
                        "nosuch",
                        "999",
                        "",
                        " canonify",
                        "0",
                        "3",
                        "98",
                        "canonify junk",
                    ])),
                    _ if !self.info.rulesets.is_empty() => {
                        let r = self.rng.pick(&self.info.rulesets).clone();
                        v.extend(r.as_bytes())
                    }
                    _ => v.extend(b"0"),
                }
                v
            }
            955..=964 => self.rng.pick_s(&[
                "=M",
                "=X",
                "=",
                "?",
                "#comment",
                "",
                "   ",
                "-d0.0",
                "/",
                "/nosuchcommand x",
            ]),
            965..=974 => [b"/mx ".to_vec(), self.rng.pick_s(HOSTS)].concat(),
            975..=984 => {
                // other slash commands
                match self.rng.below(4) {
                    0 => [
                        b"/expand ".to_vec(),
                        self.rng.pick_s(&[
                            "$j",
                            "$w",
                            "${client_addr}",
                            "$m.$j",
                            "$=w",
                            "${nosuch}",
                            "a$?jyes$|no$.",
                            "$&j",
                        ]),
                    ]
                    .concat(),
                    1 => [b"/sender ".to_vec(), self.addr()].concat(),
                    2 => b"/parse".to_vec(),
                    _ => b"/try".to_vec(),
                }
            }
            _ => {
                // something odd at the start of a line
                let mut v = self
                    .rng
                    .pick_s(&["3,0", "/parse", "/try esmtp", "check_rcpt"]);
                v.push(b' ');
                let b = self.eight_bit();
                v.push(b);
                v.extend(self.simple());
                if self.rng.chance(30) {
                    // a line longer than sendmail's buffer
                    let n = self.rng.range(2100, 2400);
                    while v.len() < n {
                        v.extend(b"x.");
                    }
                }
                v
            }
        }
    }

    fn query(&mut self) -> Vec<u8> {
        match self.rng.below(10) {
            0..=2 if !self.info.macros.is_empty() => {
                let m = self.rng.pick(&self.info.macros).clone();
                macro_ref(b'$', &m)
            }
            3 => {
                let m = self.rng.pick(ONE_LETTER_MACROS).to_string();
                macro_ref(b'$', &m)
            }
            4 => {
                let m = self.rng.pick(BRACED_MACROS).to_string();
                macro_ref(b'$', &m)
            }
            5..=7 if !self.info.classes.is_empty() => {
                let c = self.rng.pick(&self.info.classes).clone();
                [b"$=".to_vec(), macro_name(&c)].concat()
            }
            8 => {
                let c = self.rng.pick(ONE_LETTER_CLASSES).to_string();
                [b"$=".to_vec(), macro_name(&c)].concat()
            }
            _ => self.rng.pick_s(&[
                "$",
                "$=",
                "${",
                "${}",
                "$={",
                "$={}",
                "$=w junk",
                "$j junk",
                "${j}",
                "$ j",
                "$={w}",
                "$={VirtHost}",
                "$={nosuch}",
                "${client_addr",
                "$$",
                "$=$",
            ]),
        }
    }

    fn define(&mut self) -> Vec<u8> {
        match self.rng.below(12) {
            0..=2 => [b".D{client_addr}".to_vec(), self.rng.pick_s(CLIENT_ADDRS)].concat(),
            3 | 4 => [b".D{client_name}".to_vec(), self.rng.pick_s(CLIENT_NAMES)].concat(),
            5 => [
                b".D{mail_from}".to_vec(),
                [b"<".as_ref(), &self.simple(), b">"].concat(),
            ]
            .concat(),
            6 => [
                b".D{client_resolve}".to_vec(),
                self.rng.pick_s(&["OK", "FAIL", "FORGED", "TEMP", ""]),
            ]
            .concat(),
            7 => [
                b".D".to_vec(),
                self.rng.pick_s(&[
                    "{auth_authen}",
                    "{verify}",
                    "{daemon_flags}",
                    "{client_port}",
                    "{auth_type}",
                    "{rcpt_mailer}",
                    "{mail_mailer}",
                    "{mail_host}",
                    "{mail_addr}",
                    "{cert_subject}",
                ]),
                self.rng.pick_s(&[
                    "OK",
                    "FAIL",
                    "user",
                    "esmtp",
                    "local",
                    "12345",
                    "",
                    "lab.example",
                    "c u",
                ]),
            ]
            .concat(),
            8 => [b".Cw ".to_vec(), self.domain()].concat(),
            9 => [
                b".C{".to_vec(),
                self.rng
                    .pick_s(&["VirtHost", "G", "R", "E", "M", "nosuchclass", "w"]),
                b"} ".to_vec(),
                self.domain(),
            ]
            .concat(),
            10 => self.rng.pick_s(&[
                ".D",
                ".C",
                ".X",
                ".Dx",
                ".D{",
                ".D{x",
                ".Dxvalue with spaces",
                ".D{}v",
                ".Cw",
                ".C{w}",
            ]),
            _ => [
                b".D{".to_vec(),
                self.rng.pick_s(&["x", "mtad_test", "j", "opMode", "Host"]),
                b"}".to_vec(),
                self.domain(),
            ]
            .concat(),
        }
    }
}

/// How a macro or class name is written after `$`/`$=`.
fn macro_name(n: &str) -> Vec<u8> {
    if n.len() == 1 {
        n.as_bytes().to_vec()
    } else {
        format!("{{{n}}}").into_bytes()
    }
}

fn macro_ref(dollar: u8, n: &str) -> Vec<u8> {
    [vec![dollar], macro_name(n)].concat()
}

/// Macros whose value changes from run to run (the date and time).
fn volatile_query(line: &[u8]) -> bool {
    let v: &[&[u8]] = &[
        b"$b", b"$d", b"$t", b"${b}", b"${d}", b"${t}", b"${time}", b"$a", b"${a}", b"$i", b"${i}",
    ];
    v.contains(&line)
}

fn generate(info: &CfInfo, seed: u64, n: usize) -> Vec<Vec<u8>> {
    let mut g = Gen::new(info, seed);
    let mut lines = Vec::with_capacity(n);
    while lines.len() < n {
        let l = g.line();
        // no line ends inside a line; dates differ from run to run
        if l.iter().any(|&b| b == b'\n' || b == b'\r' || b == 0) || volatile_query(&l) {
            continue;
        }
        lines.push(l);
    }
    // `-d21.12` traces every rule tried, matched and rewritten, and stays
    // on: at the end only. (`-d` alone would switch on every category of
    // sendmail's debugging, whose output is sendmail's internals.)
    lines.extend([
        b"-d21.12".to_vec(),
        b"3,0 user@localhost".to_vec(),
        b"/parse <user@remote.example.com>".to_vec(),
    ]);
    lines
}

/// Where the extra configs and their maps go: beside the report when no
/// directory above it is group- or world-writable (sendmail refuses maps
/// there as unsafe, whatever the sticky bit says), else a private
/// directory under /var/lib (a checkout under /tmp, as CI's may be).
fn safe_extra_dir(out_dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let beside = out_dir.join("extra");
    let unsafe_above = out_dir
        .ancestors()
        .any(|d| std::fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o022 != 0));
    if !unsafe_above {
        return beside;
    }
    let dir = PathBuf::from(format!("/var/lib/mtad-bt-oracle-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a private map directory");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    dir
}

// ---------------------------------------------------------------------------
// Running both, and splitting a transcript into answers.

fn run(program: &Path, pre: &[&Path], cf: &Path, input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(program)
        .args(pre)
        .arg(cf)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    let mut all = out.stdout;
    all.extend(out.stderr);
    all
}

/// Splits at the prompts: a "> " at the start of a line (repeated for a
/// command that printed nothing). Answer 0 is what came before the first
/// prompt (the banner and load warnings).
fn split(out: &[u8]) -> Vec<Vec<u8>> {
    let mut answers: Vec<Vec<u8>> = vec![Vec::new()];
    let mut at_start = true;
    let mut i = 0;
    while i < out.len() {
        if at_start && out[i..].starts_with(b"> ") {
            answers.push(Vec::new());
            i += 2;
            continue;
        }
        if at_start && &out[i..] == b">" {
            answers.push(Vec::new());
            break;
        }
        let b = out[i];
        answers.last_mut().unwrap().push(b);
        at_start = b == b'\n';
        i += 1;
    }
    answers
}

fn is_state(line: &[u8]) -> bool {
    line.starts_with(b".") || line.starts_with(b"/tryflags")
}

struct Sides<'a> {
    sm_bt: &'a Path,
    mtad_bt: &'a Path,
    mtad: &'a Path,
}

impl Sides<'_> {
    fn sendmail(&self, cf: &Path, input: &[u8]) -> Vec<u8> {
        run(self.sm_bt, &[], cf, input)
    }
    fn mtad(&self, cf: &Path, input: &[u8]) -> Vec<u8> {
        run(self.mtad_bt, &[self.mtad], cf, input)
    }
}

/// The answers of both to each line of `lines`, asked after `state` (the
/// state lines, .D, .C and /tryflags, of the lines before): (sendmail's,
/// mtad's). When a transcript does not split into one answer per line (a
/// line longer than sendmail's buffer is read as two, say), the lines are
/// asked in halves until the line is alone; its answer is then all that
/// follows the state lines' prompts, up to the last prompt.
fn answers(
    sides: &Sides,
    cf: &Path,
    state: &[Vec<u8>],
    lines: &[Vec<u8>],
    desyncs: &mut usize,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    // /expand prints its answer without a newline, so the prompt after it
    // is not at the start of a line: such a line is asked alone.
    let alone = |l: &Vec<u8>| l.starts_with(b"/expand");
    if let Some(i) = lines.iter().position(alone)
        && lines.len() > 1
    {
        let mut got = Vec::new();
        let mut st = state.to_vec();
        for part in [&lines[..i], &lines[i..=i], &lines[i + 1..]] {
            if !part.is_empty() {
                got.extend(answers(sides, cf, &st, part, desyncs));
                st.extend(part.iter().filter(|l| is_state(l)).cloned());
            }
        }
        return got;
    }
    let input: Vec<u8> = state
        .iter()
        .chain(lines)
        .flat_map(|l| [l.as_slice(), b"\n"].concat())
        .collect();
    let sm = split(&sides.sendmail(cf, &input));
    let mt = split(&sides.mtad(cf, &input));
    let (k, n) = (state.len(), lines.len());
    if sm.len() == k + n + 2 && mt.len() == k + n + 2 && !lines.iter().any(alone) {
        return (k + 1..=k + n)
            .map(|i| (sm[i].clone(), mt[i].clone()))
            .collect();
    }
    if n == 1 {
        *desyncs += 1;
        let tail = |parts: &[Vec<u8>]| -> Vec<u8> {
            // up to the last prompt, if it is at the start of a line
            let end = if parts.len() > k + 2 {
                parts.len() - 1
            } else {
                parts.len()
            };
            let mut t = Vec::new();
            for (i, p) in parts.iter().enumerate().take(end).skip(k + 1) {
                if i > k + 1 {
                    t.extend(b"> ");
                }
                t.extend(p);
            }
            t
        };
        return vec![(tail(&sm), tail(&mt))];
    }
    let mid = n / 2;
    let mut got = answers(sides, cf, state, &lines[..mid], desyncs);
    let mut state2 = state.to_vec();
    state2.extend(lines[..mid].iter().filter(|l| is_state(l)).cloned());
    got.extend(answers(sides, cf, &state2, &lines[mid..], desyncs));
    got
}

// ---------------------------------------------------------------------------
// The report.

fn escape(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        match c {
            b'\n' | b'\t' | 0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02X}")),
        }
    }
    s
}

fn indent(b: &[u8]) -> String {
    let text = escape(b);
    if text.is_empty() {
        return "    (nothing)\n".into();
    }
    let mut s = String::new();
    for l in text.split_inclusive('\n') {
        s.push_str("    | ");
        s.push_str(l);
    }
    if !s.ends_with('\n') {
        s.push_str("\u{23CE}(no newline)\n");
    }
    s
}

fn first_diff(a: &[u8], b: &[u8]) -> String {
    let la: Vec<&[u8]> = a.split(|&c| c == b'\n').collect();
    let lb: Vec<&[u8]> = b.split(|&c| c == b'\n').collect();
    for i in 0..la.len().max(lb.len()) {
        let x = la.get(i).copied();
        let y = lb.get(i).copied();
        if x != y {
            return format!(
                "  first difference, line {}:\n    sendmail: {}\n    mtad:     {}\n",
                i + 1,
                x.map_or("(none)".into(), escape),
                y.map_or("(none)".into(), escape)
            );
        }
    }
    String::new()
}

fn kind(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(line);
    let w = s.split([' ', '\t']).next().unwrap_or("");
    if w.starts_with(".D") {
        ".D".into()
    } else if w.starts_with(".C") {
        ".C".into()
    } else if w.starts_with("$=") {
        "$=X".into()
    } else if w.starts_with('$') {
        "$x".into()
    } else if w.starts_with("=S") {
        "=S".into()
    } else if w.starts_with('/') {
        w.chars().take(16).collect()
    } else if w.is_empty() {
        "(blank)".into()
    } else if ["check_mail", "check_rcpt", "check_relay"].contains(&w) {
        w.into()
    } else if w.starts_with(['=', '?', '-', '#', '.']) {
        w.chars().take(2).collect()
    } else {
        "RULESETS address".into()
    }
}

struct Tally {
    total: usize,
    same: usize,
}

// ---------------------------------------------------------------------------
// Extra configs, made here.

const MAPS_DIR_TOKEN: &str = "@MAPS@";

fn extra_mcs() -> Vec<(&'static str, String)> {
    let head = "divert(0)dnl\n\
        VERSIONID(`mtad bt_oracle NAME.mc')dnl\n\
        define(`MAIL_SETTINGS_DIR', `/opt/ref/sendmail-etc/')dnl\n\
        OSTYPE(`linux')dnl\n\
        DOMAIN(`generic')dnl\n\
        define(`confDEF_USER_ID', `mail:mail')dnl\n";
    let tail = "MAILER(`local')dnl\nMAILER(`smtp')dnl\n";
    vec![
        (
            "oracle-tables",
            format!(
                "{head}FEATURE(`use_cw_file')dnl\n\
                 FEATURE(`virtusertable', `hash {m}/virtusertable')dnl\n\
                 VIRTUSER_DOMAIN(`virtual.example.org')dnl\n\
                 FEATURE(`genericstable', `hash {m}/genericstable')dnl\n\
                 GENERICS_DOMAIN(`lab.example mail.lab.example')dnl\n\
                 FEATURE(`mailertable', `hash {m}/mailertable')dnl\n\
                 FEATURE(`domaintable', `hash {m}/domaintable')dnl\n\
                 FEATURE(`always_add_domain')dnl\n\
                 {tail}",
                m = MAPS_DIR_TOKEN
            ),
        ),
        (
            "oracle-masq",
            format!(
                "{head}FEATURE(`use_cw_file')dnl\n\
                 MASQUERADE_AS(`masq.example')dnl\n\
                 MASQUERADE_DOMAIN(`lab.example')dnl\n\
                 MASQUERADE_EXCEPTION(`sub.lab.example')dnl\n\
                 EXPOSED_USER(`root')dnl\n\
                 FEATURE(`allmasquerade')dnl\n\
                 FEATURE(`masquerade_envelope')dnl\n\
                 FEATURE(`masquerade_entire_domain')dnl\n\
                 FEATURE(`genericstable', `hash {m}/genericstable')dnl\n\
                 LOCAL_RULE_0\n\
                 R$* < @ special . example . > $*\t$#local $: special-$1\n\
                 R$* < @ $* . special . example . > $*\t$#esmtp $@ [relay.example.net] $: $1 < @ $2 . special . example >\n\
                 LOCAL_RULE_3\n\
                 R$* < @ legacy . lab . example > $*\t$1 < @ lab . example > $2\n\
                 {tail}",
                m = MAPS_DIR_TOKEN
            ),
        ),
        (
            "oracle-antispam",
            format!(
                "{head}FEATURE(`use_cw_file')dnl\n\
                 FEATURE(`access_db', `hash -T<TMPF> {m}/access')dnl\n\
                 FEATURE(`delay_checks')dnl\n\
                 FEATURE(`dnsbl', `bl.example.org', `\"550 Rejected: \" $&{{client_addr}} \" listed\"')dnl\n\
                 FEATURE(`blocklist_recipients')dnl\n\
                 FEATURE(`relay_entire_domain')dnl\n\
                 FEATURE(`badmx')dnl\n\
                 RELAY_DOMAIN(`partner.example.org')dnl\n\
                 {tail}",
                m = MAPS_DIR_TOKEN
            ),
        ),
    ]
}

/// The map sources: the shared fixture's, and a domaintable.
fn build_maps(dir: &Path, fixtures: &Path) -> Result<(), String> {
    let makemap = PathBuf::from("/opt/ref/sendmail/usr/sbin/makemap");
    if !makemap.exists() {
        return Err(format!("{} is missing", makemap.display()));
    }
    let mut sources: Vec<(String, Vec<u8>)> = Vec::new();
    for name in ["access", "genericstable", "mailertable", "virtusertable"] {
        let mut text =
            std::fs::read(fixtures.join("maps").join(name)).map_err(|e| format!("{name}: {e}"))?;
        if name == "access" {
            text.extend(
                b"Connect:10.1.2.3\t\tOK\nFrom:lab.example\t\tRELAY\nTo:remote.example.com\tREJECT\n\
                  Spam:friend@\t\tFRIEND\nblocked@\t\tREJECT\nTo:sales@\t\tERROR:550 no sales\n",
            );
        }
        sources.push((name.to_string(), text));
    }
    sources.push((
        "domaintable".into(),
        b"old.example.com\tnew.example.com\nlegacy.lab.example\tlab.example\nexample.com\texample.net\n".to_vec(),
    ));
    for (name, text) in sources {
        let path = dir.join(&name);
        let mut child = Command::new(&makemap)
            .args(["-C", "/dev/null", "hash"])
            .arg(&path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("makemap: {e}"))?;
        child.stdin.take().unwrap().write_all(&text).unwrap();
        let out = child.wait_with_output().unwrap();
        if !out.status.success() {
            return Err(format!(
                "makemap {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------

fn tools() -> Option<(PathBuf, PathBuf)> {
    let sm_bt = workspace().join("../shared/tools/sm-bt");
    let mtad_bt = workspace().join("tests/tools/mtad-bt");
    let sendmail = std::env::var_os("SM_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/ref/sendmail"))
        .join("usr/libexec/sendmail/sendmail");
    let mut missing = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        missing.push("root".to_string());
    }
    for p in [&sm_bt, &mtad_bt, &sendmail] {
        if !p.exists() {
            missing.push(p.display().to_string());
        }
    }
    if !missing.is_empty() {
        skip(&format!(
            "the -bt differential test needs {}",
            missing.join(", ")
        ));
        return None;
    }
    Some((sm_bt, mtad_bt))
}

fn target_dir() -> PathBuf {
    // target/<profile>/deps/bt_oracle-xxxx
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent()?.parent()?.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| workspace().join("target"))
}

#[test]
fn bt_answers_match_sendmail() {
    let Some((sm_bt, mtad_bt)) = tools() else {
        return;
    };
    let Some(fixtures) = shared_fixtures() else {
        skip("the shared fixtures (../shared/fixtures/sendmail-cf) are missing");
        return;
    };
    let started = Instant::now();
    let mtad = bin("mtad");
    let sides = Sides {
        sm_bt: &sm_bt,
        mtad_bt: &mtad_bt,
        mtad: &mtad,
    };
    let scale: usize = std::env::var("BT_ORACLE_LINES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);

    // The configs, with how many lines each gets.
    let mut configs: Vec<(String, PathBuf, usize)> = Vec::new();
    for name in [
        "generic",
        "debian-like",
        "hardened",
        "nullclient",
        "smarthost",
        "milter",
        "daemon-2525",
    ] {
        let cf = fixtures.join(format!("{name}.cf"));
        if cf.exists() {
            configs.push((format!("fixture/{name}"), cf, 400));
        }
    }
    for cf in generated_configs() {
        let name = cf.file_stem().unwrap().to_string_lossy().into_owned();
        configs.push((format!("mc/{name}"), cf.clone(), 140));
    }
    // The maps and configs made here stay beside the report, to replay by
    // hand (not in /tmp: sendmail refuses a map below a world-writable
    // directory).
    let out_dir = target_dir().join("bt-oracle");
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir).expect("create target/bt-oracle");
    let extra_dir = safe_extra_dir(&out_dir);
    std::fs::create_dir_all(&extra_dir).expect("create the extra configs' directory");
    match build_maps(&extra_dir, &fixtures) {
        Ok(()) => {
            for (name, mc) in extra_mcs() {
                let mc = mc
                    .replace(MAPS_DIR_TOKEN, &extra_dir.display().to_string())
                    .replace("NAME", name);
                let cf = config_from_mc(&extra_dir, name, &mc);
                configs.push((format!("extra/{name}"), cf, 350));
            }
        }
        Err(e) => skip(&format!("the extra configs need makemap: {e}")),
    }

    let mut report = String::new();
    let mut per_kind: BTreeMap<String, Tally> = BTreeMap::new();
    let mut per_config: Vec<(String, Tally, usize)> = Vec::new();
    let mut total = Tally { total: 0, same: 0 };
    let mut not_loaded = Vec::new();

    for (name, cf, n) in &configs {
        // It must load in sendmail to count.
        let banner = sides.sendmail(cf, b"");
        if !banner.windows(17).any(|w| w == b"ADDRESS TEST MODE") {
            not_loaded.push(format!(
                "{name}: {}",
                String::from_utf8_lossy(&banner).trim()
            ));
            continue;
        }
        // Saved beside the report, to replay by hand.
        let _ = std::fs::copy(cf, out_dir.join(format!("{}.cf", name.replace('/', "_"))));
        let info = scan(cf);
        let lines = generate(&info, seed_of(name), n * scale / 100);
        let mut input_file = Vec::new();
        for l in &lines {
            input_file.extend(l);
            input_file.push(b'\n');
        }
        std::fs::write(
            out_dir.join(format!("{}.in", name.replace('/', "_"))),
            &input_file,
        )
        .unwrap();

        let mut tally = Tally { total: 0, same: 0 };
        let mut desyncs = 0;
        for (c, chunk) in lines.chunks(250).enumerate() {
            // Each chunk starts afresh: the state lines (.D, .C, /tryflags)
            // of the chunks before it are given again.
            let prior: Vec<Vec<u8>> = lines[..c * 250]
                .iter()
                .filter(|l| is_state(l))
                .cloned()
                .collect();
            let got = answers(&sides, cf, &prior, chunk, &mut desyncs);
            for (i, (l, (s, m))) in chunk.iter().zip(&got).enumerate() {
                let k = per_kind
                    .entry(kind(l))
                    .or_insert(Tally { total: 0, same: 0 });
                k.total += 1;
                tally.total += 1;
                if s == m {
                    k.same += 1;
                    tally.same += 1;
                } else {
                    report.push_str(&format!(
                        "=== {name} line {} [{}]\n> {}\n  sendmail:\n{}  mtad:\n{}{}\n",
                        c * 250 + i + 1,
                        kind(l),
                        escape(l),
                        indent(s),
                        indent(m),
                        first_diff(s, m)
                    ));
                }
            }
        }
        total.total += tally.total;
        total.same += tally.same;
        per_config.push((name.clone(), tally, desyncs));
    }

    let share = |t: &Tally| {
        if t.total == 0 {
            100.0
        } else {
            100.0 * t.same as f64 / t.total as f64
        }
    };
    let mut summary = String::new();
    summary.push_str("per config (identical / answers):\n");
    for (name, t, d) in &per_config {
        summary.push_str(&format!(
            "  {name:28} {:5} / {:5}  {:6.2}%{}\n",
            t.same,
            t.total,
            share(t),
            if *d > 0 {
                format!("  ({d} line(s) asked alone)")
            } else {
                String::new()
            }
        ));
    }
    for n in &not_loaded {
        summary.push_str(&format!("  not loaded by sendmail, left out: {n}\n"));
    }
    summary.push_str("per command kind:\n");
    for (k, t) in &per_kind {
        summary.push_str(&format!(
            "  {k:28} {:5} / {:5}  {:6.2}%\n",
            t.same,
            t.total,
            share(t)
        ));
    }
    summary.push_str(&format!(
        "overall: {} / {} identical answers, {:.2}% ({:.1} s)\n",
        total.same,
        total.total,
        share(&total),
        started.elapsed().as_secs_f64()
    ));
    if !extra_dir.starts_with(&out_dir) {
        let _ = std::fs::remove_dir_all(&extra_dir);
    }
    let file = out_dir.join("mismatches.txt");
    std::fs::write(&file, format!("{summary}\n{report}")).expect("write the mismatches");
    eprintln!("{summary}mismatches: {}", file.display());
    assert!(total.total > 0, "no answers were compared");
    assert!(
        share(&total) >= 99.0,
        "only {:.2}% of the -bt answers are sendmail's (at least 99% wanted); see {}",
        share(&total),
        file.display()
    );
}
