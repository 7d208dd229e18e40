//! Real rulesets on arbitrary addresses: two real configs
//! (../../shared/fixtures/sendmail-cf/{hardened,debian-like}.cf, their
//! maps under /opt/ref), loaded once. The first byte picks the config
//! (bit 0) and the ruleset list (the rest); the remainder is
//! `address \0 client_addr \0 client_name \0 auth_type` (the macro parts
//! optional), the address run through `Session::run_text`.
//!
//! It must never panic, hang or take unbounded memory; the result must
//! fit cataddr's buffer, the status must be one rewrite() returns, and a
//! session reused from input to input must answer as a fresh one does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rules::env::{Collect, Env, Macros, NoResolver};
use rules::{Engine, Session};
use std::cell::RefCell;
use std::sync::OnceLock;

const CONFIGS: [&str; 2] = [
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/sendmail-cf/hardened.cf"
    ),
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/sendmail-cf/debian-like.cf"
    ),
];

/// Ruleset lists tried; those naming a ruleset a config lacks are left
/// out for that config.
const LISTS: &[&[&str]] = &[
    &["3", "0"],
    &["canonify", "parse"],
    &["check_rcpt"],
    &["check_mail"],
    &["check_relay"],
    &["Local_check_rcpt"],
    &["Local_check_mail"],
    &["Local_check_relay"],
    &["Basic_check_rcpt"],
    &["Basic_check_mail"],
    &["Basic_check_relay"],
    &["3", "1", "4"],
    &["3", "2", "4"],
    &["3", "EnvFromSMTP", "4"],
    &["3", "EnvToSMTP", "4"],
    &["3", "HdrFromSMTP", "4"],
    &["3", "MasqHdr", "4"],
    &["3", "MasqEnv", "4"],
    &["3", "Mailertable"],
    &["5"],
    &["ParseRecipient"],
    &["CanonAddr"],
    &["SearchList"],
    &["Rcpt_ok"],
    &["Relay_ok"],
    &["trust_auth"],
    &["srv_features"],
    &["clt_features"],
    &["try_tls"],
    &["tls_rcpt"],
    &["tls_client"],
    &["tls_server"],
    &["authinfo"],
    &["D"],
    &["A"],
    &["E"],
    &["F"],
    &["U"],
];

struct Loaded {
    engine: Engine,
    macros: Macros,
    lists: Vec<&'static [&'static str]>,
}

fn load(path: &str) -> Loaded {
    let opts = cfparser::LoadOptions {
        predefined: rules::builtin::predefined_macros("mail.lab.example", "d"),
        ..Default::default()
    };
    let loaded = cfparser::load_file(std::path::Path::new(path), &opts)
        .unwrap_or_else(|e| panic!("{path}: {e:?}"));
    let config = loaded.config;
    let engine = Engine::new(&config).0;
    let mut macros = Macros::default();
    for (name, def) in &config.macros {
        macros.set(
            &rules::compile::latin1(&name.0),
            &rules::compile::latin1(&def.value.to_string()),
        );
    }
    let lists: Vec<_> = LISTS
        .iter()
        .copied()
        .filter(|l| l.iter().all(|n| engine.rules.find(n).is_some()))
        .collect();
    assert!(
        lists.len() >= 6,
        "{path}: only {} ruleset lists",
        lists.len()
    );
    Loaded {
        engine,
        macros,
        lists,
    }
}

fn configs() -> &'static [Loaded; 2] {
    static C: OnceLock<[Loaded; 2]> = OnceLock::new();
    C.get_or_init(|| [load(CONFIGS[0]), load(CONFIGS[1])])
}

thread_local! {
    /// One long-lived session per config, as a daemon thread keeps one.
    static SESSIONS: RefCell<Vec<Session<'static>>> =
        RefCell::new(configs().iter().map(|c| c.engine.session()).collect());
}

fn run(
    session: &mut Session<'_>,
    macros: &Macros,
    list: &[&str],
    addr: &[u8],
) -> (i32, Vec<u8>, usize) {
    let mut macros = macros.clone();
    let mut out = Collect::default();
    let mut env = Env {
        macros: &mut macros,
        out: &mut out,
        resolver: &NoResolver,
        defer: false,
        message: None,
        quiet: false,
    };
    let (status, text) = session.run_text(&mut env, list, addr);
    for m in &out.messages {
        let _ = m.test_mode_line();
    }
    (status, text, out.messages.len())
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let ci = (sel & 1) as usize;
    let cfg = &configs()[ci];
    let list = cfg.lists[(sel as usize >> 1) % cfg.lists.len()];

    let mut parts = rest.split(|&c| c == 0);
    let addr = parts.next().unwrap_or_default();
    let mut macros = cfg.macros.clone();
    for name in [&b"client_addr"[..], b"client_name", b"auth_type"] {
        if let Some(v) = parts.next() {
            macros.set(name, v);
        }
    }

    let (status, text, nmsgs) =
        SESSIONS.with(|s| run(&mut s.borrow_mut()[ci], &macros, list, addr));
    assert!(
        matches!(status, 0 | 64 | 65 | 68 | 69 | 70 | 75 | 78),
        "status {status}"
    );
    assert!(text.len() <= 4094, "result of {} bytes", text.len());

    // A fresh session says the same: nothing leaks from call to call.
    let mut fresh = cfg.engine.session();
    let (status2, text2, nmsgs2) = run(&mut fresh, &macros, list, addr);
    assert_eq!(status, status2, "status differs on a fresh session");
    assert_eq!(text, text2, "result differs on a fresh session");
    assert_eq!(nmsgs, nmsgs2, "messages differ on a fresh session");
});
