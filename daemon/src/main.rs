//! mtad: a mail transfer agent that reads the site's sendmail.cf.

mod check;
mod cli;
mod identity;

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
    for w in &loaded.warnings {
        say(&mut std::io::stderr(), &w.to_string());
    }
    if cli.check {
        say(&mut std::io::stdout(), &check::summary(&loaded));
        return ExitCode::SUCCESS;
    }
    say(
        &mut std::io::stderr(),
        "mtad: the daemon itself is not built yet; use --check to test a config",
    );
    ExitCode::from(2)
}

/// Writes a line; a closed pipe (`mtad --check | head`) is not worth a
/// panic.
fn say(out: &mut impl Write, text: &str) {
    let _ = writeln!(out, "{text}");
}
