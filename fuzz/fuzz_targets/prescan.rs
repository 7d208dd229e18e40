//! sendmail's tokenizer on arbitrary bytes, with each of its three tables,
//! each delimiter `-bt` and the SMTP code use (none, `,`, blank), with and
//! without `ignore`. Besides "no panic", it checks what prescan's doc
//! comments promise about its result; then invalidaddr() on a copy.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rules::prescan::{
    MAXATOM, MAXNAME, PSBUFSIZE, Scan, Table, Tables, Tokens, invalid_address, prescan,
};
use std::sync::OnceLock;

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| Tables::new(b".:%@!^/[]+"))
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn check_scan(data: &[u8], table: Table, delim: u8, ignore: bool, reused: &mut Tokens) {
    let tables = tables();
    let mut scan = Scan::new(table);
    scan.delim = delim;
    scan.ignore = ignore;
    let mut msgs = Vec::new();
    let r = prescan(tables, data, scan, reused, &mut msgs);
    let ctx = || format!("table={table:?} delim={delim:#04x} ignore={ignore} r={r:?}");

    // Where it stopped is inside the input (or its end).
    assert!(r.end <= data.len(), "end past the input: {}", ctx());
    // ok is "gave tokens, no error": ok ⇒ tokens; !ok with tokens ⇒ an error was said.
    if r.ok {
        assert!(!reused.is_empty(), "ok without tokens: {}", ctx());
    } else {
        assert!(
            reused.is_empty() || !msgs.is_empty(),
            "not ok, tokens, but no message: {}",
            ctx()
        );
    }
    // A successful scan ends at the delimiter or at the end of the string
    // (the end of the slice, or a NUL as in C). With delim ' ' any blank
    // counts as the delimiter.
    if r.ok && r.end < data.len() {
        let c = data[r.end];
        assert!(
            c == 0 || (delim != 0 && c == delim) || (delim == b' ' && is_space(c)),
            "ok scan stopped at {c:#04x}, not at a delimiter or the end: {}",
            ctx()
        );
    }
    // MAXATOM tokens at most, each at most MAXNAME bytes, non-empty,
    // back to back in the buffer, and the whole within PSBUFSIZE (one NUL
    // per token counted, less sendmail's 5 bytes of slack).
    assert!(
        reused.len() <= MAXATOM,
        "{} tokens: {}",
        reused.len(),
        ctx()
    );
    let mut prev_end = 0usize;
    for (i, s) in reused.spans.iter().enumerate() {
        assert!(
            s.start <= s.end && s.end <= reused.bytes.len(),
            "span {i} {s:?} outside {} bytes: {}",
            reused.bytes.len(),
            ctx()
        );
        assert!(s.start < s.end, "empty token {i}: {}", ctx());
        assert_eq!(
            s.start,
            prev_end,
            "token {i} not after token {}: {}",
            i as isize - 1,
            ctx()
        );
        assert!(
            s.len() <= MAXNAME,
            "token {i} of {} bytes: {}",
            s.len(),
            ctx()
        );
        prev_end = s.end;
        let t = reused.get(i);
        // NUL ends the string; 0xff is stored as 0x7f.
        assert!(!t.contains(&0), "NUL in token {i}: {}", ctx());
        assert!(!t.contains(&0xff), "0xff in token {i}: {}", ctx());
    }
    if r.ok {
        assert_eq!(
            prev_end,
            reused.bytes.len(),
            "stray bytes after the tokens: {}",
            ctx()
        );
    }
    assert!(
        reused.bytes.len() + reused.len() <= PSBUFSIZE - 5,
        "{} bytes + {} NULs over PSBUFSIZE: {}",
        reused.bytes.len(),
        reused.len(),
        ctx()
    );

    // Reusing the buffer changes nothing: a fresh one gives the same.
    let mut fresh = Tokens::default();
    let mut msgs2 = Vec::new();
    let r2 = prescan(tables, data, scan, &mut fresh, &mut msgs2);
    assert_eq!(r, r2, "{}", ctx());
    assert_eq!(fresh.spans, reused.spans, "{}", ctx());
    assert_eq!(fresh.bytes, reused.bytes, "{}", ctx());
    assert_eq!(msgs.len(), msgs2.len(), "{}", ctx());
    for m in &msgs {
        let _ = m.test_mode_line();
    }
}

fuzz_target!(|data: &[u8]| {
    let mut tokens = Tokens::default();
    for table in [Table::External, Table::Internal, Table::NoComments] {
        for delim in [0u8, b',', b' '] {
            for ignore in [false, true] {
                check_scan(data, table, delim, ignore, &mut tokens);
            }
        }
    }

    for recipient in [true, false] {
        let mut copy = data.to_vec();
        let mut msgs = Vec::new();
        let refused = invalid_address(&mut copy, recipient, &mut msgs);
        assert_eq!(copy.len(), data.len());
        assert_eq!(
            refused,
            !msgs.is_empty(),
            "refused={refused} msgs={}",
            msgs.len()
        );
        // Only 0x80-0x9f is rewritten, and only to '?'.
        for (a, b) in data.iter().zip(&copy) {
            assert!(a == b || (*b == b'?' && a & 0o340 == 0o200));
        }
        if data.len() > MAXNAME - 1 {
            assert!(refused, "{} bytes not refused", data.len());
        } else {
            let eight = data.iter().any(|&c| c & 0o340 == 0o200);
            assert_eq!(refused, eight);
            assert!(copy.iter().all(|&c| c & 0o340 != 0o200));
        }
        for m in &msgs {
            let _ = m.test_mode_line();
        }
    }
});
