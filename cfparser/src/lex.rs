//! The dollar syntax inside values and rules: `$x`, `${name}`, `$&x`,
//! `$=X`, `$~X`, `$*`, `$+`, `$-`, `$@`, `$#`, `$:`, `$>`, `$[ $]`, `$( $)`,
//! `$|`, `$1`..`$9`, `$?x`, `$.` and `$$`, as the grammar recognises them,
//! turned into a flat list of lexemes with their positions.

use crate::grammar::Rule;
use pest::iterators::Pair;
use std::fmt;

/// A macro or class name. `x` and `{x}` are the same macro, so a braced
/// one-character name is stored as the bare character.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacroName(pub String);

impl MacroName {
    pub fn new(name: &str) -> MacroName {
        MacroName(name.to_string())
    }

    /// The name as written after a `$`: `j` or `{client_addr}`.
    pub fn written(&self) -> String {
        if self.0.chars().count() == 1 {
            self.0.clone()
        } else {
            format!("{{{}}}", self.0)
        }
    }
}

impl fmt::Display for MacroName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written())
    }
}

/// The metasymbols of rewriting rules (op.txt 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Meta {
    /// `$*`: match zero or more tokens.
    MatchZeroOrMore,
    /// `$+`: match one or more tokens.
    MatchOneOrMore,
    /// `$-`: match exactly one token.
    MatchOne,
    /// `$@`: the host of a triple; on a LHS, match zero tokens.
    Host,
    /// `$#`: the mailer of a triple, or a decision.
    Mailer,
    /// `$:`: the user of a triple; a rule prefix meaning "rewrite once".
    User,
    /// `$>`: call a ruleset.
    Call,
    /// `$[`: start of a host name canonification.
    HostBegin,
    /// `$]`: end of a host name canonification.
    HostEnd,
    /// `$(`: start of a map lookup.
    LookupBegin,
    /// `$)`: end of a map lookup.
    LookupEnd,
}

impl Meta {
    pub fn written(self) -> &'static str {
        match self {
            Meta::MatchZeroOrMore => "$*",
            Meta::MatchOneOrMore => "$+",
            Meta::MatchOne => "$-",
            Meta::Host => "$@",
            Meta::Mailer => "$#",
            Meta::User => "$:",
            Meta::Call => "$>",
            Meta::HostBegin => "$[",
            Meta::HostEnd => "$]",
            Meta::LookupBegin => "$(",
            Meta::LookupEnd => "$)",
        }
    }
}

/// One piece of a value or rule, before it is tokenized or built into a
/// template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lex {
    /// Literal text (`$$` contributes a `$`).
    Text(String),
    Meta(Meta),
    /// `$1`..`$9` (and `$0`, which is refused later).
    Replacement(u8),
    /// `$=X`
    Class(MacroName),
    /// `$~X`
    NotClass(MacroName),
    /// `$x`: expanded when the line is read, in sendmail.
    Macro(MacroName),
    /// `$&x`: expanded when the rule runs.
    Deferred(MacroName),
    /// `$?x`
    CondIf(MacroName),
    /// `$|`
    CondElse,
    /// `$.`
    CondEnd,
}

/// A lexeme and its byte offset in the logical line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lexeme {
    pub lex: Lex,
    pub pos: usize,
}

/// A `$` the grammar could not make sense of; `pos` is its offset.
#[derive(Debug)]
pub struct BadDollar {
    pub pos: usize,
}

pub(crate) fn macro_name(pair: Pair<'_, Rule>) -> MacroName {
    // macro_name contains either long_name or short_name.
    match pair.into_inner().next() {
        Some(inner) => MacroName::new(inner.as_str()),
        None => MacroName::new(""),
    }
}

