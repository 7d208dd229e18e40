//! The seeded generator of test-mode lines: a small PRNG (splitmix64) and
//! the kinds of line it writes, from what a config holds.

use super::config_info::CfInfo;
use super::corpus::*;

pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// 0..n
    pub(super) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    pub(super) fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    /// true with probability pct/100
    pub(super) fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
    pub(super) fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
    pub(super) fn pick_s(&mut self, v: &[&str]) -> Vec<u8> {
        self.pick(v).as_bytes().to_vec()
    }
}

pub(super) fn seed_of(name: &str) -> u64 {
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

pub(super) fn upper(s: &[u8]) -> Vec<u8> {
    s.to_ascii_uppercase()
}

pub(super) struct Gen<'a> {
    rng: Rng,
    info: &'a CfInfo,
    local_domains: Vec<String>,
}

impl<'a> Gen<'a> {
    pub(super) fn new(info: &'a CfInfo, seed: u64) -> Gen<'a> {
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

    pub(super) fn local(&mut self) -> Vec<u8> {
        let mut l = self.rng.pick_s(LOCALS);
        if self.rng.chance(8) {
            l = upper(&l);
        }
        l
    }

    pub(super) fn domain(&mut self) -> Vec<u8> {
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

    pub(super) fn eight_bit(&mut self) -> u8 {
        if self.rng.chance(70) {
            self.rng.range(0xa0, 0xfe) as u8
        } else {
            self.rng.range(0x80, 0x9f) as u8
        }
    }

    pub(super) fn simple(&mut self) -> Vec<u8> {
        let mut a = self.local();
        a.push(b'@');
        a.extend(self.domain());
        a
    }

    pub(super) fn long(&mut self) -> Vec<u8> {
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

    pub(super) fn addr(&mut self) -> Vec<u8> {
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

    pub(super) fn addr_plain(&mut self) -> Vec<u8> {
        match self.rng.below(3) {
            0 => self.local(),
            1 => self.simple(),
            _ => [b"<".as_ref(), &self.simple(), b">"].concat(),
        }
    }

    pub(super) fn has(&self, rs: &str) -> bool {
        self.info.rulesets.iter().any(|r| r == rs)
    }

    pub(super) fn check_line(&mut self) -> Vec<u8> {
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

    pub(super) fn ruleset_list(&mut self) -> Vec<u8> {
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

    pub(super) fn line(&mut self) -> Vec<u8> {
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

    pub(super) fn query(&mut self) -> Vec<u8> {
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

    pub(super) fn define(&mut self) -> Vec<u8> {
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
pub(super) fn macro_name(n: &str) -> Vec<u8> {
    if n.len() == 1 {
        n.as_bytes().to_vec()
    } else {
        format!("{{{n}}}").into_bytes()
    }
}

pub(super) fn macro_ref(dollar: u8, n: &str) -> Vec<u8> {
    [vec![dollar], macro_name(n)].concat()
}

/// Macros whose value changes from run to run (the date and time).
pub(super) fn volatile_query(line: &[u8]) -> bool {
    let v: &[&[u8]] = &[
        b"$b", b"$d", b"$t", b"${b}", b"${d}", b"${t}", b"${time}", b"$a", b"${a}", b"$i", b"${i}",
    ];
    v.contains(&line)
}

pub(super) fn generate(info: &CfInfo, seed: u64, n: usize) -> Vec<Vec<u8>> {
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
