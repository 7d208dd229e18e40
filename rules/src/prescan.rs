//! sendmail's tokenizer, prescan() (parseaddr.c), byte for byte: its state
//! machine, its three token tables, backslashes, quoted strings, comments,
//! angle brackets and the repairs and limits with their messages.
//!
//! Which table is used decides what a comment is: test-mode lines keep
//! `(` `)` as tokens (TokTypeNoC), addresses from outside and map results
//! drop comments (ExtTokenTab), and the SMTP checks and map defaults use
//! the internal table, where sendmail's own metacharacters stay whole
//! (IntTokenTab).

use crate::report::{Kind, Message};
use std::ops::Range;

/// sendmail's MAXNAME: the longest token, and (minus one) the longest
/// address.
pub const MAXNAME: usize = 256;
/// sendmail's MAXATOM: the most tokens in a workspace.
pub const MAXATOM: usize = 1000;
/// sendmail's PSBUFSIZE: the bytes (and one NUL per token) prescan stores.
pub const PSBUFSIZE: usize = MAXNAME + MAXATOM;

/// Characters that always separate tokens (DELIMCHARS).
const DELIMCHARS: &[u8] = b"()<>,;\r\n";

// Character types and state bits (StateTab).
const OPR: u8 = 0;
const ATM: u8 = 1;
const QST: u8 = 2;
const SPC: u8 = 3;
const ONE: u8 = 4;
const ILL: u8 = 5;
const TYPE: u8 = 0o17;
const M: u8 = 0o20;
const B: u8 = 0o40;

/// The next state and its bits, by old state and character type.
const STATE: [[u8; 6]; 6] = [
    // OPR ATM QST SPC ONE ILL
    [OPR | B, ATM | B, QST | B, SPC | M | B, ONE | B, ILL | M | B], // OPR
    [OPR | B, ATM, QST | B, SPC | M | B, ONE | B, ILL | M | B],     // ATM
    [QST, QST, OPR, QST, QST, QST],                                 // QST
    [OPR, ATM, QST, SPC | M, ONE, ILL | M | B],                     // SPC
    [OPR, OPR, OPR, OPR, OPR, ILL | M | B],                         // ONE
    [OPR | B, ATM | B, QST | B, SPC | M | B, ONE | B, ILL | M],     // ILL
];

/// Which token table to scan with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// ExtTokenTab: addresses from outside (`/parse`, `/try`, SMTP
    /// parsing), map results, `$&x` values. Comments are dropped.
    External,
    /// IntTokenTab: check rulesets with comments removed, map defaults.
    /// Bytes 0x80-0x9f are operators, so metasymbols stay tokens.
    Internal,
    /// TokTypeNoC: `-bt` ruleset lines, header checks. `(` and `)` are
    /// operators: comments stay in the workspace.
    NoComments,
}

/// The three tables, with OperatorChars made operators. sendmail fixes
/// them at its first prescan() call; mtad when the config is compiled.
#[derive(Debug, Clone)]
pub struct Tables {
    ext: [u8; 256],
    int: [u8; 256],
    noc: [u8; 256],
}

impl Tables {
    pub fn new(operator_chars: &[u8]) -> Tables {
        let mut ext = [ATM; 256];
        for c in [b'\t', b'\n', 0x0b, 0x0c, b'\r', b' ', b'(', b')'] {
            ext[c as usize] = SPC;
        }
        ext[b'"' as usize] = QST;
        let mut int = ext;
        int[0x80..=0x9f].fill(OPR);
        for c in [0x82, 0x93, 0x94, 0x95, 0xff] {
            int[c] = ONE;
        }
        let mut noc = int;
        noc[b'(' as usize] = OPR;
        noc[b')' as usize] = OPR;
        for &c in operator_chars.iter().chain(DELIMCHARS) {
            for t in [&mut ext, &mut int, &mut noc] {
                if t[c as usize] == ATM {
                    t[c as usize] = OPR;
                }
            }
        }
        Tables { ext, int, noc }
    }

    fn table(&self, t: Table) -> &[u8; 256] {
        match t {
            Table::External => &self.ext,
            Table::Internal => &self.int,
            Table::NoComments => &self.noc,
        }
    }

    /// Whether `c` starts an atom in the internal table (cataddr puts the
    /// space substitute between two such tokens).
    pub fn is_atom_start(&self, c: u8) -> bool {
        self.int[c as usize] == ATM
    }
}

/// Tokens as prescan leaves them: their bytes in one buffer, and where
/// each token is. Reused from call to call so scanning allocates nothing
/// once warm.
#[derive(Debug, Default, Clone)]
pub struct Tokens {
    pub bytes: Vec<u8>,
    pub spans: Vec<Range<usize>>,
}

impl Tokens {
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.spans.clear();
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn get(&self, i: usize) -> &[u8] {
        &self.bytes[self.spans[i].clone()]
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.spans.iter().map(|s| &self.bytes[s.clone()])
    }
}

/// What one scan did: whether it gave tokens, and where it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scanned {
    /// false where sendmail returns NULL (an error, or no token at all).
    pub ok: bool,
    /// The offset of the delimiter that ended the scan, or of the end.
    pub end: usize,
    /// "Address too long": sendmail then cuts the caller's address to
    /// MAXNAME bytes in place, which its caller sees.
    pub cut: bool,
}

