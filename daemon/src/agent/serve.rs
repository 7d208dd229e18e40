//! The agent's side: read a request, check it, deliver, answer.

use super::wire;
use super::{Message, Reply, Request};
use crate::deliver::mbox::{self, Append};
use cfparser::Config;
use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// sendmail's ForwardPath when the config has none.
pub const DEFAULT_FORWARD_PATH: &str = "$z/.forward";

/// Where mailboxes are when the config does not say.
pub const DEFAULT_SPOOL: &str = "/var/mail";

/// `mtad --delivery-agent`: serves requests on stdin until the daemon
/// closes it.
pub fn serve(config: &Config) -> ExitCode {
    let ctx = Context {
        spool: spool_dir(config),
        default_user: crate::privilege::default_user(config).ok(),
        prog: config.mailer("prog").cloned(),
        forward_path: match config.option("ForwardPath") {
            Some(_) => config.text("ForwardPath").unwrap_or_default(),
            None => DEFAULT_FORWARD_PATH.to_string(),
        },
        host: crate::settings::host_name(config).0,
        local_program: external_local(config),
        safe_file_env: config
            .text("SafeFileEnvironment")
            .filter(|s| !s.is_empty() && s != "/")
            .map(PathBuf::from),
    };
    let spool = &ctx.spool;
    if !spool.exists() {
        // /var/mail exists on any Unix host; a development spool may not.
        use std::os::unix::fs::DirBuilderExt;
        if let Err(e) = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(spool)
            .and_then(|()| {
                // Whatever the umask (systemd's UMask=0077): users must
                // reach their mailboxes.
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(spool, std::fs::Permissions::from_mode(0o755))
            })
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
        // One request, then every request already waiting: the daemon
        // pipelines them, and a batch lets messages for one mailbox share
        // one lock and one fsync.
        let mut batch = Vec::new();
        loop {
            let frame = match wire::receive(&mut conn) {
                Ok(Some(f)) => f,
                Ok(None) if batch.is_empty() => return ExitCode::SUCCESS,
                Ok(None) => break,
                Err(e) => {
                    eprintln!("mtad: delivery agent: {e}; exiting");
                    return ExitCode::from(70);
                }
            };
            match Request::decode(frame) {
                Ok(req) => batch.push(req),
                Err(e) => {
                    eprintln!("mtad: delivery agent: bad request: {e}; exiting");
                    return ExitCode::from(70);
                }
            }
            if batch.len() >= MAX_BATCH || !readable_now(&conn) {
                break;
            }
        }
        for reply in handle_batch(&ctx, &batch) {
            if let Err(e) = reply.encode().send(&mut conn) {
                eprintln!("mtad: delivery agent: {e}; exiting");
                return ExitCode::from(70);
            }
        }
    }
}

/// The most requests handled as one batch.
const MAX_BATCH: usize = 256;

