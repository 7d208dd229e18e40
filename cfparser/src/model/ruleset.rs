//! Rulesets and their rules as token lists, tokenized as sendmail's
//! prescan() tokenizes them when it reads an R line.

use crate::lex::{Lex, Lexeme, MacroName, Meta};
use std::fmt;

/// sendmail's MAXRWSETS: ruleset numbers run from 0 to 199, and named
/// rulesets without a number are given the free numbers from the top down.
pub const MAX_RULESETS: u32 = 200;

/// One token of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// An atom: a run of ordinary characters, or a quoted string with its
    /// quotes, or a backslash escape.
    Word(String),
    /// A single operator character (from OperatorChars, or one of the
    /// characters that always separate tokens: `( ) < > , ;`).
    Op(char),
    Meta(Meta),
    /// `$1`..`$9`
    Replacement(u8),
    /// `$=X`
    Class(MacroName),
    /// `$~X`
    NotClass(MacroName),
    /// `$&x`
    Deferred(MacroName),
    /// `$|` outside a conditional: the separator token of the check_*
    /// rulesets. (`$x` and `$?x … $.` are expanded when the rule is read.)
    CondElse,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Word(w) => f.write_str(w),
            Token::Op(c) => write!(f, "{c}"),
            Token::Meta(m) => f.write_str(m.written()),
            Token::Replacement(n) => write!(f, "${n}"),
            Token::Class(n) => write!(f, "$={n}"),
            Token::NotClass(n) => write!(f, "$~{n}"),
            Token::Deferred(n) => write!(f, "$&{n}"),
            Token::CondElse => f.write_str("$|"),
        }
    }
}

/// One R line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub lhs: Vec<Token>,
    pub rhs: Vec<Token>,
    pub comment: String,
    /// The line of the config the rule starts on.
    pub line: usize,
}

/// One ruleset: its number, its name if it has one, and its rules in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ruleset {
    pub number: u32,
    pub name: Option<String>,
    pub rules: Vec<Rule>,
    pub line: usize,
}

/// The characters that always separate tokens in a rule, besides white
/// space and OperatorChars.
const ALWAYS_SPECIAL: &str = "()<>,;";

/// A problem in a rule at a byte offset of the line.
#[derive(Debug)]
pub struct TokenError {
    pub pos: usize,
    pub message: String,
}

/// Splits one side of a rule into tokens, each with its byte offset in the
/// line.
pub fn tokenize(lexemes: &[Lexeme], operators: &str) -> Vec<(Token, usize)> {
    let mut out = Vec::new();
    for lexeme in lexemes {
        let token = match &lexeme.lex {
            Lex::Text(t) => {
                split_text(t, lexeme.pos, operators, &mut out);
                continue;
            }
            Lex::Meta(m) => Token::Meta(*m),
            Lex::Replacement(n) => Token::Replacement(*n),
            Lex::Class(n) => Token::Class(n.clone()),
            Lex::NotClass(n) => Token::NotClass(n.clone()),
            Lex::Deferred(n) => Token::Deferred(n.clone()),
            Lex::CondElse => Token::CondElse,
            // Expanded by the loader before the rule is tokenized.
            Lex::Macro(_) | Lex::CondIf(_) | Lex::CondEnd => continue,
        };
        out.push((token, lexeme.pos));
    }
    out
}

fn split_text(text: &str, base: usize, operators: &str, out: &mut Vec<(Token, usize)>) {
    let mut word = String::new();
    let mut word_at = base;
    let mut chars = text.char_indices().peekable();
    let flush = |word: &mut String, at: usize, out: &mut Vec<(Token, usize)>| {
        if !word.is_empty() {
            out.push((Token::Word(std::mem::take(word)), at));
        }
    };
    while let Some((i, c)) = chars.next() {
        if word.is_empty() {
            word_at = base + i;
        }
        if c == '"' {
            // A quoted string is one token, quotes included, up to the
            // closing quote (or the end of the field).
            flush(&mut word, word_at, out);
            let mut q = String::from('"');
            while let Some((_, d)) = chars.next() {
                q.push(d);
                if d == '\\' {
                    if let Some((_, e)) = chars.next() {
                        q.push(e);
                    }
                } else if d == '"' {
                    break;
                }
            }
            out.push((Token::Word(q), base + i));
        } else if c == '\\' {
            word.push(c);
            if let Some((_, d)) = chars.next() {
                word.push(d);
            }
        } else if c.is_ascii_whitespace() {
            flush(&mut word, word_at, out);
        } else if operators.contains(c) || ALWAYS_SPECIAL.contains(c) {
            flush(&mut word, word_at, out);
            out.push((Token::Op(c), base + i));
        } else {
            word.push(c);
        }
    }
    flush(&mut word, word_at, out);
}

