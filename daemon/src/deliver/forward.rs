//! `.forward` files: where ForwardPath says (`$z/.forward` by default;
//! sendmail's colon-separated list with `$z` home, `$u` user, `$w` short
//! host name, `$h` the `+detail`), the first one that exists wins.
//!
//! A .forward is used only when it is safe by sendmail's rules, since it
//! can run programs as its user: a regular file (not a symbolic link),
//! owned by the user or root, not writable by group or others, in a
//! directory that is neither group- nor world-writable (unless sticky) and
//! belongs to the user or root. An unsafe one is ignored, with a warning,
//! and the mail goes to the mailbox. The delivery agent reads it (as root
//! it can read a home directory closed to the daemon); the daemon parses
//! the text with the alias members' syntax.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The largest .forward read.
const MAX_SIZE: u64 = 1 << 20;

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The text of the first safe .forward.
    Text(PathBuf, String),
    /// None, or only unsafe ones (the reasons, for the log).
    Nothing(Vec<String>),
}

/// The paths ForwardPath names for a user, in order; entries with a macro
/// that has no value here (`$h` without a detail, any other macro) are
/// skipped.
pub fn candidates(
    forward_path: &str,
    home: &Path,
    user: &str,
    detail: &str,
    host: &str,
) -> Vec<PathBuf> {
    let short = host.split('.').next().unwrap_or(host);
    // The detail comes from the client's address: a `/` in it would make
    // `$z/.forward+$h` a path that climbs out of the home directory (with a
    // `.forward+..` directory the user made) to any root-owned file, whose
    // lines would come back in bounces. Such a detail counts as none.
    let detail = if detail.contains(['/', '\0']) {
        ""
    } else {
        detail
    };
    forward_path
        .split(':')
        .filter(|p| !p.trim().is_empty())
        .filter_map(|p| {
            let mut out = String::new();
            let mut chars = p.trim().chars();
            while let Some(c) = chars.next() {
                if c != '$' {
                    out.push(c);
                    continue;
                }
                match chars.next()? {
                    'z' => out.push_str(&home.display().to_string()),
                    'u' => out.push_str(user),
                    'w' => out.push_str(short),
                    'h' if !detail.is_empty() => out.push_str(detail),
                    '$' => out.push('$'),
                    _ => return None,
                }
            }
            Some(PathBuf::from(out))
        })
        .collect()
}

/// Reads the first safe .forward among `paths` for the user `uid`.
/// `Err` is a temporary failure (the file exists but could not be read).
pub fn find(paths: &[PathBuf], uid: u32) -> Result<Found, String> {
    let mut skipped = Vec::new();
    for path in paths {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                skipped.push(format!("{}: {e}", path.display()));
                continue;
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        if let Some(why) = unsafe_file(path, &meta, uid) {
            skipped.push(format!("{}: {why}; ignored", path.display()));
            continue;
        }
        let mut f = match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
        {
            Ok(f) => f,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let now = f
            .metadata()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if now.ino() != meta.ino() || now.dev() != meta.dev() {
            skipped.push(format!(
                "{}: replaced while it was opened; ignored",
                path.display()
            ));
            continue;
        }
        let mut text = String::new();
        let mut bytes = Vec::new();
        (&mut f)
            .take(MAX_SIZE)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        text.push_str(&String::from_utf8_lossy(&bytes));
        return Ok(Found::Text(path.clone(), text));
    }
    Ok(Found::Nothing(skipped))
}

/// Why a .forward may not be used, if it may not.
fn unsafe_file(path: &Path, meta: &std::fs::Metadata, uid: u32) -> Option<String> {
    if meta.file_type().is_symlink() {
        return Some("is a symbolic link".into());
    }
    if !meta.file_type().is_file() {
        return Some("is not a regular file".into());
    }
    if meta.uid() != uid && meta.uid() != 0 {
        return Some(format!("is owned by uid {}, not the user", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Some("is group- or world-writable".into());
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty())?;
    let d = std::fs::metadata(dir).ok()?;
    if d.mode() & 0o022 != 0 && d.mode() & 0o1000 == 0 {
        return Some(format!("{} is group- or world-writable", dir.display()));
    }
    if d.uid() != uid && d.uid() != 0 {
        return Some(format!(
            "{} is owned by uid {}, not the user",
            dir.display(),
            d.uid()
        ));
    }
    None
}

/// The members of a .forward: one or more per line, comma-separated as in
/// an alias's list; `#` starts a comment line.
pub fn members(text: &str) -> Vec<crate::aliases::Member> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .flat_map(crate::aliases::split_members)
        .filter_map(|m| crate::aliases::Member::parse(&m))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aliases::Member;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn forward_path_expansion() {
        let home = Path::new("/home/bob");
        let fp = "$z/.forward.$w+$h:$z/.forward+$h:$z/.forward.$w:$z/.forward:/var/forward/$u:$y/x";
        assert_eq!(
            candidates(fp, home, "bob", "", "mail.lab.example"),
            [
                PathBuf::from("/home/bob/.forward.mail"),
                PathBuf::from("/home/bob/.forward"),
                PathBuf::from("/var/forward/bob")
            ]
        );
        assert_eq!(
            candidates(fp, home, "bob", "lists", "mail")[1],
            PathBuf::from("/home/bob/.forward+lists")
        );
        assert!(candidates("", home, "bob", "", "h").is_empty());
        // A detail with a slash cannot make the path climb out.
        for c in candidates(fp, home, "bob", "../../../../etc/shadow", "mail") {
            assert!(
                !c.to_string_lossy().contains("etc/shadow"),
                "{}",
                c.display()
            );
        }
    }

    #[test]
    fn only_safe_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let me = nix::unistd::geteuid().as_raw();
        let f = dir.path().join(".forward");
        std::fs::write(
            &f,
            "bob@elsewhere.example, \\me\n# comment\n\"|/usr/bin/vacation me\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let got = find(std::slice::from_ref(&f), me).unwrap();
        let Found::Text(_, text) = got else {
            panic!("{got:?}")
        };
        assert_eq!(
            members(&text),
            [
                Member::Address("bob@elsewhere.example".into()),
                Member::NoAlias("me".into()),
                Member::Program("/usr/bin/vacation me".into())
            ]
        );
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o664)).unwrap();
        assert!(
            matches!(find(std::slice::from_ref(&f), me).unwrap(), Found::Nothing(w) if w[0].contains("writable"))
        );
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let link = dir.path().join(".forward.link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert!(
            matches!(find(&[link], me).unwrap(), Found::Nothing(w) if w[0].contains("symbolic"))
        );
        assert_eq!(
            find(&[dir.path().join("none")], me).unwrap(),
            Found::Nothing(vec![])
        );
        if me != 0 {
            assert!(
                matches!(find(std::slice::from_ref(&f), me + 1).unwrap(), Found::Nothing(w) if w[0].contains("owned"))
            );
        }
    }
}
