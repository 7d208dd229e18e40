//! crackaddr() (headers.c): a header address with its address part
//! replaced by `$g`, keeping the display phrase, the comments and the
//! group syntax, quoting a phrase that needs it and repairing unbalanced
//! quotes, comments and angle brackets. remotename() puts the rewritten
//! address back into this frame, so a From: header keeps its name.
//!
//! The walk follows sendmail's character by character, with its spare-room
//! bookkeeping (`buflim`), so that what it keeps, quotes and repairs is
//! sendmail's: headers rewritten by mtad read as sendmail writes them.

use crate::meta::MACROEXPAND;

/// sendmail's buffer: MAXNAME bytes and a NUL.
const BUFSIZE: usize = 256 + 1;

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `<$g>`: what sendmail gives when the result would not fit.
fn punt() -> Vec<u8> {
    vec![b'<', MACROEXPAND, b'g', b'>']
}

/// crackaddr(addr). `must_quote` is MustQuoteChars; `colon_ok` is
/// ColonOkInAddr (false from config level 6 on: `:` starts a group).
pub fn crackaddr(addr: &[u8], must_quote: &[u8], colon_ok: bool) -> Vec<u8> {
    let addr = match addr.iter().position(|&c| c == 0) {
        Some(n) => &addr[..n],
        None => addr,
    };
    let bufend = BUFSIZE - 1;
    let mut buf: Vec<u8> = Vec::with_capacity(BUFSIZE);
    let mut buflim = bufend;
    macro_rules! room {
        () => {
            buf.len() < buflim && buflim <= bufend
        };
    }
    macro_rules! append {
        ($c:expr) => {{
            let c: u8 = $c;
            if room!() {
                buf.push(c);
            } else {
                return punt();
            }
        }};
    }
    let n = addr.len();
    let at = |i: usize| -> u8 { if i < n { addr[i] } else { 0 } };
    let mut start = 0usize;
    while start < n && is_space(addr[start]) {
        append!(addr[start]);
        start += 1;
    }
    let mut bufhead = buf.len();
    let (mut p, mut addrhead) = (start, start);
    let (mut copylev, mut anglelev, mut cmtlev, mut realcmtlev, mut bracklev) =
        (0i32, 0i32, 0i32, 0i32, 0i32);
    let (mut qmode, mut realqmode, mut addangle) = (false, false, false);
    let (mut putgmac, mut quoteit, mut gotangle, mut gotcolon) = (false, false, false, false);
    while p < n {
        let mut c = addr[p];
        p += 1;
        if copylev > 0 {
            append!(c);
        }
        let mut putg = false;
        if c == b'\\' {
            if cmtlev <= 0 && !qmode {
                quoteit = true;
            }
            if p < n {
                c = addr[p];
                p += 1;
                if copylev > 0 {
                    append!(c);
                }
            }
            putg = true;
        } else if c == b'"' && cmtlev <= 0 {
            qmode = !qmode;
            if copylev > 0 && room!() {
                if realqmode {
                    buflim -= 1;
                } else {
                    buflim += 1;
                }
                realqmode = !realqmode;
            }
            continue;
        } else if qmode {
            putg = true;
        }
        if !putg {
            if c == b'(' {
                cmtlev += 1;
                if room!() {
                    buflim -= 1;
                    realcmtlev += 1;
                    let was = copylev;
                    copylev += 1;
                    if was <= 0 {
                        if buf.len() != bufhead {
                            append!(b' ');
                        }
                        append!(c);
                    }
                }
            }
            if cmtlev > 0 {
                if c == b')' {
                    cmtlev -= 1;
                    copylev -= 1;
                    if room!() {
                        realcmtlev -= 1;
                        buflim += 1;
                    }
                }
                continue;
            } else if c == b')' && copylev > 0 && room!() && buf.len() > bufhead {
                // an unmatched `)`
                buf.pop();
            }
            if c == b'[' {
                bracklev += 1;
            } else if c == b']' {
                bracklev -= 1;
            }
            if c == b':' && anglelev <= 0 && bracklev <= 0 && !gotcolon && !colon_ok {
                if at(p) == b':' || at(p) == b'.' {
                    // DECnet's `host::user` and `:.`
                    if cmtlev <= 0 && !qmode {
                        quoteit = true;
                    }
                    if copylev > 0 {
                        append!(c);
                        append!(at(p));
                    }
                    p += 1;
                    putg = true;
                } else {
                    gotcolon = true;
                    buf.truncate(bufhead);
                    if quoteit {
                        append!(b'"');
                        p = back_over_blanks(addr, start, p - 1);
                    }
                    for &q in copied(addr, addrhead, p) {
                        if quoteit && q == b'"' {
                            append!(b'\\');
                        }
                        append!(q);
                    }
                    if quoteit {
                        if buf.len() == bufhead + 1 {
                            buf.pop();
                        } else {
                            append!(b'"');
                        }
                        loop {
                            let c = at(p);
                            p += 1;
                            append!(c);
                            if c == b':' || p > n {
                                break;
                            }
                        }
                    }
                    while p < n && is_space(addr[p]) {
                        append!(addr[p]);
                        p += 1;
                    }
                    copylev = 0;
                    putgmac = false;
                    quoteit = false;
                    bufhead = buf.len();
                    addrhead = p;
                    continue;
                }
            }
        }
        if !putg {
            if c == b';' && copylev <= 0 && !colon_ok {
                append!(c);
            }
            if must_quote.contains(&c) && cmtlev <= 0 && !qmode {
                quoteit = true;
            }
            if c == b'<' {
                if gotangle {
                    quoteit = true;
                }
                gotangle = true;
                anglelev = 1;
                if room!() {
                    if !addangle {
                        buflim -= 1;
                    }
                    addangle = true;
                }
                buf.truncate(bufhead);
                if quoteit {
                    append!(b'"');
                    p = back_over_blanks(addr, start, p - 1);
                }
                for &q in copied(addr, addrhead, p) {
                    if quoteit && q == b'"' {
                        append!(b'\\');
                    }
                    append!(q);
                }
                if quoteit {
                    if buf.len() == 1 {
                        buf.pop();
                    } else {
                        append!(b'"');
                    }
                    loop {
                        let c = at(p);
                        p += 1;
                        append!(c);
                        if c == b'<' || p > n {
                            break;
                        }
                    }
                }
                copylev = 0;
                putgmac = false;
                quoteit = false;
                continue;
            }
            if c == b'>' {
                if anglelev > 0 {
                    anglelev -= 1;
                    if room!() {
                        if addangle {
                            buflim += 1;
                        }
                        addangle = false;
                    }
                } else if room!() {
                    // an unmatched `>`
                    if copylev > 0 && buf.len() > bufhead {
                        buf.pop();
                    }
                    quoteit = true;
                    continue;
                }
                let was = copylev;
                copylev += 1;
                if was <= 0 {
                    append!(c);
                }
                continue;
            }
        }
        // a real address character
        if copylev <= 0 && !putgmac {
            if buf.last() == Some(&b')') {
                append!(b' ');
            }
            append!(MACROEXPAND);
            append!(b'g');
            putgmac = true;
        }
    }
    if realqmode && buf.len() < bufend {
        buf.push(b'"');
    }
    while realcmtlev > 0 && buf.len() < bufend {
        buf.push(b')');
        realcmtlev -= 1;
    }
    if addangle && buf.len() < bufend {
        buf.push(b'>');
    }
    if buf.len() < bufend { buf } else { punt() }
}

