//! The same SMTP dialogs, on the same config, to the real sendmail 8.17
//! (`sm-run -bD`, as a daemon on a port of its own) and to mtad: every
//! reply must agree, code, enhanced code and text, once each server's own
//! host name is written `<host>`. The dialogs are the ones where mtad's
//! own command parser answers (syntax, order of commands, arguments); the
//! replies that the rules decide come with the rules.
//!
//! Needs the reference sendmail that ../shared/tools/install-sendmail-ref
//! unpacks under /opt/ref and root (sm-run's namespace); where either is
//! missing the test says it is skipped, and fails under `CI=true`.

use mtad_e2e::{Client, Daemon, free_port, shared_fixtures, skip, workspace};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The real sendmail as a daemon, ended by its PID when dropped (sm-run
/// execs into it, so the child is sendmail itself).
struct Sendmail {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Sendmail {
    fn start(cf: &Path) -> Option<Sendmail> {
        let tool = workspace().join("../shared/tools/sm-run");
        let root = std::env::var_os("SM_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/opt/ref/sendmail"));
        if !tool.is_file() || !root.join("usr/libexec/sendmail/sendmail").is_file() {
            skip("the reference sendmail (../shared/tools/install-sendmail-ref) is not installed");
            return None;
        }
        if !nix::unistd::Uid::effective().is_root() {
            skip("sm-run needs root for its namespace");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let queue = dir.path().join("queue");
        std::fs::create_dir(&queue).unwrap();
        let port = free_port();
        let child = Command::new(tool)
            .env("SM_NETNS", "0")
            .arg("-bD")
            .arg("-C")
            .arg(cf)
            .arg("-O")
            .arg(format!(
                "DaemonPortOptions=Name=MTA,Port={port},Addr=127.0.0.1"
            ))
            .arg("-O")
            .arg(format!("QueueDirectory={}", queue.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
            .spawn()
            .expect("run sm-run");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sendmail did not listen on {port}: {}",
                std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Sendmail { child, port, dir })
    }
}

impl Sendmail {
    /// What sendmail said on stderr.
    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }
}

impl Drop for Sendmail {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

/// Each reply of `dialog`, the greeting first, with the server's own name
/// (the second word of its greeting) written `<host>`.
fn replies(port: u16, dialog: &[&str]) -> Vec<String> {
    let mut c = Client::connect(port);
    let greeting = c.reply();
    let host = greeting.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut out = vec!["220".to_string()];
    for line in dialog {
        let r = c.cmd(line);
        out.push(r.trim_end().replace(&host, "<host>"));
    }
    out
}

/// Dialogs whose every reply comes from the command parser and the
/// session's state, not from the rules: each a line of commands split at
/// ` | `. A successful `EHLO` lists other extensions (AUTH comes with
/// SMTP AUTH, DELIVERBY is not done), so the dialogs greet with HELO;
/// `HELP` alone names `$v`, which is mtad's version; `BY=` and `AUTH=` are
/// left out for the same reasons.
const DIALOGS: &[&str] = &[
    "HELO client.example | MAIL FROM: | RCPT TO: | QUIT",
    "HELO client.example | MAIL FROM:<> | RCPT TO: | RSET | QUIT",
    "HELO client.example | MAIL | MAIL FROM | MAIL TO:<a@b> | QUIT",
    "HELO client.example | MAIL FROM:<> | RCPT | RCPT TO | RCPT FROM:<a@b> | QUIT",
    "HELO | HELO client.example | NOOP | RSET | DATA | QUIT",
    "HELO client.example | RCPT TO:<postmaster> | MAIL FROM:<> | MAIL FROM:<> | QUIT",
    "HELO client.example | MAIL FROM:<> SIZE=abc | MAIL FROM:<> BODY=9BIT | QUIT",
    "HELO client.example | MAIL FROM:<> RET=ALL | MAIL FROM:<> FOO=bar | QUIT",
    "HELO client.example | MAIL FROM:<> | DATA | RSET | RCPT TO:<postmaster> | QUIT",
    "HELO client.example | XYZZY | VRFY | EXPN | ETRN | QUIT",
    "HELO client.example | DATA extra | RSET extra | NOOP extra | QUIT extra",
    "EHLO | HELO  | EHLO a b | HELO c.example | STARTTLS x | STARTTLS | QUIT",
    "HELO c.example | MAIL FROM:<> SIZE | MAIL FROM:<> SIZE=-1 | MAIL FROM:<> SIZE=12x | QUIT",
    "HELO c.example | MAIL FROM:<> SIZE=99999999999999999999 | MAIL FROM:<> BODY | QUIT",
    "HELO c.example | MAIL FROM:<> RET | MAIL FROM:<> RET=FULL RET=HDRS | QUIT",
    "HELO c.example | MAIL FROM:<> ENVID | MAIL FROM:<> ENVID=a+zz | MAIL FROM:<> foo | QUIT",
    "HELO c.example | MAIL FROM:<> ENVID=a+2Bb BODY=7bit RET=hdrs | QUIT",
    "HELO c.example | MAIL FROM:<> | RCPT TO:<a@b> NOTIFY=bogus | RCPT TO:<a@b> NOTIFY | QUIT",
    "HELO c.example | MAIL FROM:<> | RCPT TO:<a@b> NOTIFY=never,success | QUIT",
    "HELO c.example | MAIL FROM:<> | RCPT TO:<a@b> ORCPT | RCPT TO:<a@b> ORCPT=bad | QUIT",
    "HELO c.example | MAIL FROM:<> | RCPT TO:<a@b> Bar=1 | STARTTLS | QUIT",
    "HELO c.example | HELP mail | HELP x | HELP RCPT | HELP dsn | ETRN | QUIT",
    // parseaddr()'s first checks: prescan, then invalidaddr.
    "HELO c.example | MAIL FROM:<a@b | MAIL FROM:a@b> | MAIL FROM:<\"a@b> | QUIT",
    "HELO c.example | MAIL FROM:<a(b@c> | MAIL FROM:<a@b)> | QUIT",
    "HELO c.example | MAIL FROM:<a\u{80}b@c> | MAIL FROM:<> | RCPT TO:<a\u{ff}b@c> | QUIT",
    "HELO c.example | MAIL FROM:<> | RCPT TO:<a@b | RCPT TO:<a@b)> | QUIT",
];

#[test]
fn the_command_parser_answers_as_sendmail() {
    let Some(fixtures) = shared_fixtures() else {
        skip("../shared/fixtures is missing");
        return;
    };
    let cf = fixtures.join("daemon-2525.cf");
    let Some(sendmail) = Sendmail::start(&cf) else {
        return;
    };
    // The config names no user (sendmail falls back to uid 1): mtad must
    // be told whom to run as. Nothing in these dialogs depends on it.
    let mtad = Daemon::start_with(&cf, &["DefaultUser=mail:mail"]);
    // sendmail checks its queue directory after it starts listening.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", sendmail.port)).is_ok(),
        "sendmail stopped: {}",
        sendmail.stderr()
    );
    let mut differ = Vec::new();
    for dialog in DIALOGS {
        let dialog: Vec<&str> = dialog.split(" | ").collect();
        let theirs = replies(sendmail.port, &dialog);
        let ours = replies(mtad.port, &dialog);
        for (i, line) in dialog.iter().enumerate() {
            if theirs[i + 1] != ours[i + 1] {
                differ.push(format!(
                    "after `{line}`:\n  sendmail: {}\n  mtad:     {}",
                    theirs[i + 1],
                    ours[i + 1]
                ));
            }
        }
    }
    assert!(differ.is_empty(), "replies differ:\n{}", differ.join("\n"));
}
