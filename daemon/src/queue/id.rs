//! Queue IDs in sendmail's form: 14 letters and digits that sort by
//! arrival time, so log tools written for sendmail (fail2ban's filters,
//! grep by ID) work unchanged.
//!
//! Layout: year, month, day, hour, minute, second (one base-60 character
//! each, as sendmail encodes them), then the sub-second in two characters
//! (1/3600 s steps) and a six-character sequence number. Within a process the
//! sequence only grows, so IDs made in the same instant still differ and
//! still sort in the order they were made; the store refuses a duplicate
//! across restarts and a fresh ID is taken.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// sendmail's digits for queue IDs: 0-9, A-Z, a-x (60 of them), in ASCII
/// order so that IDs sort as the times they encode.
const DIGITS: &[u8; 60] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwx";

/// The length of every queue ID.
pub const LEN: usize = 14;

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A new queue ID for now.
pub fn new_id() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    format_id(now.as_secs() as i64, now.subsec_nanos(), seq)
}

/// The ID for a moment (seconds since the epoch, UTC, and nanoseconds) and
/// a sequence number.
pub fn format_id(secs: i64, nanos: u32, seq: u64) -> String {
    let (year, month, day, hour, minute, second) = civil(secs);
    let mut id = String::with_capacity(LEN);
    // sendmail counts years from 1900 modulo 60; so do we, so that IDs of
    // the same era sort the same way.
    for v in [
        ((year - 1900).rem_euclid(60)) as u64,
        month as u64,
        day as u64,
        hour as u64,
        minute as u64,
        second as u64,
    ] {
        id.push(DIGITS[v as usize % 60] as char);
    }
    let sub = (u64::from(nanos) * 3600) / 1_000_000_000;
    push_base60(&mut id, sub, 2);
    push_base60(&mut id, seq % 60u64.pow(6), 6);
    id
}

fn push_base60(id: &mut String, mut v: u64, width: usize) {
    let mut digits = vec![b'0'; width];
    for d in digits.iter_mut().rev() {
        *d = DIGITS[(v % 60) as usize];
        v /= 60;
    }
    id.extend(digits.iter().map(|&b| b as char));
}

/// Days since 1970-01-01 to (year, month 0-11, day 1-31), UTC; and the time
/// of day. Howard Hinnant's civil-from-days algorithm.
fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month - 1,
        day,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fourteen_letters_and_digits() {
        let id = new_id();
        assert_eq!(id.len(), 14);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
    }

    #[test]
    fn sendmail_encoding_of_the_date() {
        // 2026-11-26 12:17:08 UTC: year 126 % 60 = 6, month 10 = 'A',
        // day 26 = 'Q', 12 = 'C', 17 = 'H', 8 = '8'.
        let id = format_id(1_795_695_428, 0, 0);
        assert_eq!(&id[..6], "6AQCH8");
    }

    #[test]
    fn ids_sort_by_time_then_sequence() {
        let a = format_id(1_795_695_428, 0, 5);
        let b = format_id(1_795_695_428, 500_000_000, 1);
        let c = format_id(1_795_695_429, 0, 0);
        let d = format_id(1_795_695_429, 0, 1);
        assert!(a < b && b < c && c < d, "{a} {b} {c} {d}");
        let many: Vec<String> = (0..1000).map(|_| new_id()).collect();
        let mut sorted = many.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 1000, "unique");
        assert_eq!(sorted, many, "made in order, sorted in order");
    }
}
