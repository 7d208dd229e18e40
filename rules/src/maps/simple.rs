//! The map classes that hold no file of their own: computed answers
//! (arith, arpa, dequote, macro), lookups through the resolver (host,
//! bestmx, dns), the passwd file (user), chains of other maps (sequence),
//! patterns (regex), outside programs and socketmap servers, and the
//! classes mtad does not have.

use super::{Answer, Class, LookupCx, MapInfo};
use crate::env::Answer as Got;
use crate::rewrite::{EX_CONFIG, EX_NOTFOUND, EX_OK, EX_TEMPFAIL, EX_UNAVAILABLE};
use std::io::{Read, Write};
use std::time::Duration;

/// `null`: never finds anything.
pub struct Null;

impl Class for Null {
    fn lookup(&self, _: &MapInfo, _: &[u8], _: &[&[u8]], _: &mut LookupCx<'_, '_>) -> Answer {
        Answer::miss(EX_OK)
    }
}

/// `stab`: sendmail's internal symbol table (aliases read into memory);
/// nothing a rule can reach in mtad, so every lookup misses.
pub struct Implicit {
    _class: String,
}

impl Implicit {
    pub fn new(class: &str) -> Implicit {
        Implicit {
            _class: class.into(),
        }
    }
}

impl Class for Implicit {
    fn lookup(&self, _: &MapInfo, _: &[u8], _: &[&[u8]], _: &mut LookupCx<'_, '_>) -> Answer {
        Answer::miss(EX_NOTFOUND)
    }
}

/// A class mtad does not have (ldap, nis, hesiod, …), or a map that
/// could not be built: every lookup is a temporary failure, never a
/// quiet miss.
pub struct Unavailable;

impl Class for Unavailable {
    fn lookup(&self, _: &MapInfo, _: &[u8], _: &[&[u8]], _: &mut LookupCx<'_, '_>) -> Answer {
        Answer::miss(EX_TEMPFAIL)
    }
}

/// `host` (`$[ $]`): the canonical name, through the resolver; an address
/// in brackets by its name. Answers, found or not, are kept for an hour
/// (sendmail's SM_DEFAULT_TTL, its ST_NAMECANON cache): a name is asked
/// once per process, not once per rule that canonifies it.
#[derive(Default)]
pub struct Host {
    cache: std::sync::Mutex<rustc_hash::FxHashMap<Vec<u8>, (std::time::Instant, Answer)>>,
}

/// How long a host map answer is kept.
const HOST_TTL: Duration = Duration::from_secs(3600);

impl Class for Host {
    fn lookup(
        &self,
        map: &MapInfo,
        key: &[u8],
        args: &[&[u8]],
        cx: &mut LookupCx<'_, '_>,
    ) -> Answer {
        if let Ok(cache) = self.cache.lock()
            && let Some((when, a)) = cache.get(key)
            && when.elapsed() < HOST_TTL
        {
            return a.clone();
        }
        let a = self.ask(map, key, args, cx);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(key.to_vec(), (std::time::Instant::now(), a.clone()));
        }
        a
    }
}

impl Host {
    fn ask(&self, _: &MapInfo, key: &[u8], _: &[&[u8]], cx: &mut LookupCx<'_, '_>) -> Answer {
        let name = String::from_utf8_lossy(key).into_owned();
        let answer = if let Some(inner) = name.strip_prefix('[') {
            let Some(end) = inner.find(']') else {
                return Answer::miss(EX_OK);
            };
            match cx.env.resolver.address_name(&inner[..end]) {
                Got::Found(n) => Got::Found(n),
                Got::TryAgain => Got::TryAgain,
                Got::NotFound => return Answer::miss(EX_OK),
            }
        } else {
            cx.env.resolver.canonical_name(&name)
        };
        match answer {
            Got::Found(n) => Answer::found(n.into_bytes()),
            Got::NotFound => Answer::miss(68),
            Got::TryAgain => Answer::miss(EX_TEMPFAIL),
        }
    }
}

/// `bestmx`: the best MX host of a domain (`-z` joins them all).
pub struct BestMx;

