//! M lines: how mail is handed to each delivery agent (op.txt 5.4).

use super::equates::{Equate, FieldError};
use crate::options::{Unit, UserSpec};
use crate::template::{Piece, Template};
use std::time::Duration;

/// The mailers sendmail defines before it reads the config (conf.c's
/// setupmailers()): `prog` for `|program` recipients, `*file*` for
/// `/file` recipients and `*include*` for `:include:` lists. A config's
/// own M line of the same name replaces one, in its place.
pub fn builtins() -> Vec<Mailer> {
    let builtin = |name: &str, path: &str, flags: &str, types: Option<[&str; 3]>, argv: &[&str]| {
        let argv = argv
            .iter()
            .map(|a| match a.strip_prefix('$') {
                Some(m) => Template {
                    pieces: vec![Piece::Macro(crate::lex::MacroName::new(m))],
                },
                None => Template::text(a),
            })
            .collect();
        Mailer {
            name: name.to_string(),
            path: path.to_string(),
            flags: flags.to_string(),
            sender_rulesets: None,
            recipient_rulesets: None,
            argv,
            eol: "\n".into(),
            max_size: None,
            max_messages: None,
            max_recipients: Some(DEFAULT_MAX_RECIPIENTS),
            line_limit: None,
            directories: Vec::new(),
            user: None,
            nice: None,
            charset: None,
            types: types.map(|[mta, address, diagnostic]| MailerTypes {
                mta: mta.into(),
                address: address.into(),
                diagnostic: diagnostic.into(),
            }),
            wait: None,
            queue_group: None,
            root: None,
            line: 0,
        }
    };
    let unix = Some(["X-Unix", "X-Unix", "X-Unix"]);
    vec![
        builtin("prog", "/bin/sh", "lsouDq9", unix, &["sh", "-c", "$u"]),
        builtin("*file*", "[FILE]", "lsDFMPEouq9", unix, &["FILE", "$u"]),
        builtin("*include*", "/dev/null", "su", None, &["INCLUDE", "$u"]),
    ]
}

/// sendmail's DEFAULT_MAX_RCPT: recipients per message when r= is not set.
pub const DEFAULT_MAX_RECIPIENTS: u64 = 100;

/// sendmail's SMTPLINELIM: the line limit of a mailer with flag L and no L=.
pub const SMTP_LINE_LIMIT: u64 = 990;

/// The rulesets a mailer applies: `S=EnvFromL/HdrFromL` names one for the
/// envelope and one for headers; `S=11` one for both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesetPair {
    pub envelope: String,
    pub header: Option<String>,
}

/// `T=DNS/RFC822/SMTP`: the MTA-name, address and diagnostic types used
/// in DSNs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailerTypes {
    pub mta: String,
    pub address: String,
    pub diagnostic: String,
}

/// One mailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailer {
    pub name: String,
    /// P=: the program, or `[IPC]`/`[TCP]` for the built-in SMTP client,
    /// `[FILE]` for file delivery, `[LPC]` for local IPC.
    pub path: String,
    /// F=: the flag letters, each once.
    pub flags: String,
    pub sender_rulesets: Option<RulesetPair>,
    pub recipient_rulesets: Option<RulesetPair>,
    /// A=: the argument vector, each word a template (`$u`, `$h`).
    pub argv: Vec<Template>,
    /// E=: the end-of-line string (`\r\n` for SMTP).
    pub eol: String,
    /// M=: the largest message it takes.
    pub max_size: Option<u64>,
    /// m=: messages per connection.
    pub max_messages: Option<u64>,
    /// r=: recipients per message.
    pub max_recipients: Option<u64>,
    /// L=: the longest line.
    pub line_limit: Option<u64>,
    /// D=: working directories to try, in order.
    pub directories: Vec<Template>,
    /// U=: the user (and group) to run as.
    pub user: Option<UserSpec>,
    /// N=: nice increment.
    pub nice: Option<i64>,
    /// C=: the default character set for 8-bit data.
    pub charset: Option<String>,
    pub types: Option<MailerTypes>,
    /// W=: how long to wait for the program to finish.
    pub wait: Option<Duration>,
    /// Q=: the queue group.
    pub queue_group: Option<String>,
    /// /=: the directory to chroot into.
    pub root: Option<String>,
    pub line: usize,
}

