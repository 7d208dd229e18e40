//! mtad: a mail transfer agent that reads the site's sendmail.cf.

mod check;
mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let opts = cfparser::LoadOptions {
        overrides: cli.options.clone(),
        ..cfparser::LoadOptions::default()
    };
    let result = cfparser::load_file(&cli.config, &opts);
    if cli.check {
        return match result {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    eprintln!("{w}");
                }
                println!("{}", check::summary(&loaded));
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{}", check::failure(&errors));
                ExitCode::from(1)
            }
        };
    }
    match result {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("{w}");
            }
            eprintln!("mtad: the daemon itself is not built yet; use --check to test a config");
            ExitCode::from(2)
        }
        Err(errors) => {
            eprintln!("{}", check::failure(&errors));
            ExitCode::from(1)
        }
    }
}
