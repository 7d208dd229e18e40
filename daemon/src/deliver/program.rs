//! Delivery to a program (`|command` in an alias): the config's prog
//! mailer runs it, as sendmail does, usually `/bin/sh -c COMMAND`.
//!
//! The command is the admin's text from the alias file; it becomes one
//! argv element where the mailer's A= says `$u`. Nothing a client sent
//! (sender, recipient, headers) is ever part of a command line a shell
//! parses: the sender and recipient go in the environment ($SENDER,
//! $RECIPIENT, as Postfix's local(8) does it), the message on stdin. The
//! program runs as the given user (never root), in a cleared environment,
//! with the mailer's W= (default ten minutes) as its time limit; its exit
//! code maps through sysexits to delivered, retry or bounce.

use cfparser::model::Mailer;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a program may run when the mailer sets no W=.
const DEFAULT_LIMIT: Duration = Duration::from_secs(600);
/// How much of its output is kept for the bounce text.
const KEEP_OUTPUT: usize = 1000;

/// Who the program runs as.
#[derive(Debug, Clone)]
pub struct RunAs {
    pub name: String,
    pub uid: nix::unistd::Uid,
    pub gid: nix::unistd::Gid,
    pub home: std::path::PathBuf,
}

/// What came of running it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ran {
    Delivered(String),
    Retry(String),
    Bounce(String),
}

/// The argv for `command` from the mailer's A= (`$u` is the command,
/// `$f` the sender, `$h` the host, `$g` the sender, `$z` the home), each
/// template word one argv element.
pub fn argv(mailer: &Mailer, command: &str, sender: &str, home: &str) -> Vec<String> {
    mailer_argv(mailer, command, "", sender, home)
}

/// A mailer's A= with `$u` the user, `$h` the host (for the local mailer:
/// the `+detail`), `$f` and `$g` the sender (MAILER-DAEMON for `<>`), `$z`
/// the home directory; each word one argv element, whatever it holds.
pub fn mailer_argv(
    mailer: &Mailer,
    user: &str,
    host: &str,
    sender: &str,
    home: &str,
) -> Vec<String> {
    mailer
        .argv
        .iter()
        .map(|word| {
            word.expand(&|name: &cfparser::MacroName| match name.0.as_str() {
                "u" => Some(user.to_string()),
                "f" | "g" => Some(if sender.is_empty() {
                    "MAILER-DAEMON".into()
                } else {
                    sender.to_string()
                }),
                "h" => Some(host.to_string()),
                "z" => Some(home.to_string()),
                _ => None,
            })
        })
        .collect()
}

/// The message as a program reads it: the `From ` line (unless the
/// mailer has flag n), the prepended headers, header section, blank line
/// and body, with LF line ends (the mailer's E= is LF for programs).
pub fn input(
    mailer: &Mailer,
    from_line: &str,
    prepend: &[u8],
    headers: &[u8],
    body: &[u8],
) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(from_line.len() + prepend.len() + headers.len() + body.len() + 4);
    if !mailer.has_flag('n') {
        out.extend_from_slice(from_line.as_bytes());
        out.push(b'\n');
    }
    super::crlf_to_lf(&mut out, prepend);
    super::crlf_to_lf(&mut out, headers);
    out.push(b'\n');
    super::crlf_to_lf(&mut out, body);
    out
}

/// Runs the program and waits for it, within the limit.
pub fn run(
    mailer: &Mailer,
    argv: &[String],
    env: &[(&str, &str)],
    as_user: Option<&RunAs>,
    stdin: &[u8],
) -> Ran {
    let Some(program) = Some(mailer.path.as_str()).filter(|p| p.starts_with('/')) else {
        return Ran::Retry(format!(
            "451 4.3.0 mailer {} has no program path (P={})",
            mailer.name, mailer.path
        ));
    };
    let limit = mailer
        .wait
        .filter(|d| !d.is_zero())
        .unwrap_or(DEFAULT_LIMIT);
    let mut cmd = Command::new(program);
    if let Some((arg0, rest)) = argv.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("SHELL", "/bin/sh")
        .env("AGENT", "mtad");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let dir = match as_user {
        Some(u) if u.home.is_dir() => u.home.clone(),
        _ => "/".into(),
    };
    cmd.current_dir(dir);
    if let Some(u) = as_user {
        cmd.env("HOME", &u.home)
            .env("USER", &u.name)
            .env("LOGNAME", &u.name);
        let (uid, gid) = (u.uid, u.gid);
        // SAFETY: between fork and exec only async-signal-safe calls
        // (setgroups, setgid, setuid) are made.
        unsafe {
            cmd.pre_exec(move || {
                nix::unistd::setgroups(&[gid])?;
                nix::unistd::setgid(gid)?;
                nix::unistd::setuid(uid)?;
                Ok(())
            });
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group, so that a timeout ends the whole pipeline
    // the shell may have started.
    cmd.process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Ran::Retry(format!("451 4.3.0 cannot run {program}: {e}")),
    };
    let pid = child.id() as i32;
    let mut pipe_in = child.stdin.take();
    let data = stdin.to_vec();
    // Writing and reading in threads: a program that does not read its
    // input, or writes much output, must not block the agent.
    let writer = std::thread::spawn(move || {
        if let Some(p) = pipe_in.as_mut() {
            // A program may exit without reading all of it; that is its
            // business (its exit code decides).
            let _ = p.write_all(&data);
        }
    });
    let read_all = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            if let Some(mut r) = r {
                let mut buf = [0u8; 4096];
                while let Ok(n) = r.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if kept.len() < KEEP_OUTPUT {
                        kept.extend_from_slice(&buf[..n.min(KEEP_OUTPUT - kept.len())]);
                    }
                }
            }
            kept
        })
    };
    let out = read_all(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = read_all(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Ok(s),
            Ok(None) if started.elapsed() >= limit => {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                let _ = child.wait();
                break Err(format!("timed out after {}s", limit.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => break Err(format!("wait: {e}")),
        }
    };
    let _ = writer.join();
    let mut said = out.join().unwrap_or_default();
    said.extend(err.join().unwrap_or_default());
    let said = String::from_utf8_lossy(&said)
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>();
    let said = if said.is_empty() {
        String::new()
    } else {
        format!(": {said}")
    };
    let shown = argv
        .last()
        .map_or(program, String::as_str)
        .escape_default()
        .to_string();
    let status = match status {
        Ok(s) => s,
        Err(why) => return Ran::Retry(format!("451 4.3.0 \"|{shown}\": {why}{said}")),
    };
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(0), _) => Ran::Delivered(format!("250 2.0.0 \"|{shown}\"... Delivered")),
        // sysexits: temporary failures.
        (Some(code @ (71 | 74 | 75)), _) => Ran::Retry(format!(
            "451 4.3.0 \"|{shown}\" exited {code} ({}){said}",
            sysexit(code)
        )),
        (Some(code), _) => {
            let (status, what) = match code {
                67 => ("550 5.1.1", "user unknown"),
                68 => ("550 5.1.2", "host unknown"),
                69 => ("550 5.0.0", "service unavailable"),
                77 => ("550 5.0.0", "permission denied"),
                _ => ("554 5.3.0", sysexit(code)),
            };
            Ran::Bounce(format!(
                "{status} \"|{shown}\" exited {code} ({what}){said}"
            ))
        }
        (None, sig) => Ran::Retry(format!(
            "451 4.3.0 \"|{shown}\" killed by signal {}{said}",
            sig.unwrap_or(0)
        )),
    }
}

