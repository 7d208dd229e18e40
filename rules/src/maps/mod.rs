//! K lines: the maps a config declares, opened when first used, asked as
//! sendmail's map_lookup() asks them (parseaddr.c) and answered by their
//! class's lookup (map.c), with the common flags of map_parseargs().
//!
//! A lookup returns a value or nothing, and a status: EX_OK, EX_NOTFOUND
//! for some classes' misses, EX_TEMPFAIL when the answer cannot be had now
//! (which `-T` and the rules turn into a 4xx). A map that cannot be opened
//! is, as in sendmail, either silently empty (`-o`) or answers every
//! lookup with a temporary failure, never a quiet "not found".

mod db;
mod simple;
mod text;

pub use simple::passwd_ids;

use crate::env::Env;
use crate::report::{Kind, Message};
use crate::rewrite::{EX_OK, EX_TEMPFAIL, strip_quotes_in_place};
use cfparser::Config;
use cfparser::model::MapDecl;
use rustc_hash::FxHashMap;
use std::sync::Mutex;

/// The common flags of a K line (map_parseargs).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub optional: bool,
    pub try_without_nul: bool,
    pub try_with_nul: bool,
    pub no_fold: bool,
    pub match_only: bool,
    pub keep_quotes: bool,
    pub no_defer: bool,
    pub defer: bool,
    pub append_values: bool,
    pub app: Option<Vec<u8>>,
    pub tempfail_app: Option<Vec<u8>>,
    pub space_sub: u8,
    pub key_col: Option<Vec<u8>>,
    pub val_col: Option<Vec<u8>>,
    pub col_delim: u8,
    pub timeout: Option<Vec<u8>>,
    /// Flags a class reads itself (`-R` of dns, `-s` of regex, …).
    pub other: Vec<(u8, Vec<u8>)>,
}

/// map_parseargs(): the flags, then the file, then the rest.
pub fn parse_args(raw: &[u8], space_sub: u8, own: &[u8]) -> (Flags, Option<Vec<u8>>, Vec<u8>) {
    let mut f = Flags {
        try_without_nul: true,
        try_with_nul: true,
        space_sub,
        ..Flags::default()
    };
    let mut p = 0usize;
    let sp = |c: u8| c.is_ascii_whitespace() || c == 0x0b;
    loop {
        while p < raw.len() && sp(raw[p]) {
            p += 1;
        }
        if p >= raw.len() || raw[p] != b'-' {
            break;
        }
        p += 1;
        let flag = raw.get(p).copied().unwrap_or(0);
        p += 1;
        let word_end = |from: usize| {
            let mut e = from;
            while e < raw.len() && !sp(raw[e]) {
                e += 1;
            }
            e
        };
        let arg = |from: usize| raw[from.min(raw.len())..word_end(from)].to_vec();
        let skip_blanks_arg = |p: &mut usize| {
            while *p < raw.len() && sp(raw[*p]) {
                *p += 1;
            }
            raw[*p..word_end(*p)].to_vec()
        };
        match flag {
            // dns_map_parseargs() lets blanks stand between -R, -B or -Z
            // and their argument.
            b'R' | b'B' | b'Z' if own.contains(&flag) => {
                let a = skip_blanks_arg(&mut p);
                f.other.push((flag, a));
            }
            _ if own.contains(&flag) => {
                let a = arg(p);
                f.other.push((flag, a));
            }
            b'A' => f.append_values = true,
            b'a' => f.app = Some(arg(p)),
            b'D' => f.defer = true,
            b'd' => f.timeout = Some(arg(p)),
            b'f' => f.no_fold = true,
            b'k' => f.key_col = Some(skip_blanks_arg(&mut p)),
            b'm' => f.match_only = true,
            b'N' => f.try_without_nul = false,
            b'O' => f.try_with_nul = false,
            b'o' => f.optional = true,
            b'q' => f.keep_quotes = true,
            b'S' => f.space_sub = raw.get(p).copied().unwrap_or(0),
            b'T' => f.tempfail_app = Some(arg(p)),
            b't' => f.no_defer = true,
            b'v' => f.val_col = Some(skip_blanks_arg(&mut p)),
            b'z' => {
                f.col_delim = match (raw.get(p), raw.get(p + 1)) {
                    (Some(b'\\'), Some(b'n')) => b'\n',
                    (Some(b'\\'), Some(b't')) => b'\t',
                    (Some(b'\\'), _) => b'\\',
                    (Some(&c), _) => c,
                    (None, _) => 0,
                }
            }
            other => f.other.push((other, arg(p))),
        }
        p = word_end(p);
    }
    let file = if p < raw.len() {
        let e = {
            let mut e = p;
            while e < raw.len() && !sp(raw[e]) {
                e += 1;
            }
            e
        };
        let w = raw[p..e].to_vec();
        p = e;
        Some(w)
    } else {
        None
    };
    while p < raw.len() && sp(raw[p]) {
        p += 1;
    }
    (f, file, raw[p..].to_vec())
}

