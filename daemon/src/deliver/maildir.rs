//! Maildir delivery (a target ending in `/`, in an alias or .forward), as
//! qmail defined it and Dovecot, mutt and Postfix's local(8) use it: the
//! message is written whole into `tmp/` under a unique name, fsynced, then
//! linked into `new/`, where readers find it. No locks: a reader never
//! sees a half-written message.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Delivers one message into the Maildir `dir`, creating `dir` and its
/// `tmp`, `new` and `cur` if missing (mode 0700). Returns the new file.
/// The text is the header section and body with LF line ends; `prepend`
/// (Return-Path) goes first.
pub fn deliver(
    dir: &Path,
    host: &str,
    prepend: &[u8],
    headers: &[u8],
    body: &[u8],
) -> std::io::Result<PathBuf> {
    for sub in ["", "tmp", "new", "cur"] {
        let d = dir.join(sub);
        match std::fs::symlink_metadata(&d) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(std::io::Error::other(format!(
                    "{} is not a directory",
                    d.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::DirBuilder::new().mode(0o700).create(&d)?;
            }
            Err(e) => return Err(e),
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // The modern unique name: seconds, then microseconds, pid and a
    // counter, then the host ('/' and ':' would break the name).
    let host: String = host
        .chars()
        .map(|c| match c {
            '/' => "\\057".to_string(),
            ':' => "\\072".to_string(),
            c => c.to_string(),
        })
        .collect();
    let name = format!(
        "{}.M{}P{}Q{}.{host}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let tmp = dir.join("tmp").join(&name);
    let new = dir.join("new").join(&name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?;
    let mut text = Vec::with_capacity(prepend.len() + headers.len() + body.len() + 2);
    super::crlf_to_lf(&mut text, prepend);
    super::crlf_to_lf(&mut text, headers);
    text.push(b'\n');
    super::crlf_to_lf(&mut text, body);
    let written = f.write_all(&text).and_then(|()| f.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    drop(f);
    let linked = std::fs::hard_link(&tmp, &new);
    let _ = std::fs::remove_file(&tmp);
    linked?;
    std::fs::File::open(dir.join("new"))?.sync_all()?;
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_appears_in_new_whole() {
        let dir = tempfile::tempdir().unwrap();
        let md = dir.path().join("Maildir");
        let a = deliver(
            &md,
            "mail.example",
            b"Return-Path: <a@b>\r\n",
            b"Subject: x\r\n",
            b"From me\r\n",
        )
        .unwrap();
        let b = deliver(&md, "mail.example", b"", b"Subject: y\r\n", b"two\r\n").unwrap();
        assert_ne!(a, b);
        assert_eq!(
            std::fs::read(&a).unwrap(),
            b"Return-Path: <a@b>\nSubject: x\n\nFrom me\n"
        );
        assert!(a.starts_with(md.join("new")));
        assert_eq!(std::fs::read_dir(md.join("tmp")).unwrap().count(), 0);
        assert!(md.join("cur").is_dir());
        std::fs::write(dir.path().join("file"), "").unwrap();
        assert!(deliver(&dir.path().join("file"), "h", b"", b"", b"").is_err());
    }
}