fn sysexit(code: i32) -> &'static str {
    match code {
        64 => "usage error",
        65 => "data format error",
        66 => "cannot open input",
        67 => "user unknown",
        68 => "host unknown",
        69 => "service unavailable",
        70 => "internal software error",
        71 => "system error",
        72 => "critical OS file missing",
        73 => "cannot create output file",
        74 => "input/output error",
        75 => "temporary failure",
        76 => "remote error in protocol",
        77 => "permission denied",
        78 => "configuration error",
        _ => "unknown mailer error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prog() -> Mailer {
        let loaded = cfparser::load_bytes(
            std::path::Path::new("t.cf"),
            b"Mlocal, P=/bin/cat, A=cat $u\nMprog, P=/bin/sh, F=lsDFMoqeu9, D=$z:/, T=X-Unix/X-Unix/X-Unix, A=sh -c $u\n".to_vec(),
            &Default::default(),
        )
        .unwrap();
        loaded.config.mailer("prog").unwrap().clone()
    }

    #[test]
    fn the_command_is_one_argument_and_client_data_stays_out_of_it() {
        let m = prog();
        let sender = "x@y; rm -rf / #";
        let a = argv(&m, "cat > /dev/null", sender, "/home/x");
        assert_eq!(a, ["sh", "-c", "cat > /dev/null"]);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let cmd = format!(
            "cat > {}; printf '%s' \"$SENDER\" > {}.sender",
            out.display(),
            out.display()
        );
        let a = argv(&m, &cmd, sender, "/");
        let input = input(
            &m,
            "From x@y Thu Nov 26 12:17:08 2026",
            b"",
            b"Subject: hi\r\n",
            b"body\r\n",
        );
        let r = run(&m, &a, &[("SENDER", sender)], None, &input);
        assert!(matches!(r, Ran::Delivered(_)), "{r:?}");
        assert_eq!(
            std::fs::read(&out).unwrap(),
            b"From x@y Thu Nov 26 12:17:08 2026\nSubject: hi\n\nbody\n"
        );
        assert_eq!(
            std::fs::read_to_string(format!("{}.sender", out.display())).unwrap(),
            sender
        );
    }

    #[test]
    fn exit_codes_map_through_sysexits() {
        let m = prog();
        let run_code = |cmd: &str| run(&m, &argv(&m, cmd, "a@b", "/"), &[], None, b"x\n");
        assert!(matches!(run_code("exit 75"), Ran::Retry(t) if t.contains("temporary failure")));
        assert!(
            matches!(run_code("echo no such user >&2; exit 67"), Ran::Bounce(t) if t.starts_with("550 5.1.1") && t.contains("no such user"))
        );
        assert!(matches!(run_code("exit 1"), Ran::Bounce(t) if t.starts_with("554 5.3.0")));
        assert!(matches!(run_code("kill -9 $$"), Ran::Retry(_)));
    }

    #[test]
    fn a_program_that_runs_too_long_is_stopped() {
        let mut m = prog();
        m.wait = Some(Duration::from_millis(300));
        let t = Instant::now();
        let r = run(&m, &argv(&m, "sleep 30 | cat", "a@b", "/"), &[], None, b"");
        assert!(
            matches!(&r, Ran::Retry(t) if t.contains("timed out")),
            "{r:?}"
        );
        assert!(t.elapsed() < Duration::from_secs(10));
    }
}
