//! The command line, in sendmail's own spelling where sendmail has one
//! (`-C FILE`, `-O Name=Value`), so that an admin's habits and scripts carry
//! over.

use clap::Parser;
use std::path::PathBuf;

/// The config file sendmail reads when no -C is given.
pub const DEFAULT_CONFIG: &str = "/etc/mail/sendmail.cf";

#[derive(Debug, Parser)]
#[command(
    name = "mtad",
    version,
    about = "mtad, a mail transfer agent that reads sendmail.cf",
    disable_help_flag = false
)]
pub struct Cli {
    /// The config file to read.
    #[arg(short = 'C', value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,

    /// Set an option after the config is read, replacing the file's value
    /// (as sendmail's -O does). May be given several times.
    #[arg(short = 'O', value_name = "Name=Value")]
    pub options: Vec<String>,

    /// Load the config exactly as the daemon would, print a summary and
    /// every warning, and exit: 0 when it loads, 1 when it does not.
    #[arg(long)]
    pub check: bool,
}
