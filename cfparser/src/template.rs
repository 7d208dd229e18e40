//! Values with macros in them: `$j Sendmail $v; $b`, `$?x$x <$g>$|$g$.`.
//!
//! A template keeps the structure of a value (text, macro references,
//! conditionals) so that it can be expanded whenever the macros change: per
//! message for headers, per session for the greeting. Conditionals are
//! checked when the config is read: an unterminated `$?` is an error here,
//! where sendmail would silently drop the rest of the value.

use crate::lex::{Lex, Lexeme, MacroName};
use std::fmt;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    /// `$x`
    Macro(MacroName),
    /// `$&x`
    Deferred(MacroName),
    /// `$?x THEN $| ELSE $.`
    Cond {
        name: MacroName,
        then: Template,
        otherwise: Option<Template>,
    },
    /// A rule metasymbol or class reference inside a value, kept as written
    /// (for example `$#` in a value that is later tokenized).
    Other(String),
}

/// A parsed value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    pub pieces: Vec<Piece>,
}

/// A problem in a template, at a byte offset of the logical line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub pos: usize,
    pub message: String,
}

impl Template {
    /// A template that is just text.
    pub fn text(s: &str) -> Template {
        Template {
            pieces: if s.is_empty() {
                vec![]
            } else {
                vec![Piece::Text(s.to_string())]
            },
        }
    }

    /// Builds a template from lexemes; a `$?` without its `$.` is an error
    /// placed at the `$?`.
    pub fn build(lexemes: &[Lexeme]) -> Result<Template, TemplateError> {
        let mut i = 0;
        build_until(lexemes, &mut i, None, 0)
    }

    /// True if the template has no macros: its text is its value.
    pub fn is_plain(&self) -> bool {
        self.pieces.iter().all(|p| matches!(p, Piece::Text(_)))
    }

    /// The value with every macro looked up through `lookup`; an undefined
    /// macro expands to nothing, as in sendmail.
    pub fn expand(&self, lookup: &dyn Fn(&MacroName) -> Option<String>) -> String {
        let mut out = String::new();
        self.expand_into(lookup, &mut out);
        out
    }

    fn expand_into(&self, lookup: &dyn Fn(&MacroName) -> Option<String>, out: &mut String) {
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) | Piece::Other(t) => out.push_str(t),
                Piece::Macro(m) | Piece::Deferred(m) => {
                    if let Some(v) = lookup(m) {
                        out.push_str(&v);
                    }
                }
                Piece::Cond {
                    name,
                    then,
                    otherwise,
                } => {
                    if lookup(name).is_some_and(|v| !v.is_empty()) {
                        then.expand_into(lookup, out);
                    } else if let Some(o) = otherwise {
                        o.expand_into(lookup, out);
                    }
                }
            }
        }
    }

    /// The macros this template refers to, conditionals included.
    pub fn macros(&self) -> Vec<&MacroName> {
        let mut v = Vec::new();
        self.collect_macros(&mut v);
        v
    }

    fn collect_macros<'a>(&'a self, v: &mut Vec<&'a MacroName>) {
        for piece in &self.pieces {
            match piece {
                Piece::Macro(m) | Piece::Deferred(m) => v.push(m),
                Piece::Cond {
                    name,
                    then,
                    otherwise,
                } => {
                    v.push(name);
                    then.collect_macros(v);
                    if let Some(o) = otherwise {
                        o.collect_macros(v);
                    }
                }
                _ => {}
            }
        }
    }
}

/// Parses a value with the grammar's `template` rule, as the loader parses
/// D, H and O values: for option text (SmtpGreetingMessage, UnixFromLine)
/// that is expanded at run time.
pub fn parse(text: &str) -> Result<Template, TemplateError> {
    use crate::grammar::{CfGrammar, Rule};
    use pest::Parser;
    let pairs = CfGrammar::parse(Rule::template, text).map_err(|e| {
        let (pos, message) = crate::grammar::explain(&e);
        TemplateError { pos, message }
    })?;
    let lexemes = crate::lex::lexemes(pairs).map_err(|b| TemplateError {
        pos: b.pos,
        message: "`$` must be followed by a macro name or a metasymbol".into(),
    })?;
    Template::build(&lexemes)
}

