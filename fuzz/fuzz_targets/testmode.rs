//! Address test mode (`-bt`) on arbitrary input: the bytes split into
//! lines, each given to `TestMode::line` on hardened.cf (its maps under
//! /opt/ref), until `/quit`. What a line may change (macros with `.D`
//! and `/tryflags`, classes with `.C`, `-d`) is put back before each
//! input, so an input means the same whatever ran before it and state
//! cannot grow without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rules::address::Flags;
use rules::classes::Classes;
use rules::env::{Macros, NoResolver};
use rules::testmode::TestMode;
use std::cell::RefCell;

const CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/fixtures/sendmail-cf/hardened.cf"
);

static RESOLVER: NoResolver = NoResolver;

struct State {
    tm: TestMode<'static>,
    macros: Macros,
    classes: Classes,
}

fn build() -> State {
    let opts = cfparser::LoadOptions {
        predefined: rules::builtin::predefined_macros("mail.lab.example", "d"),
        ..Default::default()
    };
    let loaded = cfparser::load_file(std::path::Path::new(CONFIG), &opts)
        .unwrap_or_else(|e| panic!("{CONFIG}: {e:?}"));
    let config = loaded.config;
    let engine = rules::Engine::new(&config).0;
    let mut macros = Macros::default();
    for (name, def) in &config.macros {
        macros.set(
            &rules::compile::latin1(&name.0),
            &rules::compile::latin1(&def.value.to_string()),
        );
    }
    let tm = TestMode::new(engine, macros, &RESOLVER);
    State {
        macros: tm.macros.clone(),
        classes: tm.engine.rules.classes.clone(),
        tm,
    }
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(build());
}

fuzz_target!(|data: &[u8]| {
    STATE.with(|s| {
        let s = &mut *s.borrow_mut();
        s.tm.macros = s.macros.clone();
        s.tm.engine.rules.classes = s.classes.clone();
        s.tm.tryflags = Flags::default();
        s.tm.verbose = false;
        s.tm.debug = 0;
        let mut out = std::io::sink();
        for line in data.split(|&c| c == b'\n') {
            match s.tm.line(line, &mut out) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => panic!("write to sink failed: {e}"),
            }
        }
    });
});
