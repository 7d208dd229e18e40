//! Address test mode (`-bt`), as sendmail's testmodeline() answers each
//! line: ruleset lists with their traces, `/parse`, `/try`, `/tryflags`,
//! `/map`, `/canon`, `/mx`, macros, classes, `=S`, `=M`, `.D`, `.C` and
//! the errors for what it does not know, printed as sendmail prints them.

use crate::address::Flags;
use crate::env::{Answer, Env, Macros, Output, Resolver};
use crate::expand::{macid_parse, translate_dollars};
use crate::meta;
use crate::prescan::{self, MAXATOM, Scan, Table};
use crate::report::{Kind, Message};
use crate::rewrite::EX_OK;
use crate::{Engine, Session};
use std::io::{BufRead, Write};
use std::path::PathBuf;

/// sendmail's MAXLINE: a test-mode line is read in pieces of at most
/// this size less one.
const MAXLINE: usize = 2048;

/// Prints traces and messages as `-bt` does, in the order they come.
struct Printer<'w> {
    w: &'w mut dyn Write,
    debug: u8,
}

impl Output for Printer<'_> {
    fn tracing(&self) -> bool {
        true
    }
    fn debug_level(&self) -> u8 {
        self.debug
    }
    fn trace(&mut self, line: &[u8]) {
        let _ = self.w.write_all(line);
        let _ = self.w.write_all(b"\n");
    }
    fn message(&mut self, m: Message) {
        let mut line = m.test_mode_line();
        if m.kind == Kind::System && m.code == *b"554" && m.enhanced.is_none() && !m.text.is_empty()
        {
            line = m.text.clone();
        }
        let _ = self.w.write_all(&line);
        let _ = self.w.write_all(b"\n");
    }
}

/// The state of one test-mode run.
pub struct TestMode<'r> {
    pub engine: Engine,
    pub macros: Macros,
    pub resolver: &'r dyn Resolver,
    /// `/tryflags`: header/envelope, sender/recipient.
    pub tryflags: Flags,
    /// `-v`: each line echoed instead of the prompt.
    pub verbose: bool,
    pub help_file: Option<PathBuf>,
    /// `-d21.N`
    pub debug: u8,
    /// The engine's buffers, kept warm from line to line.
    buffers: Option<crate::Buffers>,
    /// The tokens of the address a ruleset line is on, kept for the next.
    tokens: prescan::Tokens,
}

