//! No input makes the loader panic or hang: arbitrary bytes, real configs
//! mutated at random, truncated files, a 1 MB line, NUL bytes, invalid
//! UTF-8. Class sources are not read here (a mutated F line could name any
//! file or program); everything else runs as in the daemon.

use cfparser::{LoadOptions, load_bytes};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn opts() -> LoadOptions {
    LoadOptions {
        read_class_sources: false,
        ..Default::default()
    }
}

/// Loads and checks the result is sane: it either loads, or fails with at
/// least one error; every diagnostic renders.
fn load_any(bytes: Vec<u8>) {
    match load_bytes(Path::new("fuzz.cf"), bytes, &opts()) {
        Ok(l) => {
            for w in &l.warnings {
                let _ = w.to_string();
            }
        }
        Err(e) => {
            assert!(e.errors().count() > 0, "failed without an error");
            let _ = e.to_string();
        }
    }
}

/// Real configs to mutate: the shipped ones, and the shared fixtures where
/// this machine has them.
fn seeds() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut paths: Vec<PathBuf> = vec![
        root.join("etc/sendmail.cf"),
        root.join("etc/sendmail-dev.cf"),
    ];
    let shared = root.join("../shared/fixtures/sendmail-cf");
    for name in ["debian-like.cf", "hardened.cf", "milter.cf"] {
        let p = shared.join(name);
        if p.exists() {
            paths.push(p);
        }
    }
    paths
        .iter()
        .map(|p| std::fs::read(p).expect("seed config"))
        .collect()
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (
            any::<usize>(),
            prop::collection::vec(
                prop_oneof![
                    any::<u8>(),
                    Just(b'$'),
                    Just(b'\t'),
                    Just(b'\n'),
                    Just(b' '),
                    Just(b'#'),
                    Just(b'{'),
                    Just(b'}'),
                    Just(b'"'),
                    Just(b'\\'),
                    Just(b'?'),
                    Just(b'='),
                    Just(0u8),
                ],
                1..8
            )
        )
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<usize>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(mut bytes: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let len = bytes.len().max(1);
        match m {
            Mutation::Flip(i, b) => {
                if !bytes.is_empty() {
                    let i = i % bytes.len();
                    bytes[i] = *b;
                }
            }
            Mutation::Insert(i, v) => {
                let i = i % len.min(bytes.len() + 1);
                bytes.splice(i..i, v.iter().copied());
            }
            Mutation::Delete(i, n) => {
                if !bytes.is_empty() {
                    let i = i % bytes.len();
                    let end = (i + n).min(bytes.len());
                    bytes.drain(i..end);
                }
            }
            Mutation::Truncate(i) => {
                let i = i % len;
                bytes.truncate(i);
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        load_any(bytes);
    }

    #[test]
    fn arbitrary_lines_of_config_alphabet(lines in prop::collection::vec(
        "[VDCFOHPTKMSREQX# \t][ -~\t$]{0,80}", 0..40)) {
        load_any(lines.join("\n").into_bytes());
    }

    #[test]
    fn mutated_real_configs(seed in 0usize..8, muts in prop::collection::vec(mutation(), 1..12)) {
        let seeds = seeds();
        let base = seeds[seed % seeds.len()].clone();
        load_any(apply(base, &muts));
    }
}

/// A limit on the whole-input cases below: far more than they need, far
/// less than a hang.
const BOUND: Duration = Duration::from_secs(20);

#[test]
fn a_one_megabyte_line() {
    for prefix in [
        &b"O SmtpGreetingMessage="[..],
        b"R",
        b"DX",
        b"Cw",
        b"H",
        b"Mx, A=",
        b"#",
        b"K",
    ] {
        let mut bytes = b"Mlocal, P=/bin/cat, A=cat\nS0\n".to_vec();
        bytes.extend_from_slice(prefix);
        bytes.extend(std::iter::repeat_n(b"$x ab\t".iter().copied(), (1 << 20) / 6).flatten());
        assert!(bytes.len() > 1 << 20, "a line of more than 1 MB");
        bytes.push(b'\n');
        let start = Instant::now();
        load_any(bytes);
        assert!(
            start.elapsed() < BOUND,
            "{:?}",
            String::from_utf8_lossy(prefix)
        );
    }
}

#[test]
fn many_continuation_lines() {
    let mut bytes = b"Mlocal, P=/bin/cat, A=cat\nHX-Long: a".to_vec();
    for _ in 0..100_000 {
        bytes.extend_from_slice(b"\n\tb");
    }
    let start = Instant::now();
    load_any(bytes);
    assert!(start.elapsed() < BOUND);
}

#[test]
fn nul_bytes_and_invalid_utf8_everywhere() {
    for seed in seeds() {
        for step in [7usize, 101, 997] {
            let mut bytes = seed.clone();
            let mut i = step;
            while i < bytes.len() {
                bytes[i] = if i % 2 == 0 { 0 } else { 0xff };
                i += step;
            }
            load_any(bytes);
        }
        for cut in (0..seed.len()).step_by(seed.len() / 50 + 1) {
            load_any(seed[..cut].to_vec());
        }
    }
}

#[test]
fn deeply_nested_conditionals() {
    let mut v = b"Mlocal, P=/bin/cat, A=cat\nDX".to_vec();
    for _ in 0..50_000 {
        v.extend_from_slice(b"$?a");
    }
    for _ in 0..50_000 {
        v.extend_from_slice(b"$.");
    }
    load_any(v);
}
