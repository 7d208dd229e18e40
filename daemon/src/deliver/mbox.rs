//! Appending to a Unix mailbox (mbox) the way mail readers expect it, as
//! sendmail's mail.local and Postfix's local(8) write it.
//!
//! - Locked two ways, because readers use one or the other: a `NAME.lock`
//!   dotlock (made with O_EXCL; one older than five minutes is stale and
//!   removed, as mail.local does) and an fcntl write lock on the file.
//! - Opened without following symlinks, and refused unless it is a plain
//!   file with one link owned by its user: a mailbox swapped for a link to
//!   /etc/passwd must not be appended to (the classic local-delivery bug).
//! - The message: a `From SENDER DATE` line, the headers, a blank line, the
//!   body with LF line ends and body lines starting `From ` written as
//!   `>From ` (the mboxo escaping of sendmail's E flag), and a blank line
//!   after it, so that the next `From ` line starts a new message.
//! - All or nothing: on a failed write the file is cut back to its old
//!   length; success is reported only after fsync.

use nix::sys::stat::Mode;
use nix::unistd::{Gid, Uid};
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use thiserror::Error;

/// A dotlock older than this is left over from a crash (mail.local's rule).
const STALE_LOCK: Duration = Duration::from_secs(300);

/// One message for one mailbox.
pub struct Append<'a> {
    pub mailbox: &'a Path,
    /// The envelope sender; empty (`<>`) is written as MAILER-DAEMON.
    pub sender: &'a str,
    /// ctime(3) form of the arrival, for the `From ` line.
    pub date: &'a str,
    /// Headers to put first (Return-Path, Delivered-To), CRLF or LF ends.
    pub prepend: &'a [u8],
    /// The queued headers and body, CRLF line ends.
    pub headers: &'a [u8],
    pub body: &'a [u8],
    /// Who owns the mailbox: a new one is made theirs, an existing one
    /// owned by someone else is refused. `None` when not running as root.
    pub owner: Option<(Uid, Gid)>,
    /// How long to wait for the locks before giving up for now.
    pub lock_wait: Duration,
    /// Take the `NAME.lock` dotlock too (mailboxes, where readers expect
    /// it); files named by aliases get the fcntl lock only, as sendmail
    /// locks them, since their directory need not be writable.
    pub dotlock: bool,
}

#[derive(Debug, Error)]
pub enum MboxError {
    /// Try again later: someone holds a lock, or the disk said no.
    #[error("mailbox {0} is locked")]
    Locked(PathBuf),
    #[error("mailbox {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// Never write there: a link, a device, someone else's file.
    #[error("mailbox {path}: {why}; not delivered")]
    Unsafe { path: PathBuf, why: String },
}

impl MboxError {
    /// Whether a later attempt may succeed (sysexits' EX_TEMPFAIL), or the
    /// recipient bounces (EX_CANTCREAT).
    pub fn is_temporary(&self) -> bool {
        !matches!(self, MboxError::Unsafe { .. })
    }
}

/// Appends one message; returns the number of bytes written.
pub fn append(req: &Append<'_>) -> Result<u64, MboxError> {
    append_many(std::slice::from_ref(req))
}

/// Appends several messages to one mailbox (the first request's mailbox,
/// owner and locking apply) under one lock and with one fsync: all are
/// there, or none. The delivery agent batches the messages that arrive
/// together for one user this way; each fsync is a disk round trip.
pub fn append_many(reqs: &[Append<'_>]) -> Result<u64, MboxError> {
    let Some(req) = reqs.first() else {
        return Ok(0);
    };
    let path = req.mailbox;
    let io = |error: std::io::Error| MboxError::Io {
        path: path.to_path_buf(),
        error,
    };
    let deadline = Instant::now() + req.lock_wait;
    let _dotlock = if req.dotlock {
        Some(DotLock::take(path, deadline)?)
    } else {
        None
    };
    let before = match std::fs::symlink_metadata(path) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(e)),
    };
    if let Some(m) = &before {
        check_safe(path, m, req.owner)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY);
    if before.is_none() {
        opts.create_new(true);
    }
    let mut file = opts.open(path).map_err(io)?;
    let now = file.metadata().map_err(io)?;
    match &before {
        Some(m) if m.dev() != now.dev() || m.ino() != now.ino() => {
            return Err(unsafe_box(path, "replaced while it was opened"));
        }
        Some(_) => {}
        None => {
            if let Some((uid, gid)) = req.owner {
                nix::unistd::fchown(&file, Some(uid), Some(gid)).map_err(|e| io(e.into()))?;
            }
            nix::sys::stat::fchmod(&file, Mode::from_bits_truncate(0o600))
                .map_err(|e| io(e.into()))?;
        }
    }
    lock_fcntl(&file, path, deadline)?;
    let start = file.metadata().map_err(io)?.len();
    let mut text = Vec::new();
    for r in reqs {
        text.extend_from_slice(&render(r));
    }
    let written = file
        .write_all(&text)
        .and_then(|()| file.sync_all())
        .map(|()| text.len() as u64);
    if let Err(e) = written {
        // Leave the mailbox as it was: a half message would corrupt the
        // next one a reader splits out.
        let _ = file.set_len(start);
        let _ = file.sync_all();
        return Err(io(e));
    }
    Ok(text.len() as u64)
}

