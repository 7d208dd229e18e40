//! mtad: a mail transfer agent that reads the site's sendmail.cf.

mod agent;
mod aliases;
mod check;
mod cli;
mod clock;
mod daemon;
mod deliver;
mod dns;
mod identity;
mod macros;
mod policy;
mod privilege;
mod queue;
mod route;
mod runner;
mod server;
mod settings;
mod smtp;
mod tls;

use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let opts = cfparser::LoadOptions {
        overrides: cli.options.clone(),
        predefined: identity::predefined_macros(&identity::host_name()),
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
    if cli.check {
        say(&mut std::io::stdout(), &check::summary(&loaded));
        return ExitCode::SUCCESS;
    }
    match cli.mode.as_deref() {
        Some("D") => daemon::run(loaded, false),
        Some("d") => daemon::run(loaded, true),
        Some("p") => list_queue(&loaded.config),
        _ => {
            say(
                &mut std::io::stderr(),
                "mtad: say what to do: -bD (daemon in the foreground), -bd (detached), -bp (list the queue) or --check",
            );
            ExitCode::from(64)
        }
    }
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

/// Writes a line; a closed pipe (`mtad --check | head`) is not worth a
/// panic.
pub(crate) fn say(out: &mut impl Write, text: &str) {
    let _ = writeln!(out, "{text}");
}
