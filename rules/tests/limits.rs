//! Hostile and broken rules end with sendmail's message and status, never
//! a panic, an endless loop or unbounded memory.

use rules::env::{Collect, Env, Macros, NoResolver};
use std::path::Path;

fn run(rules: &str, set: &str, input: &str) -> (i32, String, Vec<String>) {
    let text = format!(
        "V10/Berkeley\nO OperatorChars=.:%@!^/[]+\nMlocal, P=/bin/cat, F=l, A=cat\n{rules}\n"
    );
    let loaded = cfparser::load_bytes(Path::new("t.cf"), text.into_bytes(), &Default::default())
        .expect("config loads");
    let (engine, _) = rules::Engine::new(&loaded.config);
    let mut session = engine.session();
    let mut macros = Macros::default();
    let mut out = Collect::default();
    let mut env = Env::new(&mut macros, &mut out, &NoResolver);
    let (status, result) = session.run_text(&mut env, &[set], input.as_bytes());
    let msgs = out
        .messages
        .iter()
        .map(|m| String::from_utf8_lossy(&m.test_mode_line()).into_owned())
        .collect();
    (status, String::from_utf8_lossy(&result).into_owned(), msgs)
}

#[test]
fn a_rule_that_matches_forever_stops_after_100() {
    let (status, result, msgs) = run("SLoop\nR$*\t$1", "Loop", "a");
    assert_eq!(status, 0);
    assert_eq!(result, "a");
    assert_eq!(msgs, ["Infinite loop in ruleset Loop, rule 1"]);
}

#[test]
fn recursion_stops_at_50() {
    let (status, _, msgs) = run("SDeep\nR$*\t$@ $>Deep $1", "Deep", "a");
    assert_eq!(status, 78);
    assert!(
        msgs.iter()
            .any(|m| m == "rewrite: excessive recursion (max 50), ruleset Deep"),
        "{msgs:?}"
    );
}

#[test]
fn growth_past_maxatom_is_expansion_too_long() {
    let (status, _, msgs) = run("SGrow\nR$*\t$1 $1", "Grow", "a");
    assert_eq!(status, 65);
    assert!(
        msgs.iter().any(|m| m == "rewrite: expansion too long"),
        "{msgs:?}"
    );
}

#[test]
fn an_unknown_ruleset_is_a_config_error() {
    let (status, _, msgs) = run("SCall\nR$*\t$: $>Nowhere $1", "Call", "a");
    assert_eq!(status, 78);
    assert!(
        msgs.iter().any(|m| m == "Unknown ruleset Nowhere"),
        "{msgs:?}"
    );
}

#[test]
fn sixteen_calls_are_too_many() {
    let calls = "$>E ".repeat(16);
    let (status, _, msgs) = run(
        &format!("SE\nR$*\t$@ $1\nSMany\nR$*\t$: {calls}$1"),
        "Many",
        "a",
    );
    assert_eq!(status, 78);
    assert!(
        msgs.iter()
            .any(|m| m == "Too many subroutine calls (16 max)"),
        "{msgs:?}"
    );
}

#[test]
fn backtracking_binds_leftmost_shortest() {
    let (_, result, _) = run("SB\nR$* . $*\t$@ <$1> <$2>", "B", "a.b.c");
    assert_eq!(result, "<a><b.c>");
    let (_, result, _) = run("SB\nR$+ @ $+\t$@ <$1> <$2>", "B", "a@b@c");
    assert_eq!(result, "<a><b@c>");
    // Literals match without case; bindings keep it.
    let (_, result, _) = run("SB\nR$* < @ localhost > $*\t$@ $1", "B", "User<@LOCALHOST>");
    assert_eq!(result, "User");
}

#[test]
fn a_replacement_beyond_the_wildcards_fails_when_used() {
    let (status, _, msgs) = run("SR\nR$*\t$@ $2", "R", "a");
    assert_eq!(status, 78);
    assert!(
        msgs.iter()
            .any(|m| m == "rewrite: ruleset R: replacement $2 out of bounds"),
        "{msgs:?}"
    );
}

/// Found by the testmode fuzz target: a `$=X` or `$&x` byte from outside,
/// with an id no class has, in a traced workspace.
#[test]
fn metabytes_from_outside_print_without_a_panic() {
    let text = "V10/Berkeley\nMlocal, P=/bin/cat, F=l, A=cat\nMsmtp, P=[IPC], F=mDFMuX, S=E, R=E, A=TCP $h\nS3\nR$*\t$@ $1\nSE\nR$*\t$@ $1\nScheck_rcpt\nR$*\t$: $&{client_addr} $| $1\n";
    let loaded = cfparser::load_bytes(
        Path::new("t.cf"),
        text.as_bytes().to_vec(),
        &Default::default(),
    )
    .expect("config loads");
    let (engine, _) = rules::Engine::new(&loaded.config);
    let mut tm = rules::testmode::TestMode::new(engine, Macros::default(), &NoResolver);
    let mut out = Vec::new();
    for line in [
        &b"/try smtp \x82\x95"[..],
        b"/try smtp \x80\x81\x82\x93\x94\x95\x9b\x9f\xff user@host",
        b".D{client_addr}$\xe2",
        b"check_rcpt r@o",
        b"3,0 use\0\0\0",
    ] {
        tm.line(line, &mut out).expect("a line");
    }
    assert!(!out.is_empty());
}
