//! The compiled alias database, what `mtad -bi` (sendmail's newaliases)
//! builds from an AliasFile: `FILE.mtad.db`, an SQLite file beside the
//! source, with one row per member. (Not sendmail's `FILE.db`: that is a
//! Berkeley DB file mtad does not read, and an admin going back to
//! sendmail still has it.)
//!
//! As in sendmail, the daemon reads the compiled form when there is one,
//! and says so when its source has changed since (`run mtad -bi`); without
//! one it reads the text itself, so a site that never runs newaliases
//! still works.

use super::{AliasFile, Member};
use rusqlite::{Connection, OpenFlags, params};
use std::path::{Path, PathBuf};

/// The compiled form's path for an alias file.
pub fn path_for(source: &Path) -> PathBuf {
    let mut name = source.as_os_str().to_owned();
    name.push(".mtad.db");
    PathBuf::from(name)
}

/// What `mtad -bi` reports for one file, in sendmail's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    pub aliases: usize,
    pub longest: usize,
    pub total: usize,
}

/// Compiles `file` (read from `source`) into its database: written to a
/// temporary file, then renamed over the old one, so a reader never sees
/// half a database. Readable by everyone (mode 0644), as aliases.db is.
pub fn build(source: &Path, file: &AliasFile) -> Result<Built, String> {
    let target = path_for(source);
    let mut tmp = target.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let fail = |e: rusqlite::Error| format!("{}: {e}", tmp.display());
    let mut conn = Connection::open(&tmp).map_err(fail)?;
    conn.execute_batch(
        "PRAGMA journal_mode = DELETE;
         CREATE TABLE members (name TEXT NOT NULL, ord INTEGER NOT NULL, kind TEXT NOT NULL,
                               value TEXT NOT NULL, PRIMARY KEY (name, ord)) WITHOUT ROWID;",
    )
    .map_err(fail)?;
    let mut built = Built {
        aliases: 0,
        longest: 0,
        total: 0,
    };
    {
        let tx = conn.transaction().map_err(fail)?;
        {
            let mut stmt = tx
                .prepare("INSERT INTO members (name, ord, kind, value) VALUES (?1, ?2, ?3, ?4)")
                .map_err(fail)?;
            let mut names: Vec<&String> = file.entries.keys().collect();
            names.sort();
            for name in names {
                // sendmail's count: the name and the member list, each
                // with its terminating NUL.
                let mut rhs = 0;
                for (ord, m) in file.entries[name].iter().enumerate() {
                    let (kind, value) = match m {
                        Member::Address(a) => ("address", a.clone()),
                        Member::NoAlias(u) => ("noalias", u.clone()),
                        Member::Program(c) => ("program", c.clone()),
                        Member::File(p) => ("file", p.display().to_string()),
                        Member::Include(p) => ("include", p.display().to_string()),
                    };
                    rhs += value.len()
                        + if ord > 0 { 2 } else { 0 }
                        + match m {
                            Member::NoAlias(_) => 1,
                            Member::Program(_) => 1,
                            Member::Include(_) => 9,
                            _ => 0,
                        };
                    stmt.execute(params![name, ord as i64, kind, value])
                        .map_err(fail)?;
                }
                let size = name.len() + 1 + rhs + 1;
                built.aliases += 1;
                built.longest = built.longest.max(size);
                built.total += size;
            }
        }
        tx.commit().map_err(fail)?;
    }
    drop(conn);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &target).map_err(|e| format!("{}: {e}", target.display()))?;
    Ok(built)
}

/// Reads a compiled database, read-only.
pub fn read(db: &Path) -> Result<AliasFile, String> {
    let fail = |e: rusqlite::Error| format!("{}: {e}", db.display());
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(fail)?;
    let mut stmt = conn
        .prepare("SELECT name, kind, value FROM members ORDER BY name, ord")
        .map_err(fail)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(fail)?;
    let mut out = AliasFile::default();
    for row in rows {
        let (name, kind, value) = row.map_err(fail)?;
        let m = match kind.as_str() {
            "address" => Member::Address(value),
            "noalias" => Member::NoAlias(value),
            "program" => Member::Program(value),
            "file" => Member::File(value.into()),
            "include" => Member::Include(value.into()),
            other => return Err(format!("{}: unknown member kind {other}", db.display())),
        };
        out.entries.entry(name).or_default().push(m);
    }
    Ok(out)
}

/// Whether the source changed after the database was built.
pub fn out_of_date(source: &Path, db: &Path) -> bool {
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    matches!((mtime(source), mtime(db)), (Some(s), Some(d)) if s > d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_and_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("aliases");
        let text = "root: \\root, admin@elsewhere.example\nlist: :include:/etc/mail/list, \"|/usr/bin/vacation x\", /var/log/copy\n";
        std::fs::write(&src, text).unwrap();
        let file = AliasFile::read(&src).unwrap();
        let built = build(&src, &file).unwrap();
        assert_eq!(built.aliases, 2);
        let db = path_for(&src);
        assert!(db.ends_with("aliases.mtad.db"));
        let back = read(&db).unwrap();
        assert_eq!(back.entries, file.entries);
        assert!(!out_of_date(&src, &db));
        // A later edit of the source.
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&src)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert!(out_of_date(&src, &db));
    }
}