impl Mailer {
    pub fn has_flag(&self, f: char) -> bool {
        self.flags.contains(f)
    }

    /// True for the built-in SMTP client (`P=[IPC]`).
    pub fn is_ipc(&self) -> bool {
        self.path == "[IPC]"
    }

    /// Builds a mailer and fills in what sendmail's makemailer() fills in
    /// when a field is left out. Returns the mailer and the warnings
    /// sendmail would print for it.
    pub(crate) fn build(
        name: &str,
        equates: &[Equate],
        line: usize,
        name_pos: usize,
    ) -> Result<(Mailer, Vec<FieldError>), FieldError> {
        let mut m = Mailer {
            name: name.to_string(),
            path: String::new(),
            flags: String::new(),
            sender_rulesets: None,
            recipient_rulesets: None,
            argv: Vec::new(),
            eol: "\n".into(),
            max_size: None,
            max_messages: None,
            max_recipients: None,
            line_limit: None,
            directories: Vec::new(),
            user: None,
            nice: None,
            charset: None,
            types: None,
            wait: None,
            queue_group: None,
            root: None,
            line,
        };
        let mut have_path = false;
        let mut have_eol = false;
        for e in equates {
            match e.key {
                'P' => {
                    m.path = e.plain()?;
                    have_path = true;
                }
                'F' => {
                    for c in e.plain()?.chars().filter(|c| !c.is_whitespace()) {
                        if !m.flags.contains(c) {
                            m.flags.push(c);
                        }
                    }
                }
                'S' => m.sender_rulesets = Some(ruleset_pair(e)?),
                'R' => m.recipient_rulesets = Some(ruleset_pair(e)?),
                'A' => m.argv = split_argv(&e.template()?),
                'E' => {
                    m.eol = e.plain_untrimmed();
                    have_eol = true;
                }
                'M' => m.max_size = Some(e.number()?),
                'm' => m.max_messages = Some(e.number()?),
                'r' => m.max_recipients = Some(e.number()?),
                'L' => m.line_limit = Some(e.number()?),
                'D' => m.directories = split_on(&e.template()?, ':'),
                'U' => m.user = Some(e.user()?),
                'N' => m.nice = Some(e.signed()?),
                'C' => m.charset = Some(e.plain()?),
                'T' => m.types = Some(types(e)?),
                'W' => m.wait = Some(e.duration(Unit::Seconds)?),
                'Q' => m.queue_group = Some(e.plain()?),
                '/' => m.root = Some(e.plain()?),
                _ => {
                    return Err(e.unknown(
                        "mailer",
                        "one of P, F, S, R, A, E, M, m, r, L, D, U, N, C, T, W, Q, /",
                    ));
                }
            }
        }
        if !have_path || m.path.is_empty() {
            return Err(FieldError {
                pos: name_pos,
                message: format!("mailer `{name}` has no P= (path to the program, or [IPC])"),
            });
        }
        if m.argv.is_empty() {
            return Err(FieldError {
                pos: name_pos,
                message: format!("mailer `{name}` has no A= (argument vector)"),
            });
        }
        let error = |message: String| FieldError {
            pos: name_pos,
            message,
        };
        let mut warnings = Vec::new();
        let first = m.argv[0].to_string();
        match m.path.as_str() {
            "[TCP]" => {
                return Err(error(format!(
                    "mailer `{name}`: P=[TCP] must be replaced by P=[IPC]"
                )));
            }
            "[IPC]" => {
                if m.argv.len() < 2 {
                    return Err(error(format!(
                        "mailer `{name}`: P=[IPC] needs A=TCP $h (too few parameters)"
                    )));
                }
                if first != "TCP" && first != "FILE" {
                    warnings.push(error(format!(
                        "mailer `{name}`: the first argument of an [IPC] mailer must be TCP or FILE"
                    )));
                }
                let diagnostic = if first == "FILE" { "x-unix" } else { "smtp" };
                m.types.get_or_insert_with(|| MailerTypes {
                    mta: "dns".into(),
                    address: "rfc822".into(),
                    diagnostic: diagnostic.into(),
                });
            }
            "[FILE]" if m.argv.len() != 2 || first != "FILE" => {
                return Err(error(format!(
                    "mailer `{name}`: a [FILE] mailer takes A=FILE and a file name"
                )));
            }
            _ => {}
        }
        // sendmail's defaults: 100 recipients per message; a line limit of
        // 990 with the L flag; lines end in CRLF unless the mailer is
        // handed a single user ($u in its argv), which means local delivery.
        m.max_recipients.get_or_insert(DEFAULT_MAX_RECIPIENTS);
        if m.has_flag('L') && m.line_limit.is_none() {
            m.line_limit = Some(SMTP_LINE_LIMIT);
        }
        if !have_eol {
            let takes_user = m.argv.iter().any(|a| a.macros().iter().any(|n| n.0 == "u"));
            m.eol = if takes_user { "\n" } else { "\r\n" }.into();
        }
        Ok((m, warnings))
    }
}