impl Class for BestMx {
    fn lookup(&self, map: &MapInfo, key: &[u8], _: &[&[u8]], cx: &mut LookupCx<'_, '_>) -> Answer {
        let name = String::from_utf8_lossy(key);
        match cx.env.resolver.mx_hosts(&name) {
            Got::Found(hosts) if !hosts.is_empty() => {
                if map.flags.col_delim != 0 {
                    let d = map.flags.col_delim as char;
                    Answer::found(hosts.join(&d.to_string()).into_bytes())
                } else {
                    Answer::found(hosts[0].clone().into_bytes())
                }
            }
            Got::TryAgain => Answer::miss(EX_TEMPFAIL),
            _ => Answer::miss(EX_OK),
        }
    }
}

/// `dns`: one record type (`-R`), with `-B` appended to the key and `-z`
/// joining all answers.
pub struct Dns;

impl Class for Dns {
    fn open(&self, map: &MapInfo) -> Result<(), Option<String>> {
        if own(map, b'R').is_none() {
            return Err(Some(format!("dns map {}: missing -R type", map.name)));
        }
        Ok(())
    }

    fn lookup(&self, map: &MapInfo, key: &[u8], _: &[&[u8]], cx: &mut LookupCx<'_, '_>) -> Answer {
        let rtype = own(map, b'R').map(|r| String::from_utf8_lossy(&r).to_ascii_uppercase());
        let Some(rtype) = rtype else {
            return Answer::miss(EX_CONFIG);
        };
        let mut name = String::from_utf8_lossy(key).into_owned();
        if let Some(b) = own(map, b'B') {
            if !name.ends_with('.') {
                name.push('.');
            }
            name.push_str(&String::from_utf8_lossy(&b));
        }
        match cx.env.resolver.query(&name, &rtype) {
            Got::Found(answers) if !answers.is_empty() => {
                if map.flags.col_delim != 0 {
                    let d = (map.flags.col_delim as char).to_string();
                    Answer::found(answers.join(&d).into_bytes())
                } else {
                    Answer::found(answers[0].clone().into_bytes())
                }
            }
            Got::TryAgain => Answer::miss(EX_TEMPFAIL),
            _ => Answer::miss(EX_NOTFOUND),
        }
    }
}

/// A class's own flag (`-R`, `-B`, `-s`, …), as given.
fn own(map: &MapInfo, flag: u8) -> Option<Vec<u8>> {
    map.flags
        .other
        .iter()
        .find(|(f, _)| *f == flag)
        .map(|(_, a)| a.clone())
}

/// `arith`: `+ - * / % | & l = r` on the two arguments.
pub struct Arith;

impl Class for Arith {
    fn rewrites(&self) -> bool {
        false
    }

    fn lookup(&self, _: &MapInfo, key: &[u8], args: &[&[u8]], _: &mut LookupCx<'_, '_>) -> Answer {
        let (Some(a), Some(b)) = (args.get(1), args.get(2)) else {
            return Answer::miss(EX_CONFIG);
        };
        let (x, y) = (strtol(a), strtol(b));
        let r: i64 = match key {
            b"+" => x.wrapping_add(y),
            b"-" => x.wrapping_sub(y),
            b"*" => x.wrapping_mul(y),
            b"/" | b"%" if y == 0 => return Answer::miss(EX_OK),
            b"/" => x.wrapping_div(y),
            b"%" => x.wrapping_rem(y),
            b"|" => x | y,
            b"&" => x & y,
            b"l" => {
                return Answer::found(if x < y {
                    b"TRUE".to_vec()
                } else {
                    b"FALSE".to_vec()
                });
            }
            b"=" => {
                return Answer::found(if x == y {
                    b"TRUE".to_vec()
                } else {
                    b"FALSE".to_vec()
                });
            }
            b"r" => {
                if y < x {
                    return Answer::miss(EX_CONFIG);
                }
                let span = (y - x) as u64 + 1;
                let mut seed = [0u8; 8];
                if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
                    let _ = f.read_exact(&mut seed);
                }
                x + (u64::from_ne_bytes(seed) % span) as i64
            }
            _ => return Answer::miss(EX_CONFIG),
        };
        Answer::found(r.to_string().into_bytes())
    }
}

/// strtol(s, NULL, 0) on 32-bit long: decimal, `0x` hex or `0` octal,
/// leading blanks and a sign.
fn strtol(s: &[u8]) -> i64 {
    let s = std::str::from_utf8(s).unwrap_or("").trim_start();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (radix, digits) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, h)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..])
    } else {
        (10, s)
    };
    let end = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    let v = i64::from_str_radix(&digits[..end], radix).unwrap_or(0);
    if neg { -v } else { v }
}