/// Whether more is waiting to be read, without blocking.
fn readable_now(conn: &UnixStream) -> bool {
    use std::os::fd::AsFd;
    let mut fds = [nix::poll::PollFd::new(
        conn.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    matches!(nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO), Ok(n) if n > 0)
}

/// Handles a batch; replies in the order of the requests. Mailbox
/// requests for the same user are appended together.
pub fn handle_batch(ctx: &Context, batch: &[Request]) -> Vec<Reply> {
    let mut replies: Vec<Option<Reply>> = vec![None; batch.len()];
    let mut by_user: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, req) in batch.iter().enumerate() {
        if let Request::Mailbox { user, .. } = req {
            let user = user.split('+').next().unwrap_or(user);
            match by_user.iter_mut().find(|(u, _)| *u == user) {
                Some((_, list)) => list.push(i),
                None => by_user.push((user, vec![i])),
            }
        }
    }
    for (user, list) in by_user
        .iter()
        .filter(|(_, l)| l.len() > 1 && ctx.local_program.is_none())
    {
        let messages: Vec<&Message> = list
            .iter()
            .filter_map(|&i| match &batch[i] {
                Request::Mailbox { message, .. } => Some(message),
                _ => None,
            })
            .collect();
        let reply = mailbox(ctx, user, &messages);
        for &i in list {
            replies[i] = Some(reply.clone());
        }
    }
    batch
        .iter()
        .zip(replies)
        .map(|(req, done)| done.unwrap_or_else(|| handle(ctx, req)))
        .collect()
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

/// What the agent reads from the config for itself: requests never say
/// where mail goes or whom it runs as.
pub struct Context {
    pub spool: PathBuf,
    /// DefaultUser: whom alias files are written and programs run as.
    pub default_user: Option<(String, nix::unistd::Uid, nix::unistd::Gid)>,
    /// The prog mailer, for `|command`.
    pub prog: Option<cfparser::model::Mailer>,
    /// ForwardPath (empty: no .forward files).
    pub forward_path: String,
    /// `$j`, for `$w` in ForwardPath.
    pub host: String,
    /// The local mailer, when mailboxes are its program's job (see
    /// [`external_local`]).
    pub local_program: Option<cfparser::model::Mailer>,
    /// SafeFileEnvironment: files and Maildirs that aliases and .forward
    /// files name must lie under it. (sendmail chroots there; the agent
    /// checks the path instead, symlinks in it resolved.)
    pub safe_file_env: Option<PathBuf>,
}

/// Whether `path` (its directory resolved, symlinks followed) lies under
/// `root`.
fn under(path: &Path, root: &Path) -> bool {
    let Ok(root) = root.canonicalize() else {
        return false;
    };
    let dir = path.parent().unwrap_or(path);
    match dir.canonicalize() {
        Ok(d) => d.starts_with(&root),
        // Not there yet (a Maildir to be made): its nearest existing
        // ancestor decides.
        Err(_) => dir
            .ancestors()
            .find_map(|a| a.canonicalize().ok())
            .is_some_and(|a| a.starts_with(&root)),
    }
}

/// The local mailer when its P= is a program installed here and
/// Mtad.MailSpoolDirectory does not ask for mtad's own mbox writer.
pub fn external_local(config: &Config) -> Option<cfparser::model::Mailer> {
    if config
        .text("Mtad.MailSpoolDirectory")
        .is_some_and(|s| !s.is_empty())
    {
        return None;
    }
    let local = config.mailer("local")?;
    use std::os::unix::fs::PermissionsExt;
    let installed = local.path.starts_with('/')
        && std::fs::metadata(&local.path)
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    installed.then(|| local.clone())
}

pub fn handle(ctx: &Context, req: &Request) -> Reply {
    let file_user = ctx.default_user.as_ref();
    match req {
        Request::Program {
            command,
            user,
            sender,
            recipient,
            message,
        } => program(ctx, command, user, sender, recipient, message),
        Request::File {
            path,
            user,
            message,
        } => {
            let shown = path.clone();
            let path = Path::new(path);
            if !path.is_absolute() {
                return Reply::Bounce(format!(
                    "550 5.1.3 {}... not an absolute path",
                    path.display()
                ));
            }
            if let Some(root) = &ctx.safe_file_env
                && !under(path, root)
            {
                return Reply::Bounce(format!(
                    "550 5.7.1 {shown}... not under SafeFileEnvironment {}",
                    root.display()
                ));
            }
            let as_user = if !nix::unistd::geteuid().is_root() {
                None
            } else if user.is_empty() {
                match file_user {
                    Some((_, uid, gid)) => Some((*uid, *gid)),
                    None => {
                        return Reply::Retry(
                            "451 4.3.0 DefaultUser names no user to write files as".into(),
                        );
                    }
                }
            } else {
                match nix::unistd::User::from_name(user) {
                    Ok(Some(u)) if !u.uid.is_root() => Some((u.uid, u.gid)),
                    Ok(Some(_)) => {
                        return Reply::Bounce(format!("554 5.3.0 will not write {shown} as root"));
                    }
                    Ok(None) => return Reply::Bounce(format!("550 5.1.1 {user}... User unknown")),
                    Err(e) => return Reply::Retry(format!("451 4.3.0 passwd lookup: {e}")),
                }
            };
            if shown.ends_with('/') {
                // A directory: Maildir.
                let host = ctx.host.clone();
                return as_user_do(as_user, &shown, || {
                    crate::deliver::maildir::deliver(
                        path,
                        &host,
                        &message.prepend,
                        &message.headers,
                        &message.body,
                    )
                    .map(|f| format!("Delivered to Maildir as {}", f.display()))
                    .map_err(|e| (true, format!("Maildir {shown}: {e}")))
                });
            }
            let req = append(path, message, None, false);
            as_user_do(as_user, &shown, || {
                mbox::append(&req)
                    .map(|_| "Appended".to_string())
                    .map_err(|e| (e.is_temporary(), e.to_string()))
            })
        }
        Request::Mailbox { user, message } => match &ctx.local_program {
            Some(local) => local_program(ctx, local, user, message),
            None => mailbox(ctx, user, &[message]),
        },
        Request::Forward { user, detail } => forward(ctx, user, detail),
    }
}

/// A mailbox through the local mailer's own program (procmail,
/// mail.local), as sendmail runs it: A= with `$u` the user and `$h` the
/// `+detail`, no shell, the message on stdin; as root with flag S (that
/// program changes to the user itself), else as U= or DefaultUser.
fn local_program(
    ctx: &Context,
    local: &cfparser::model::Mailer,
    user: &str,
    message: &Message,
) -> Reply {
    use crate::deliver::program::{self, Ran, RunAs};
    let (base, detail) = user.split_once('+').unwrap_or((user, ""));
    if !plain_name(base) {
        return Reply::Bounce(format!(
            "550 5.1.1 {}... not a mailbox name",
            user.escape_default()
        ));
    }
    let run_as = if local.has_flag('S') || !nix::unistd::geteuid().is_root() {
        None
    } else {
        let name = match &local.user {
            Some(u) => Some(u.user.clone()),
            None => ctx.default_user.as_ref().map(|d| d.0.clone()),
        };
        match name.map(|n| nix::unistd::User::from_name(&n)) {
            Some(Ok(Some(u))) if !u.uid.is_root() => Some(RunAs {
                name: u.name,
                uid: u.uid,
                gid: u.gid,
                home: u.dir,
            }),
            _ => {
                return Reply::Retry(format!(
                    "451 4.3.0 no user to run {} as (U= or DefaultUser)",
                    local.path
                ));
            }
        }
    };
    let argv = program::mailer_argv(local, base, detail, &message.sender, "/");
    let from_line = format!(
        "From {} {}",
        if message.sender.is_empty() {
            "MAILER-DAEMON"
        } else {
            &message.sender
        },
        message.date
    );
    let input = program::input(
        local,
        &from_line,
        &message.prepend,
        &message.headers,
        &message.body,
    );
    let env = [("SENDER", message.sender.as_str()), ("RECIPIENT", user)];
    match program::run(local, &argv, &env, run_as.as_ref(), &input) {
        Ran::Delivered(_) => {
            Reply::Delivered(format!("250 2.0.0 {user}... Delivered by {}", local.path))
        }
        Ran::Retry(t) => Reply::Retry(t),
        Ran::Bounce(t) => Reply::Bounce(t),
    }
}

/// A user's .forward, if there is a safe one.
fn forward(ctx: &Context, user: &str, detail: &str) -> Reply {
    use crate::deliver::forward::{self, Found};
    if !plain_name(user) {
        return Reply::NotFound(String::new());
    }
    let account = match nix::unistd::User::from_name(user) {
        Ok(Some(u)) => u,
        Ok(None) => return Reply::NotFound(String::new()),
        Err(e) => return Reply::Retry(format!("451 4.3.0 passwd lookup: {e}")),
    };
    let paths = forward::candidates(&ctx.forward_path, &account.dir, user, detail, &ctx.host);
    match forward::find(&paths, account.uid.as_raw()) {
        Ok(Found::Text(path, text)) => Reply::Found(path.display().to_string(), text),
        Ok(Found::Nothing(why)) => Reply::NotFound(why.join("; ")),
        Err(e) => Reply::Retry(format!("451 4.3.0 cannot read .forward: {e}")),
    }
}

/// Messages for one user's mailbox in the spool, appended together
/// (`user+detail` is `user`'s mailbox).
fn mailbox(ctx: &Context, user: &str, messages: &[&Message]) -> Reply {
    let user = user.split('+').next().unwrap_or(user);
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
    let path = ctx.spool.join(user);
    let reqs: Vec<Append<'_>> = messages
        .iter()
        .map(|m| append(&path, m, owner, true))
        .collect();
    match mbox::append_many(&reqs) {
        Ok(_) => Reply::Delivered(format!("250 2.0.0 {user}... Delivered to mailbox")),
        Err(e) if e.is_temporary() => Reply::Retry(format!("450 4.2.0 {e}")),
        Err(e) => Reply::Bounce(format!("550 5.2.0 {e}")),
    }
}

/// `|command`: through the prog mailer, as `user` or DefaultUser.
fn program(
    ctx: &Context,
    command: &str,
    user: &str,
    sender: &str,
    recipient: &str,
    message: &Message,
) -> Reply {
    use crate::deliver::program::{self, Ran, RunAs};
    let Some(prog) = &ctx.prog else {
        return Reply::Bounce("554 5.3.5 no prog mailer is defined: cannot run programs".into());
    };
    let account = if user.is_empty() {
        ctx.default_user.as_ref().map(|(name, _, _)| name.clone())
    } else {
        Some(user.to_string())
    };
    let run_as = match account {
        None => None,
        Some(name) => match nix::unistd::User::from_name(&name) {
            Ok(Some(u)) => Some(RunAs {
                name: u.name,
                uid: u.uid,
                gid: if user.is_empty() {
                    ctx.default_user.as_ref().map_or(u.gid, |d| d.2)
                } else {
                    u.gid
                },
                home: u.dir,
            }),
            Ok(None) => return Reply::Bounce(format!("550 5.1.1 {name}... User unknown")),
            Err(e) => return Reply::Retry(format!("451 4.3.0 passwd lookup: {e}")),
        },
    };
    let root = nix::unistd::geteuid().is_root();
    match &run_as {
        Some(u) if u.uid.is_root() => {
            return Reply::Bounce(format!("554 5.3.0 will not run \"|{command}\" as root"));
        }
        None if root => {
            return Reply::Retry("451 4.3.0 DefaultUser names no user to run programs as".into());
        }
        _ => {}
    }
    let home = run_as
        .as_ref()
        .map_or("/".to_string(), |u| u.home.display().to_string());
    let argv = program::argv(prog, command, sender, &home);
    let from_line = format!(
        "From {} {}",
        if sender.is_empty() {
            "MAILER-DAEMON"
        } else {
            sender
        },
        message.date
    );
    let input = program::input(
        prog,
        &from_line,
        &message.prepend,
        &message.headers,
        &message.body,
    );
    let env = [("SENDER", sender), ("RECIPIENT", recipient)];
    match program::run(prog, &argv, &env, run_as.as_ref().filter(|_| root), &input) {
        Ran::Delivered(t) => Reply::Delivered(t),
        Ran::Retry(t) => Reply::Retry(t),
        Ran::Bounce(t) => Reply::Bounce(t),
    }
}

/// The mbox writer's request for a message.
fn append<'a>(
    path: &'a Path,
    m: &'a Message,
    owner: Option<(nix::unistd::Uid, nix::unistd::Gid)>,
    dotlock: bool,
) -> Append<'a> {
    Append {
        mailbox: path,
        sender: &m.sender,
        date: &m.date,
        prepend: &m.prepend,
        headers: &m.headers,
        body: &m.body,
        owner,
        lock_wait: Duration::from_secs(30),
        dotlock,
    }
}

