//! Diagnostics: where in which file, what was wrong, and what was expected.
//!
//! Every problem, error or warning, names `file:line:column` and shows the
//! offending line with a caret under the place, so an admin can go straight
//! to it. Columns count bytes from 1, because a sendmail.cf is bytes.

use std::fmt;
use std::path::PathBuf;

/// How bad a diagnostic is: errors stop the config from loading, warnings
/// are printed (as sendmail prints them) and the config still loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// A place in a file: 1-based line and byte column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// The physical line, for the snippet (Latin-1 decoded, no newline).
    pub source_line: String,
}

/// One error or warning about a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Where it is; `None` for problems that belong to no line (a file that
    /// cannot be read at all, an override given on the command line).
    pub location: Option<Location>,
    pub message: String,
}

impl Diagnostic {
    pub fn error(location: Option<Location>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            location,
            message: message.into(),
        }
    }

    pub fn warning(location: Option<Location>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            location,
            message: message.into(),
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:column`, or the empty string when there is no location.
    pub fn position(&self) -> String {
        match &self.location {
            Some(l) => format!("{}:{}:{}", l.file.display(), l.line, l.column),
            None => String::new(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let Some(loc) = &self.location else {
            return write!(f, "{word}: {}", self.message);
        };
        writeln!(
            f,
            "{}:{}:{}: {word}: {}",
            loc.file.display(),
            loc.line,
            loc.column,
            self.message
        )?;
        let number = loc.line.to_string();
        let pad = " ".repeat(number.len());
        let shown = printable(&loc.source_line);
        // The caret line copies the tabs of the source line so that it lines
        // up under the same column whatever the terminal's tab width.
        let caret_pad: String = shown
            .chars()
            .take(loc.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        writeln!(f, "{pad} |")?;
        writeln!(f, "{number} | {shown}")?;
        write!(f, "{pad} | {caret_pad}^")
    }
}

/// The line as it can be shown on a terminal: one char per byte, with
/// control characters other than tab replaced so they cannot act on it.
fn printable(line: &str) -> String {
    line.chars()
        .map(|c| {
            if c == '\t' || !(c.is_control()) {
                c
            } else {
                '\u{fffd}'
            }
        })
        .collect()
}

/// Everything wrong with a config that did not load: every error found,
/// and the warnings that came before and with them.
#[derive(Debug, Clone)]
pub struct LoadErrors {
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadErrors {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }
}

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_position_snippet_and_caret() {
        let d = Diagnostic::error(
            Some(Location {
                file: "x.cf".into(),
                line: 12,
                column: 18,
                source_line: "O MaxMessageSize=abc".into(),
            }),
            "expected a size in bytes, found `abc`",
        );
        let text = d.to_string();
        assert_eq!(
            text,
            "x.cf:12:18: error: expected a size in bytes, found `abc`\n   |\n12 | O MaxMessageSize=abc\n   |                  ^"
        );
    }

    #[test]
    fn caret_follows_tabs() {
        let d = Diagnostic::warning(
            Some(Location {
                file: "x.cf".into(),
                line: 1,
                column: 4,
                source_line: "R\t\tx".into(),
            }),
            "w",
        );
        assert!(d.to_string().ends_with("|  \t\t^"), "{d}");
    }
}