/// `macro`: sets the macro named by the key to the first argument, or
/// clears it; the result is empty.
pub struct MacroMap;

impl Class for MacroMap {
    fn lookup(&self, _: &MapInfo, key: &[u8], args: &[&[u8]], cx: &mut LookupCx<'_, '_>) -> Answer {
        // macid(): `{name}`, or the first character.
        let name = match key {
            [b'{', inner @ .., b'}'] if !inner.is_empty() => inner,
            [c, ..] => std::slice::from_ref(c),
            _ => return Answer::miss(EX_CONFIG),
        };
        match args.get(1) {
            Some(v) => cx.env.macros.set(name, v),
            None => cx.env.macros.unset(name),
        }
        Answer::found(Vec::new())
    }
}

/// `dequote` (dequote_map): the key without its unescaped quotes; nothing
/// when there were none, or when the result would not scan as one clean
/// address (unbalanced `<>` or `()`, a trailing backslash, an open quote,
/// a blank).
pub struct Dequote;

impl Class for Dequote {
    fn rewrites(&self) -> bool {
        false
    }

    fn lookup(&self, map: &MapInfo, key: &[u8], _: &[&[u8]], _: &mut LookupCx<'_, '_>) -> Answer {
        let space = own(map, b's')
            .and_then(|v| v.first().copied())
            .unwrap_or(map.flags.space_sub);
        let mut out = Vec::with_capacity(key.len());
        let (mut angles, mut comments, mut quotes, mut spaces) = (0i32, 0i32, 0usize, 0usize);
        let (mut quoted, mut bslash) = (false, false);
        for &c0 in key {
            if c0 == 0 {
                break;
            }
            if bslash {
                bslash = false;
                out.push(c0);
                continue;
            }
            let c = if c0 == b' ' && space != 0 { space } else { c0 };
            match c {
                b'\\' => bslash = true,
                b'(' => comments += 1,
                b')' => {
                    if comments <= 0 {
                        return Answer::miss(EX_OK);
                    }
                    comments -= 1;
                }
                b' ' | b'\t' => spaces += 1,
                _ => {}
            }
            if comments > 0 {
                out.push(c);
                continue;
            }
            match c {
                b'"' => {
                    quoted = !quoted;
                    quotes += 1;
                    continue;
                }
                b'<' => angles += 1,
                b'>' => {
                    if angles <= 0 {
                        return Answer::miss(EX_OK);
                    }
                    angles -= 1;
                }
                _ => {}
            }
            out.push(c);
        }
        if angles != 0 || comments != 0 || bslash || quoted || quotes == 0 || spaces != 0 {
            return Answer::miss(EX_OK);
        }
        let mut v = out;
        if let Some(a) = &map.flags.app {
            v.extend_from_slice(a);
        }
        Answer::found(v)
    }
}

/// `arpa`: an address in reverse-lookup order (`1.2.3.4` → `4.3.2.1`,
/// `IPv6:…` → nibbles).
pub struct Arpa;

impl Class for Arpa {
    fn lookup(&self, _: &MapInfo, key: &[u8], _: &[&[u8]], _: &mut LookupCx<'_, '_>) -> Answer {
        let s = String::from_utf8_lossy(key);
        let s = s.trim();
        if let Some(v6) = s.strip_prefix("IPv6:").or_else(|| s.strip_prefix("ipv6:")) {
            return match v6.parse::<std::net::Ipv6Addr>() {
                Ok(a) => {
                    let mut nibbles = Vec::new();
                    for b in a.octets().iter().rev() {
                        nibbles.push(format!("{:x}", b & 0xf));
                        nibbles.push(format!("{:x}", b >> 4));
                    }
                    Answer::found(nibbles.join(".").into_bytes())
                }
                Err(_) => Answer::miss(EX_OK),
            };
        }
        match s.parse::<std::net::Ipv4Addr>() {
            Ok(a) => {
                let o = a.octets();
                Answer::found(format!("{}.{}.{}.{}", o[3], o[2], o[1], o[0]).into_bytes())
            }
            Err(_) => Answer::miss(EX_OK),
        }
    }
}

/// `syslog`: logs the key (facility mail) and returns nothing.
pub struct Syslog;