/// What a class lookup gives: the raw value (before `%n` and `-a`), or
/// nothing, and a status.
#[derive(Debug, Clone)]
pub struct Answer {
    pub value: Option<Vec<u8>>,
    pub status: i32,
}

impl Answer {
    pub fn found(v: Vec<u8>) -> Answer {
        Answer {
            value: Some(v),
            status: EX_OK,
        }
    }
    pub fn miss(status: i32) -> Answer {
        Answer {
            value: None,
            status,
        }
    }
}

/// What a map's class does.
pub trait Class: Send + Sync {
    /// Opens the map (files, sockets). `Err` is sendmail's syserr text,
    /// or `None` for a failure it does not report.
    fn open(&self, _map: &MapInfo) -> Result<(), Option<String>> {
        Ok(())
    }
    /// Looks `key` up; `args` are `%0`..`%9` (the key first).
    fn lookup(
        &self,
        map: &MapInfo,
        key: &[u8],
        args: &[&[u8]],
        cx: &mut LookupCx<'_, '_>,
    ) -> Answer;
    /// Whether values go through map_rewrite() (`%n`, `-a`).
    fn rewrites(&self) -> bool {
        true
    }
}

/// A map's declaration, as its class sees it.
#[derive(Debug, Clone)]
pub struct MapInfo {
    pub name: String,
    pub class: String,
    pub flags: Flags,
    pub file: Option<Vec<u8>>,
    pub rest: Vec<u8>,
    pub line: usize,
}

/// What a class lookup may use besides its own state.
pub struct LookupCx<'a, 'e> {
    pub maps: &'a Maps,
    pub env: &'a mut Env<'e>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenState {
    Closed,
    Open,
    /// Failed with `-o`: every lookup misses, nothing is said.
    Invalid,
    /// Failed without `-o`: every lookup is a temporary failure.
    Bogus,
}

pub struct Map {
    pub info: MapInfo,
    class: Box<dyn Class>,
    state: Mutex<(OpenState, bool, bool)>,
}

/// The maps of one config, by name.
pub struct Maps {
    by_name: FxHashMap<Vec<u8>, usize>,
    list: Vec<Map>,
}

impl std::fmt::Debug for Maps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.list.iter().map(|m| &m.info.name))
            .finish()
    }
}

/// A problem with a K line found when the config is compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapProblem {
    pub line: usize,
    pub message: String,
}

impl Maps {
    /// The maps of a config. Classes mtad does not have (ldap, nis,
    /// hesiod, …) are reported and answer every lookup with a temporary
    /// failure.
    pub fn from_config(config: &Config) -> (Maps, Vec<MapProblem>) {
        let mut maps = Maps {
            by_name: FxHashMap::default(),
            list: Vec::new(),
        };
        let mut problems = Vec::new();
        let switch_file = config
            .text("ServiceSwitchFile")
            .unwrap_or_else(|| "/etc/mail/service.switch".into());
        for decl in config.maps.values() {
            match build(decl, &switch_file) {
                Ok(m) => maps.insert(m),
                Err(failed) => {
                    let (m, why) = *failed;
                    problems.push(MapProblem {
                        line: decl.line,
                        message: why,
                    });
                    maps.insert(m);
                }
            }
        }
        if maps.find(b"host").is_none() {
            // conf.c: the default host map is `host host -a. -D`.
            let (flags, file, rest) = parse_args(b"-a. -D", 0, b"");
            maps.insert(Map::new(
                MapInfo {
                    name: "host".into(),
                    class: "host".into(),
                    flags,
                    file,
                    rest,
                    line: 0,
                },
                Box::new(simple::Host::default()),
            ));
        }
        (maps, problems)
    }

    fn insert(&mut self, m: Map) {
        let name = m.info.name.as_bytes().to_vec();
        match self.by_name.get(&name) {
            Some(&i) => self.list[i] = m,
            None => {
                self.by_name.insert(name, self.list.len());
                self.list.push(m);
            }
        }
    }

