//! The agent's side: read a request, check it, deliver, answer.

use super::wire;
use super::{Reply, Request};
use crate::deliver::mbox::{self, Append};
use cfparser::Config;
use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Where mailboxes are when the config does not say.
pub const DEFAULT_SPOOL: &str = "/var/mail";

/// `mtad --delivery-agent`: serves requests on stdin until the daemon
/// closes it.
pub fn serve(config: &Config) -> ExitCode {
    let spool = spool_dir(config);
    if !spool.exists() {
        // /var/mail exists on any Unix host; a development spool may not.
        use std::os::unix::fs::DirBuilderExt;
        if let Err(e) = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&spool)
        {
            eprintln!(
                "mtad: delivery agent: cannot create {}: {e}",
                spool.display()
            );
        }
    }
    // SAFETY: the daemon started us with the socket as stdin; nothing
    // else in this process owns fd 0.
    let mut conn = unsafe { UnixStream::from_raw_fd(0) };
    loop {
        let frame = match wire::receive(&mut conn) {
            Ok(Some(f)) => f,
            Ok(None) => return ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mtad: delivery agent: {e}; exiting");
                return ExitCode::from(70);
            }
        };
        let reply = match Request::decode(frame) {
            Ok(req) => handle(&spool, &req),
            Err(e) => {
                eprintln!("mtad: delivery agent: bad request: {e}; exiting");
                return ExitCode::from(70);
            }
        };
        if let Err(e) = reply.encode().send(&mut conn) {
            eprintln!("mtad: delivery agent: {e}; exiting");
            return ExitCode::from(70);
        }
    }
}

/// Mtad.MailSpoolDirectory, absolute (it may be relative to where the
/// daemon was started).
pub fn spool_dir(config: &Config) -> PathBuf {
    let dir = config
        .text("Mtad.MailSpoolDirectory")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_SPOOL.to_string());
    std::path::absolute(&dir).unwrap_or_else(|_| PathBuf::from(dir))
}

pub fn handle(spool: &Path, req: &Request) -> Reply {
    match req {
        Request::Mailbox {
            user,
            sender,
            date,
            prepend,
            headers,
            body,
        } => {
            if !plain_name(user) {
                return Reply::Bounce(format!(
                    "550 5.1.1 {}... not a mailbox name",
                    user.escape_default()
                ));
            }
            let account = match nix::unistd::User::from_name(user) {
                Ok(Some(u)) => u,
                Ok(None) => return Reply::Bounce(format!("550 5.1.1 {user}... User unknown")),
                Err(e) => return Reply::Retry(format!("451 4.3.0 passwd lookup: {e}")),
            };
            let owner = nix::unistd::geteuid()
                .is_root()
                .then_some((account.uid, account.gid));
            let path = spool.join(user);
            let result = mbox::append(&Append {
                mailbox: &path,
                sender,
                date,
                prepend,
                headers,
                body,
                owner,
                lock_wait: Duration::from_secs(30),
            });
            match result {
                Ok(_) => Reply::Delivered(format!("250 2.0.0 {user}... Delivered to mailbox")),
                Err(e) if e.is_temporary() => Reply::Retry(format!("450 4.2.0 {e}")),
                Err(e) => Reply::Bounce(format!("550 5.2.0 {e}")),
            }
        }
    }
}

/// A name that is one path component and a passwd-style login.
fn plain_name(user: &str) -> bool {
    !user.is_empty()
        && user.len() <= 64
        && user != "."
        && user != ".."
        && !user.starts_with('-')
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_the_spool_are_refused() {
        for bad in ["", ".", "..", "../etc/passwd", "a/b", "-x", "a b", "é"] {
            assert!(!plain_name(bad), "{bad}");
        }
        for good in ["bob", "mary.jones", "svc_1", "a-b"] {
            assert!(plain_name(good), "{good}");
        }
        let dir = tempfile::tempdir().unwrap();
        let r = handle(
            dir.path(),
            &Request::Mailbox {
                user: "../x".into(),
                sender: String::new(),
                date: String::new(),
                prepend: Vec::new(),
                headers: Vec::new(),
                body: Vec::new(),
            },
        );
        assert!(matches!(r, Reply::Bounce(_)), "{r:?}");
        let r = handle(
            dir.path(),
            &Request::Mailbox {
                user: "no-such-user-xyz".into(),
                sender: String::new(),
                date: String::new(),
                prepend: Vec::new(),
                headers: Vec::new(),
                body: Vec::new(),
            },
        );
        assert_eq!(
            r,
            Reply::Bounce("550 5.1.1 no-such-user-xyz... User unknown".into())
        );
    }
}
