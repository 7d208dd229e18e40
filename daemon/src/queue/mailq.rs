//! `mtad -bp`: the queue in sendmail's mailq layout (queue.c's
//! print_single_queue()), so that admins' eyes and scripts find what they
//! know:
//!
//! ```text
//!                 /var/spool/mqueue (1 request)
//! -----Q-ID----- --Size-- -----Q-Time----- ------------Sender/Recipient-----------
//! 6AQCH8000000a*      842 Thu Nov 26 12:17 <sender@example.org>
//!                                          <root@localhost>
//!                 Total requests: 1
//! ```

use super::store::Listed;
use crate::clock::ctime;
use std::fmt::Write;

/// The listing of `entries` in the queue directory `dir`.
pub fn format(dir: &str, entries: &[Listed]) -> String {
    let mut out = String::new();
    if entries.is_empty() {
        let _ = writeln!(out, "{dir} is empty");
        let _ = writeln!(out, "\t\tTotal requests: 0");
        return out;
    }
    let n = entries.len();
    let _ = writeln!(
        out,
        "\t\t{dir} ({n} request{})",
        if n == 1 { "" } else { "s" }
    );
    out.push_str(
        "-----Q-ID----- --Size-- -----Q-Time----- ------------Sender/Recipient-----------\n",
    );
    for e in entries {
        let _ = write!(out, "{:>13} {:>8} {:.16} ", e.id, e.size, ctime(e.arrival));
        out.push_str(&printable(&format!("<{}>", e.sender), 39));
        if e.body_type.is_some() || e.status_message.is_some() {
            let _ = write!(out, "\n    {:>10.10}", e.body_type.as_deref().unwrap_or(""));
            if let Some(s) = &e.status_message {
                let s: String = s.chars().take(60).collect();
                let _ = write!(out, "   ({s})");
            }
        }
        for r in &e.recipients {
            out.push_str("\n\t\t\t\t\t ");
            out.push_str(&printable(&format!("<{r}>"), 38));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "\t\tTotal requests: {n}");
    out
}

/// sendmail's prtstr(): at most `max` characters, backslashes doubled,
/// anything unprintable as `\ooo`, so a hostile address cannot drive the
/// admin's terminal.
fn printable(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut left = max as isize;
    for b in s.bytes() {
        if left <= 0 {
            break;
        }
        left -= 1;
        if b == b'\\' {
            if left > 0 {
                left -= 1;
                out.push_str("\\\\");
            }
        } else if b.is_ascii_graphic() || b == b' ' {
            out.push(b as char);
        } else {
            left -= 3;
            if left > 0 {
                let _ = write!(out, "\\{b:03o}");
            }
        }
    }
    out
}

/// sendmail's hoststat layout (mci.c's mci_print_persistent): the host,
/// how long ago it was last tried, and the result.
pub fn hoststat(rows: &[super::store::HostRow], now: i64) -> String {
    if rows.is_empty() {
        return "Host status directory is empty\n".into();
    }
    let mut out = String::from(
        "-------------- Hostname --------------- How long ago ---------Results---------\n",
    );
    for r in rows {
        let host = format!("{} [{}]", r.name, r.addr);
        let status = if r.ok {
            r.status.clone()
        } else {
            format!("Deferred: {}", r.status)
        };
        out.push_str(&format!(
            " {host:<39} {:>12} {status}\n",
            interval((now - r.last).max(0))
        ));
    }
    out
}

/// sendmail's pintvl: `HH:MM:SS`, with `Nd+` in front past a day.
fn interval(secs: i64) -> String {
    let (d, rest) = (secs / 86400, secs % 86400);
    let hms = format!(
        "{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
    if d > 0 { format!("{d}d+{hms}") } else { hms }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sendmail_layout() {
        let e = Listed {
            id: "6AQCH8000000a0".into(),
            arrival: 0,
            size: 842,
            sender: "sender@example.org".into(),
            body_type: None,
            status_message: None,
            recipients: vec!["root@localhost".into(), "other@localhost".into()],
        };
        let text = format("/var/spool/mtad", &[e]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "\t\t/var/spool/mtad (1 request)");
        assert_eq!(
            lines[1],
            "-----Q-ID----- --Size-- -----Q-Time----- ------------Sender/Recipient-----------"
        );
        assert!(
            lines[2].starts_with("6AQCH8000000a0      842 "),
            "{}",
            lines[2]
        );
        assert!(lines[2].ends_with(" <sender@example.org>"), "{}", lines[2]);
        assert_eq!(lines[3], "\t\t\t\t\t <root@localhost>");
        assert_eq!(lines[5], "\t\tTotal requests: 1");
    }

    #[test]
    fn empty_queue() {
        assert_eq!(format("/q", &[]), "/q is empty\n\t\tTotal requests: 0\n");
    }

    #[test]
    fn hostile_text_is_escaped_and_cut() {
        assert_eq!(printable("a\x1b[2Jb", 39), "a\\033[2Jb");
        assert_eq!(printable("a\\b", 39), "a\\\\b");
        assert_eq!(printable(&"x".repeat(100), 39).len(), 39);
    }

    #[test]
    fn hoststat_layout() {
        use crate::queue::store::HostRow;
        assert_eq!(hoststat(&[], 0), "Host status directory is empty\n");
        let rows = [
            HostRow {
                addr: "192.0.2.1:25".into(),
                name: "mx.example.com".into(),
                last: 1000,
                ok: true,
                status: "250 2.0.0 Ok: queued".into(),
            },
            HostRow {
                addr: "192.0.2.2:25".into(),
                name: "mx2.example.com".into(),
                last: 1000 - 90000,
                ok: false,
                status: "Connection refused".into(),
            },
        ];
        let text = hoststat(&rows, 1025);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            " mx.example.com [192.0.2.1:25]               00:00:25 250 2.0.0 Ok: queued"
        );
        assert!(
            lines[2].ends_with("1d+01:00:25 Deferred: Connection refused"),
            "{text}"
        );
    }
}
