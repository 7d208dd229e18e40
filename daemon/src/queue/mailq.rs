//! `mtad -bp` and `-bh`: the queue in sendmail's mailq layout (the
//! formatter is shared with mtactl: `mtactl::mailq`) and the host status
//! in sendmail's hoststat layout.

pub use mtactl::mailq::format;

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
