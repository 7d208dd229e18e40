//! The `name, K=value, K=value` lines: M (mailers), Q (queue groups) and
//! X (milters). Only the first character of a field name counts, and it is
//! case-sensitive (op.txt 5.4): `Path=` is `P=`, `r=` is not `R=`.

use crate::lex::{Lex, Lexeme};
use crate::options::Unit;
use crate::options::value::{self, UserSpec};
use crate::template::{Piece, Template};
use std::time::Duration;

/// One `K=value` as written: the key's first character, the value's
/// lexemes, and where the value starts (for errors).
#[derive(Debug, Clone)]
pub struct Equate {
    pub key: char,
    pub key_written: String,
    pub lexemes: Vec<Lexeme>,
    pub pos: usize,
    pub key_pos: usize,
}

/// An error at a byte offset of the line.
#[derive(Debug)]
pub struct FieldError {
    pub pos: usize,
    pub message: String,
}

impl Equate {
    /// The value as plain text, trimmed; a macro in it is an error, for
    /// fields that are names or numbers.
    pub fn plain(&self) -> Result<String, FieldError> {
        let mut s = String::new();
        for l in &self.lexemes {
            match &l.lex {
                Lex::Text(t) => s.push_str(t),
                _ => {
                    return Err(FieldError {
                        pos: l.pos,
                        message: format!("`{}=` takes no macros", self.key_written),
                    });
                }
            }
        }
        Ok(s.trim().to_string())
    }

    /// The value as a template, trailing white space dropped.
    pub fn template(&self) -> Result<Template, FieldError> {
        let mut t = Template::build(&self.lexemes).map_err(|e| FieldError {
            pos: e.pos,
            message: e.message,
        })?;
        if let Some(Piece::Text(last)) = t.pieces.last_mut() {
            let trimmed = last.trim_end().len();
            last.truncate(trimmed);
            if last.is_empty() {
                t.pieces.pop();
            }
        }
        Ok(t)
    }

    pub fn number(&self) -> Result<u64, FieldError> {
        let v = self.plain()?;
        value::parse_size(&v)
            .map_err(|e| self.error(format!("`{}=`: {}", self.key_written, e.message)))
    }

    pub fn signed(&self) -> Result<i64, FieldError> {
        let v = self.plain()?;
        value::parse_int(&v)
            .map_err(|e| self.error(format!("`{}=`: {}", self.key_written, e.message)))
    }

    pub fn duration(&self, unit: Unit) -> Result<Duration, FieldError> {
        let v = self.plain()?;
        value::parse_duration(&v, unit)
            .map_err(|e| self.error(format!("`{}=`: {}", self.key_written, e.message)))
    }

    pub fn user(&self) -> Result<UserSpec, FieldError> {
        let v = self.plain()?;
        let (user, group) = match v.split_once(':') {
            Some((u, g)) => (u.to_string(), Some(g.to_string())),
            None => (v.clone(), None),
        };
        if user.is_empty() || group.as_deref() == Some("") {
            return Err(self.error(format!(
                "`{}=`: expected user or user:group",
                self.key_written
            )));
        }
        Ok(UserSpec { user, group })
    }

    /// The error for a field the line type does not have.
    pub fn unknown(&self, what: &str, expected: &str) -> FieldError {
        FieldError {
            pos: self.key_pos,
            message: format!(
                "unknown {what} field `{}`: expected {expected}",
                self.key_written
            ),
        }
    }

    pub fn error(&self, message: String) -> FieldError {
        FieldError {
            pos: self.pos,
            message,
        }
    }
}