/// Runs `work` in a child process that has become `as_user` first (when
/// running as root), so that a file or Maildir an alias or .forward names
/// is written with that user's rights, never root's. `work` says
/// Ok(description) or Err((temporary, why)). The agent is
/// single-threaded, so forking here is safe.
fn as_user_do(
    as_user: Option<(nix::unistd::Uid, nix::unistd::Gid)>,
    shown: &str,
    work: impl FnOnce() -> Result<String, (bool, String)>,
) -> Reply {
    use nix::sys::wait::{WaitStatus, waitpid};
    use nix::unistd::{ForkResult, fork};
    use std::io::{Read, Write};
    let (rd, wr) = match nix::unistd::pipe() {
        Ok(p) => p,
        Err(e) => return Reply::Retry(format!("451 4.3.0 pipe: {e}")),
    };
    // SAFETY: the agent runs no other threads; the child only changes its
    // ids, writes and exits.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop(rd);
            let mut report = std::fs::File::from(wr);
            let code = match become_user(as_user) {
                Err(e) => {
                    let _ = write!(report, "{e}");
                    75
                }
                Ok(()) => match work() {
                    Ok(what) => {
                        let _ = write!(report, "{what}");
                        0
                    }
                    Err((temporary, why)) => {
                        let _ = write!(report, "{why}");
                        if temporary { 75 } else { 73 }
                    }
                },
            };
            drop(report);
            // SAFETY: ends the child without running the parent's
            // destructors or atexit handlers.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => {
            drop(wr);
            let mut why = String::new();
            let _ = std::fs::File::from(rd).read_to_string(&mut why);
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, 0)) => {
                    Reply::Delivered(format!("250 2.0.0 {shown}... {why}"))
                }
                Ok(WaitStatus::Exited(_, 73)) => Reply::Bounce(format!("550 5.2.0 {why}")),
                Ok(other) => Reply::Retry(format!("450 4.2.0 {shown}: {why} ({other:?})")),
                Err(e) => Reply::Retry(format!("451 4.3.0 waitpid: {e}")),
            }
        }
        Err(e) => Reply::Retry(format!("451 4.3.0 fork: {e}")),
    }
}