/// sendmail's `for (q = addrhead; q < p; )`: nothing when backing over
/// the blanks left `p` at or before `addrhead`.
fn copied(addr: &[u8], addrhead: usize, p: usize) -> &[u8] {
    &addr[addrhead.min(p)..p]
}

/// From `at` (the `<` or `:`), back over it and the blanks before it: the
/// place just after the last other character, as sendmail's
/// `--p; while (p > addr && isspace(*--p)); p++` leaves it.
fn back_over_blanks(addr: &[u8], start: usize, at: usize) -> usize {
    let mut p = at;
    while p > start {
        p -= 1;
        if !(addr[p].is_ascii() && is_space(addr[p])) {
            break;
        }
    }
    p + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::printable;

    fn shown(a: &str) -> String {
        String::from_utf8_lossy(&printable(&crackaddr(a.as_bytes(), b"@,;:\\()[].'", false)))
            .into_owned()
    }

    #[test]
    fn as_sendmail_cracks() {
        assert_eq!(shown("user"), "$g");
        assert_eq!(shown("\"quoted local\"@example.com"), "$g");
        assert_eq!(shown("<@a,@b:user@c>"), "<$g>");
        assert_eq!(
            shown("Real Name <real@example.com> (Comment)"),
            "Real Name <$g> (Comment)"
        );
        assert_eq!(shown("list: a@b, c@d;"), "list: $g;");
        assert_eq!(shown("<a><b>"), "\"<a>\"<$g>");
        assert_eq!(shown("<>"), "<>");
        assert_eq!(shown("(x"), "(x)");
        assert_eq!(shown("<a@b>>"), "<$g>");
        assert_eq!(
            shown("undisclosed-recipients:;"),
            "undisclosed-recipients:;$g"
        );
    }

    #[test]
    fn a_phrase_backed_over_to_nothing_copies_nothing() {
        // Found by the testmode fuzzer: the blanks before the second `<`
        // run back past the group's start. sendmail prints these.
        assert_eq!(shown("a <>: <"), "a <>: \"\" <>");
        assert_eq!(
            crackaddr(b"<>:\r<", b"@,;:\\()[].'", false),
            b"<>:\r\"\"\r<>"
        );
    }
}