/// sendmail's checks on a rule (readcf.c): metasymbols that make no sense
/// on one side, replacements beyond the LHS wildcards, unbalanced lookups.
/// sendmail reports these and loads the rule anyway; so does mtad.
pub fn check(lhs: &[(Token, usize)], rhs: &[(Token, usize)]) -> Result<(), TokenError> {
    let mut wildcards = 0u8;
    for (t, pos) in lhs {
        let botch = match t {
            Token::Meta(Meta::MatchZeroOrMore | Meta::MatchOneOrMore | Meta::MatchOne)
            | Token::Class(_)
            | Token::NotClass(_) => {
                wildcards = wildcards.saturating_add(1);
                None
            }
            Token::Replacement(_) => Some("$1-$9".to_string()),
            Token::Meta(
                m @ (Meta::User
                | Meta::Call
                | Meta::HostBegin
                | Meta::HostEnd
                | Meta::LookupBegin
                | Meta::LookupEnd),
            ) => Some(m.written().to_string()),
            _ => None,
        };
        if let Some(b) = botch {
            return Err(TokenError {
                pos: *pos,
                message: format!("`{b}` cannot be used on the left-hand side of a rule"),
            });
        }
    }
    if wildcards > 9 {
        return Err(TokenError {
            pos: lhs.first().map_or(0, |(_, p)| *p),
            message: format!(
                "{wildcards} wildcards on the left-hand side: at most 9 can be referred to"
            ),
        });
    }
    let mut open: Option<(Meta, usize)> = None;
    for (t, pos) in rhs {
        let botch = match t {
            Token::Replacement(n) if *n == 0 || *n > wildcards => {
                return Err(TokenError {
                    pos: *pos,
                    message: format!(
                        "replacement `${n}` out of bounds: the left-hand side has {wildcards} wildcard{}",
                        if wildcards == 1 { "" } else { "s" }
                    ),
                });
            }
            Token::Meta(m @ (Meta::MatchZeroOrMore | Meta::MatchOneOrMore | Meta::MatchOne)) => {
                Some(m.written().to_string())
            }
            Token::Class(_) => Some("$=".into()),
            Token::NotClass(_) => Some("$~".into()),
            Token::Meta(m @ (Meta::HostBegin | Meta::LookupBegin)) => {
                if open.is_some() {
                    return Err(TokenError {
                        pos: *pos,
                        message: "map lookups cannot be nested".into(),
                    });
                }
                open = Some((*m, *pos));
                None
            }
            Token::Meta(Meta::HostEnd) if matches!(open, Some((Meta::HostBegin, _))) => {
                open = None;
                None
            }
            Token::Meta(Meta::LookupEnd) if matches!(open, Some((Meta::LookupBegin, _))) => {
                open = None;
                None
            }
            _ => None,
        };
        if let Some(b) = botch {
            return Err(TokenError {
                pos: *pos,
                message: format!("`{b}` cannot be used on the right-hand side of a rule"),
            });
        }
    }
    if let Some((m, pos)) = open {
        let close = if m == Meta::HostBegin { "$]" } else { "$)" };
        return Err(TokenError {
            pos,
            message: format!("`{}` without its closing `{close}`", m.written()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(t: &[(Token, usize)]) -> Vec<String> {
        t.iter().map(|(t, _)| t.to_string()).collect()
    }

    #[test]
    fn splits_on_operators_and_specials() {
        let mut out = Vec::new();
        split_text("user@host.example<a,b>", 0, ".:%@!^/[]+", &mut out);
        assert_eq!(
            words(&out),
            vec!["user", "@", "host", ".", "example", "<", "a", ",", "b", ">"]
        );
        let mut out = Vec::new();
        split_text("\"553 User address required\" x\\@y", 10, ".:%@", &mut out);
        assert_eq!(out[1].1, 38);
        assert_eq!(words(&out), vec!["\"553 User address required\"", "x\\@y"]);
    }
}
