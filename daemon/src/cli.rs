//! The command line, in sendmail's own spelling where sendmail has one
//! (`-C FILE`, `-O Name=Value`, `-bD`, `-bd`, `-bp`, `-bi`, `-bh`), so that an admin's
//! habits and scripts carry over.

use clap::Parser;
use std::path::PathBuf;

/// The config file sendmail reads when no -C is given.
pub const DEFAULT_CONFIG: &str = "/etc/mail/sendmail.cf";

#[derive(Debug, Parser)]
#[command(
    name = "mtad",
    version,
    about = "mtad, a mail transfer agent that reads sendmail.cf"
)]
pub struct Cli {
    /// The config file to read.
    #[arg(short = 'C', value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,

    /// Set an option after the config is read, replacing the file's value
    /// (as sendmail's -O does). May be given several times.
    #[arg(short = 'O', value_name = "Name=Value")]
    pub options: Vec<String>,

    /// Mode, as sendmail's -b: D runs the daemon in the foreground, d
    /// detaches it (writing PidFile), p lists the queue, i builds the
    /// alias database (newaliases), h shows the host status (hoststat),
    /// t is address test mode.
    #[arg(short = 'b', value_name = "MODE", value_parser = ["D", "d", "p", "i", "h", "t"])]
    pub mode: Option<String>,

    /// Debugging, as sendmail's -d: with -bt, `-d21.12` traces every rule
    /// tried, matched and rewritten.
    #[arg(short = 'd', value_name = "CATEGORY.LEVEL")]
    pub debug: Vec<String>,

    /// With -bD/-bd: run the queue at this interval (`-q30m`; units s, m,
    /// h, d, w; a bare number is minutes), as sendmail's -q does. Without
    /// it, queued mail is delivered when it arrives (DeliveryMode
    /// background) and on ETRN, and nothing is retried.
    #[arg(short = 'q', value_name = "INTERVAL")]
    pub queue_interval: Option<String>,

    /// Verbose: in the foreground (-bD), mirror the log to stderr (as
    /// Mtad.LogStderr does).
    #[arg(short = 'v')]
    pub verbose: bool,

    /// Load the config exactly as the daemon would, print a summary and
    /// every warning, and exit: 0 when it loads, 1 when it does not.
    #[arg(long)]
    pub check: bool,

    /// Internal: serve delivery requests on stdin as the delivery agent
    /// (the daemon starts it; see agent/mod.rs).
    #[arg(long, hide = true)]
    pub delivery_agent: bool,
}