impl<'r> TestMode<'r> {
    pub fn new(engine: Engine, macros: Macros, resolver: &'r dyn Resolver) -> TestMode<'r> {
        let help_file = engine.config.text("HelpFile").map(PathBuf::from);
        let mut macros = macros;
        macros.set(b"addr_type", b"e r");
        TestMode {
            engine,
            macros,
            resolver,
            tryflags: Flags::default(),
            verbose: false,
            help_file,
            debug: 0,
            buffers: None,
            tokens: prescan::Tokens::default(),
        }
    }

    /// The whole session: the banner, then a prompt before each line, to
    /// the end of the input.
    /// Output is flushed when the next read would wait for input, so a
    /// person sees each prompt and a script's thousands of lines cost no
    /// write each.
    pub fn run<R: std::io::Read>(
        &mut self,
        input: &mut std::io::BufReader<R>,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        if !self.verbose {
            out.write_all(b"ADDRESS TEST MODE (ruleset 3 NOT automatically invoked)\n")?;
            out.write_all(b"Enter <ruleset> <address>\n")?;
        }
        loop {
            if !self.verbose {
                out.write_all(b"> ")?;
            }
            if input.buffer().is_empty() {
                out.flush()?;
            }
            let Some(mut line) = read_piece(input)? else {
                return Ok(());
            };
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            if self.verbose {
                out.write_all(b"> ")?;
                out.write_all(&line)?;
                out.write_all(b"\n")?;
            }
            if !self.line(&line, out)? {
                return Ok(());
            }
        }
    }

    /// One line; false after `/quit`.
    pub fn line(&mut self, line: &[u8], out: &mut dyn Write) -> std::io::Result<bool> {
        let start = line.iter().take_while(|&&c| c == b' ').count();
        let line = &line[start..];
        match line.first() {
            None | Some(b'#') => Ok(true),
            Some(b'?') => {
                self.help(out)?;
                Ok(true)
            }
            Some(b'.') => {
                self.dot(line, out)?;
                Ok(true)
            }
            Some(b'=') => {
                self.equals(line, out)?;
                Ok(true)
            }
            Some(b'-') => {
                match line.get(1) {
                    Some(b'd') => self.set_debug(&line[2..]),
                    None => out.write_all(b"Usage: -d{debug arguments}\n")?,
                    Some(_) => unknown_command(out, b'-', line)?,
                }
                Ok(true)
            }
            Some(b'$') => {
                self.dollar(line, out)?;
                Ok(true)
            }
            Some(b'/') => self.slash(line, out),
            Some(_) => {
                self.rulesets(line, out)?;
                Ok(true)
            }
        }
    }

    fn set_debug(&mut self, spec: &[u8]) {
        // Only category 21 (rewriting) changes what mtad prints.
        for part in spec.split(|&c| c == b',') {
            let s = String::from_utf8_lossy(part);
            let (cat, level) = match s.split_once('.') {
                Some((c, l)) => (c.to_string(), l.parse::<u8>().unwrap_or(1)),
                None => (s.to_string(), 1),
            };
            let covers = |c: &str| {
                c.split_once('-').map_or(c == "21", |(a, b)| {
                    a.parse::<u32>().unwrap_or(0) <= 21 && b.parse::<u32>().unwrap_or(99) >= 21
                })
            };
            if covers(&cat) {
                self.debug = level;
            }
        }
    }

    fn help(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        let text = self.help_file.as_ref().and_then(|p| std::fs::read(p).ok());
        let Some(text) = text else {
            out.write_all(b"Sendmail 8.17.1.9 -- HELP not implemented\n")?;
            return Ok(());
        };
        let mut vers = -1i32;
        let mut any = false;
        for raw in text.split_inclusive(|&c| c == b'\n') {
            if raw.first() == Some(&b'#') {
                if vers < 0
                    && let Some(rest) = raw.strip_prefix(b"#vers")
                {
                    vers = String::from_utf8_lossy(rest).trim().parse().unwrap_or(-1);
                }
                continue;
            }
            if !raw.starts_with(b"-bt") {
                continue;
            }
            let p = match raw.iter().position(|&c| c == b' ' || c == b'\t') {
                Some(i) => &raw[i + 1..],
                None => &raw[raw.len().saturating_sub(1)..],
            };
            let mut p = p.to_vec();
            while matches!(p.last(), Some(b'\n' | b'\r')) {
                p.pop();
            }
            if vers >= 2 {
                p = translate_dollars(&p);
                p = self.expand(&p);
            }
            out.write_all(&p)?;
            out.write_all(b"\n")?;
            any = true;
        }
        if any {
            out.write_all(b"End of HELP info\n")?;
        } else {
            out.write_all(b"HELP topic \"-bt\" unknown\n")?;
        }
        Ok(())
    }

    fn dot(&mut self, line: &[u8], out: &mut dyn Write) -> std::io::Result<()> {
        match line.get(1) {
            Some(b'D') => {
                let (name, at, errs) = macid_parse(&line[2..]);
                say(out, &errs)?;
                let Some(name) = name else {
                    return Ok(());
                };
                self.macros.set(&name, &translate_dollars(&line[2 + at..]));
            }
            Some(b'C') => {
                if line.len() == 2 {
                    return Ok(());
                }
                let (name, at, errs) = macid_parse(&line[2..]);
                say(out, &errs)?;
                let Some(name) = name else {
                    return Ok(());
                };
                let rest = &line[2 + at..];
                let value = self.expand(&translate_dollars(rest));
                let class = self.engine.rules.classes.index(&name);
                for w in value
                    .split(|c| c.is_ascii_whitespace() || *c == 0x0b)
                    .filter(|w| !w.is_empty())
                {
                    self.engine.rules.classes.add(class, w);
                }
            }
            None => out.write_all(b"Usage: .[DC]macro value(s)\n")?,
            Some(_) => unknown_command(out, b'.', line)?,
        }
        Ok(())
    }

    fn equals(&mut self, line: &[u8], out: &mut dyn Write) -> std::io::Result<()> {
        match line.get(1) {
            Some(b'S') => {
                let (rs, complaint) = self.engine.rules.find_ruleset(&line[2..]);
                if let Some(c) = complaint {
                    out.write_all(c.as_bytes())?;
                    out.write_all(b"\n")?;
                }
                let Some(rs) = rs else {
                    out.write_all(b"Undefined ruleset ")?;
                    out.write_all(&line[2..])?;
                    out.write_all(b"\n")?;
                    return Ok(());
                };
                let called = self
                    .engine
                    .rules
                    .called_quoted
                    .lock()
                    .map(|s| s.clone())
                    .unwrap_or_default();
                for (ri, rule) in self.engine.rules.sets[rs].rules.iter().enumerate() {
                    let mut l = b"R".to_vec();
                    for t in &rule.lhs_shown {
                        l.extend_from_slice(t);
                        l.push(b' ');
                    }
                    l.extend_from_slice(b"\t\t");
                    for (k, t) in rule.rhs_shown.iter().enumerate() {
                        if called.contains(&(rs, ri, k)) {
                            l.extend(t.iter().filter(|&&c| c != b'"'));
                        } else {
                            l.extend_from_slice(t);
                        }
                        l.push(b' ');
                    }
                    l.push(b'\n');
                    out.write_all(&l)?;
                }
            }
            Some(b'M') => {
                for (i, m) in self.engine.config.mailers.iter().enumerate() {
                    out.write_all(mailer_line(&self.engine, i, m).as_bytes())?;
                    out.write_all(b"\n")?;
                }
            }
            None => out.write_all(b"Usage: =Sruleset or =M\n")?,
            Some(_) => unknown_command(out, b'=', line)?,
        }
        Ok(())
    }

    fn dollar(&mut self, line: &[u8], out: &mut dyn Write) -> std::io::Result<()> {
        if line.get(1) == Some(&b'=') {
            let (name, _, errs) = macid_parse(&line[2..]);
            say(out, &errs)?;
            let Some(name) = name else {
                return Ok(());
            };
            if let Some(c) = self.engine.rules.classes.find(&name) {
                for w in self.engine.rules.classes.listing(c) {
                    out.write_all(&w)?;
                    out.write_all(b"\n")?;
                }
            }
            return Ok(());
        }
        let (name, _, errs) = macid_parse(&line[1..]);
        say(out, &errs)?;
        let Some(name) = name else {
            return Ok(());
        };
        match self.macros.get(&name) {
            None => out.write_all(b"Undefined\n")?,
            Some(v) => {
                out.write_all(&meta::printable(v))?;
                out.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    /// expand(): `$x` in a string replaced by the macros' values now.
    pub fn expand(&self, s: &[u8]) -> Vec<u8> {
        crate::expand::expand(&self.macros, s, MAXLINE)
    }

    fn slash(&mut self, line: &[u8], out: &mut dyn Write) -> std::io::Result<bool> {
        let mut line = line.to_vec();
        while line.last().is_some_and(|c| c.is_ascii_whitespace()) {
            line.pop();
        }
        let (cmd, p): (Vec<u8>, Vec<u8>) = match line.iter().position(|&c| c == b' ' || c == b'\t')
        {
            Some(i) => {
                let rest = &line[i..];
                let skip = rest.iter().take_while(|c| c.is_ascii_whitespace()).count();
                (line[..i].to_vec(), rest[skip..].to_vec())
            }
            None => (line.clone(), Vec::new()),
        };
        if cmd.len() == 1 {
            out.write_all(b"Usage: /[canon|map|mx|parse|try|tryflags]\n")?;
            return Ok(true);
        }
        let name = cmd[1..].to_ascii_lowercase();
        let ps = String::from_utf8_lossy(&p).into_owned();
        match name.as_slice() {
            b"quit" => return Ok(false),
            b"mx" => {
                if p.is_empty() {
                    out.write_all(b"Usage: /mx address\n")?;
                } else {
                    let hosts = match self.resolver.mx_hosts(&ps) {
                        Answer::Found(h) => h,
                        _ => Vec::new(),
                    };
                    writeln!(out, "getmxrr({ps}) returns {} value(s):", hosts.len())?;
                    for h in hosts {
                        writeln!(out, "\t{h}")?;
                    }
                }
            }
            b"canon" => {
                if p.is_empty() {
                    out.write_all(b"Usage: /canon address\n")?;
                } else if p.len() >= 256 {
                    out.write_all(b"Name too long\n")?;
                } else {
                    let c = match self.resolver.canonical_name(&ps) {
                        Answer::Found(c) => c,
                        _ => ps.clone(),
                    };
                    writeln!(out, "getcanonname({ps}) returns {c}")?;
                }
            }
            b"map" => self.map(&p, out)?,
            b"sender" => {
                let me = self
                    .macros
                    .get(b"_")
                    .map(|u| u.split(|&c| c == b'@').next().unwrap_or_default().to_vec());
                let me = me.unwrap_or_else(|| b"root".to_vec());
                let user = self
                    .with_call(out, |call| call.set_sender(&p, &me).map(|a| a.user))
                    .unwrap_or_default();
                out.write_all(b"addr=")?;
                out.write_all(&user)?;
                out.write_all(b"\n")?;
            }
            b"expand" => {
                if p.is_empty() {
                    out.write_all(b"Usage: /expand string\n")?;
                } else {
                    let e = self.expand(&p);
                    out.write_all(&meta::printable(&e))?;
                }
            }
            b"try" => self.try_mailer(&p, out)?,
            b"tryflags" => {
                if p.is_empty() {
                    out.write_all(b"Usage: /tryflags [Hh|Ee][Ss|Rr]\n")?;
                } else {
                    for c in &p {
                        match c {
                            b'H' | b'h' => self.tryflags.header = true,
                            b'E' | b'e' => self.tryflags.header = false,
                            b'S' | b's' => self.tryflags.sender = true,
                            b'R' | b'r' => self.tryflags.sender = false,
                            _ => {}
                        }
                    }
                    let t = [
                        if self.tryflags.header { b'h' } else { b'e' },
                        b' ',
                        if self.tryflags.sender { b's' } else { b'r' },
                    ];
                    self.macros.set(b"addr_type", &t);
                }
            }
            b"parse" => self.parse(&p, out)?,
            b"header" => writeln!(out, "ul = {:#010x}", 0)?,
            b"gethostbyname" => {}
            _ => unknown_command(out, b'/', &cmd)?,
        }
        Ok(true)
    }

    /// Runs `f` with a call on a fresh session, printing as `-bt` does.
    fn with_call<T>(
        &mut self,
        out: &mut dyn Write,
        f: impl FnOnce(&mut crate::rewrite::Call<'_, '_>) -> T,
    ) -> T {
        let mut printer = Printer {
            w: out,
            debug: self.debug,
        };
        let mut env = Env::new(&mut self.macros, &mut printer, self.resolver);
        let bufs = self.buffers.take().unwrap_or_default();
        let mut session: Session<'_> = self.engine.session_with(bufs);
        let r = {
            let mut call = session.call(&mut env);
            f(&mut call)
        };
        self.buffers = Some(session.into_buffers());
        r
    }

    fn map(&mut self, p: &[u8], out: &mut dyn Write) -> std::io::Result<()> {
        if p.is_empty() {
            out.write_all(b"Usage: /map mapname key\n")?;
            return Ok(());
        }
        let Some(sp) = p.iter().position(|c| c.is_ascii_whitespace()) else {
            out.write_all(b"No key specified\n")?;
            return Ok(());
        };
        let (name, key) = (&p[..sp], &p[sp + 1..]);
        let Some(i) = self.engine.maps.find(name) else {
            writeln!(
                out,
                "Map named \"{}\" not found",
                String::from_utf8_lossy(name)
            )?;
            return Ok(());
        };
        let mut printer = Printer {
            w: out,
            debug: self.debug,
        };
        let mut env = Env::new(&mut self.macros, &mut printer, self.resolver);
        if !self.engine.maps.open(i, &mut env) {
            drop(env);
            writeln!(
                out,
                "Map named \"{}\" not open",
                String::from_utf8_lossy(name)
            )?;
            return Ok(());
        }
        let (v, status) = self.engine.maps.class_lookup(i, key, &[], &mut env);
        drop(env);
        out.write_all(b"map_lookup: ")?;
        out.write_all(name)?;
        out.write_all(b" (")?;
        out.write_all(key)?;
        out.write_all(b") ")?;
        match v {
            None => writeln!(out, "no match ({status})")?,
            Some(v) => {
                out.write_all(b"returns ")?;
                out.write_all(&v)?;
                writeln!(out, " ({status})")?;
            }
        }
        Ok(())
    }

    fn try_mailer(&mut self, p: &[u8], out: &mut dyn Write) -> std::io::Result<()> {
        let split = p.iter().position(|&c| c == b' ' || c == b'\t');
        let (mname, addr) = match split {
            Some(i) => {
                let rest = &p[i..];
                let skip = rest.iter().take_while(|c| c.is_ascii_whitespace()).count();
                (&p[..i], &rest[skip..])
            }
            None => (p, &p[p.len()..]),
        };
        if split.is_none() || addr.is_empty() {
            out.write_all(b"Usage: /try mailer address\n")?;
            return Ok(());
        }
        let mname_s = String::from_utf8_lossy(mname).into_owned();
        let Some(m) = self.engine.config.mailer(&mname_s).cloned() else {
            writeln!(out, "Unknown mailer {mname_s}")?;
            return Ok(());
        };
        write!(
            out,
            "Trying {} {} address ",
            if self.tryflags.header {
                "header"
            } else {
                "envelope"
            },
            if self.tryflags.sender {
                "sender"
            } else {
                "recipient"
            },
        )?;
        out.write_all(addr)?;
        out.write_all(b" for mailer ")?;
        out.write_all(mname)?;
        out.write_all(b"\n")?;
        let flags = self.tryflags;
        let (result, rcode) = self.with_call(out, |call| call.remote_name(addr, &m, flags));
        out.write_all(format!("Rcode = {rcode}, addr = ").as_bytes())?;
        out.write_all(&result)?;
        out.write_all(b"\n")?;
        Ok(())
    }

    fn parse(&mut self, p: &[u8], out: &mut dyn Write) -> std::io::Result<()> {
        if p.is_empty() {
            out.write_all(b"Usage: /parse address\n")?;
            return Ok(());
        }
        out.write_all(b"Cracked address = ")?;
        let r = &self.engine.rules;
        let cracked = crate::crack::crackaddr(p, &r.must_quote, r.colon_ok);
        out.write_all(&meta::printable(&cracked))?;
        writeln!(
            out,
            "\nParsing {} {} address",
            if self.tryflags.header {
                "header"
            } else {
                "envelope"
            },
            if self.tryflags.sender {
                "sender"
            } else {
                "recipient"
            },
        )?;
        let flags = self.tryflags;
        let a = self.with_call(out, |call| call.parse_address(p, flags));
        match a {
            None => out.write_all(b"Cannot parse\n")?,
            Some(a) => {
                out.write_all(b"mailer ")?;
                out.write_all(a.mailer.as_bytes())?;
                if let Some(h) = a.host.as_ref().filter(|h| !h.is_empty()) {
                    out.write_all(b", host ")?;
                    out.write_all(h)?;
                }
                out.write_all(b", user ")?;
                out.write_all(&a.user)?;
                out.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    /// `L addr[,addr…]`: each address through each ruleset of the list.
    fn rulesets(&mut self, line: &[u8], out: &mut dyn Write) -> std::io::Result<()> {
        let sp = |c: u8| c.is_ascii_whitespace() || c == 0x0b;
        let q_start = line.iter().take_while(|&&c| sp(c)).count();
        let list_end = q_start + line[q_start..].iter().take_while(|&&c| !sp(c)).count();
        if list_end >= line.len() {
            out.write_all(b"No address!\n")?;
            return Ok(());
        }
        let list = line[q_start..list_end].to_vec();
        let mut addrs = line[list_end + 1..].to_vec();
        let mut msgs = Vec::new();
        if prescan::invalid_address(&mut addrs, true, &mut msgs) {
            let mut printer = Printer {
                w: out,
                debug: self.debug,
            };
            // No address is being worked on here: sendmail's e_to is unset.
            for mut m in msgs {
                m.to = None;
                printer.message(m);
            }
            return Ok(());
        }
        let table = if self.engine.rules.level >= 9 {
            Table::NoComments
        } else {
            Table::External
        };
        let mut pos = 0usize;
        loop {
            let mut scan = Scan::new(table);
            scan.delim = b',';
            let engine = &self.engine;
            let mut toks = std::mem::take(&mut self.tokens);
            let mut pmsgs = Vec::new();
            let r = prescan::prescan(
                &engine.rules.tables,
                &addrs[pos..],
                scan,
                &mut toks,
                &mut pmsgs,
            );
            {
                let mut printer = Printer {
                    w: out,
                    debug: self.debug,
                };
                for m in pmsgs {
                    printer.message(m);
                }
            }
            let delim = pos + r.end;
            if r.ok {
                let list = &list;
                self.with_call(out, |call| -> std::io::Result<()> {
                    let mut ws: Vec<_> = toks.iter().map(|t| call.syms.intern(t)).collect();
                    let mut p = 0usize;
                    while p < list.len() {
                        let (rs, complaint) = call.engine.rules.find_ruleset(&list[p..]);
                        if let Some(c) = complaint {
                            call.syserr(&c);
                        }
                        let Some(rs) = rs else {
                            let mut l = b"Undefined ruleset ".to_vec();
                            l.extend_from_slice(&list[p..]);
                            call.env.out.trace(&l);
                            break;
                        };
                        let status = call.rewrite(&mut ws, rs, 0, MAXATOM);
                        if status != EX_OK {
                            let mut l = b"== Ruleset ".to_vec();
                            l.extend_from_slice(&list[p..]);
                            l.extend_from_slice(format!(" ({rs}) status {status}").as_bytes());
                            call.env.out.trace(&l);
                        }
                        while p < list.len() {
                            p += 1;
                            if list[p - 1] == b',' {
                                break;
                            }
                        }
                    }
                    Ok(())
                })?;
            }
            self.tokens = toks;
            if delim >= addrs.len() {
                break;
            }
            pos = delim + 1;
            if pos > addrs.len() {
                break;
            }
        }
        Ok(())
    }
}

/// Reads one piece of a line as fgets() with sendmail's buffer does: up
/// to and including a newline, or MAXLINE-1 bytes. `None` at the end.
fn read_piece(input: &mut dyn BufRead) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(if line.is_empty() { None } else { Some(line) });
        }
        let room = MAXLINE - 1 - line.len();
        let take = buf.len().min(room);
        match buf[..take].iter().position(|&c| c == b'\n') {
            Some(i) => {
                line.extend_from_slice(&buf[..=i]);
                input.consume(i + 1);
                return Ok(Some(line));
            }
            None => {
                line.extend_from_slice(&buf[..take]);
                input.consume(take);
                if line.len() >= MAXLINE - 1 {
                    return Ok(Some(line));
                }
            }
        }
    }
}

/// `Unknown "X" command LINE`: what sendmail says to a line it has no
/// command for, `X` being the command's first character.
fn unknown_command(out: &mut dyn Write, kind: u8, line: &[u8]) -> std::io::Result<()> {
    out.write_all(b"Unknown \"")?;
    out.write_all(&[kind, b'"'])?;
    out.write_all(b" command ")?;
    out.write_all(line)?;
    out.write_all(b"\n")
}

/// Prints sendmail's complaints, one a line.
fn say(out: &mut dyn Write, errs: &[String]) -> std::io::Result<()> {
    for e in errs {
        out.write_all(e.as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// A mailer as `=M` prints it (printmailer()).
fn mailer_line(engine: &Engine, number: usize, m: &cfparser::model::Mailer) -> String {
    let rs = |pair: &Option<cfparser::model::mailer::RulesetPair>, header: bool| -> String {
        let n = pair
            .as_ref()
            .map(|p| {
                let name = if header {
                    p.header.as_deref().unwrap_or(&p.envelope)
                } else {
                    &p.envelope
                };
                engine.rules.find(name).unwrap_or(0)
            })
            .unwrap_or(0);
        engine.rules.sets[n]
            .name
            .clone()
            .unwrap_or_else(|| n.to_string())
    };
    let mut flags: Vec<char> = m.flags.chars().collect();
    flags.sort_unstable();
    flags.dedup();
    let flags: String = flags.into_iter().collect();
    let eol =
        String::from_utf8_lossy(&meta::printable(&crate::compile::latin1(&m.eol))).into_owned();
    let charset = m
        .charset
        .as_ref()
        .map(|c| format!(" C={c}"))
        .unwrap_or_default();
    let types = m.types.as_ref().map_or_else(
        || "<undefined>/<undefined>/<undefined>".to_string(),
        |t| format!("{}/{}/{}", t.mta, t.address, t.diagnostic),
    );
    let argv: Vec<String> = m.argv.iter().map(|a| a.to_string()).collect();
    let (uid, gid) = m.user.as_ref().map_or((-1, -1), user_ids);
    format!(
        "mailer {number} ({}): P={} S={}/{} R={}/{} M={} U={uid}:{gid} F={flags} L={} E={eol}{charset} T={types} r={} A={}",
        m.name,
        m.path,
        rs(&m.sender_rulesets, false),
        rs(&m.sender_rulesets, true),
        rs(&m.recipient_rulesets, false),
        rs(&m.recipient_rulesets, true),
        m.max_size.unwrap_or(0),
        m.line_limit.unwrap_or(0),
        m.max_recipients.unwrap_or(0),
        argv.join(" ")
    )
}

/// U= as numbers: a number is itself, a name is looked up in passwd (and
/// group), unknown is 0.
fn user_ids(u: &cfparser::options::UserSpec) -> (i64, i64) {
    let uid_and_gid = |name: &str| -> Option<(i64, i64)> {
        if let Ok(n) = name.parse::<i64>() {
            return Some((n, 0));
        }
        let (u, g) = crate::maps::passwd_ids(name.as_bytes())?;
        Some((i64::from(u), i64::from(g)))
    };
    let (uid, mut gid) = uid_and_gid(&u.user).unwrap_or((0, 0));
    if let Some(g) = &u.group {
        gid = g.parse().unwrap_or(gid);
    }
    (uid, gid)
}
