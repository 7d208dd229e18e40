//! Logging, as sendmail logs: syslog, facility mail, ident `sm-mta` (as
//! Debian's sendmail daemon, so log tools and fail2ban filters keyed on it
//! keep working; Mtad.SyslogIdent changes it), to /dev/log or
//! Mtad.SyslogSocket, in sendmail's line formats (`QUEUEID: from=<…>,
//! size=…`, `QUEUEID: to=<…>, … stat=…`, `ruleset=check_rcpt, …
//! reject=…`). LogLevel is honoured: a line is written when its level is at
//! most LogLevel (sendmail's default 9).
//!
//! Written by hand instead of with the syslog crate, which never
//! reconnects: here a send that fails (the syslog daemon restarted, the
//! socket replaced) reconnects and retries once. In the foreground (`-bD`),
//! `-v` or Mtad.LogStderr mirrors every line to stderr.
//!
//! Text a client or another host supplied goes through [`esc`] first: no
//! control character reaches a log line, so nobody can forge one.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// syslog severities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Err = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
}

/// LOG_MAIL.
const FACILITY: u8 = 2;

struct Logger {
    ident: String,
    socket: PathBuf,
    level: u8,
    stderr: bool,
    conn: Mutex<Option<UnixDatagram>>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets the logger up from the config; later calls change nothing. Before
/// this, lines go to stderr only.
pub fn init(config: &cfparser::Config, foreground_stderr: bool) {
    let ident = config
        .text("Mtad.SyslogIdent")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "sm-mta".into());
    let socket = PathBuf::from(
        config
            .text("Mtad.SyslogSocket")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "/dev/log".into()),
    );
    let level = config.int("LogLevel").map_or(9, |n| n.clamp(0, 255) as u8);
    let stderr = foreground_stderr || config.bool("Mtad.LogStderr").unwrap_or(false);
    let _ = LOGGER.set(Logger {
        ident,
        socket,
        level,
        stderr,
        conn: Mutex::new(None),
    });
}

/// Logs one line at sendmail's `level` (LogLevel) and a syslog severity.
pub fn line(level: u8, severity: Severity, text: &str) {
    let Some(l) = LOGGER.get() else {
        eprintln!("mtad: {text}");
        return;
    };
    if level > l.level {
        return;
    }
    if l.stderr {
        eprintln!("mtad: {text}");
    }
    let msg = format!(
        "<{}>{} {}[{}]: {text}",
        FACILITY * 8 + severity as u8,
        timestamp(),
        l.ident,
        std::process::id()
    );
    let mut conn = l.conn.lock().unwrap_or_else(|p| p.into_inner());
    for _ in 0..2 {
        if conn.is_none() {
            // No socket there (no syslog daemon): a stat, not a socket
            // and a failed connect, for every line.
            if !l.socket.exists() {
                return;
            }
            *conn = UnixDatagram::unbound()
                .and_then(|s| s.connect(&l.socket).map(|()| s))
                .ok();
        }
        match conn.as_ref().map(|s| s.send(msg.as_bytes())) {
            Some(Ok(_)) => return,
            // Gone or replaced: a fresh connection, once.
            _ => *conn = None,
        }
    }
}

pub fn info(level: u8, text: &str) {
    line(level, Severity::Info, text);
}

pub fn notice(level: u8, text: &str) {
    line(level, Severity::Notice, text);
}

pub fn warning(text: &str) {
    line(1, Severity::Warning, &format!("warning: {text}"));
}

pub fn error(text: &str) {
    line(1, Severity::Err, text);
}

/// `Nov 26 15:52:07`, local time (RFC 3164).
fn timestamp() -> String {
    let c = crate::clock::ctime(crate::clock::now());
    // ctime: `Thu Nov 26 15:52:07 2026`.
    c.get(4..19).unwrap_or(&c).to_string()
}

/// Text from outside, made safe for a log line: control characters and
/// backslashes escaped (`\n`, `\r`, `\t`, `\\`, `\xNN`), length bounded.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().take(1000) {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// sendmail's delay format: `HH:MM:SS`, `D+HH:MM:SS` past a day (the
/// same pintvl that hoststat uses).
pub fn delay(secs: i64) -> String {
    mtactl::mailq::interval(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forged_lines_are_escaped() {
        assert_eq!(
            esc("a\r\nNov 26 sm-mta[1]: forged\\"),
            "a\\r\\nNov 26 sm-mta[1]: forged\\\\"
        );
        assert_eq!(esc("\x1b[2J"), "\\x1b[2J");
        assert_eq!(esc(&"x".repeat(5000)).len(), 1000);
    }

    #[test]
    fn delays() {
        assert_eq!(delay(0), "00:00:00");
        assert_eq!(delay(3725), "01:02:05");
        assert_eq!(delay(90061), "1+01:01:01");
    }
}
