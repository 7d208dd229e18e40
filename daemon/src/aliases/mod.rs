//! Aliases: the AliasFile sources, their members, and their expansion.
//!
//! RCPT needs to know that a name is an alias, EXPN shows what it expands
//! to, and delivery sends to what it expands to: all three read the same
//! tables through this module, so they never disagree.

pub mod compiled;
mod expand;
mod file;

pub use expand::{ExpandError, Expander, Target};
pub use file::{AliasFile, split_members};

use cfparser::Config;
use cfparser::options::OptionValue;
use std::collections::HashMap;
use std::path::PathBuf;

/// One member of an alias's list, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    /// `user` or `user@domain`: expanded further when local.
    Address(String),
    /// `\user`: the local user itself, never expanded again.
    NoAlias(String),
    /// `|command` or `"|command with spaces"`.
    Program(String),
    /// `/path/file`: appended to.
    File(PathBuf),
    /// `:include:/path`: the members listed in that file.
    Include(PathBuf),
}

impl Member {
    /// One member's text, as split from a list; `None` for nothing.
    pub fn parse(text: &str) -> Option<Member> {
        let mut t = text.trim();
        if t.starts_with('<') && t.ends_with('>') && t.len() >= 2 {
            t = t[1..t.len() - 1].trim();
        }
        if t.is_empty() {
            return None;
        }
        let unquoted;
        if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') {
            let inner = &t[1..t.len() - 1];
            if inner.starts_with(['|', '/']) {
                unquoted = unescape(inner);
                t = &unquoted;
            }
        }
        if let Some(cmd) = t.strip_prefix('|') {
            return Some(Member::Program(cmd.trim().to_string()));
        }
        if t.starts_with('/') {
            return Some(Member::File(PathBuf::from(t)));
        }
        if t.len() > 9 && t[..9].eq_ignore_ascii_case(":include:") {
            return Some(Member::Include(PathBuf::from(t[9..].trim())));
        }
        if let Some(user) = t.strip_prefix('\\') {
            return Some(Member::NoAlias(user.to_string()));
        }
        Some(Member::Address(t.to_string()))
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Every alias of every AliasFile, the first file that names an alias
/// winning (sendmail searches the files in order).
#[derive(Debug, Default, Clone)]
pub struct Aliases {
    entries: HashMap<String, Vec<Member>>,
    /// What was wrong in the files, each with file and line.
    pub warnings: Vec<String>,
}

impl Aliases {
    /// The files AliasFile names (`path` or `class:path`); a file that
    /// cannot be read is a warning, not a failure: the daemon still has to
    /// take mail for its users.
    pub fn from_config(config: &Config) -> Aliases {
        let mut out = Aliases::default();
        for source in Aliases::sources(config) {
            let path = source.display().to_string();
            let source = source.as_path();
            let db = compiled::path_for(source);
            if db.exists() {
                // sendmail's way: the compiled form is what counts, and a
                // newer source is news for the admin.
                if compiled::out_of_date(source, &db) {
                    out.warnings.push(format!(
                        "alias database {} out of date: {path} is newer; run mtad -bi (newaliases)",
                        db.display()
                    ));
                }
                match compiled::read(&db) {
                    Ok(file) => {
                        out.add(file);
                        continue;
                    }
                    Err(e) => out.warnings.push(format!("{e}; reading {path} instead")),
                }
            }
            match AliasFile::read(source) {
                Ok(file) => out.add(file),
                Err(e) => out.warnings.push(format!("AliasFile {path}: {e}")),
            }
        }
        out
    }

    /// The AliasFile paths of a config (`path` or `class:path`).
    pub fn sources(config: &Config) -> Vec<PathBuf> {
        let specs: Vec<String> = match config.option("AliasFile") {
            Some(OptionValue::List(l)) => l.clone(),
            Some(OptionValue::Path(p)) => vec![p.clone()],
            _ => Vec::new(),
        };
        specs
            .into_iter()
            .map(|spec| match spec.split_once(':') {
                Some((class, path)) if !class.contains('/') => PathBuf::from(path),
                _ => PathBuf::from(spec),
            })
            .collect()
    }

    /// Adds a file's entries after those already known.
    pub fn add(&mut self, file: AliasFile) {
        for (name, members) in file.entries {
            self.entries.entry(name).or_insert(members);
        }
        self.warnings.extend(file.warnings);
    }

    /// The members of `name` (any case), if it is an alias.
    pub fn get(&self, name: &str) -> Option<&[Member]> {
        self.entries
            .get(&name.to_ascii_lowercase())
            .map(Vec::as_slice)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_forms() {
        assert_eq!(
            Member::parse(" root "),
            Some(Member::Address("root".into()))
        );
        assert_eq!(
            Member::parse("<bob@remote.example>"),
            Some(Member::Address("bob@remote.example".into()))
        );
        assert_eq!(
            Member::parse(r#""|/usr/bin/vacation -a \"x\" bob""#),
            Some(Member::Program(r#"/usr/bin/vacation -a "x" bob"#.into()))
        );
        assert_eq!(
            Member::parse("\"/var/log/mail copy\""),
            Some(Member::File("/var/log/mail copy".into()))
        );
        assert_eq!(
            Member::parse(":INCLUDE: /etc/mail/list"),
            Some(Member::Include("/etc/mail/list".into()))
        );
        assert_eq!(Member::parse("\\bob"), Some(Member::NoAlias("bob".into())));
        assert_eq!(Member::parse("  "), None);
    }

    #[test]
    fn first_file_wins() {
        let mut a = Aliases::default();
        a.add(AliasFile::parse("one", b"staff: alice\n"));
        a.add(AliasFile::parse("two", b"staff: bob\nops: carol\n"));
        assert_eq!(a.get("STAFF"), Some(&[Member::Address("alice".into())][..]));
        assert!(a.contains("ops"));
        assert!(!a.contains("nobody-here"));
    }
}
