//! The daemon's decisions by sendmail's own code paths, in one place. Issue
//! 10 grows this into the one caller of the ruleset engine (the verdicts
//! for RCPT, VRFY and EXPN, the triple for delivery); for now it holds the
//! first step of sendmail's parseaddr() on a MAIL or RCPT address:
//! prescan() with the config's OperatorChars, then invalidaddr(), each
//! failure with sendmail's reply (`553 5.0.0 <a@b... Unbalanced '<'`,
//! `501 5.1.7 8-bit character in mailbox address "<a?b@c>"`).

use rules::prescan::{self, Scan, Table, Tables};

/// Checks `bytes`, what follows `FROM:` or `TO:` as the client sent it
/// (the address, then maybe ESMTP parameters after a blank), as
/// parseaddr() does before any rule runs. `Err` is the reply.
pub fn address_syntax(tables: &Tables, bytes: &[u8], recipient: bool) -> Result<(), String> {
    let mut scan = Scan::new(Table::External);
    scan.delim = b' ';
    let mut tokens = prescan::Tokens::default();
    let mut msgs = Vec::new();
    let r = prescan::prescan(tables, bytes, scan, &mut tokens, &mut msgs);
    if let Some(m) = msgs.into_iter().next() {
        return Err(with_address(m, bytes).smtp_reply());
    }
    if !r.ok {
        return Err("553 5.1.3 Syntax error in address".into());
    }
    // invalidaddr() looks at the address only, up to the delimiter.
    let mut address = bytes[..r.end.min(bytes.len())].to_vec();
    let mut msgs = Vec::new();
    if prescan::invalid_address(&mut address, recipient, &mut msgs) {
        let reply = msgs
            .into_iter()
            .next()
            .map(|m| with_address(m, bytes).smtp_reply())
            .unwrap_or_else(|| "553 5.1.3 Syntax error in address".into());
        return Err(reply);
    }
    Ok(())
}

/// The message as sendmail says it with `e_to` set to the address.
fn with_address(mut m: rules::report::Message, text: &[u8]) -> rules::report::Message {
    if m.to.is_none() {
        m.to = Some(text.to_vec());
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, recipient: bool) -> Result<(), String> {
        address_syntax(&Tables::new(b".:@[]"), text.as_bytes(), recipient)
    }

    fn check_bytes(bytes: &[u8], recipient: bool) -> Result<(), String> {
        address_syntax(&Tables::new(b".:@[]"), bytes, recipient)
    }

    #[test]
    fn replies_as_the_real_sendmail() {
        assert_eq!(
            check_bytes(b"<a\x80b@c>", true).unwrap_err(),
            "501 5.1.3 8-bit character in mailbox address \"<a?b@c>\""
        );
        // invalidaddr() refuses 0x80-0x9f only: `ÿ` in UTF-8 (c3 bf) passes.
        assert_eq!(check("<a\u{ff}b@c>", true), Ok(()));
        // Each reply below is what sendmail 8.17 answered to MAIL FROM:.
        assert_eq!(check("<a@b>", false), Ok(()));
        assert_eq!(check("<a@b> SIZE=10", false), Ok(()));
        assert_eq!(check("<\"a b\"@c>", false), Ok(()));
        assert_eq!(
            check("<a@b", false).unwrap_err(),
            "553 5.0.0 <a@b... Unbalanced '<'"
        );
        assert_eq!(
            check("a@b>", false).unwrap_err(),
            "553 5.0.0 a@b>... Unbalanced '>'"
        );
        assert_eq!(
            check("<\"a@b>", false).unwrap_err(),
            "553 5.0.0 <\"a@b>... Unbalanced '\"'"
        );
        assert_eq!(
            check("<a(b@c>", false).unwrap_err(),
            "553 5.0.0 <a(b@c>... Unbalanced '('"
        );
        assert_eq!(
            check("<a@b)>", false).unwrap_err(),
            "553 5.0.0 <a@b)>... Unbalanced ')'"
        );
        assert_eq!(
            check_bytes(b"<a\x80b@c>", false).unwrap_err(),
            "501 5.1.7 8-bit character in mailbox address \"<a?b@c>\""
        );
    }
}
