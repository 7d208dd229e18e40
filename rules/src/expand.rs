//! Macro text as sendmail keeps and expands it: translate_dollars() turns
//! `$x` and `${name}` into the internal macro byte (as `.D` and `.C` lines
//! and help texts are read), expand() replaces them and decides `$?x $|
//! $.`, byte for byte with doexpand()'s rules: a value holding metabytes
//! is expanded again (at most 10 deep), METAQUOTE passes the next byte,
//! the result is cut at the caller's buffer size.

use crate::env::Macros;
use crate::meta::{CONDELSE, CONDFI, CONDIF, MACROEXPAND, METAQUOTE};

/// sendmail's MACBUFSIZE.
const MACBUFSIZE: usize = 4096;
/// MaxMacroRecursion.
const MAX_MACRO_RECURSION: usize = 10;

/// macid_parse(): a macro or class name at the start of `p`: one
/// character, or `{name}` (letters, digits and `_`, at most 25). The name
/// (None where sendmail gets id 0), where the rest starts, and sendmail's
/// complaints.
pub fn macid_parse(p: &[u8]) -> (Option<Vec<u8>>, usize, Vec<String>) {
    let mut errs = Vec::new();
    if p.is_empty() || p.starts_with(b"{}") {
        errs.push("Name required for macro/class".to_string());
        return (None, 0, errs);
    }
    if p[0] != b'{' {
        return (Some(vec![p[0]]), 1, errs);
    }
    let mut name = Vec::new();
    let mut i = 1;
    while i < p.len() && p[i] != b'}' && name.len() < 25 {
        let c = p[i];
        if c.is_ascii_alphanumeric() || c == b'_' {
            name.push(c);
        } else {
            errs.push(format!("Invalid macro/class character {}", c as char));
        }
        i += 1;
    }
    let shown = String::from_utf8_lossy(&name).into_owned();
    let ok = if i >= p.len() {
        errs.push(format!("Unbalanced {{ on {shown}"));
        false
    } else if p[i] != b'}' {
        errs.push(format!(
            "Macro/class name ({{{shown}}}) too long (25 chars max)"
        ));
        false
    } else {
        i += 1;
        true
    };
    if !ok {
        errs.push("Unable to assign macro/class ID (mid = 0xffffffff)".to_string());
        return (None, i, errs);
    }
    (Some(name), i, errs)
}

/// The name after a macro byte in mtad's internal form: one byte, or
/// `{name}`. The name and how many bytes it took.
fn name_at(s: &[u8], i: usize) -> (&[u8], usize) {
    match s.get(i) {
        None | Some(0) => (&[], 0),
        Some(b'{') => match s[i..].iter().position(|&c| c == b'}') {
            Some(e) => (&s[i + 1..i + e], e + 1),
            None => (&s[i..i + 1], 1),
        },
        Some(_) => (&s[i..i + 1], 1),
    }
}

/// translate_dollars() on a line of config text (`.D` values, help
/// lines): bytes 0x80-0x9f and 0xff quoted, `#` comments removed (config
/// level 3 on), `$$` a dollar, `$x`/`${name}` (and `$=` `$~` `$&` `$?`
/// with their letter kept) the macro byte, trailing blanks dropped.
pub fn translate_dollars(s: &[u8]) -> Vec<u8> {
    let mut q: Vec<u8> = Vec::with_capacity(s.len() + 8);
    for &c in s {
        if (0x80..=0x9f).contains(&c) || c == 0xff {
            q.push(METAQUOTE);
        }
        q.push(c);
    }
    let mut out: Vec<u8> = Vec::with_capacity(q.len());
    let mut i = 0;
    while i < q.len() {
        let c = q[i];
        if c == b'#' && !out.is_empty() {
            match out.last().copied() {
                Some(MACROEXPAND) => {
                    out.push(c);
                    i += 1;
                    continue;
                }
                Some(b'\\') => {
                    out.pop();
                    out.push(c);
                    i += 1;
                    continue;
                }
                _ => {
                    while out
                        .last()
                        .is_some_and(|&b| b != b'\n' && b.is_ascii_whitespace())
                    {
                        out.pop();
                    }
                    match q[i..].iter().position(|&b| b == b'\n') {
                        Some(nl) => {
                            i += nl;
                            continue;
                        }
                        None => break,
                    }
                }
            }
        }
        if c != b'$' || i + 1 >= q.len() {
            out.push(c);
            i += 1;
            continue;
        }
        if q[i + 1] == b'$' {
            out.push(b'$');
            i += 2;
            continue;
        }
        out.push(MACROEXPAND);
        i += 1;
        if matches!(q[i], b'=' | b'~' | b'&' | b'?') {
            out.push(q[i]);
            i += 1;
        }
        let (name, used, _) = macid_parse(&q[i..]);
        match name {
            Some(n) if n.len() == 1 => out.push(n[0]),
            Some(n) => {
                out.push(b'{');
                out.extend_from_slice(&n);
                out.push(b'}');
            }
            None => out.push(0),
        }
        i += used.max(1).min(q.len() - i);
    }
    while out.last().is_some_and(u8::is_ascii_whitespace) && out.len() > 1 {
        out.pop();
    }
    if let Some(z) = out.iter().position(|&b| b == 0) {
        out.truncate(z);
    }
    out
}