impl Class for Syslog {
    fn lookup(&self, _: &MapInfo, key: &[u8], _: &[&[u8]], _: &mut LookupCx<'_, '_>) -> Answer {
        let mut msg: Vec<u8> = key.iter().copied().filter(|&b| b != 0).collect();
        msg.push(0);
        // SAFETY: both strings are NUL-terminated and live for the call;
        // the format takes exactly one string.
        unsafe {
            libc::syslog(
                libc::LOG_MAIL | libc::LOG_NOTICE,
                c"%s".as_ptr(),
                msg.as_ptr().cast::<libc::c_char>(),
            );
        }
        Answer::found(Vec::new())
    }
}

/// `sequence`: the member maps in order; the first that finds wins, and
/// a temporary failure of any is remembered.
pub struct Sequence;

impl Class for Sequence {
    fn rewrites(&self) -> bool {
        false
    }

    fn lookup(
        &self,
        map: &MapInfo,
        key: &[u8],
        args: &[&[u8]],
        cx: &mut LookupCx<'_, '_>,
    ) -> Answer {
        let mut members: Vec<Vec<u8>> = Vec::new();
        if let Some(f) = &map.file {
            members.push(f.clone());
        }
        members.extend(
            map.rest
                .split(|c| c.is_ascii_whitespace())
                .filter(|w| !w.is_empty())
                .map(<[u8]>::to_vec),
        );
        first_found(members.into_iter(), key, args, cx)
    }
}

/// `switch`: the methods the service switch file gives the service the
/// K line names (`Kalias switch aliases`, `aliases files nis`), each the
/// map `NAME.METHOD` (`alias.files`), asked in order as a sequence is.
pub struct Switch {
    file: std::path::PathBuf,
}

impl Switch {
    pub fn new(file: &str) -> Switch {
        Switch { file: file.into() }
    }

    /// The service's methods in the switch file; sendmail's default for a
    /// service it does not find is `files`.
    fn methods(&self, service: &[u8]) -> Vec<Vec<u8>> {
        let text = std::fs::read(&self.file).unwrap_or_default();
        for line in text.split(|&c| c == b'\n') {
            let line = line.split(|&c| c == b'#').next().unwrap_or_default();
            let mut words = line
                .split(|c: &u8| c.is_ascii_whitespace())
                .filter(|w| !w.is_empty());
            let Some(first) = words.next() else { continue };
            let first = first.strip_suffix(b":").unwrap_or(first);
            if first == service {
                return words.map(<[u8]>::to_vec).collect();
            }
        }
        vec![b"files".to_vec()]
    }
}

impl Class for Switch {
    fn rewrites(&self) -> bool {
        false
    }

    fn lookup(
        &self,
        map: &MapInfo,
        key: &[u8],
        args: &[&[u8]],
        cx: &mut LookupCx<'_, '_>,
    ) -> Answer {
        let service = map.file.clone().unwrap_or_default();
        let names = self.methods(&service).into_iter().map(|method| {
            let mut name = map.name.as_bytes().to_vec();
            name.push(b'.');
            name.extend_from_slice(&method);
            name
        });
        first_found(names, key, args, cx)
    }
}

/// The first of the named maps that finds `key` (sendmail's MAXMAPSTACK,
/// 128 in Debian's build, at most); a temporary failure of any is
/// remembered when none finds it.
fn first_found(
    names: impl Iterator<Item = Vec<u8>>,
    key: &[u8],
    args: &[&[u8]],
    cx: &mut LookupCx<'_, '_>,
) -> Answer {
    let mut tempfail = false;
    for name in names.take(128) {
        let Some(i) = cx.maps.find(&name) else {
            continue;
        };
        if !cx.maps.open(i, cx.env) {
            continue;
        }
        let (v, st) = cx
            .maps
            .class_lookup(i, key, &args[1.min(args.len())..], cx.env);
        if let Some(v) = v {
            return Answer::found(v);
        }
        if st == EX_TEMPFAIL {
            tempfail = true;
        }
    }
    Answer::miss(if tempfail { EX_TEMPFAIL } else { EX_NOTFOUND })
}

/// `user`: the passwd entry of a login name; `-v` picks the field.
pub struct User;

impl Class for User {
    fn lookup(&self, map: &MapInfo, key: &[u8], _: &[&[u8]], _: &mut LookupCx<'_, '_>) -> Answer {
        let Some(pw) = passwd(key) else {
            return Answer::miss(67);
        };
        let field = map.flags.val_col.as_deref().unwrap_or(b"name");
        let v = match field.to_ascii_lowercase().as_slice() {
            b"passwd" => pw.passwd,
            b"uid" => pw.uid.to_string().into_bytes(),
            b"gid" => pw.gid.to_string().into_bytes(),
            b"gecos" => pw.gecos,
            b"dir" => pw.dir,
            b"shell" => pw.shell,
            _ => pw.name,
        };
        Answer::found(v)
    }
}

