//! mtad: a mail transfer agent that reads the site's sendmail.cf.

mod agent;
mod aliases;
mod check;
mod cli;
mod clients;
mod clock;
mod control;
mod daemon;
mod decide;
mod deliver;
mod dns;
mod identity;
mod live;
mod log;
mod macros;
mod policy;
mod privilege;
mod queue;
mod route;
mod runner;
mod server;
mod settings;
mod smtp;
mod stats;
mod systemd;
mod testmode;
mod tls;

use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // ${opMode} is known when the rules are read (sendmail expands it in
    // R lines then): t in test mode, d for a daemon, i otherwise.
    let op_mode = match cli.mode.as_deref() {
        Some("t") => "t",
        Some("D" | "d") => "d",
        Some(m) => m,
        None => "i",
    };
    let predefined = rules::builtin::predefined_macros(&identity::host_name(), op_mode);
    let opts = cfparser::LoadOptions {
        overrides: cli.options.clone(),
        predefined,
        ..cfparser::LoadOptions::default()
    };
    let loaded = match cfparser::load_file(&cli.config, &opts) {
        Ok(loaded) => loaded,
        Err(errors) => {
            say(&mut std::io::stderr(), &check::failure(&errors));
            return ExitCode::from(1);
        }
    };
    if cli.delivery_agent {
        return agent::serve(&loaded.config);
    }
    for w in &loaded.warnings {
        say(&mut std::io::stderr(), &w.to_string());
    }
    // K lines whose class mtad does not have: said now, with their line;
    // their lookups fail temporarily, never as "not found". Test mode opens
    // the maps once, for its engine, and says them there.
    let test_mode = cli.mode.as_deref() == Some("t");
    if cli.check || !test_mode {
        let (_, map_problems) = rules::Maps::from_config(&loaded.config);
        say_map_problems(&cli.config, &map_problems);
    }
    if cli.check {
        say(&mut std::io::stdout(), &check::summary(&loaded));
        return ExitCode::SUCCESS;
    }
    let interval = match cli.queue_interval.as_deref().map(queue_interval) {
        None => None,
        Some(Ok(d)) => Some(d),
        Some(Err(e)) => {
            say(&mut std::io::stderr(), &format!("mtad: -q: {e}"));
            return ExitCode::from(64);
        }
    };
    match cli.mode.as_deref() {
        Some("D") => {
            log::init(&loaded.config, cli.verbose);
            daemon::run(loaded, &cli.config, opts, false, interval)
        }
        Some("d") => {
            log::init(&loaded.config, false);
            daemon::run(loaded, &cli.config, opts, true, interval)
        }
        Some("t") => testmode::run(&loaded.config, &cli.config, cli.verbose, &cli.debug),
        Some("p") => list_queue(&loaded.config),
        Some("i") => new_aliases(&loaded.config),
        Some("h") => host_status(&loaded.config),
        _ => {
            say(
                &mut std::io::stderr(),
                "mtad: say what to do: -bD (daemon in the foreground), -bd (detached), -bp (list the queue), -bi (build the alias database), -bh (host status) or --check",
            );
            ExitCode::from(64)
        }
    }
}

/// Says each map problem as `file:line: warning: message`.
pub(crate) fn say_map_problems(config: &std::path::Path, problems: &[rules::MapProblem]) {
    for p in problems {
        say(
            &mut std::io::stderr(),
            &format!("{}:{}: warning: {}", config.display(), p.line, p.message),
        );
    }
}

/// `-q` INTERVAL: sendmail's time units, minutes when none is given; at
/// least a second.
fn queue_interval(v: &str) -> Result<std::time::Duration, String> {
    use cfparser::options::{Unit, value::parse_duration};
    let d = parse_duration(v, Unit::Minutes).map_err(|e| format!("{v}: {}", e.message))?;
    if d < std::time::Duration::from_secs(1) {
        return Err(format!("{v}: the interval must be at least one second"));
    }
    Ok(d)
}

/// `mtad -bp`: the queue in sendmail's mailq layout.
fn list_queue(config: &cfparser::Config) -> ExitCode {
    let dir = config
        .text("QueueDirectory")
        .unwrap_or_else(|| "/var/spool/mqueue".into());
    match queue::store::list(std::path::Path::new(&dir)) {
        Ok(entries) => {
            say(
                &mut std::io::stdout(),
                queue::mailq::format(&dir, &entries).trim_end(),
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            say(&mut std::io::stderr(), &format!("mtad: {e}"));
            ExitCode::from(74)
        }
    }
}

/// `mtad -bh` (sendmail's hoststat): the last result per host, in
/// sendmail's layout.
fn host_status(config: &cfparser::Config) -> ExitCode {
    let dir = config
        .text("QueueDirectory")
        .unwrap_or_else(|| "/var/spool/mqueue".into());
    match queue::store::hosts(std::path::Path::new(&dir)) {
        Ok(rows) => {
            say(
                &mut std::io::stdout(),
                queue::mailq::hoststat(&rows, clock::now()).trim_end(),
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            say(&mut std::io::stderr(), &format!("mtad: {e}"));
            ExitCode::from(74)
        }
    }
}

/// `mtad -bi` (sendmail's newaliases): compiles every AliasFile, with
/// sendmail's report line for each and every problem found in it.
fn new_aliases(config: &cfparser::Config) -> ExitCode {
    let sources = aliases::Aliases::sources(config);
    if sources.is_empty() {
        say(
            &mut std::io::stderr(),
            "mtad: -bi: the config names no AliasFile",
        );
        return ExitCode::from(78);
    }
    let mut status = ExitCode::SUCCESS;
    for source in sources {
        let file = match aliases::AliasFile::read(&source) {
            Ok(f) => f,
            Err(e) => {
                say(
                    &mut std::io::stderr(),
                    &format!("mtad: cannot open {}: {e}", source.display()),
                );
                status = ExitCode::from(66);
                continue;
            }
        };
        for w in &file.warnings {
            say(&mut std::io::stderr(), w);
        }
        match aliases::compiled::build(&source, &file) {
            Ok(b) => say(
                &mut std::io::stdout(),
                &format!(
                    "{}: {} aliases, longest {} bytes, {} bytes total",
                    source.display(),
                    b.aliases,
                    b.longest,
                    b.total
                ),
            ),
            Err(e) => {
                say(&mut std::io::stderr(), &format!("mtad: {e}"));
                status = ExitCode::from(73);
            }
        }
    }
    status
}

/// Writes a line; a closed pipe (`mtad --check | head`) is not worth a
/// panic.
pub(crate) fn say(out: &mut impl Write, text: &str) {
    let _ = writeln!(out, "{text}");
}

#[cfg(test)]
mod tests {
    use super::queue_interval;
    use std::time::Duration;

    #[test]
    fn queue_intervals_as_sendmail_reads_them() {
        assert_eq!(queue_interval("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(queue_interval("15"), Ok(Duration::from_secs(900)));
        assert_eq!(queue_interval("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(queue_interval("10s"), Ok(Duration::from_secs(10)));
        assert!(queue_interval("0").is_err());
        assert!(queue_interval("soon").is_err());
    }
}