fn become_user(as_user: Option<(nix::unistd::Uid, nix::unistd::Gid)>) -> Result<(), String> {
    let Some((uid, gid)) = as_user else {
        return Ok(());
    };
    nix::unistd::setgroups(&[gid]).map_err(|e| format!("setgroups: {e}"))?;
    nix::unistd::setgid(gid).map_err(|e| format!("setgid: {e}"))?;
    nix::unistd::setuid(uid).map_err(|e| format!("setuid: {e}"))?;
    Ok(())
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

    /// A context with nothing configured but the spool (and maybe
    /// SafeFileEnvironment).
    fn test_context(spool: &Path, safe_file_env: Option<PathBuf>) -> Context {
        Context {
            spool: spool.to_path_buf(),
            default_user: None,
            prog: None,
            forward_path: String::new(),
            host: "mail.example".into(),
            local_program: None,
            safe_file_env,
        }
    }

    #[test]
    fn files_outside_safefileenvironment_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let safe = dir.path().join("safe");
        std::fs::create_dir(&safe).unwrap();
        std::os::unix::fs::symlink("/etc", safe.join("escape")).unwrap();
        assert!(under(&safe.join("log"), &safe));
        assert!(under(&safe.join("new/Maildir/"), &safe), "not there yet");
        assert!(!under(Path::new("/etc/passwd"), &safe));
        assert!(!under(&safe.join("escape/passwd"), &safe), "a symlink out");
        assert!(!under(&safe.join("../x"), &safe));
        let ctx = test_context(dir.path(), Some(safe.clone()));
        let r = handle(
            &ctx,
            &Request::File {
                path: "/etc/passwd".into(),
                user: String::new(),
                message: Message::default(),
            },
        );
        assert!(
            matches!(&r, Reply::Bounce(t) if t.contains("SafeFileEnvironment")),
            "{r:?}"
        );
    }

    #[test]
    fn names_that_could_escape_the_spool_are_refused() {
        for bad in ["", ".", "..", "../etc/passwd", "a/b", "-x", "a b", "é"] {
            assert!(!plain_name(bad), "{bad}");
        }
        for good in ["bob", "mary.jones", "svc_1", "a-b"] {
            assert!(plain_name(good), "{good}");
        }
        let dir = tempfile::tempdir().unwrap();
        let ctx = test_context(dir.path(), None);
        let r = handle(
            &ctx,
            &Request::Mailbox {
                user: "../x".into(),
                message: Message::default(),
            },
        );
        assert!(matches!(r, Reply::Bounce(_)), "{r:?}");
        let r = handle(
            &ctx,
            &Request::Mailbox {
                user: "no-such-user-xyz".into(),
                message: Message::default(),
            },
        );
        assert_eq!(
            r,
            Reply::Bounce("550 5.1.1 no-such-user-xyz... User unknown".into())
        );
    }
}
