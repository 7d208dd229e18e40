//! The queue in sendmail's mailq layout (queue.c's print_single_queue()),
//! shared by `mtad -bp` and `mtactl queue`, so that admins' eyes and
//! scripts find what they know:
//!
//! ```text
//!                 /var/spool/mqueue (1 request)
//! -----Q-ID----- --Size-- -----Q-Time----- ------------Sender/Recipient-----------
//! 6AQCH8000000a0*     842 Thu Nov 26 12:17 <sender@example.org>
//!                  (Deferred: 451 4.3.0 try later)
//!                                          <root@localhost>
//!                 Total requests: 1
//! ```
//!
//! After the ID, `*` marks a message being delivered now, as in sendmail;
//! a held message has sendmail's `QUARANTINE:` line.

use crate::protocol::QueueEntry;
use std::fmt::Write;

/// The listing of `entries` in the queue directory `dir`.
pub fn format(dir: &str, entries: &[QueueEntry]) -> String {
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
        // The marker takes the place of the blank after the ID.
        let marker = if e.queue_name == "active" { '*' } else { ' ' };
        let _ = write!(
            out,
            "{:<14}{marker}{:>8} {:.16} ",
            e.queue_id,
            e.message_size,
            ctime(e.arrival_time)
        );
        out.push_str(&printable(&format!("<{}>", e.sender), 39));
        if e.queue_name == "hold" {
            out.push_str("\n  QUARANTINE: held (mtactl queue release to deliver)");
        }
        if e.body_type.is_some() || e.status.is_some() {
            let _ = write!(out, "\n    {:>10.10}", e.body_type.as_deref().unwrap_or(""));
            if let Some(s) = &e.status {
                let _ = write!(out, "   ({})", printable(s, 60));
            }
        }
        for r in &e.recipients {
            if let Some(why) = r
                .delay_reason
                .as_deref()
                .filter(|w| Some(*w) != e.status.as_deref())
            {
                let _ = write!(out, "\n\t\t\t\t\t ({})", printable(why, 60));
            }
            out.push_str("\n\t\t\t\t\t ");
            out.push_str(&printable(&format!("<{}>", r.address), 38));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "\t\tTotal requests: {n}");
    out
}

/// sendmail's hoststat layout (mci.c's mci_print_persistent): the host,
/// how long ago it was last tried, and the result.
pub fn hoststat(rows: &[crate::protocol::HostEntry], now: i64) -> String {
    if rows.is_empty() {
        return "Host status directory is empty\n".into();
    }
    let mut out = String::from(
        "-------------- Hostname --------------- How long ago ---------Results---------\n",
    );
    for r in rows {
        let host = printable(&format!("{} [{}]", r.name, r.addr), 39);
        let status = if r.ok {
            printable(&r.status, 200)
        } else {
            format!("Deferred: {}", printable(&r.status, 200))
        };
        let _ = writeln!(
            out,
            " {host:<39} {:>12} {status}",
            interval((now - r.last).max(0))
        );
    }
    out
}

/// sendmail's pintvl (brief form), for hoststat and the log's `delay=`:
/// `HH:MM:SS`, with `N+` in front past a day.
pub fn interval(secs: i64) -> String {
    let secs = secs.max(0);
    let (d, rest) = (secs / 86400, secs % 86400);
    let hms = format!(
        "{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
    if d > 0 { format!("{d}+{hms}") } else { hms }
}

/// sendmail's mailstats layout: a line per mailer with its counters
/// (bytes in KiB, as mailstats shows them), then the totals (T) and the
/// connections (C).
pub fn mailstats(r: &crate::protocol::StatsReport) -> String {
    let mut out = format!("Statistics from {}\n", ctime(r.since));
    out.push_str(" M   msgsfr  bytes_from   msgsto    bytes_to  msgsrej msgsdis  Mailer\n");
    let kb = |b: u64| format!("{}K", b.div_ceil(1024));
    let mut t = crate::protocol::MailerCount::default();
    for (i, m) in r.mailers.iter().enumerate() {
        let _ = writeln!(
            out,
            "{i:>2} {:>8} {:>11} {:>8} {:>11} {:>8} {:>7}  {}",
            m.msgsfr,
            kb(m.bytes_from),
            m.msgsto,
            kb(m.bytes_to),
            m.msgsrej,
            m.msgsdis,
            printable(&m.mailer, 30)
        );
        t.msgsfr += m.msgsfr;
        t.bytes_from += m.bytes_from;
        t.msgsto += m.msgsto;
        t.bytes_to += m.bytes_to;
        t.msgsrej += m.msgsrej;
        t.msgsdis += m.msgsdis;
    }
    out.push_str("=====================================================================\n");
    let _ = writeln!(
        out,
        " T {:>8} {:>11} {:>8} {:>11} {:>8} {:>7}",
        t.msgsfr,
        kb(t.bytes_from),
        t.msgsto,
        kb(t.bytes_to),
        t.msgsrej,
        t.msgsdis
    );
    let _ = writeln!(
        out,
        " C {:>8} {:>11} {:>8} {:>11} {:>8}",
        r.connections_in, "", r.connections_out, "", r.connections_rejected
    );
    out
}

/// sendmail's prtstr(): at most `max` characters, backslashes doubled,
/// anything unprintable as `\ooo`, so a hostile address cannot drive the
/// admin's terminal.
pub fn printable(s: &str, max: usize) -> String {
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

/// `Thu Nov 26 12:17:08 2026`, as ctime(3) prints the local time.
pub fn ctime(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = secs as libc::time_t;
    // SAFETY: an all-zero tm is valid; localtime_r only writes into it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe {
        libc::localtime_r(&t, &mut tm);
    }
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        DAYS[tm.tm_wday.rem_euclid(7) as usize],
        MONTHS[tm.tm_mon.rem_euclid(12) as usize],
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        tm.tm_year + 1900
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::QueueRecipient;

    fn entry() -> QueueEntry {
        QueueEntry {
            queue_name: "deferred".into(),
            queue_id: "6AQCH8000000a0".into(),
            arrival_time: 0,
            message_size: 842,
            forced_expire: false,
            sender: "sender@example.org".into(),
            recipients: vec![
                QueueRecipient {
                    address: "root@localhost".into(),
                    delay_reason: None,
                },
                QueueRecipient {
                    address: "other@localhost".into(),
                    delay_reason: Some("450 4.2.0 mailbox busy".into()),
                },
            ],
            body_type: None,
            status: None,
            attempts: 1,
            next_attempt: 0,
        }
    }

    #[test]
    fn sendmail_layout() {
        let text = format("/var/spool/mtad", &[entry()]);
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
        assert_eq!(lines[4], "\t\t\t\t\t (450 4.2.0 mailbox busy)");
        assert_eq!(lines[5], "\t\t\t\t\t <other@localhost>");
        assert_eq!(lines[6], "\t\tTotal requests: 1");
        let mut active = entry();
        active.queue_name = "active".into();
        assert!(
            format("/q", &[active])
                .lines()
                .nth(2)
                .unwrap()
                .starts_with("6AQCH8000000a0*     842 ")
        );
        let mut held = entry();
        held.queue_name = "hold".into();
        assert!(format("/q", &[held]).contains("\n  QUARANTINE: held"));
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
}
