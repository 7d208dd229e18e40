//! SMTP paths (RFC 5321 4.1.2): `<user@domain>`, `<>`, source routes,
//! quoted local parts, address literals.
//!
//! The parse is strict where it matters for relaying: the domain is what
//! follows the one `@` outside quotes, a source route is dropped (RFC 5321
//! appendix C), and anything else (`u@v@w`, an `@` in a bare local part) is
//! a syntax error. `%` and `!` stay in the local part, where they are just
//! characters: `u%other@local` is the local user `u%other`, who does not
//! exist, never a route to `other`.

/// A parsed mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// The local part as written (quotes kept).
    pub local: String,
    /// The domain, or an address literal such as `[192.0.2.1]`; `None` for
    /// an unqualified address.
    pub domain: Option<String>,
}

impl Mailbox {
    /// `local@domain`, or `local`.
    pub fn to_addr(&self) -> String {
        match &self.domain {
            Some(d) => format!("{}@{d}", self.local),
            None => self.local.clone(),
        }
    }
}

/// A path: the null path `<>` or a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Path {
    Null,
    Mailbox(Mailbox),
}

/// Why a path is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError(pub &'static str);

/// The longest local part and domain RFC 5321 4.5.3.1 allows.
const MAX_LOCAL: usize = 64;
const MAX_DOMAIN: usize = 255;

/// Parses what was between the angle brackets (or the bare address).
pub fn parse_path(text: &str) -> Result<Path, PathError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(Path::Null);
    }
    // A source route, `@a,@b:user@c`: dropped, as RFC 5321 says a
    // server SHOULD; the mail goes to user@c like any other.
    let t = if t.starts_with('@') {
        match t.find(':') {
            Some(colon) => {
                let route = &t[..colon];
                if !route
                    .split(',')
                    .all(|hop| hop.len() > 1 && hop.starts_with('@') && is_domain(&hop[1..]))
                {
                    return Err(PathError("malformed source route"));
                }
                &t[colon + 1..]
            }
            None => return Err(PathError("source route without a mailbox")),
        }
    } else {
        t
    };
    parse_mailbox(t).map(Path::Mailbox)
}

fn parse_mailbox(t: &str) -> Result<Mailbox, PathError> {
    let bytes = t.as_bytes();
    let (local, rest) = if bytes.first() == Some(&b'"') {
        // quoted-string: ends at the first unescaped quote.
        let mut i = 1;
        let mut end = None;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => {
                    end = Some(i);
                    break;
                }
                // No control characters, quoted or not: the address ends
                // up in headers and logs.
                b if b < 0x20 || b == 0x7f => {
                    return Err(PathError("control character in address"));
                }
                _ => i += 1,
            }
        }
        let end = end.ok_or(PathError("unbalanced quote"))?;
        (&t[..=end], &t[end + 1..])
    } else {
        match t.find('@') {
            Some(at) => (&t[..at], &t[at..]),
            None => (t, ""),
        }
    };
    if local.is_empty() {
        return Err(PathError("empty local part"));
    }
    if local.len() > MAX_LOCAL {
        return Err(PathError("local part too long"));
    }
    if !local.starts_with('"') && !local.bytes().all(is_atext_or_dot) {
        return Err(PathError("invalid character in local part"));
    }
    let domain = match rest.strip_prefix('@') {
        None if rest.is_empty() => None,
        None => return Err(PathError("text after the local part")),
        Some(d) => {
            if d.len() > MAX_DOMAIN {
                return Err(PathError("domain too long"));
            }
            if !(is_domain(d) || is_address_literal(d)) {
                return Err(PathError("invalid domain"));
            }
            Some(d.to_string())
        }
    };
    Ok(Mailbox {
        local: local.to_string(),
        domain,
    })
}

/// atext (RFC 5322) and dot; `%` and `!` are atext. No `@`, no spaces, no
/// quotes, no control characters.
fn is_atext_or_dot(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b) || b >= 0x80
}

/// A domain name: labels of letters, digits and hyphens (and 8-bit bytes
/// for IDNs in UTF-8), separated by dots; a trailing dot is allowed.
fn is_domain(d: &str) -> bool {
    let d = d.strip_suffix('.').unwrap_or(d);
    !d.is_empty()
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b >= 0x80)
        })
}

/// `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
fn is_address_literal(d: &str) -> bool {
    let Some(inner) = d.strip_prefix('[').and_then(|d| d.strip_suffix(']')) else {
        return false;
    };
    if let Some(v6) = inner
        .strip_prefix("IPv6:")
        .or_else(|| inner.strip_prefix("ipv6:"))
    {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    inner.parse::<std::net::Ipv4Addr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mb(s: &str) -> Mailbox {
        match parse_path(s) {
            Ok(Path::Mailbox(m)) => m,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn plain_null_and_unqualified() {
        assert_eq!(parse_path("").unwrap(), Path::Null);
        let m = mb("user@example.org");
        assert_eq!(
            (m.local.as_str(), m.domain.as_deref()),
            ("user", Some("example.org"))
        );
        assert_eq!(mb("root").domain, None);
        assert_eq!(mb("u@[192.0.2.1]").domain.as_deref(), Some("[192.0.2.1]"));
        assert_eq!(mb("u@[IPv6:::1]").domain.as_deref(), Some("[IPv6:::1]"));
    }

    #[test]
    fn relay_tricks_are_not_routes() {
        // The percent hack and bang paths are local parts, nothing more.
        let m = mb("u%other.example@mail.lab.example");
        assert_eq!(m.local, "u%other.example");
        assert_eq!(m.domain.as_deref(), Some("mail.lab.example"));
        assert_eq!(mb("other.example!u").domain, None);
        // A source route is dropped: the destination is the last part.
        let m = mb("@a.example,@b.example:u@c.example");
        assert_eq!(m.to_addr(), "u@c.example");
        // A quoted local part may hold an @; the domain is what follows it.
        let m = mb("\"u@other.example\"@mail.lab.example");
        assert_eq!(m.domain.as_deref(), Some("mail.lab.example"));
        // Two unquoted @ are not an address.
        assert!(parse_path("u@v@w").is_err());
    }

    #[test]
    fn malformed_paths() {
        for bad in [
            "@a.example",
            "@:u@c",
            "u@",
            "@",
            "u@-bad..example",
            "\"unterminated@x",
            "u v@example.org",
            "u@[999.1.1.1]",
            "u@exa mple.org",
            "\"a\u{1}b\"@x.org",
            "\"a\tb\"@x.org",
        ] {
            assert!(parse_path(bad).is_err(), "{bad} should be refused");
        }
        assert!(parse_path(&format!("{}@x.org", "a".repeat(65))).is_err());
    }
}
