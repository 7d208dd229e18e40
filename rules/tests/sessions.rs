//! A session keeps run-time tokens and scans from call to call: the
//! answers must be those of a fresh session every time, across thousands
//! of calls, changing macros, and buffers carried to another engine.

use rules::env::{Collect, Env, Macros, NoResolver};
use std::path::Path;

fn engine(rules: &str) -> rules::Engine {
    let text = format!(
        "V10/Berkeley\nO OperatorChars=.:%@!^/[]+\nMlocal, P=/bin/cat, F=l, A=cat\n{rules}\n"
    );
    let loaded = cfparser::load_bytes(Path::new("t.cf"), text.into_bytes(), &Default::default())
        .expect("config loads");
    rules::Engine::new(&loaded.config).0
}

fn run(session: &mut rules::Session<'_>, macros: &mut Macros, set: &str, input: &str) -> String {
    let mut out = Collect::default();
    let mut env = Env::new(macros, &mut out, &NoResolver);
    let (_, result) = session.run_text(&mut env, &[set], input.as_bytes());
    String::from_utf8_lossy(&result).into_owned()
}

#[test]
fn a_warm_session_answers_as_a_fresh_one() {
    let e = engine("SSwap\nR$+ @ $+\t$@ $2 . $1\nR$*\t$@ <$1>");
    let mut warm = e.session();
    let mut macros = Macros::default();
    // Enough distinct tokens that the kept table starts over at least once.
    for i in 0..6000 {
        let input = if i % 2 == 0 {
            format!("user{i}@host{i}")
        } else {
            format!("Only{i}")
        };
        let got = run(&mut warm, &mut macros, "Swap", &input);
        let want = run(&mut e.session(), &mut macros, "Swap", &input);
        assert_eq!(got, want, "{input}");
    }
    assert_eq!(run(&mut warm, &mut macros, "Swap", "a@b"), "b.a");
}

#[test]
fn a_macro_value_is_scanned_again_when_it_changes() {
    let e = engine("SShow\nR$*\t$@ $&x + $1");
    let mut s = e.session();
    let mut macros = Macros::default();
    for v in ["a.b", "c@d", "a.b", "", "x y"] {
        macros.set(b"x", v.as_bytes());
        let want = run(&mut e.session(), &mut macros, "Show", "in");
        assert_eq!(run(&mut s, &mut macros, "Show", "in"), want, "x={v}");
    }
}

#[test]
fn buffers_from_another_engine_keep_nothing_of_it() {
    // The second engine has more tokens of its own: a run-time token
    // numbered by the first would name one of them.
    let small = engine("SEcho\nR$*\t$@ $1");
    let big =
        engine("SEcho\nR$*\t$@ $1\nSOther\nR one two three four five six\t$@ seven eight nine");
    let mut macros = Macros::default();
    let mut s = small.session();
    assert_eq!(run(&mut s, &mut macros, "Echo", "zzz yyy"), "zzz yyy");
    let mut moved = big.session_with(s.into_buffers());
    assert_eq!(run(&mut moved, &mut macros, "Echo", "zzz yyy"), "zzz yyy");
    // And back to the same engine: nothing is lost.
    let mut again = big.session_with(moved.into_buffers());
    assert_eq!(run(&mut again, &mut macros, "Echo", "yyy zzz"), "yyy zzz");
}
