//! sendmail's internal metacharacters. A rule, a workspace and a map result
//! are all vectors of byte strings; a metasymbol is a token whose first
//! byte is one of these codes (sendmail.h). Keeping sendmail's encoding
//! makes literal comparison, cataddr and printing behave exactly as there:
//! a `$#` that a map returned is the same token as the `$#` of a rule.

pub const MATCHZANY: u8 = 0o220; // $*
pub const MATCHANY: u8 = 0o221; // $+
pub const MATCHONE: u8 = 0o222; // $-
pub const MATCHCLASS: u8 = 0o223; // $=X
pub const MATCHNCLASS: u8 = 0o224; // $~X
pub const MATCHREPL: u8 = 0o225; // $1..$9
pub const CANONNET: u8 = 0o226; // $#
pub const CANONHOST: u8 = 0o227; // $@ (MATCHZERO on a LHS)
pub const CANONUSER: u8 = 0o230; // $:
pub const CALLSUBR: u8 = 0o231; // $>
pub const CONDIF: u8 = 0o232; // $?
pub const CONDELSE: u8 = 0o233; // $|
pub const CONDFI: u8 = 0o234; // $.
pub const HOSTBEGIN: u8 = 0o235; // $[
pub const HOSTEND: u8 = 0o236; // $]
pub const LOOKUPBEGIN: u8 = 0o205; // $(
pub const LOOKUPEND: u8 = 0o206; // $)
pub const MACROEXPAND: u8 = 0o201; // $x
pub const MACRODEXPAND: u8 = 0o202; // $&x
pub const METAQUOTE: u8 = 0o377;

/// The letter xputs prints after `$` for a one-byte metasymbol.
fn meta_letter(b: u8) -> Option<u8> {
    Some(match b {
        MATCHZANY => b'*',
        MATCHANY => b'+',
        MATCHONE => b'-',
        CANONNET => b'#',
        CANONHOST => b'@',
        CANONUSER => b':',
        CALLSUBR => b'>',
        CONDIF => b'?',
        CONDELSE => b'|',
        CONDFI => b'.',
        HOSTBEGIN => b'[',
        HOSTEND => b']',
        LOOKUPBEGIN => b'(',
        LOOKUPEND => b')',
        _ => return None,
    })
}

/// A token as sendmail's xputs() prints it: metasymbols as `$` and their
/// letter (`$=w`, `$={VirtHost}`, `$&{name}`, `$1`), other bytes from 0x80
/// as `M-` and the low seven bits, printable ASCII as is, `\n` `\r` `\t`
/// as two characters, other control characters and DEL as nothing.
/// `names` turns the id byte of `$=X`, `$~X` and `$&x` into a name.
pub fn xputs(out: &mut Vec<u8>, tok: &[u8], names: &dyn Fn(u8) -> Vec<u8>) {
    let mut i = 0;
    while i < tok.len() {
        let mut c = tok[i];
        i += 1;
        if c >= 0x80 {
            if c == MATCHREPL {
                out.push(b'$');
                if let Some(&d) = tok.get(i) {
                    i += 1;
                    put_ascii(out, d);
                }
                continue;
            }
            if c == MACROEXPAND || c == MACRODEXPAND {
                out.push(b'$');
                if c == MACRODEXPAND {
                    out.push(b'&');
                }
                if let Some(&d) = tok.get(i)
                    && b"=~&?".contains(&d)
                {
                    out.push(d);
                    i += 1;
                }
                if let Some(&id) = tok.get(i) {
                    put_name(out, id, names);
                    i += 1;
                }
                continue;
            }
            if let Some(l) = meta_letter(c) {
                out.push(b'$');
                out.push(l);
                continue;
            }
            if c == MATCHCLASS || c == MATCHNCLASS {
                out.push(b'$');
                out.push(if c == MATCHCLASS { b'=' } else { b'~' });
                if let Some(&id) = tok.get(i) {
                    put_name(out, id, names);
                    i += 1;
                }
                continue;
            }
            out.extend_from_slice(b"M-");
            c &= 0x7f;
        }
        put_ascii(out, c);
    }
}

/// A macro or class id: a one-character name is its own byte; a long
/// name has the high bit set and is shown as `{name}`.
fn put_name(out: &mut Vec<u8>, id: u8, names: &dyn Fn(u8) -> Vec<u8>) {
    if id & 0x80 == 0 {
        out.push(id);
    } else {
        out.push(b'{');
        out.extend_from_slice(&names(id & 0x7f));
        out.push(b'}');
    }
}

fn put_ascii(out: &mut Vec<u8>, c: u8) {
    match c {
        0x20..=0x7e => out.push(c),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        _ => {}
    }
}

/// xputs() for a string without metasymbols needing names.
pub fn printable(tok: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(tok.len());
    xputs(&mut out, tok, &|_| Vec::new());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_as_xputs() {
        assert_eq!(printable(&[CANONNET]), b"$#");
        assert_eq!(printable(b"a\tb\x01"), b"a\\tb");
        assert_eq!(printable(&[0xe9]), b"M-i");
    }
}