impl Equate {
    /// The value exactly as munched, white space kept (E=).
    fn plain_untrimmed(&self) -> String {
        self.lexemes
            .iter()
            .map(|l| match &l.lex {
                crate::lex::Lex::Text(t) => t.trim_end_matches([' ', '\t']).to_string(),
                _ => String::new(),
            })
            .collect()
    }
}

fn ruleset_pair(e: &Equate) -> Result<RulesetPair, FieldError> {
    let v = e.plain()?;
    let (envelope, header) = match v.split_once('/') {
        Some((a, b)) => (a.trim().to_string(), Some(b.trim().to_string())),
        None => (v.clone(), None),
    };
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if !ok(&envelope) || header.as_deref().is_some_and(|h| !ok(h)) {
        return Err(e.error(format!(
            "`{}=`: expected a ruleset, or envelope/header rulesets, found `{v}`",
            e.key_written
        )));
    }
    Ok(RulesetPair { envelope, header })
}

/// `T=mta/address/diagnostic`; a part left out or empty takes sendmail's
/// default (dns, rfc822, smtp).
fn types(e: &Equate) -> Result<MailerTypes, FieldError> {
    let v = e.plain()?;
    let parts: Vec<&str> = v.split('/').map(str::trim).collect();
    if parts.len() > 3 {
        return Err(e.error(format!(
            "`{}=`: expected MTA-type/address-type/diagnostic-type, found `{v}`",
            e.key_written
        )));
    }
    let part = |i: usize, default: &str| {
        parts
            .get(i)
            .filter(|p| !p.is_empty())
            .map_or_else(|| default.to_string(), |p| p.to_string())
    };
    Ok(MailerTypes {
        mta: part(0, "dns"),
        address: part(1, "rfc822"),
        diagnostic: part(2, "smtp"),
    })
}

/// Splits a template into words at white space in its text, as sendmail's
/// makeargv() does; macros stay inside the word they are written in.
fn split_argv(t: &Template) -> Vec<Template> {
    split_where(t, |c| c.is_ascii_whitespace())
}

fn split_on(t: &Template, sep: char) -> Vec<Template> {
    split_where(t, |c| c == sep)
}

fn split_where(t: &Template, is_sep: impl Fn(char) -> bool) -> Vec<Template> {
    let mut words = Vec::new();
    let mut current = Template::default();
    for piece in &t.pieces {
        match piece {
            Piece::Text(text) => {
                let mut buf = String::new();
                for c in text.chars() {
                    if is_sep(c) {
                        if !buf.is_empty() {
                            current.pieces.push(Piece::Text(std::mem::take(&mut buf)));
                        }
                        if !current.pieces.is_empty() {
                            words.push(std::mem::take(&mut current));
                        }
                    } else {
                        buf.push(c);
                    }
                }
                if !buf.is_empty() {
                    current.pieces.push(Piece::Text(buf));
                }
            }
            other => current.pieces.push(other.clone()),
        }
    }
    if !current.pieces.is_empty() {
        words.push(current);
    }
    words
}
