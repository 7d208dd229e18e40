//! Expanding an alias to the places mail for it goes: recursively, with
//! duplicates suppressed and loops detected, as sendmail expands them.
//!
//! A name that lists itself (`root: root, backup@x`) means its own mailbox
//! there, as in sendmail. A longer cycle (`a: b`, `b: a`) has no mailbox
//! to fall back on and is an error naming the cycle, so the admin learns
//! of it instead of mail vanishing. Depth is bounded like sendmail's
//! MaxAliasRecursion (10).

use super::file::split_members;
use super::{Aliases, Member};
use std::collections::HashSet;
use std::path::PathBuf;
use thiserror::Error;

/// sendmail's MaxAliasRecursion default.
pub const MAX_DEPTH: usize = 10;

/// Where mail for an expanded name goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A local user (`user` or `user+detail`): the mailbox, or where the
    /// user's .forward says.
    Local(String),
    /// `\user`: the mailbox itself, no .forward.
    Mailbox(String),
    /// An address at another host, domain lower-cased.
    Remote(String),
    /// A command, from the alias named.
    Program { command: String, alias: String },
    /// A file to append to, from the alias named.
    File { path: PathBuf, alias: String },
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ExpandError {
    #[error("aliasing loop: {0}")]
    Loop(String),
    #[error("aliasing nested more than {MAX_DEPTH} deep at {0}")]
    TooDeep(String),
    #[error(":include:{path}: {error}")]
    Include { path: String, error: String },
}

/// Expands names against one set of aliases.
pub struct Expander<'a> {
    pub aliases: &'a Aliases,
    /// Whether a domain is one of ours (class w and friends).
    pub is_local_domain: &'a dyn Fn(&str) -> bool,
    /// Fold local parts to lower case (the local mailer has no `u` flag).
    pub fold: bool,
}