fn unsafe_box(path: &Path, why: &str) -> MboxError {
    MboxError::Unsafe {
        path: path.to_path_buf(),
        why: why.to_string(),
    }
}

fn check_safe(
    path: &Path,
    m: &std::fs::Metadata,
    owner: Option<(Uid, Gid)>,
) -> Result<(), MboxError> {
    if m.file_type().is_symlink() {
        return Err(unsafe_box(path, "is a symbolic link"));
    }
    if !m.file_type().is_file() {
        return Err(unsafe_box(path, "is not a regular file"));
    }
    if m.nlink() != 1 {
        return Err(unsafe_box(path, "has more than one hard link"));
    }
    if let Some((uid, _)) = owner
        && m.uid() != uid.as_raw()
    {
        return Err(unsafe_box(
            path,
            &format!("is owned by uid {}, not {}", m.uid(), uid),
        ));
    }
    Ok(())
}

/// The bytes appended: From line, headers, blank line, escaped body, blank
/// line; LF line ends throughout.
pub fn render(req: &Append<'_>) -> Vec<u8> {
    let sender = if req.sender.is_empty() {
        "MAILER-DAEMON"
    } else {
        req.sender
    };
    let mut out = Vec::with_capacity(req.headers.len() + req.body.len() + 128);
    out.extend_from_slice(format!("From {sender} {}\n", req.date).as_bytes());
    for part in [req.prepend, req.headers] {
        for line in lines(part) {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
    }
    out.push(b'\n');
    for line in lines(req.body) {
        if line.starts_with(b"From ") {
            out.push(b'>');
        }
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

/// The lines of a CRLF (or LF) text, without their ends; a last line
/// without an end counts.
fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let empty = text.is_empty();
    text.split(|&b| b == b'\n')
        .filter(move |_| !empty)
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// `MAILBOX.lock`, removed when dropped.
struct DotLock(PathBuf);

impl DotLock {
    fn take(mailbox: &Path, deadline: Instant) -> Result<DotLock, MboxError> {
        let mut name = mailbox.as_os_str().to_owned();
        name.push(".lock");
        let lock = PathBuf::from(name);
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&lock)
            {
                Ok(_) => return Ok(DotLock(lock)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = std::fs::symlink_metadata(&lock)
                        .ok()
                        .and_then(|m| m.modified().ok())
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > STALE_LOCK);
                    if stale {
                        let _ = std::fs::remove_file(&lock);
                        continue;
                    }
                }
                Err(error) => {
                    return Err(MboxError::Io { path: lock, error });
                }
            }
            if Instant::now() >= deadline {
                return Err(MboxError::Locked(mailbox.to_path_buf()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for DotLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// An fcntl write lock on the whole file, held until it is closed.
fn lock_fcntl(file: &File, path: &Path, deadline: Instant) -> Result<(), MboxError> {
    loop {
        // SAFETY: an all-zero flock is valid; the fields that matter are
        // set below, and fcntl only reads it.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = libc::F_WRLCK as _;
        fl.l_whence = libc::SEEK_SET as _;
        // SAFETY: F_SETLK with a valid flock on an open descriptor.
        let r = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &fl) };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EACCES) | Some(libc::EAGAIN) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Some(libc::EACCES) | Some(libc::EAGAIN) => {
                return Err(MboxError::Locked(path.to_path_buf()));
            }
            _ => {
                return Err(MboxError::Io {
                    path: path.to_path_buf(),
                    error: e,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(mailbox: &'a Path, body: &'a [u8]) -> Append<'a> {
        Append {
            mailbox,
            sender: "alice@example.org",
            date: "Thu Nov 26 12:17:08 2026",
            prepend: b"Return-Path: <alice@example.org>\r\n",
            headers: b"From: alice@example.org\r\nSubject: hi\r\n",
            body,
            owner: None,
            lock_wait: Duration::from_millis(300),
            dotlock: true,
        }
    }

    #[test]
    fn layout_and_escaping() {
        let r = req(
            Path::new("/unused"),
            b"line 1\r\nFrom here\r\n>From there\r\n\r\n",
        );
        assert_eq!(
            String::from_utf8(render(&r)).unwrap(),
            "From alice@example.org Thu Nov 26 12:17:08 2026\n\
             Return-Path: <alice@example.org>\n\
             From: alice@example.org\n\
             Subject: hi\n\
             \n\
             line 1\n\
             >From here\n\
             >From there\n\
             \n\
             \n"
        );
        let mut r = req(Path::new("/unused"), b"");
        r.sender = "";
        let text = String::from_utf8(render(&r)).unwrap();
        assert!(text.starts_with("From MAILER-DAEMON "), "{text}");
        assert!(text.ends_with("Subject: hi\n\n\n"), "{text}");
    }

    #[test]
    fn a_batch_is_one_append() {
        let dir = tempfile::tempdir().unwrap();
        let mbox = dir.path().join("bob");
        let n = append_many(&[req(&mbox, b"one\r\n"), req(&mbox, b"two\r\n")]).unwrap();
        let text = std::fs::read_to_string(&mbox).unwrap();
        assert_eq!(n as usize, text.len());
        assert_eq!(text.matches("\nFrom alice@").count() + 1, 2, "{text}");
        assert!(text.contains("\none\n\nFrom alice@"), "{text}");
        assert_eq!(append_many(&[]).unwrap(), 0);
    }

    #[test]
    fn appends_messages_one_after_another() {
        let dir = tempfile::tempdir().unwrap();
        let mbox = dir.path().join("bob");
        let n1 = append(&req(&mbox, b"first\r\n")).unwrap();
        let n2 = append(&req(&mbox, b"second\r\n")).unwrap();
        let m = std::fs::metadata(&mbox).unwrap();
        assert_eq!(m.len(), n1 + n2);
        assert_eq!(m.mode() & 0o777, 0o600);
        let text = std::fs::read_to_string(&mbox).unwrap();
        assert_eq!(text.matches("\nFrom alice@example.org ").count(), 1);
        assert!(text.starts_with("From alice@example.org "));
        assert!(!dir.path().join("bob.lock").exists());
    }

    #[test]
    fn refuses_links_and_waits_for_locks() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "precious\n").unwrap();
        let link = dir.path().join("carol");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = append(&req(&link, b"x\r\n")).unwrap_err();
        assert!(!e.is_temporary(), "{e}");
        let hard = dir.path().join("dave");
        std::fs::hard_link(&target, &hard).unwrap();
        assert!(!append(&req(&hard, b"x\r\n")).unwrap_err().is_temporary());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");

        // A fresh dotlock held by someone else: try again later.
        let mbox = dir.path().join("erin");
        std::fs::write(dir.path().join("erin.lock"), "").unwrap();
        let e = append(&req(&mbox, b"x\r\n")).unwrap_err();
        assert!(matches!(e, MboxError::Locked(_)), "{e}");
        assert!(!mbox.exists());
        // A stale one is broken.
        let old = std::time::SystemTime::now() - Duration::from_secs(600);
        File::options()
            .write(true)
            .open(dir.path().join("erin.lock"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        append(&req(&mbox, b"x\r\n")).unwrap();
    }

    #[test]
    fn python_mailbox_reads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let mbox = dir.path().join("grace");
        let long = "x".repeat(990);
        let first = format!("caf\u{e9} 8-bit\r\n.leading dot\r\n{long}\r\n");
        append(&req(&mbox, first.as_bytes())).unwrap();
        append(&req(&mbox, b"From the second\r\nend\r\n")).unwrap();
        let out = std::process::Command::new("python3")
            .arg("-c")
            .arg(
                "import mailbox, sys\n\
                 for m in mailbox.mbox(sys.argv[1]):\n\
                 \x20   sys.stdout.buffer.write(m['Subject'].encode() + b'|' + m.get_payload(decode=True) + b'#')\n",
            )
            .arg(&mbox)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected =
            format!("hi|caf\u{e9} 8-bit\n.leading dot\n{long}\n#hi|>From the second\nend\n#");
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    }

    #[test]
    fn someone_elses_mailbox_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mbox = dir.path().join("frank");
        std::fs::write(&mbox, "").unwrap();
        let mine = std::fs::metadata(&mbox).unwrap().uid();
        let mut r = req(&mbox, b"x\r\n");
        r.owner = Some((Uid::from_raw(mine + 1), Gid::from_raw(0)));
        let e = append(&r).unwrap_err();
        assert!(e.to_string().contains("is owned by uid"), "{e}");
    }
}