/// How deep `$?` conditionals may nest. sendmail's own limit is lower;
/// the bound keeps a hostile config from exhausting the stack.
pub const MAX_NESTING: usize = 32;

fn build_until(
    lexemes: &[Lexeme],
    i: &mut usize,
    open: Option<(&MacroName, usize)>,
    depth: usize,
) -> Result<Template, TemplateError> {
    let mut pieces = Vec::new();
    while *i < lexemes.len() {
        let lexeme = &lexemes[*i];
        *i += 1;
        let piece = match &lexeme.lex {
            Lex::Text(t) => Piece::Text(t.clone()),
            Lex::Macro(m) => Piece::Macro(m.clone()),
            Lex::Deferred(m) => Piece::Deferred(m.clone()),
            Lex::CondIf(name) => {
                if depth >= MAX_NESTING {
                    return Err(TemplateError {
                        pos: lexeme.pos,
                        message: format!("`$?` conditionals nested more than {MAX_NESTING} deep"),
                    });
                }
                let then = build_until(lexemes, i, Some((name, lexeme.pos)), depth + 1)?;
                // build_until stopped on `$|` or `$.`.
                let stopped_on_else =
                    matches!(lexemes.get(*i - 1).map(|l| &l.lex), Some(Lex::CondElse));
                let otherwise = if stopped_on_else {
                    let o = build_until(lexemes, i, Some((name, lexeme.pos)), depth + 1)?;
                    if matches!(lexemes.get(*i - 1).map(|l| &l.lex), Some(Lex::CondElse)) {
                        return Err(TemplateError {
                            pos: lexemes[*i - 1].pos,
                            message: format!(
                                "a second `$|` in the `$?{name}` conditional: expected `$.`"
                            ),
                        });
                    }
                    Some(o)
                } else {
                    None
                };
                Piece::Cond {
                    name: name.clone(),
                    then,
                    otherwise,
                }
            }
            Lex::CondElse if open.is_some() => return Ok(Template { pieces }),
            Lex::CondEnd if open.is_some() => return Ok(Template { pieces }),
            Lex::CondElse => Piece::Other("$|".into()),
            Lex::CondEnd => {
                return Err(TemplateError {
                    pos: lexeme.pos,
                    message: "`$.` without a `$?` conditional to end".into(),
                });
            }
            Lex::Meta(m) => Piece::Other(m.written().into()),
            Lex::Replacement(n) => Piece::Other(format!("${n}")),
            Lex::Class(n) => Piece::Other(format!("$={n}")),
            Lex::NotClass(n) => Piece::Other(format!("$~{n}")),
        };
        if let (Piece::Text(new), Some(Piece::Text(old))) = (&piece, pieces.last_mut()) {
            old.push_str(new);
            continue;
        }
        pieces.push(piece);
    }
    match open {
        None => Ok(Template { pieces }),
        Some((name, pos)) => Err(TemplateError {
            pos,
            message: format!(
                "unterminated `$?{name}` conditional: expected `$.` before the end of the line"
            ),
        }),
    }
}

impl fmt::Display for Template {
    /// The template as it would be written in sendmail.cf.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => f.write_str(&t.replace('$', "$$"))?,
                Piece::Other(t) => f.write_str(t)?,
                Piece::Macro(m) => write!(f, "${m}")?,
                Piece::Deferred(m) => write!(f, "$&{m}")?,
                Piece::Cond {
                    name,
                    then,
                    otherwise,
                } => {
                    write!(f, "$?{name}{then}")?;
                    if let Some(o) = otherwise {
                        write!(f, "$|{o}")?;
                    }
                    f.write_str("$.")?;
                }
            }
        }
        Ok(())
    }
}
