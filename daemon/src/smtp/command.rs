//! SMTP command lines into commands: the verb and its argument, and for
//! MAIL and RCPT sendmail's skipword() (the address itself is the rules'
//! to read: decide/smtp.rs).

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Helo(String),
    Ehlo(String),
    /// MAIL and its argument (`FROM:<path> params`) as the client sent its
    /// bytes, read by [`skip_word`] and parseaddr() once the session's
    /// state allows a MAIL:
    /// sendmail checks the order of commands before their syntax.
    Mail(Vec<u8>),
    /// RCPT and its argument (`TO:<path> params`).
    Rcpt(Vec<u8>),
    Data,
    Rset,
    Noop,
    Quit,
    Help(String),
    Vrfy(String),
    Expn(String),
    Etrn(String),
    StartTls,
    Verb,
    /// An HTTP request line: a web client or a cross-protocol attack.
    Http,
    /// A verb mtad does not know.
    Unknown(String),
    /// A known verb with a malformed argument: the whole reply.
    Syntax(&'static str),
}

/// The verbs of HTTP/1.x, and what a proxy sends.
const HTTP_VERBS: &[&str] = &[
    "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "PATCH", "TRACE",
];

pub fn parse(line: &[u8]) -> Command {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches([' ', '\t']);
    let (verb, arg) = match text.find([' ', '\t']) {
        Some(i) => (&text[..i], text[i..].trim_start()),
        None => (text, ""),
    };
    let upper = verb.to_ascii_uppercase();
    match upper.as_str() {
        "HELO" | "EHLO" => {
            // The whole argument is the name: `EHLO a b` is an invalid
            // name, as in sendmail, not `a`.
            if arg.is_empty() {
                return Command::Syntax(if upper == "HELO" {
                    "501 5.0.0 HELO requires domain address"
                } else {
                    "501 5.0.0 EHLO requires domain address"
                });
            }
            if upper == "HELO" {
                Command::Helo(arg.to_string())
            } else {
                Command::Ehlo(arg.to_string())
            }
        }
        "MAIL" => Command::Mail(raw_argument(line, text.len() - arg.len())),
        "RCPT" => Command::Rcpt(raw_argument(line, text.len() - arg.len())),
        // sendmail ignores what follows these.
        "DATA" => Command::Data,
        "RSET" => Command::Rset,
        "NOOP" => Command::Noop,
        "QUIT" => Command::Quit,
        "HELP" => Command::Help(arg.to_string()),
        "VRFY" => Command::Vrfy(arg.to_string()),
        "EXPN" => Command::Expn(arg.to_string()),
        "ETRN" => Command::Etrn(arg.to_string()),
        "STARTTLS" if arg.is_empty() => Command::StartTls,
        "STARTTLS" => Command::Syntax("501 5.5.2 Syntax error (no parameters allowed)"),
        "VERB" => Command::Verb,
        v if HTTP_VERBS.contains(&v) => Command::Http,
        _ if upper.ends_with(':') && (upper == "HOST:" || upper == "USER-AGENT:") => Command::Http,
        _ => Command::Unknown(verb.to_string()),
    }
}

/// A MAIL or RCPT argument as the line's bytes: an 8-bit byte stays the
/// byte the client sent, for invalidaddr() to judge as sendmail does
/// (`decide::address_syntax`). `at` is where the argument starts: the
/// verb and the blanks before it are ASCII, so the offset is the same in
/// the bytes as in the text.
fn raw_argument(line: &[u8], at: usize) -> Vec<u8> {
    let raw = line.get(at..).unwrap_or_default();
    let end = raw
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    raw[..end].to_vec()
}

/// A MAIL or RCPT argument that is not `WORD: something`: the whole reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadArgument(pub String);

/// sendmail's skipword(): the argument must be `keyword` (any case), then
/// `:` (blanks allowed before and after it), then something. Otherwise the
/// reply names the word as it was typed: `MAIL FROM:` gets `501 5.5.2
/// Syntax error in parameters scanning "FROM"`, `MAIL` alone `... ""`.
/// What follows the colon is returned.
pub fn skip_word<'a>(arg: &'a str, keyword: &str) -> Result<&'a str, BadArgument> {
    let arg = arg.trim_start_matches(is_blank);
    let end = arg
        .find(|c: char| c == ':' || is_blank(c))
        .unwrap_or(arg.len());
    let word = &arg[..end];
    let syntax = || {
        let shown = rules::report::shorten(word.as_bytes());
        BadArgument(format!(
            "501 5.5.2 Syntax error in parameters scanning \"{}\"",
            String::from_utf8_lossy(&shown)
        ))
    };
    let after = arg[end..].trim_start_matches(is_blank);
    let Some(rest) = after.strip_prefix(':') else {
        return Err(syntax());
    };
    let rest = rest.trim_start_matches(is_blank);
    if rest.is_empty() || !word.eq_ignore_ascii_case(keyword) {
        return Err(syntax());
    }
    Ok(rest)
}

/// isspace() in the C locale.
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_and_arguments() {
        assert_eq!(
            parse(b"ehlo client.example"),
            Command::Ehlo("client.example".into())
        );
        assert_eq!(
            parse(b"HELO"),
            Command::Syntax("501 5.0.0 HELO requires domain address")
        );
        assert_eq!(parse(b"EHLO a b"), Command::Ehlo("a b".into()));
        assert_eq!(
            parse(b"MAIL FROM:<a@b.example> SIZE=1000"),
            Command::Mail(b"FROM:<a@b.example> SIZE=1000".to_vec())
        );
        assert_eq!(parse(b"RCPT"), Command::Rcpt(Vec::new()));
        assert_eq!(
            parse(b"RCPT TO:<a\xffb>  "),
            Command::Rcpt(b"TO:<a\xffb>".to_vec())
        );
        assert_eq!(parse(b"DATA"), Command::Data);
        assert_eq!(parse(b"DATA x"), Command::Data);
        assert_eq!(parse(b"XYZZY"), Command::Unknown("XYZZY".into()));
    }

    #[test]
    fn skipword_replies_name_the_word_typed() {
        let err = |a: &str, k: &str| skip_word(a, k).unwrap_err().0;
        let scanning = |w: &str| format!("501 5.5.2 Syntax error in parameters scanning \"{w}\"");
        assert_eq!(err("FROM:", "from"), scanning("FROM"));
        assert_eq!(err("from:   ", "from"), scanning("from"));
        assert_eq!(err("", "from"), scanning(""));
        assert_eq!(err("FROM", "from"), scanning("FROM"));
        assert_eq!(err("TO:<a@b>", "from"), scanning("TO"));
        assert_eq!(err("FROM:<a@b>", "to"), scanning("FROM"));
        assert_eq!(err("FROM<a@b>", "from"), scanning("FROM<a@b>"));
        // sendmail's shortenstring: a long word keeps its two ends.
        let long = "x".repeat(300);
        let shown = format!("{}...{}", "x".repeat(100), "x".repeat(100));
        assert_eq!(err(&long, "from"), scanning(&shown));
    }

    #[test]
    fn http_is_recognised() {
        assert_eq!(parse(b"GET / HTTP/1.1"), Command::Http);
        assert_eq!(parse(b"POST /cgi-bin HTTP/1.0"), Command::Http);
        assert_eq!(parse(b"Host: mail.example"), Command::Http);
    }
}