    pub fn find(&self, name: &[u8]) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    pub fn info(&self, i: usize) -> &MapInfo {
        &self.list[i].info
    }

    /// The space substitute a lookup's key is joined with.
    pub fn space_sub(&self, i: usize) -> u8 {
        self.list[i].info.flags.space_sub
    }

    /// openmap(): opens the map if it is not open yet; false when it
    /// cannot be used at all (`-o` and a failure).
    pub fn open(&self, i: usize, env: &mut Env<'_>) -> bool {
        let map = &self.list[i];
        let mut st = map.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.0 == OpenState::Closed {
            st.0 = match map.class.open(&map.info) {
                Ok(()) => OpenState::Open,
                Err(why) => {
                    if map.info.flags.optional {
                        OpenState::Invalid
                    } else {
                        if let Some(w) = why {
                            env.say(Message::new(Kind::System, w.as_bytes(), None));
                        }
                        OpenState::Bogus
                    }
                }
            };
        }
        st.0 != OpenState::Invalid
    }

    /// The class lookup alone, as `/map` calls it: no quote stripping, no
    /// `-T`.
    pub fn class_lookup(
        &self,
        i: usize,
        key: &[u8],
        args: &[&[u8]],
        env: &mut Env<'_>,
    ) -> (Option<Vec<u8>>, i32) {
        let map = &self.list[i];
        let state = map.state.lock().unwrap_or_else(|e| e.into_inner()).0;
        match state {
            OpenState::Invalid | OpenState::Closed => return (None, EX_OK),
            OpenState::Bogus => return (None, EX_TEMPFAIL),
            OpenState::Open => {}
        }
        // %0 is the key, %1.. the arguments (at most nine of them).
        let mut av: [&[u8]; 10] = [&[]; 10];
        av[0] = key;
        let n = args.len().min(9);
        av[1..=n].copy_from_slice(&args[..n]);
        let all = &av[..=n];
        let mut cx = LookupCx { maps: self, env };
        let a = map.class.lookup(&map.info, key, all, &mut cx);
        let value = match a.value {
            Some(v) if map.class.rewrites() => {
                if map.info.flags.match_only {
                    Some(map_rewrite(&map.info.flags, key, None))
                } else {
                    Some(rewrite_value(&map.info.flags, v, all))
                }
            }
            v => v,
        };
        (value, a.status)
    }

    /// parseaddr.c's map_lookup(): opens the map, strips quotes from the
    /// key unless `-q`, asks the class, and on a temporary failure returns
    /// the key with `-T`'s text.
    pub fn lookup(
        &self,
        i: usize,
        key: &mut Vec<u8>,
        args: &[&[u8]],
        env: &mut Env<'_>,
    ) -> (Option<Vec<u8>>, i32) {
        if !self.open(i, env) {
            return (None, EX_OK);
        }
        let info = &self.list[i].info;
        if env.defer && info.flags.defer {
            return (None, EX_TEMPFAIL);
        }
        if !info.flags.keep_quotes && key.iter().any(|&c| c == b'"' || c == b'\\') {
            strip_quotes_in_place(key);
        }
        let (value, status) = self.class_lookup(i, key, args, env);
        let mut rstat = EX_OK;
        if status == EX_TEMPFAIL && !info.flags.no_defer {
            rstat = EX_TEMPFAIL;
            if env.message.is_none() {
                let mut m = format!("{:.80} map: lookup (", info.name).into_bytes();
                m.extend_from_slice(&crate::report::shorten(key));
                m.extend_from_slice(b"): deferred");
                env.message = Some(m);
            }
        }
        if status == EX_TEMPFAIL
            && let Some(t) = &info.flags.tempfail_app
        {
            let mut v = key.clone();
            v.extend_from_slice(t);
            return (Some(v), rstat);
        }
        (value, rstat)
    }
}

impl Map {
    fn new(info: MapInfo, class: Box<dyn Class>) -> Map {
        Map {
            info,
            class,
            state: Mutex::new((OpenState::Closed, true, true)),
        }
    }
}

/// map_rewrite() on a value the class just made: kept as it is when it
/// has no `%`, no NUL and no `-a` to take.
fn rewrite_value(flags: &Flags, v: Vec<u8>, args: &[&[u8]]) -> Vec<u8> {
    if flags.app.is_none() && !v.iter().any(|&c| c == b'%' || c == 0) {
        return v;
    }
    map_rewrite(flags, &v, Some(args))
}

