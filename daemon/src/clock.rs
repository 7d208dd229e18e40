//! Time as mail shows it: RFC 5322 dates (`$b`, Date:), ctime(3) for
//! mailq, and the compact UTC stamp of Message-Id (`$t`).

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The broken-down time, local or UTC.
fn broken_down(secs: i64, local: bool) -> libc::tm {
    let t = secs as libc::time_t;
    // SAFETY: an all-zero tm is a valid value; localtime_r and gmtime_r
    // write only into it (and leave it zero on failure).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe {
        if local {
            libc::localtime_r(&t, &mut tm);
        } else {
            libc::gmtime_r(&t, &mut tm);
        }
    }
    tm
}

fn day(tm: &libc::tm) -> &'static str {
    DAYS[tm.tm_wday.rem_euclid(7) as usize]
}

fn month(tm: &libc::tm) -> &'static str {
    MONTHS[tm.tm_mon.rem_euclid(12) as usize]
}

/// `Thu, 26 Nov 2026 12:17:08 +0100`, local time.
pub fn rfc5322(secs: i64) -> String {
    let tm = broken_down(secs, true);
    let off = tm.tm_gmtoff / 60;
    let sign = if off < 0 { '-' } else { '+' };
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} {sign}{:02}{:02}",
        day(&tm),
        tm.tm_mday,
        month(&tm),
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        off.abs() / 60,
        off.abs() % 60
    )
}

/// `Thu Nov 26 12:17:08 2026`, as ctime(3) prints the local time (mailq's
/// and the mbox From line's form; shared with mtactl).
pub fn ctime(secs: i64) -> String {
    mtactl::mailq::ctime(secs)
}

/// `20261126121708`: YYYYMMDDhhmmss in UTC, sendmail's `$t`.
pub fn stamp(secs: i64) -> String {
    let tm = broken_down(secs, false);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let d = rfc5322(1_795_695_428);
        let parts: Vec<&str> = d.split(' ').collect();
        assert_eq!(parts.len(), 6, "{d}");
        assert!(parts[0].ends_with(','));
        assert_eq!(parts[3], "2026");
        assert!(parts[5].starts_with('+') || parts[5].starts_with('-'));
        assert_eq!(stamp(1_795_695_428), "20261126121708");
        assert_eq!(ctime(1_795_695_428).len(), 24);
    }
}