/// Options of one scan: sendmail's `delim`, `pvpbsize` and `ignore`.
#[derive(Debug, Clone, Copy)]
pub struct Scan {
    /// The byte that ends the address outside quotes, comments and angle
    /// brackets (`,` in `-bt`), or 0 for none.
    pub delim: u8,
    pub table: Table,
    /// Don't diagnose or repair bad syntax (rules read from the config).
    pub ignore: bool,
    /// The size of sendmail's token buffer.
    pub bufsize: usize,
}

impl Scan {
    pub fn new(table: Table) -> Scan {
        Scan {
            delim: 0,
            table,
            ignore: false,
            bufsize: PSBUFSIZE,
        }
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// prescan(): splits `addr` into `out`, reporting into `msgs` as
/// sendmail's usrerr() would, with the address scanned as `e_to`.
pub fn prescan(
    tables: &Tables,
    addr: &[u8],
    scan: Scan,
    out: &mut Tokens,
    msgs: &mut Vec<Message>,
) -> Scanned {
    const NOCHAR: i32 = -1;
    let tab = tables.table(scan.table);
    out.clear();
    let delim = scan.delim as i32;
    let limit = scan.bufsize.saturating_sub(5);
    let mut used = 0usize; // bytes stored, a NUL per finished token included
    let mut bslash = false;
    let mut route = false;
    let mut comments = 0i32;
    let mut angles = 0i32;
    let mut state = ATM;
    let mut c: i32 = NOCHAR;
    let mut p = 0usize;
    let at = |i: usize| -> u8 { addr.get(i).copied().unwrap_or(0) };
    let err = |msgs: &mut Vec<Message>, text: &str| {
        msgs.push(Message::new(Kind::User, text.as_bytes(), Some(addr)));
    };
    let finish = |p: usize| if p > 0 { p - 1 } else { p };
    loop {
        let start = out.bytes.len();
        let mut xlen = 0usize;
        loop {
            if c != NOCHAR && !bslash {
                if used >= limit {
                    err(msgs, "553 5.1.1 Address too long");
                    return Scanned {
                        ok: false,
                        end: finish(p),
                        cut: true,
                    };
                }
                let mut b = c as u8;
                if b == 0xff {
                    b = 0x7f;
                }
                xlen += 1;
                out.bytes.push(b);
                used += 1;
            }
            c = at(p) as i32;
            p += 1;
            if c == 0 {
                if scan.ignore {
                    break;
                } else if state == QST {
                    err(msgs, "553 Unbalanced '\"'");
                    c = b'"' as i32;
                } else if comments > 0 {
                    err(msgs, "553 Unbalanced '('");
                    c = b')' as i32;
                } else if angles > 0 {
                    c = b'>' as i32;
                    err(msgs, "553 Unbalanced '<'");
                } else {
                    break;
                }
                p -= 1;
            } else if c == delim && comments <= 0 && state != QST {
                if angles <= 0 {
                    break;
                }
                if delim == b',' as i32 && !route && !scan.ignore {
                    err(msgs, "553 Unbalanced '<'");
                    c = b'>' as i32;
                    p -= 1;
                }
            }
            if bslash {
                bslash = false;
                if comments > 0 {
                    c = NOCHAR;
                    continue;
                } else if c != b'!' as i32 || state == QST {
                    if used >= limit {
                        err(msgs, "553 5.1.1 Address too long");
                        return Scanned {
                            ok: false,
                            end: finish(p),
                            cut: true,
                        };
                    }
                    out.bytes.push(b'\\');
                    used += 1;
                    xlen += 1;
                    continue;
                }
            }
            let ch = c as u8;
            if ch == b'\\' {
                bslash = true;
            } else if state == QST {
                // inside quotes everything is text
            } else if ch == b'(' && tab[b'(' as usize] == SPC {
                comments += 1;
                c = NOCHAR;
            } else if ch == b')' && tab[b'(' as usize] == SPC {
                if comments <= 0 {
                    if !scan.ignore {
                        err(msgs, "553 Unbalanced ')'");
                        c = NOCHAR;
                    }
                } else {
                    comments -= 1;
                }
            } else if comments > 0 {
                c = NOCHAR;
            } else if ch == b'<' {
                angles += 1;
                let mut q = p;
                while is_space(at(q)) {
                    q += 1;
                }
                if at(q) == b'@' {
                    route = true;
                }
            } else if ch == b'>' {
                if angles <= 0 {
                    if !scan.ignore {
                        err(msgs, "553 Unbalanced '>'");
                        c = NOCHAR;
                    }
                } else {
                    angles -= 1;
                }
                route = false;
            } else if delim == b' ' as i32 && is_space(ch) {
                c = b' ' as i32;
            }
            if c == NOCHAR {
                continue;
            }
            if c == delim && angles <= 0 && state != QST {
                break;
            }
            let next = STATE[state as usize][tab[(c as u8) as usize] as usize];
            state = next & TYPE;
            if state == ILL {
                let cc = c as u8;
                if cc.is_ascii_graphic() || cc == b' ' {
                    err(msgs, &format!("553 Illegal character {}", cc as char));
                } else {
                    err(msgs, &format!("553 Illegal character 0x{cc:02x}"));
                }
            }
            if next & M != 0 {
                c = NOCHAR;
            }
            if next & B != 0 {
                break;
            }
        }
        if out.bytes.len() != start {
            if used >= limit {
                err(msgs, "553 5.1.1 Address too long");
                out.bytes.truncate(start);
                return Scanned {
                    ok: false,
                    end: finish(p),
                    cut: true,
                };
            }
            used += 1;
            if out.spans.len() >= MAXATOM {
                err(msgs, "553 5.1.0 prescan: too many tokens");
                return Scanned {
                    ok: false,
                    end: finish(p),
                    cut: false,
                };
            }
            if xlen > MAXNAME {
                err(msgs, "553 5.1.0 prescan: token too long");
                return Scanned {
                    ok: false,
                    end: finish(p),
                    cut: false,
                };
            }
            out.spans.push(start..out.bytes.len());
        }
        if c == 0 || (c == delim && angles <= 0) {
            break;
        }
    }
    Scanned {
        ok: !out.spans.is_empty(),
        end: finish(p),
        cut: false,
    }
}

/// invalidaddr(): sendmail refuses an address with bytes 0x80-0x9f
/// (replacing each by `?`) or longer than 255 bytes, before prescan sees
/// it. Returns true (and the message) when the address is refused.
pub fn invalid_address(addr: &mut [u8], recipient: bool, msgs: &mut Vec<Message>) -> bool {
    let mut bad = false;
    for i in 0..addr.len() {
        if addr[i] & 0o340 == 0o200 {
            bad = true;
            addr[i] = b'?';
        }
        if i + 1 > MAXNAME - 1 {
            let mut text = b"553 5.1.0 Address \"".to_vec();
            text.extend_from_slice(&addr[..i]);
            text.extend_from_slice(format!("\" too long ({} bytes max)", MAXNAME - 1).as_bytes());
            // sendmail cuts the address in place to say so, and the
            // address it names in front of the message is the cut one.
            msgs.push(Message::new(Kind::User, &text, Some(&addr[..i])));
            return true;
        }
    }
    if bad {
        let mut text = if recipient {
            b"501 5.1.3 8-bit character in mailbox address \"".to_vec()
        } else {
            b"501 5.1.7 8-bit character in mailbox address \"".to_vec()
        };
        text.extend_from_slice(addr);
        text.push(b'"');
        msgs.push(Message::new(Kind::User, &text, None));
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(input: &str, table: Table) -> (Vec<String>, Vec<String>) {
        let tables = Tables::new(b".:%@!^/[]+");
        let mut out = Tokens::default();
        let mut msgs = Vec::new();
        prescan(
            &tables,
            input.as_bytes(),
            Scan::new(table),
            &mut out,
            &mut msgs,
        );
        (
            out.iter()
                .map(|t| String::from_utf8_lossy(t).into_owned())
                .collect(),
            msgs.iter()
                .map(|m| String::from_utf8_lossy(&m.test_mode_line()).into_owned())
                .collect(),
        )
    }

    #[test]
    fn operators_quotes_and_blanks() {
        let (t, _) = scan("user%host@localhost", Table::External);
        assert_eq!(t, ["user", "%", "host", "@", "localhost"]);
        let (t, _) = scan("a\"b c\"d  e", Table::External);
        assert_eq!(t, ["a", "\"b c\"", "d", "e"]);
        let (t, _) = scan("a\\.b", Table::External);
        assert_eq!(t, ["a\\.b"]);
        let (t, _) = scan("host\\!user", Table::External);
        assert_eq!(t, ["host", "!", "user"]);
    }

    #[test]
    fn comments_by_table() {
        let (t, _) = scan("user (x) @ h", Table::External);
        assert_eq!(t, ["user", "@", "h"]);
        let (t, _) = scan("user (x) @ h", Table::NoComments);
        assert_eq!(t, ["user", "(", "x", ")", "@", "h"]);
    }

    #[test]
    fn repairs_with_messages() {
        let (t, m) = scan("\"foo", Table::NoComments);
        assert_eq!(t, ["\"foo\""]);
        assert_eq!(m, ["\"foo... Unbalanced '\"'"]);
        let (t, m) = scan("<user@host", Table::NoComments);
        assert_eq!(t, ["<", "user", "@", "host", ">"]);
        assert_eq!(m, ["<user@host... Unbalanced '<'"]);
        let (_, m) = scan("a>", Table::NoComments);
        assert_eq!(m, ["a>... Unbalanced '>'"]);
    }

    #[test]
    fn limits() {
        let long = "a".repeat(300);
        let (t, m) = scan(&long, Table::External);
        assert!(t.is_empty());
        assert!(m[0].ends_with("prescan: token too long"), "{m:?}");
        let many = "a.".repeat(700);
        let (_, m) = scan(&many, Table::External);
        assert!(m[0].ends_with("Address too long"), "{m:?}");
    }
}
