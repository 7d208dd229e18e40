//! SMTP command lines into commands: the verb, its argument, and for MAIL
//! and RCPT the path and the ESMTP parameters.

/// One ESMTP parameter: `SIZE=1000`, `BODY=8BITMIME`, `SMTPUTF8`.
pub type Param = (String, Option<String>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Helo(String),
    Ehlo(String),
    /// MAIL FROM:<path> params; the path is what was between the brackets.
    Mail {
        path: String,
        params: Vec<Param>,
    },
    Rcpt {
        path: String,
        params: Vec<Param>,
    },
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
    /// A known verb with a malformed argument; the text says what is wrong.
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
            if arg.is_empty() {
                return Command::Syntax("requires domain address");
            }
            let name = arg.split_whitespace().next().unwrap_or("").to_string();
            if upper == "HELO" {
                Command::Helo(name)
            } else {
                Command::Ehlo(name)
            }
        }
        "MAIL" => match path_arg(arg, "FROM:") {
            Ok((path, params)) => Command::Mail { path, params },
            Err(e) => Command::Syntax(e),
        },
        "RCPT" => match path_arg(arg, "TO:") {
            Ok((path, params)) => Command::Rcpt { path, params },
            Err(e) => Command::Syntax(e),
        },
        "DATA" if arg.is_empty() => Command::Data,
        "RSET" if arg.is_empty() => Command::Rset,
        "NOOP" => Command::Noop,
        "QUIT" if arg.is_empty() => Command::Quit,
        "DATA" | "RSET" | "QUIT" => Command::Syntax("takes no argument"),
        "HELP" => Command::Help(arg.to_string()),
        "VRFY" => Command::Vrfy(arg.to_string()),
        "EXPN" => Command::Expn(arg.to_string()),
        "ETRN" => Command::Etrn(arg.to_string()),
        "STARTTLS" if arg.is_empty() => Command::StartTls,
        "STARTTLS" => Command::Syntax("takes no argument"),
        "VERB" => Command::Verb,
        v if HTTP_VERBS.contains(&v) => Command::Http,
        _ if upper.ends_with(':') && (upper == "HOST:" || upper == "USER-AGENT:") => Command::Http,
        _ => Command::Unknown(verb.to_string()),
    }
}

/// `FROM:<path> PARAM=VALUE ...`; spaces after the colon are tolerated as
/// in sendmail, a path without brackets is taken up to the first space.
fn path_arg(arg: &str, keyword: &str) -> Result<(String, Vec<Param>), &'static str> {
    let Some(head) = arg.get(..keyword.len()) else {
        return Err("syntax error in parameters");
    };
    if !head.eq_ignore_ascii_case(keyword) {
        return Err("syntax error in parameters");
    }
    let rest = arg[keyword.len()..].trim_start();
    let (path, params) = if let Some(inner) = rest.strip_prefix('<') {
        let end = closing_bracket(inner).ok_or("unbalanced '<'")?;
        (&inner[..end], &inner[end + 1..])
    } else {
        match rest.find(' ') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        }
    };
    if !params.is_empty() && !params.starts_with(' ') {
        return Err("syntax error after the address");
    }
    let params = params
        .split_whitespace()
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_ascii_uppercase(), Some(v.to_string())),
            None => (p.to_ascii_uppercase(), None),
        })
        .collect();
    Ok((path.to_string(), params))
}

/// The `>` that closes the path, skipping quoted strings.
fn closing_bracket(s: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '>' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
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
        assert_eq!(parse(b"HELO"), Command::Syntax("requires domain address"));
        assert_eq!(
            parse(b"MAIL FROM:<a@b.example> SIZE=1000 BODY=8bitmime"),
            Command::Mail {
                path: "a@b.example".into(),
                params: vec![
                    ("SIZE".into(), Some("1000".into())),
                    ("BODY".into(), Some("8bitmime".into()))
                ]
            }
        );
        assert_eq!(
            parse(b"mail from: <>"),
            Command::Mail {
                path: "".into(),
                params: vec![]
            }
        );
        assert_eq!(
            parse(b"RCPT TO:<\"a>b\"@c.example> NOTIFY=NEVER"),
            Command::Rcpt {
                path: "\"a>b\"@c.example".into(),
                params: vec![("NOTIFY".into(), Some("NEVER".into()))]
            }
        );
        assert_eq!(parse(b"RCPT TO:<a@b"), Command::Syntax("unbalanced '<'"));
        assert_eq!(
            parse(b"RCPT FROM:<a@b>"),
            Command::Syntax("syntax error in parameters")
        );
        assert_eq!(parse(b"DATA"), Command::Data);
        assert_eq!(parse(b"DATA x"), Command::Syntax("takes no argument"));
        assert_eq!(parse(b"XYZZY"), Command::Unknown("XYZZY".into()));
    }

    #[test]
    fn http_is_recognised() {
        assert_eq!(parse(b"GET / HTTP/1.1"), Command::Http);
        assert_eq!(parse(b"POST /cgi-bin HTTP/1.0"), Command::Http);
        assert_eq!(parse(b"Host: mail.example"), Command::Http);
    }
}
