//! The messages the engine gives, as sendmail's usrerr() and syserr() make
//! them: a reply code, maybe an enhanced status code, the text, and the
//! address being worked on (`e_to`), which sendmail puts before the text
//! for some codes only. `-bt` prints them one way, SMTP another; both
//! come from here.

/// sendmail's MAXSHORTSTR: longer addresses are shown as head `...` tail.
const MAXSHORTSTR: usize = 203;

/// Who raised a message: a user error (bad input) or a system error (a
/// broken config or a limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    System,
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: Kind,
    /// The three-digit reply code (`553`).
    pub code: [u8; 3],
    /// The enhanced status code given with the code, if any (`5.1.1`).
    pub enhanced: Option<String>,
    /// The text after the codes.
    pub text: Vec<u8>,
    /// The address being worked on when the message was raised.
    pub to: Option<Vec<u8>>,
}

impl Message {
    /// A message from sendmail's format: `"553 5.1.1 Address too long"`
    /// or `"553 Unbalanced '<'"` or text without a code.
    pub fn new(kind: Kind, formatted: &[u8], to: Option<&[u8]>) -> Message {
        let default: [u8; 3] = match kind {
            Kind::User => *b"501",
            Kind::System => *b"554",
        };
        let (code, rest) = split_code(formatted).unwrap_or((default, formatted));
        let (enhanced, rest) = match enhanced_len(rest) {
            Some(l) if rest.get(l) == Some(&b' ') => (
                Some(String::from_utf8_lossy(&rest[..l]).into_owned()),
                &rest[l + 1..],
            ),
            _ => (None, rest),
        };
        Message {
            kind,
            code,
            enhanced,
            text: rest.to_vec(),
            to: to.map(<[u8]>::to_vec),
        }
    }

    /// Whether sendmail puts `<to>... ` before the text for this code.
    fn shows_address(&self) -> bool {
        matches!(
            &self.code,
            b"050" | b"250" | b"252" | b"450" | b"550" | b"553"
        )
    }

    /// The reply line as sendmail's SMTP server sends it: the code, the
    /// enhanced code (`x.0.0` of the code's class when the message has
    /// none), `<addr>... ` where the code shows it, the text.
    pub fn smtp_reply(&self) -> String {
        let code = String::from_utf8_lossy(&self.code).into_owned();
        let enhanced = self
            .enhanced
            .clone()
            .unwrap_or_else(|| format!("{}.0.0", self.code[0] as char));
        let mut line: Vec<u8> = format!("{code} {enhanced} ").into_bytes();
        if let Some(to) = &self.to
            && !to.is_empty()
            && self.shows_address()
        {
            line.extend_from_slice(&shorten(to));
            line.extend_from_slice(b"... ");
        }
        line.extend_from_slice(&self.text);
        // fmtmsg() strips the eighth bit; a reply is one line (other
        // control bytes go back as the client sent them, as sendmail's do).
        line.iter()
            .map(|b| b & 0x7f)
            .filter(|b| !matches!(b, b'\r' | b'\n' | 0))
            .map(char::from)
            .collect()
    }

    /// The text as `-bt` prints it: without the codes, with `addr... `
    /// before it where sendmail puts it (the address with 8-bit bytes
    /// masked to seven bits, shortened as shortenstring() does).
    pub fn test_mode_line(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(to) = &self.to
            && !to.is_empty()
            && self.shows_address()
        {
            out.extend(shorten(to).iter().map(|b| b & 0x7f));
            out.extend_from_slice(b"... ");
        }
        // fmtmsg() strips the eighth bit of the whole message.
        out.extend(self.text.iter().map(|b| b & 0x7f));
        out
    }
}

/// `NNN ` at the start of a string (ISSMTPCODE: three digits, then a
/// blank or `-`; `050` is a note, shown in verbose mode only).
fn split_code(s: &[u8]) -> Option<([u8; 3], &[u8])> {
    if s.len() >= 4
        && s[0].is_ascii_digit()
        && s[1].is_ascii_digit()
        && s[2].is_ascii_digit()
        && (s[3] == b' ' || s[3] == b'-')
    {
        Some(([s[0], s[1], s[2]], &s[4..]))
    } else {
        None
    }
}

/// The length of an enhanced status code `x.y.z` at the start of `s`
/// (isenhsc: class 2, 4 or 5, then up to three and three digits).
pub fn enhanced_len(s: &[u8]) -> Option<usize> {
    if s.len() < 5 || !matches!(s[0], b'2' | b'4' | b'5') || s[1] != b'.' {
        return None;
    }
    let mut i = 2;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < s.len() && s[*i].is_ascii_digit() && *i - start < 3 {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) || s.get(i) != Some(&b'.') {
        return None;
    }
    i += 1;
    if !digits(&mut i) {
        return None;
    }
    Some(i)
}

/// shortenstring(s, MAXSHORTSTR): the first and last 100 bytes around
/// `...` when longer.
pub fn shorten(s: &[u8]) -> Vec<u8> {
    if s.len() < MAXSHORTSTR {
        return s.to_vec();
    }
    let half = (MAXSHORTSTR - 3) / 2;
    let mut out = s[..half].to_vec();
    out.extend_from_slice(b"...");
    out.extend_from_slice(&s[s.len() - half..]);
    out
}

/// An I/O error's text as strerror() gives it ("No such file or
/// directory"), without Rust's "(os error 2)".
pub fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_address() {
        let m = Message::new(Kind::User, b"553 5.1.1 Address too long", Some(b"x@y"));
        assert_eq!(m.enhanced.as_deref(), Some("5.1.1"));
        assert_eq!(m.test_mode_line(), b"x@y... Address too long");
        let m = Message::new(Kind::System, b"Unknown ruleset foo", Some(b"x"));
        assert_eq!(m.test_mode_line(), b"Unknown ruleset foo");
        assert_eq!(enhanced_len(b"5.7.1 x"), Some(5));
        assert_eq!(enhanced_len(b"550 x"), None);
    }
}
