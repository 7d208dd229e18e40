//! `mtad -bp` and `-bh`: the queue in sendmail's mailq layout (the
//! formatter is shared with mtactl: `mtactl::mailq`) and the host status
//! in sendmail's hoststat layout.

pub use mtactl::mailq::format;

/// `mtad -bh`: the hosts table in sendmail's hoststat layout.
pub fn hoststat(rows: &[super::store::HostRow], now: i64) -> String {
    let entries: Vec<mtactl::protocol::HostEntry> = rows
        .iter()
        .map(|r| mtactl::protocol::HostEntry {
            name: r.name.clone(),
            addr: r.addr.clone(),
            last: r.last,
            ok: r.ok,
            status: r.status.clone(),
        })
        .collect();
    mtactl::mailq::hoststat(&entries, now)
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
            lines[2].ends_with("1+01:00:25 Deferred: Connection refused"),
            "{text}"
        );
    }
}