struct Passwd {
    name: Vec<u8>,
    passwd: Vec<u8>,
    uid: u32,
    gid: u32,
    gecos: Vec<u8>,
    dir: Vec<u8>,
    shell: Vec<u8>,
}

/// The uid and gid of a login name.
pub fn passwd_ids(name: &[u8]) -> Option<(u32, u32)> {
    passwd(name).map(|p| (p.uid, p.gid))
}

fn passwd(name: &[u8]) -> Option<Passwd> {
    if name.contains(&0) {
        return None;
    }
    let mut cname = name.to_vec();
    cname.push(0);
    let mut buf = vec![0u8; 16384];
    // SAFETY: getpwnam_r writes into `pw` and `buf`, both valid for the
    // sizes given; `result` is set to null or to `pw`.
    unsafe {
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwnam_r(
            cname.as_ptr().cast(),
            &mut pw,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() {
            return None;
        }
        let s = |p: *const libc::c_char| {
            if p.is_null() {
                Vec::new()
            } else {
                std::ffi::CStr::from_ptr(p).to_bytes().to_vec()
            }
        };
        Some(Passwd {
            name: s(pw.pw_name),
            passwd: s(pw.pw_passwd),
            uid: pw.pw_uid,
            gid: pw.pw_gid,
            gecos: s(pw.pw_gecos),
            dir: s(pw.pw_dir),
            shell: s(pw.pw_shell),
        })
    }
}

/// `regex`: a POSIX extended expression (the `regex` crate, whose syntax
/// agrees for what sendmail configs write; where it does not, see the
/// README), case-insensitive unless `-f`; `-s` returns subexpressions
/// joined by `-d` (default `$|`), `-n` negates.
pub struct Regex {
    re: regex::bytes::Regex,
    fields: Option<Vec<usize>>,
    delim: Vec<u8>,
    negate: bool,
}

impl Regex {
    pub fn new(map: &MapInfo) -> Result<Regex, String> {
        let mut pattern = map.file.clone().unwrap_or_default();
        if !map.rest.is_empty() {
            pattern.push(b' ');
            pattern.extend_from_slice(&map.rest);
        }
        let text = String::from_utf8_lossy(&pattern).into_owned();
        let re = regex::bytes::RegexBuilder::new(&text)
            .case_insensitive(!map.flags.no_fold)
            .unicode(false)
            .build()
            .map_err(|e| format!("pattern-compile-error: {e}"))?;
        let fields = own(map, b's').map(|s| {
            if s.is_empty() {
                (0..re.captures_len()).collect()
            } else {
                parse_fields(&s)
            }
        });
        Ok(Regex {
            re,
            fields,
            delim: own(map, b'd').unwrap_or_else(|| vec![crate::meta::CONDELSE]),
            negate: own(map, b'n').is_some(),
        })
    }
}

fn parse_fields(s: &[u8]) -> Vec<usize> {
    s.split(|&c| c == b',')
        .filter_map(|f| std::str::from_utf8(f).ok()?.trim().parse().ok())
        .collect()
}

impl Class for Regex {
    fn lookup(&self, _: &MapInfo, key: &[u8], args: &[&[u8]], _: &mut LookupCx<'_, '_>) -> Answer {
        let caps = self.re.captures(key);
        if self.negate {
            return match caps {
                None => Answer::found(Vec::new()),
                Some(_) => Answer::miss(EX_OK),
            };
        }
        let Some(caps) = caps else {
            return Answer::miss(EX_OK);
        };
        let Some(fields) = &self.fields else {
            return Answer::found(Vec::new());
        };
        let fields = match args.get(1) {
            Some(a) => parse_fields(a),
            None => fields.clone(),
        };
        let mut out = Vec::new();
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(&self.delim);
            }
            if let Some(m) = caps.get(*f) {
                out.extend_from_slice(m.as_bytes());
            }
        }
        out.truncate(255);
        Answer::found(out)
    }
}

/// `program`: runs the file with the K line's arguments and the key
/// (execve, no shell), and takes the first line it prints.
pub struct Program;

