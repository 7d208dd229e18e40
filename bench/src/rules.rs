//! The ruleset engine in process: `rules-bench CF [-n ROUNDS]`.
//! Prints `3,0` resolutions per second of a mixed address set on one core,
//! and the time of one `check_rcpt` chain (the SMTP RCPT check with the
//! config's access map), as the daemon will run them.

use rules::env::{Answer, Collect, Env, Macros, Resolver};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// The system allocator, counting allocations: the engine is meant to
/// allocate almost nothing once a session is warm, and the bench says how
/// nearly it does.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Names from a hosts file, held in memory: the benchmark measures the
/// engine, not the file system.
struct Hosts(HashMap<String, String>);

impl Hosts {
    fn read(path: &str) -> Hosts {
        let mut m = HashMap::new();
        for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
            let mut w = line.split_ascii_whitespace();
            let _ = w.next();
            let names: Vec<&str> = w.collect();
            let canon = names.iter().find(|n| n.contains('.')).or(names.first());
            if let Some(c) = canon {
                for n in &names {
                    m.entry(n.to_ascii_lowercase())
                        .or_insert_with(|| c.to_string());
                }
            }
        }
        Hosts(m)
    }
}

impl Resolver for Hosts {
    fn canonical_name(&self, name: &str) -> Answer<String> {
        match self.0.get(&name.to_ascii_lowercase()) {
            Some(c) => Answer::Found(c.clone()),
            None => Answer::NotFound,
        }
    }
    fn address_name(&self, _: &str) -> Answer<String> {
        Answer::NotFound
    }
    fn mx_hosts(&self, _: &str) -> Answer<Vec<String>> {
        Answer::Found(Vec::new())
    }
    fn query(&self, _: &str, _: &str) -> Answer<Vec<String>> {
        Answer::NotFound
    }
}

const ADDRESSES: &[&str] = &[
    "user",
    "user@localhost",
    "user@remote.example.com",
    "User.Name@Mail.Lab.Example",
    "user%host@localhost",
    "host!user",
    "\"quoted local\"@example.com",
    "<@a,@b:user@c>",
    "user@[127.0.0.1]",
    "postmaster",
    "someone+detail@lab.example",
    "a.b.c@relay.example.net",
    "Real Name <real@example.org>",
    "user@host.lab.example",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let mut rounds = 20_000usize;
    let mut cf = None;
    while let Some(a) = args.next() {
        if a == "-n" {
            rounds = args.next().and_then(|n| n.parse().ok()).expect("-n ROUNDS");
        } else {
            cf = Some(a);
        }
    }
    let Some(cf) = cf else {
        eprintln!("usage: rules-bench CF [-n ROUNDS]");
        std::process::exit(64);
    };
    let opts = cfparser::LoadOptions {
        predefined: rules::builtin::predefined_macros("mail.lab.example", "d"),
        ..cfparser::LoadOptions::default()
    };
    let loaded = cfparser::load_file(std::path::Path::new(&cf), &opts).expect("config loads");
    let (mut engine, _) = rules::Engine::new(&loaded.config);
    let w = engine.rules.classes.index(b"w");
    for name in ["mail.lab.example", "mail", "[127.0.0.1]"] {
        engine.rules.classes.add(w, name.as_bytes());
    }
    let hosts = Hosts::read(
        &loaded
            .config
            .text("HostsFile")
            .unwrap_or_else(|| "/opt/ref/sendmail-etc/hosts".into()),
    );
    let mut macros = Macros::default();
    let mut out = Collect::default();
    let mut session = engine.session();

    // 3,0 of the mixed set (RULES_BENCH_CHAIN=1: the check_rcpt chain
    // only, for profiling it).
    let chain_only = std::env::var_os("RULES_BENCH_CHAIN").is_some();
    let mut n = 0usize;
    let start = Instant::now();
    for i in 0..if chain_only { 0 } else { rounds } {
        let addr = ADDRESSES[i % ADDRESSES.len()];
        let mut env = Env::new(&mut macros, &mut out, &hosts);
        let (_, r) = session.run_text(&mut env, &["3", "0"], addr.as_bytes());
        n += r.len();
        out.messages.clear();
    }
    let t = start.elapsed();
    println!(
        "3,0: {} resolutions in {:.3} s = {:.0} per second ({:.2} us each; {} addresses; {n} bytes out)",
        rounds,
        t.as_secs_f64(),
        rounds as f64 / t.as_secs_f64(),
        t.as_secs_f64() * 1e6 / rounds as f64,
        ADDRESSES.len()
    );

    // check_rcpt with delay_checks, from a client outside.
    macros.set(b"client_addr", b"192.0.2.99");
    macros.set(b"client_name", b"evil.example.com");
    macros.set(b"client_resolve", b"FAIL");
    macros.set(b"f", b"sender@example.org");
    macros.set(b"mail_from", b"<sender@example.org>");
    macros.set(b"mail_mailer", b"esmtp");
    macros.set(b"mail_host", b"example.org");
    let rcpts = [
        "<user@remote.example.com>",
        "<user@lab.example>",
        "<postmaster@mail.lab.example>",
    ];
    // Timed in batches: on a shared machine a batch that another process
    // interrupted is an outlier, and the median of the batches is the
    // engine's own time; the mean is printed beside it.
    let chain = (rounds / 4).max(100);
    let batch = 100;
    let mut batches = Vec::new();
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    let start = Instant::now();
    let mut last = Vec::new();
    for b in 0..chain.div_ceil(batch) {
        let t = Instant::now();
        let runs = batch.min(chain - b * batch);
        for i in 0..runs {
            let mut env = Env::new(&mut macros, &mut out, &hosts);
            let rcpt = rcpts[(b * batch + i) % rcpts.len()];
            let (_, r) = session.run_text(&mut env, &["check_rcpt"], rcpt.as_bytes());
            last = r;
            out.messages.clear();
        }
        batches.push(t.elapsed().as_secs_f64() * 1e6 / runs as f64);
    }
    let mean = start.elapsed().as_secs_f64() * 1e6 / chain as f64;
    let allocations = (ALLOCATIONS.load(Ordering::Relaxed) - allocations) / chain;
    batches.sort_by(f64::total_cmp);
    println!(
        "check_rcpt chain: {:.2} us each, median of {} batches of {batch} (mean {mean:.2} us; \
         {allocations} allocations each; last answer {})",
        batches[batches.len() / 2],
        batches.len(),
        String::from_utf8_lossy(&last)
    );
}