/// `$` and one character: a metasymbol, a replacement, or `$$`.
fn meta(text: &str) -> Lex {
    match text.as_bytes().get(1).copied().unwrap_or(b'$') {
        b'$' => Lex::Text("$".to_string()),
        b'*' => Lex::Meta(Meta::MatchZeroOrMore),
        b'+' => Lex::Meta(Meta::MatchOneOrMore),
        b'-' => Lex::Meta(Meta::MatchOne),
        b'@' => Lex::Meta(Meta::Host),
        b'#' => Lex::Meta(Meta::Mailer),
        b':' => Lex::Meta(Meta::User),
        b'>' => Lex::Meta(Meta::Call),
        b'[' => Lex::Meta(Meta::HostBegin),
        b']' => Lex::Meta(Meta::HostEnd),
        b'(' => Lex::Meta(Meta::LookupBegin),
        b')' => Lex::Meta(Meta::LookupEnd),
        b'|' => Lex::CondElse,
        b'.' => Lex::CondEnd,
        d => Lex::Replacement(d.wrapping_sub(b'0')),
    }
}

/// `$x`, `$=x`, `$~x`, `$&x`, `$?x` (and the same with `{name}`), from
/// the text the grammar matched.
fn named(text: &str) -> Lex {
    let rest = text.get(1..).unwrap_or("");
    let (kind, rest) = match rest.chars().next() {
        Some(k @ ('=' | '~' | '&' | '?')) if rest.len() > 1 => (Some(k), &rest[1..]),
        _ => (None, rest),
    };
    let name = match rest.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        Some(long) => MacroName::new(long),
        None => MacroName::new(rest),
    };
    match kind {
        Some('=') => Lex::Class(name),
        Some('~') => Lex::NotClass(name),
        Some('&') => Lex::Deferred(name),
        Some('?') => Lex::CondIf(name),
        _ => Lex::Macro(name),
    }
}

/// Turns the children of a template-like pair (text and dollar constructs)
/// into lexemes. Adjacent text is merged. Quoted segments and backslash
/// escapes of M, Q and X values are resolved here, as sendmail's
/// munchstring() resolves them: quotes dropped, `\n` and `\r` made control
/// characters, any other escaped character taken as itself.
pub(crate) fn lexemes<'a>(
    pairs: impl Iterator<Item = Pair<'a, Rule>>,
) -> Result<Vec<Lexeme>, BadDollar> {
    let mut out: Vec<Lexeme> = Vec::new();
    push_lexemes(pairs, &mut out)?;
    Ok(out)
}

fn push_lexemes<'a>(
    pairs: impl Iterator<Item = Pair<'a, Rule>>,
    out: &mut Vec<Lexeme>,
) -> Result<(), BadDollar> {
    for pair in pairs {
        let pos = pair.as_span().start();
        let lex = match pair.as_rule() {
            Rule::quoted_seg
            | Rule::template
            | Rule::option_value
            | Rule::header_value
            | Rule::map_args => {
                push_lexemes(pair.into_inner(), out)?;
                continue;
            }
            Rule::escaped => Lex::Text(unescape(pair.as_str()).to_string()),
            Rule::dollar_eol => Lex::Text("$".to_string()),
            Rule::meta => meta(pair.as_str()),
            Rule::named => named(pair.as_str()),
            Rule::bad_dollar => return Err(BadDollar { pos }),
            _ => Lex::Text(pair.as_str().to_string()),
        };
        if let (
            Lex::Text(new),
            Some(Lexeme {
                lex: Lex::Text(old),
                ..
            }),
        ) = (&lex, out.last_mut())
        {
            old.push_str(new);
            continue;
        }
        out.push(Lexeme { lex, pos });
    }
    Ok(())
}

/// `\n` newline, `\r` carriage return, `\f` form feed, `\b` backspace
/// (sendmail's munchstring()); `\x` is `x`.
fn unescape(escaped: &str) -> &str {
    match escaped {
        "\\n" => "\n",
        "\\r" => "\r",
        "\\f" => "\x0c",
        "\\b" => "\x08",
        other => other.get(1..).unwrap_or(""),
    }
}

#[cfg(test)]
mod tests {
    use super::unescape;

    #[test]
    fn escapes() {
        assert_eq!(unescape("\\n"), "\n");
        assert_eq!(unescape("\\r"), "\r");
        assert_eq!(unescape("\\,"), ",");
    }
}
