//! Times loading configs in process, as the daemon loads them at start and
//! on reload: `cf-load-bench [-n RUNS] FILE...`. Prints, per file, its size,
//! what it holds, and the fastest and median load time.

use std::path::PathBuf;
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut runs = 200usize;
    let mut files = Vec::new();
    while let Some(a) = args.next() {
        if a == "-n" {
            runs = args.next().and_then(|n| n.parse().ok()).expect("-n RUNS");
        } else {
            files.push(PathBuf::from(a));
        }
    }
    if files.is_empty() {
        eprintln!("usage: cf-load-bench [-n RUNS] FILE...");
        std::process::exit(64);
    }
    let opts = cfparser::LoadOptions::default();
    for file in files {
        let bytes = std::fs::read(&file).expect("read config");
        let mut times: Vec<Duration> = Vec::with_capacity(runs);
        let mut last = None;
        for _ in 0..runs + runs / 10 {
            let start = Instant::now();
            let loaded = cfparser::load_bytes(&file, bytes.clone(), &opts);
            times.push(start.elapsed());
            last = Some(loaded);
        }
        // The first tenth warms caches and is dropped.
        let mut times = times.split_off(runs / 10);
        times.sort();
        let config = match last {
            Some(Ok(l)) => l.config,
            Some(Err(e)) => panic!("{} does not load:\n{e}", file.display()),
            None => unreachable!(),
        };
        println!(
            "{}: {} bytes, {} lines, {} rulesets, {} rules: best {:.3} ms, median {:.3} ms ({} runs)",
            file.display(),
            bytes.len(),
            bytes.iter().filter(|&&b| b == b'\n').count(),
            config.rulesets.len(),
            config.rule_count(),
            ms(times[0]),
            ms(times[times.len() / 2]),
            times.len()
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
