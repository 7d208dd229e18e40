//! `mtad -bt`: sendmail's address test mode on the config's own rules.
//! The engine and the command interpreter are in the `rules` crate; this
//! file gives them the host: its identity (`$j`, `$w`, `$m`, `$=w` with
//! the interface addresses, as sendmail builds them) and name lookups in
//! sendmail's order: the service switch's `hosts` methods, `files`
//! (HostsFile) and `dns` (hickory-resolver).

use cfparser::Config;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// Runs test mode on stdin and stdout.
pub fn run(config: &Config, path: &Path, verbose: bool, debug: &[String]) -> ExitCode {
    let crate::decide::Rules {
        engine,
        macros,
        resolver,
        map_problems,
        ..
    } = crate::decide::Rules::load(config, &crate::identity::host_name());
    let macros = std::sync::Arc::unwrap_or_clone(macros);
    crate::say_map_problems(path, &map_problems);
    let mut tm = rules::testmode::TestMode::new(engine, macros, &resolver);
    tm.verbose = verbose;
    for d in debug {
        let _ = tm.line(format!("-d{d}").as_bytes(), &mut std::io::sink());
    }
    let mut input = std::io::BufReader::with_capacity(1 << 16, std::io::stdin());
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 18, stdout.lock());
    let r = tm.run(&mut input, &mut out);
    let _ = out.flush();
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mtad: -bt: {e}");
            ExitCode::from(74)
        }
    }
}
