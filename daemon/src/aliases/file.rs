//! The alias file's text form, as sendmail's `newaliases` reads it
//! (op.txt, "The Alias Database"): `name: member, member`, lines that start
//! with a space or tab continue the entry above, `#` starts a comment line.
//!
//! A line that cannot be an entry is reported with its file and line and
//! skipped, as sendmail does; the rest of the file still counts, because
//! one typo must not make every alias vanish.

use super::Member;
use std::collections::HashMap;
use std::path::Path;

/// One alias file's entries, names folded to lower case (sendmail folds
/// alias names), with what was wrong in it.
#[derive(Debug, Default, Clone)]
pub struct AliasFile {
    pub entries: HashMap<String, Vec<Member>>,
    pub warnings: Vec<String>,
}

impl AliasFile {
    pub fn read(path: &Path) -> std::io::Result<AliasFile> {
        let bytes = std::fs::read(path)?;
        Ok(AliasFile::parse(&path.display().to_string(), &bytes))
    }

    /// Parses `bytes`; `origin` names the file in warnings. Bytes are
    /// taken as Latin-1 so that no byte is lost or refused.
    pub fn parse(origin: &str, bytes: &[u8]) -> AliasFile {
        let text: String = bytes.iter().map(|&b| b as char).collect();
        let mut out = AliasFile::default();
        // (first line number, joined text) of each logical entry.
        let mut logical: Vec<(usize, String)> = Vec::new();
        for (i, raw) in text.split('\n').enumerate() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.starts_with('#') {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                match logical.last_mut() {
                    Some((_, entry)) if !line.trim().is_empty() => {
                        entry.push(' ');
                        entry.push_str(line.trim());
                    }
                    Some(_) => {}
                    None if line.trim().is_empty() => {}
                    None => out.warnings.push(format!(
                        "{origin}:{}: continuation line without an entry above it",
                        i + 1
                    )),
                }
                continue;
            }
            if line.trim().is_empty() {
                continue;
            }
            logical.push((i + 1, line.to_string()));
        }
        for (line_no, entry) in logical {
            let Some((name, rest)) = entry.split_once(':') else {
                out.warnings
                    .push(format!("{origin}:{line_no}: missing colon"));
                continue;
            };
            let name = name.trim();
            let name = name
                .strip_prefix('"')
                .and_then(|n| n.strip_suffix('"'))
                .unwrap_or(name);
            if name.is_empty() || name.contains(['@', ' ', '\t', ',']) {
                out.warnings.push(format!(
                    "{origin}:{line_no}: illegal alias name \"{}\"",
                    name.escape_default()
                ));
                continue;
            }
            let mut members = Vec::new();
            for text in split_members(rest) {
                let Some(m) = Member::parse(&text) else {
                    continue;
                };
                if let Member::Address(a) | Member::NoAlias(a) = &m
                    && !a.starts_with('"')
                    && a.contains([' ', '\t'])
                {
                    out.warnings.push(format!(
                        "{origin}:{line_no}: \"{}\" is not one address (a missing comma?); left out",
                        a.escape_default()
                    ));
                    continue;
                }
                members.push(m);
            }
            if members.is_empty() {
                out.warnings.push(format!(
                    "{origin}:{line_no}: alias \"{name}\" has no members"
                ));
                continue;
            }
            let key = name.to_ascii_lowercase();
            if out.entries.contains_key(&key) {
                out.warnings.push(format!(
                    "{origin}:{line_no}: alias \"{name}\" defined again; this one wins"
                ));
            }
            out.entries.insert(key, members);
        }
        out
    }
}

/// Splits a member list at commas that are outside double quotes and
/// angle brackets (`"|prog a, b"` is one member).
pub fn split_members(list: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut angle, mut escaped) = (false, 0u32, false);
    for c in list.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                cur.push(c);
            }
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            '<' if !quoted => {
                angle += 1;
                cur.push(c);
            }
            '>' if !quoted => {
                angle = angle.saturating_sub(1);
                cur.push(c);
            }
            ',' if !quoted && angle == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn entries_continuations_and_comments() {
        let f = AliasFile::parse(
            "aliases",
            b"# comment\nPostmaster: root\nstaff: alice,\n  bob@remote.example,\n\tcarol\n\nlog: /var/log/x, \"|/usr/bin/prog a, b\"\nlist: :include:/etc/list\nme: \\me, me@elsewhere.example\n",
        );
        assert!(f.warnings.is_empty(), "{:?}", f.warnings);
        assert_eq!(
            f.entries["postmaster"],
            vec![Member::Address("root".into())]
        );
        assert_eq!(
            f.entries["staff"],
            vec![
                Member::Address("alice".into()),
                Member::Address("bob@remote.example".into()),
                Member::Address("carol".into())
            ]
        );
        assert_eq!(
            f.entries["log"],
            vec![
                Member::File(PathBuf::from("/var/log/x")),
                Member::Program("/usr/bin/prog a, b".into())
            ]
        );
        assert_eq!(
            f.entries["list"],
            vec![Member::Include(PathBuf::from("/etc/list"))]
        );
        assert_eq!(
            f.entries["me"],
            vec![
                Member::NoAlias("me".into()),
                Member::Address("me@elsewhere.example".into())
            ]
        );
    }

    #[test]
    fn bad_lines_are_reported_with_their_line_and_skipped() {
        let f = AliasFile::parse(
            "/etc/aliases",
            b"good: root\nno colon here\nbad@name: root\nempty:\ntwo: a b, c\n",
        );
        assert_eq!(f.entries.len(), 2);
        assert_eq!(
            f.warnings,
            vec![
                "/etc/aliases:2: missing colon",
                "/etc/aliases:3: illegal alias name \"bad@name\"",
                "/etc/aliases:4: alias \"empty\" has no members",
                "/etc/aliases:5: \"a b\" is not one address (a missing comma?); left out",
            ]
        );
        assert_eq!(f.entries["good"], vec![Member::Address("root".into())]);
    }

    #[test]
    fn commas_inside_quotes_and_angles_do_not_split() {
        assert_eq!(
            split_members(r#"a, "|x y, z", <b@c>, "d\", e""#),
            vec!["a", "\"|x y, z\"", "<b@c>", r#""d\", e""#]
        );
    }
}