/// map_rewrite(): `%0`..`%9` replaced by the key and arguments (`%%` is
/// `%`), then `-a`'s text appended. Without arguments the value is taken
/// as it is.
pub fn map_rewrite(flags: &Flags, s: &[u8], args: Option<&[&[u8]]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 16);
    match args {
        None => out.extend_from_slice(s),
        Some(av) => {
            let mut i = 0;
            while i < s.len() && s[i] != 0 {
                let c = s[i];
                i += 1;
                if c != b'%' {
                    out.push(c);
                    continue;
                }
                let d = if i < s.len() && s[i] != 0 {
                    i += 1;
                    s[i - 1]
                } else {
                    b'%'
                };
                if d == b'%' {
                    out.push(b'%');
                    continue;
                }
                if !d.is_ascii_digit() {
                    out.push(b'%');
                    out.push(d);
                    continue;
                }
                if let Some(a) = av.get((d - b'0') as usize) {
                    out.extend_from_slice(a);
                }
            }
        }
    }
    if let Some(a) = &flags.app {
        out.extend_from_slice(a);
    }
    out
}

fn build(decl: &MapDecl, switch_file: &str) -> Result<Map, Box<(Map, String)>> {
    let mut raw: Vec<u8> = Vec::new();
    for f in &decl.flags {
        if !raw.is_empty() {
            raw.push(b' ');
        }
        raw.push(b'-');
        raw.extend(crate::compile::latin1(&f.flag.to_string()));
        raw.extend(crate::compile::latin1(&f.arg));
    }
    for a in &decl.args {
        if !raw.is_empty() {
            raw.push(b' ');
        }
        raw.extend(crate::compile::latin1(a));
    }
    let class = decl.class.as_str();
    // Classes that leave the space substitute unset (0 = BlankSub at
    // lookup time) unless -S gives one.
    let space = match class {
        "host" | "dequote" | "macro" | "arith" | "arpa" | "regex" | "dns" | "sequence" => 0,
        _ => b' ',
    };
    let own: &[u8] = match class {
        "dns" => b"RBZr",
        "regex" => b"bnsdl",
        _ => b"",
    };
    let (mut flags, file, rest) = parse_args(&raw, space, own);
    if class == "dequote" {
        // MF_KEEPQUOTES: the quotes are what it is asked to remove.
        flags.keep_quotes = true;
    }
    let info = MapInfo {
        name: decl.name.clone(),
        class: decl.class.clone(),
        flags,
        file,
        rest,
        line: decl.line,
    };
    let imp: Box<dyn Class> = match class {
        "hash" | "btree" => Box::new(db::Db::new(class)),
        "text" => Box::new(text::Text),
        "null" => Box::new(simple::Null),
        // implicit: sendmail tries the hash database, then dbm; mtad
        // reads the hash database (dbm files are not made by Debian's
        // makemap).
        "implicit" => Box::new(db::Db::new("hash")),
        "stab" => Box::new(simple::Implicit::new(class)),
        "host" => Box::new(simple::Host::default()),
        "arith" => Box::new(simple::Arith),
        "macro" => Box::new(simple::MacroMap),
        "dequote" => Box::new(simple::Dequote),
        "arpa" => Box::new(simple::Arpa),
        "syslog" => Box::new(simple::Syslog),
        "sequence" => Box::new(simple::Sequence),
        "switch" => Box::new(simple::Switch::new(switch_file)),
        "bestmx" => Box::new(simple::BestMx),
        "dns" => Box::new(simple::Dns),
        "user" => Box::new(simple::User),
        "regex" => match simple::Regex::new(&info) {
            Ok(r) => Box::new(r),
            Err(e) => {
                let why = format!("regex map {}: {e}", decl.name);
                return Err(Box::new((
                    Map::new(info, Box::new(simple::Unavailable)),
                    why,
                )));
            }
        },
        "program" => Box::new(simple::Program),
        "socket" => Box::new(simple::Socket),
        _ => {
            let why = format!(
                "readcf: map {}: class {} not available: its lookups will fail temporarily",
                decl.name, decl.class
            );
            return Err(Box::new((
                Map::new(info, Box::new(simple::Unavailable)),
                why,
            )));
        }
    };
    Ok(Map::new(info, imp))
}