impl Class for Program {
    fn lookup(&self, map: &MapInfo, key: &[u8], _: &[&[u8]], _: &mut LookupCx<'_, '_>) -> Answer {
        use std::os::unix::ffi::OsStrExt;
        let Some(file) = &map.file else {
            return Answer::miss(EX_CONFIG);
        };
        let mut cmd = std::process::Command::new(std::ffi::OsStr::from_bytes(file));
        for a in map
            .rest
            .split(|c| c.is_ascii_whitespace())
            .filter(|w| !w.is_empty())
        {
            cmd.arg(std::ffi::OsStr::from_bytes(a));
        }
        cmd.arg(std::ffi::OsStr::from_bytes(key));
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .env_clear()
            .env("PATH", "/usr/bin:/bin");
        let Ok(out) = cmd.output() else {
            return Answer::miss(EX_TEMPFAIL);
        };
        if !out.status.success() {
            return Answer::miss(
                out.status
                    .code()
                    .filter(|c| *c == EX_TEMPFAIL)
                    .unwrap_or(EX_NOTFOUND),
            );
        }
        let line = out
            .stdout
            .split(|&b| b == b'\n')
            .next()
            .unwrap_or(&[])
            .to_vec();
        if line.is_empty() {
            return Answer::miss(EX_NOTFOUND);
        }
        Answer::found(line)
    }
}

/// `socket`: the socketmap protocol, netstrings over `unix:PATH` or
/// `inet:PORT@HOST`: `name key` asked, `OK value`, `NOTFOUND`, `TEMP`,
/// `TIMEOUT` or `PERM` answered.
pub struct Socket;

impl Class for Socket {
    fn lookup(&self, map: &MapInfo, key: &[u8], _: &[&[u8]], _: &mut LookupCx<'_, '_>) -> Answer {
        let spec = String::from_utf8_lossy(map.file.as_deref().unwrap_or_default()).into_owned();
        let mut q = map.name.as_bytes().to_vec();
        q.push(b' ');
        q.extend_from_slice(key);
        let mut req = format!("{}:", q.len()).into_bytes();
        req.extend_from_slice(&q);
        req.push(b',');
        let timeout = Duration::from_secs(10);
        let reply = if let Some(path) = spec
            .strip_prefix("unix:")
            .or_else(|| spec.strip_prefix("local:"))
        {
            std::os::unix::net::UnixStream::connect(path).and_then(|mut s| {
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))?;
                exchange(&mut s, &req)
            })
        } else if let Some(rest) = spec.strip_prefix("inet:") {
            let (port, host) = rest.split_once('@').unwrap_or((rest, "127.0.0.1"));
            let addr = format!("{host}:{port}");
            std::net::TcpStream::connect(addr).and_then(|mut s| {
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))?;
                exchange(&mut s, &req)
            })
        } else {
            return Answer::miss(EX_CONFIG);
        };
        let Ok(reply) = reply else {
            return Answer::miss(EX_TEMPFAIL);
        };
        let (status, value) = match reply.iter().position(|&b| b == b' ') {
            Some(i) => (&reply[..i], reply[i + 1..].to_vec()),
            None => (&reply[..], Vec::new()),
        };
        match status {
            b"OK" => Answer::found(value),
            b"NOTFOUND" => Answer::miss(EX_NOTFOUND),
            b"TEMP" | b"TIMEOUT" => Answer::miss(EX_TEMPFAIL),
            _ => Answer::miss(EX_UNAVAILABLE),
        }
    }
}

/// Sends one netstring and reads one back (at most 100,000 bytes).
fn exchange<S: Read + Write>(s: &mut S, req: &[u8]) -> std::io::Result<Vec<u8>> {
    s.write_all(req)?;
    let mut len = 0usize;
    let mut b = [0u8; 1];
    loop {
        s.read_exact(&mut b)?;
        match b[0] {
            d @ b'0'..=b'9' if len < 100_000 => len = len * 10 + (d - b'0') as usize,
            b':' => break,
            _ => return Err(std::io::Error::other("bad netstring")),
        }
    }
    if len > 100_000 {
        return Err(std::io::Error::other("netstring too long"));
    }
    let mut v = vec![0u8; len + 1];
    s.read_exact(&mut v)?;
    if v.pop() != Some(b',') {
        return Err(std::io::Error::other("bad netstring"));
    }
    Ok(v)
}