impl Expander<'_> {
    /// What a local name expands to; a name that is no alias is its own
    /// mailbox.
    pub fn expand(&self, name: &str) -> Result<Vec<Target>, ExpandError> {
        let mut walk = Walk {
            out: Vec::new(),
            seen: HashSet::new(),
            path: Vec::new(),
        };
        self.address(name, "", &mut walk)?;
        Ok(walk.out)
    }

    fn address(&self, addr: &str, from: &str, walk: &mut Walk) -> Result<(), ExpandError> {
        let (local, domain) = match addr.rsplit_once('@') {
            Some((l, d)) => (l, Some(d)),
            None => (addr, None),
        };
        if let Some(d) = domain
            && !(self.is_local_domain)(d)
        {
            walk.push(Target::Remote(format!(
                "{local}@{}",
                d.to_ascii_lowercase()
            )));
            return Ok(());
        }
        let local = if self.fold {
            local.to_ascii_lowercase()
        } else {
            local.to_string()
        };
        let key = local.to_ascii_lowercase();
        let alias = if self.aliases.contains(&key) {
            Some(key.clone())
        } else {
            key.split_once('+')
                .map(|(base, _)| base.to_string())
                .filter(|base| self.aliases.contains(base))
        };
        let Some(alias) = alias else {
            walk.push(Target::Local(local));
            return Ok(());
        };
        if alias == from {
            walk.push(Target::Local(local));
            return Ok(());
        }
        if let Some(at) = walk.path.iter().position(|p| *p == alias) {
            let mut cycle = walk.path[at..].to_vec();
            cycle.push(alias);
            return Err(ExpandError::Loop(cycle.join(" -> ")));
        }
        if walk.path.len() >= MAX_DEPTH {
            return Err(ExpandError::TooDeep(alias));
        }
        let members = self.aliases.get(&alias).unwrap_or_default().to_vec();
        walk.path.push(alias.clone());
        for m in members {
            self.member(m, &alias, walk, 0)?;
        }
        walk.path.pop();
        Ok(())
    }

    fn member(
        &self,
        m: Member,
        alias: &str,
        walk: &mut Walk,
        includes: usize,
    ) -> Result<(), ExpandError> {
        match m {
            Member::Address(a) => self.address(&a, alias, walk),
            Member::NoAlias(u) => {
                walk.push(Target::Mailbox(if self.fold {
                    u.to_ascii_lowercase()
                } else {
                    u
                }));
                Ok(())
            }
            Member::Program(command) => {
                walk.push(Target::Program {
                    command,
                    alias: alias.to_string(),
                });
                Ok(())
            }
            Member::File(path) => {
                walk.push(Target::File {
                    path,
                    alias: alias.to_string(),
                });
                Ok(())
            }
            Member::Include(path) => {
                if includes + walk.path.len() >= MAX_DEPTH {
                    return Err(ExpandError::TooDeep(format!(":include:{}", path.display())));
                }
                let shown = path.display().to_string();
                let bytes = std::fs::read(&path).map_err(|e| ExpandError::Include {
                    path: shown.clone(),
                    error: e.to_string(),
                })?;
                let text: String = bytes.iter().map(|&b| b as char).collect();
                for line in text.lines() {
                    let line = line.trim();
                    if line.is_empty() || line.starts_with('#') {
                        continue;
                    }
                    for item in split_members(line) {
                        if let Some(m) = Member::parse(&item) {
                            self.member(m, alias, walk, includes + 1)?;
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

struct Walk {
    out: Vec<Target>,
    seen: HashSet<Target>,
    /// The aliases being expanded, outermost first.
    path: Vec<String>,
}

impl Walk {
    fn push(&mut self, t: Target) {
        if self.seen.insert(t.clone()) {
            self.out.push(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aliases::AliasFile;

    fn aliases(text: &str) -> Aliases {
        let mut a = Aliases::default();
        a.add(AliasFile::parse("test", text.as_bytes()));
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
        a
    }

    fn expand(a: &Aliases, name: &str) -> Result<Vec<Target>, ExpandError> {
        let local = |d: &str| d.eq_ignore_ascii_case("host.lab.example");
        Expander {
            aliases: a,
            is_local_domain: &local,
            fold: true,
        }
        .expand(name)
    }

    fn local(u: &str) -> Target {
        Target::Local(u.into())
    }

    #[test]
    fn nested_lists_with_duplicates_suppressed() {
        let a = aliases(
            "staff: alice, ops, Bob@Remote.Example\nops: carol, alice, dave@host.lab.example\nroot: \\root, admin@elsewhere.example\n",
        );
        assert_eq!(
            expand(&a, "STAFF").unwrap(),
            vec![
                local("alice"),
                local("carol"),
                local("dave"),
                Target::Remote("Bob@remote.example".into())
            ]
        );
        assert_eq!(
            expand(&a, "root").unwrap(),
            vec![
                Target::Mailbox("root".into()),
                Target::Remote("admin@elsewhere.example".into())
            ]
        );
        assert_eq!(
            expand(&a, "nobody-else").unwrap(),
            vec![local("nobody-else")]
        );
    }

    #[test]
    fn self_reference_is_the_mailbox_and_cycles_are_errors() {
        let a = aliases("me: me, copy@elsewhere.example\na: b\nb: c\nc: a\n");
        assert_eq!(
            expand(&a, "me").unwrap(),
            vec![local("me"), Target::Remote("copy@elsewhere.example".into())]
        );
        assert_eq!(
            expand(&a, "a"),
            Err(ExpandError::Loop("a -> b -> c -> a".into()))
        );
    }

    #[test]
    fn depth_is_bounded() {
        let text: String = (0..12).map(|i| format!("l{i}: l{}\n", i + 1)).collect();
        let a = aliases(&text);
        assert!(matches!(expand(&a, "l0"), Err(ExpandError::TooDeep(_))));
        assert_eq!(expand(&a, "l5").unwrap(), vec![local("l12")]);
    }

    #[test]
    fn programs_files_and_includes() {
        let dir = std::env::temp_dir().join(format!("mtad-alias-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let list = dir.join("list");
        std::fs::write(&list, "# members\nerin, frank@remote.example\n\ngrace\n").unwrap();
        let a = aliases(&format!(
            "prog: \"|/usr/bin/filter --x\"\nlog: /var/log/copy\nlist: :include:{}\nmissing: :include:{}/none\n",
            list.display(),
            dir.display()
        ));
        assert_eq!(
            expand(&a, "prog").unwrap(),
            vec![Target::Program {
                command: "/usr/bin/filter --x".into(),
                alias: "prog".into()
            }]
        );
        assert_eq!(
            expand(&a, "log").unwrap(),
            vec![Target::File {
                path: "/var/log/copy".into(),
                alias: "log".into()
            }]
        );
        assert_eq!(
            expand(&a, "list").unwrap(),
            vec![
                local("erin"),
                Target::Remote("frank@remote.example".into()),
                local("grace")
            ]
        );
        assert!(matches!(
            expand(&a, "missing"),
            Err(ExpandError::Include { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn plus_detail_uses_the_base_alias() {
        let a = aliases("sales: alice\n");
        assert_eq!(expand(&a, "sales+eu").unwrap(), vec![local("alice")]);
        assert_eq!(expand(&a, "bob+x").unwrap(), vec![local("bob+x")]);
    }
}