/// expand(s, buf, bufsize): macro bytes replaced by their values and
/// conditionals decided, the result at most `bufsize - 1` bytes. `ctl`
/// is told of a recursion that went too deep.
pub fn expand(macros: &Macros, s: &[u8], bufsize: usize) -> Vec<u8> {
    let mut out = doexpand(macros, s, 0);
    out.truncate(bufsize.saturating_sub(1));
    out
}

fn doexpand(macros: &Macros, s: &[u8], level: usize) -> Vec<u8> {
    let cap = MACBUFSIZE - 1;
    let mut xp: Vec<u8> = Vec::with_capacity(s.len().min(cap));
    let (mut recurse, mut skipping, mut quotenext) = (false, false, false);
    let (mut skiplev, mut iflev) = (0i32, 0i32);
    let mut i = 0;
    while i < s.len() && s[i] != 0 {
        let c = s[i];
        let mut q: Option<&[u8]> = None;
        if quotenext {
            quotenext = false;
        } else {
            match c {
                CONDIF => {
                    iflev += 1;
                    let (name, used) = name_at(s, i + 1);
                    if skipping {
                        skiplev += 1;
                    } else {
                        skipping = macros.get(name).is_none_or(|v| v.is_empty());
                    }
                    i += 1 + used;
                    continue;
                }
                CONDELSE if iflev > 0 => {
                    if skiplev == 0 {
                        skipping = !skipping;
                    }
                    i += 1;
                    continue;
                }
                CONDFI if iflev > 0 => {
                    iflev -= 1;
                    if skiplev == 0 {
                        skipping = false;
                    }
                    if skipping {
                        skiplev -= 1;
                    }
                    i += 1;
                    continue;
                }
                MACROEXPAND => {
                    let (name, used) = name_at(s, i + 1);
                    i += 1 + used;
                    if used == 0 {
                        continue;
                    }
                    match macros.get(name) {
                        Some(v) => q = Some(v),
                        None => continue,
                    }
                    i -= 1; // the loop's own step below
                }
                METAQUOTE => quotenext = true,
                _ => {}
            }
        }
        i += 1;
        if skipping || xp.len() >= cap {
            continue;
        }
        match q {
            None => xp.push(c),
            Some(v) => {
                let mut hide = false;
                for &b in v {
                    if b == 0 || xp.len() >= cap {
                        break;
                    }
                    if !hide && b & 0o340 == 0o200 {
                        recurse = true;
                    }
                    xp.push(b);
                    hide = b == METAQUOTE;
                }
            }
        }
    }
    if recurse && level < MAX_MACRO_RECURSION {
        return doexpand(macros, &xp, level + 1);
    }
    xp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_and_expansion() {
        let mut m = Macros::with_metasymbols();
        m.set(b"j", b"mail.lab.example");
        m.set(b"client_addr", b"192.0.2.1");
        let t = translate_dollars(b"x $j ${client_addr} $$ # comment");
        assert_eq!(expand(&m, &t, 2048), b"x mail.lab.example 192.0.2.1 $");
        let t = translate_dollars(b"$?j yes $| no $.");
        assert_eq!(expand(&m, &t, 2048), b" yes ");
        let t = translate_dollars(b"$?k yes $| no $.");
        assert_eq!(expand(&m, &t, 2048), b" no ");
    }
}
