//! K lines: keyed maps (op.txt 5.9), and the text sources of database maps.
//!
//! A K line is only declared when the config is read; nothing is opened
//! until something looks a key up. Database maps (hash, btree, dbm) are
//! read from the text file makemap takes as input, never from a Berkeley DB
//! file: the K line names `/etc/mail/access`, sendmail opens
//! `/etc/mail/access.db`, mtad reads `/etc/mail/access` itself.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Map classes sendmail 8.17 knows (op.txt 5.9, conf.c).
pub const CLASSES: &[&str] = &[
    "arith", "arpa", "bestmx", "btree", "cdb", "dbm", "dequote", "dns", "hash", "hesiod", "host",
    "implicit", "ldap", "macro", "netinfo", "nis", "nisplus", "nsd", "null", "ph", "program",
    "regex", "sequence", "socket", "stab", "switch", "syslog", "text", "user", "userdb",
];

/// Classes whose last argument is a file with `key value` lines.
const FILE_CLASSES: &[&str] = &["hash", "btree", "dbm", "cdb", "implicit", "text"];

/// One flag of a map: `-o`, `-T<TMPF>`, `-a.FOUND`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapFlag {
    pub flag: char,
    /// The text attached to the flag (`<TMPF>`), empty when none.
    pub arg: String,
}

/// One K line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapDecl {
    pub name: String,
    pub class: String,
    /// The flags before the first plain argument, in order.
    pub flags: Vec<MapFlag>,
    /// The arguments after the flags: the file for database maps, the
    /// program and its arguments, the member maps of a sequence, ...
    pub args: Vec<String>,
    pub line: usize,
}

impl MapDecl {
    pub(crate) fn new(name: &str, class: &str, args: &str, line: usize) -> MapDecl {
        let mut flags = Vec::new();
        let mut rest = Vec::new();
        let words: Vec<&str> = args.split_ascii_whitespace().collect();
        let mut i = 0;
        while i < words.len() {
            let w = words[i];
            if rest.is_empty() && w.len() > 1 && w.starts_with('-') {
                let mut chars = w[1..].chars();
                let flag = chars.next().unwrap_or('-');
                flags.push(MapFlag {
                    flag,
                    arg: chars.as_str().to_string(),
                });
            } else {
                rest.push(w.to_string());
            }
            i += 1;
        }
        MapDecl {
            name: name.to_string(),
            class: class.to_string(),
            flags,
            args: rest,
            line,
        }
    }

    pub fn has_flag(&self, f: char) -> bool {
        self.flags.iter().any(|x| x.flag == f)
    }

    /// `-o`: the map is optional; a missing file is not an error.
    pub fn optional(&self) -> bool {
        self.has_flag('o')
    }

    /// The text source for a database map: the file makemap reads.
    pub fn source_file(&self) -> Option<PathBuf> {
        if !FILE_CLASSES.contains(&self.class.as_str()) {
            return None;
        }
        let file = self.args.first()?;
        // A K line may name the database with its suffix; the text source
        // is the same path without it.
        let base = [".db", ".dir", ".pag", ".cdb"]
            .iter()
            .find_map(|s| file.strip_suffix(s))
            .unwrap_or(file);
        Some(PathBuf::from(base))
    }

    /// Reads the text source, folding keys to lower case unless the map has
    /// `-f`, as makemap does by default.
    pub fn load_source(&self) -> io::Result<TextMap> {
        let path = self.source_file().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "map {} of class {} has no text source",
                    self.name, self.class
                ),
            )
        })?;
        TextMap::read(&path, !self.has_flag('f'))
    }
}

/// The contents of a makemap text source: `key value` per line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextMap {
    pub entries: HashMap<String, String>,
    pub fold_case: bool,
}

impl TextMap {
    pub fn read(path: &Path, fold_case: bool) -> io::Result<TextMap> {
        let bytes = fs::read(path)?;
        Ok(TextMap::parse(&bytes, fold_case))
    }

    /// makemap's input format: a key, white space, the value to the end of
    /// the line. `#` lines and blank lines are skipped; a later key does
    /// not replace an earlier one (makemap without -r).
    pub fn parse(bytes: &[u8], fold_case: bool) -> TextMap {
        let text: String = bytes.iter().map(|&b| b as char).collect();
        let mut entries = HashMap::new();
        for line in text.lines() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = match line.find([' ', '\t']) {
                Some(i) => (&line[..i], line[i..].trim_start()),
                None => (line, ""),
            };
            if key.is_empty() {
                continue;
            }
            let key = if fold_case {
                key.to_ascii_lowercase()
            } else {
                key.to_string()
            };
            entries.entry(key).or_insert_with(|| value.to_string());
        }
        TextMap { entries, fold_case }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        if self.fold_case {
            self.entries
                .get(&key.to_ascii_lowercase())
                .map(String::as_str)
        } else {
            self.entries.get(key).map(String::as_str)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags_and_file() {
        let m = MapDecl::new("access", "hash", "-T<TMPF> -o /etc/mail/access", 3);
        assert_eq!(
            m.flags[0],
            MapFlag {
                flag: 'T',
                arg: "<TMPF>".into()
            }
        );
        assert!(m.optional());
        assert_eq!(m.source_file(), Some(PathBuf::from("/etc/mail/access")));
        let m = MapDecl::new("x", "hash", "/etc/mail/x.db", 3);
        assert_eq!(m.source_file(), Some(PathBuf::from("/etc/mail/x")));
        let m = MapDecl::new("resolve", "host", "-a<OKR> -T<TEMP>", 1);
        assert_eq!(m.source_file(), None);
    }

    #[test]
    fn a_hash_map_reads_its_text_source_not_the_db() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("access");
        std::fs::write(&source, "Connect:192.0.2.1 REJECT\n").unwrap();
        std::fs::write(dir.path().join("access.db"), b"\0\x06\x15\x61 not text").unwrap();
        let m = MapDecl::new("access", "hash", &format!("-o {}.db", source.display()), 1);
        let map = m.load_source().unwrap();
        assert_eq!(map.get("CONNECT:192.0.2.1"), Some("REJECT"));
        let f = MapDecl::new("x", "hash", &format!("-f {}", source.display()), 1);
        assert_eq!(
            f.load_source().unwrap().get("connect:192.0.2.1"),
            None,
            "-f keeps case"
        );
        assert!(MapDecl::new("h", "host", "", 1).load_source().is_err());
    }

    #[test]
    fn reads_makemap_text() {
        let m = TextMap::parse(
            b"# access\nConnect:127.0.0.1\tRELAY\n\nFrom:Spam@Example.COM  REJECT\nfrom:spam@example.com OK\nbare\n",
            true,
        );
        assert_eq!(m.get("connect:127.0.0.1"), Some("RELAY"));
        assert_eq!(
            m.get("FROM:SPAM@example.com"),
            Some("REJECT"),
            "first entry wins"
        );
        assert_eq!(m.get("bare"), Some(""));
        let m = TextMap::parse(b"Key v\n", false);
        assert_eq!(m.get("key"), None);
        assert_eq!(m.get("Key"), Some("v"));
    }
}
