//! mtactl: the admin's command for a running mtad.

use clap::{Parser, Subcommand};
use mtactl::protocol::{self, Request, Response};
use std::io::BufReader;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit statuses, distinct so that scripts can tell the cases apart.
mod exit {
    /// The request failed.
    pub const FAILED: u8 = 1;
    /// The daemon is not running (no socket, or nobody listening).
    pub const NOT_RUNNING: u8 = 3;
    /// The caller may not do this.
    pub const PERMISSION: u8 = 4;
    /// The config could not be read to find the socket.
    pub const CONFIG: u8 = 6;
}

#[derive(Debug, Parser)]
#[command(name = "mtactl", version, about = "Control a running mtad")]
struct Cli {
    /// Find the control socket from this config (ControlSocketName).
    #[arg(
        short = 'C',
        value_name = "FILE",
        default_value = "/etc/mail/sendmail.cf"
    )]
    config: PathBuf,
    /// The control socket itself; overrides -C.
    #[arg(short = 'S', value_name = "PATH")]
    socket: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// pid, version, uptime, listening addresses, config file.
    Status,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let socket = match &cli.socket {
        Some(s) => s.clone(),
        None => match socket_from_config(&cli.config) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("mtactl: {e}");
                return ExitCode::from(exit::CONFIG);
            }
        },
    };
    match cli.command {
        Command::Status => run(&socket, Request::Status),
    }
}

/// ControlSocketName from the config, or mtad's default.
fn socket_from_config(config: &Path) -> Result<PathBuf, String> {
    let loaded = cfparser::load_file(
        config,
        &cfparser::LoadOptions {
            read_class_sources: false,
            ..Default::default()
        },
    )
    .map_err(|e| format!("cannot find the control socket:\n{e}"))?;
    Ok(loaded
        .config
        .text("ControlSocketName")
        .filter(|s| !s.is_empty())
        .map_or_else(|| PathBuf::from(protocol::DEFAULT_SOCKET), PathBuf::from))
}

fn run(socket: &Path, request: Request) -> ExitCode {
    let stream = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e) => {
            let code = match e.kind() {
                std::io::ErrorKind::PermissionDenied => exit::PERMISSION,
                _ => exit::NOT_RUNNING,
            };
            if code == exit::NOT_RUNNING {
                eprintln!(
                    "mtactl: mtad is not running (cannot connect to {}: {e})",
                    socket.display()
                );
            } else {
                eprintln!("mtactl: permission denied on {}", socket.display());
            }
            return ExitCode::from(code);
        }
    };
    let mut writer = &stream;
    let mut reader = BufReader::new(&stream);
    let mut exchange = || -> Result<Response, protocol::FrameError> {
        protocol::write_message(
            &mut writer,
            &Request::Hello {
                version: protocol::VERSION,
            },
        )?;
        let _hello: Response = protocol::read_message(&mut reader)?;
        protocol::write_message(&mut writer, &request)?;
        protocol::read_message(&mut reader)
    };
    match exchange() {
        Ok(Response::Status(s)) => {
            println!("pid:        {}", s.pid);
            println!("version:    {}", s.version);
            println!("uptime:     {}s", s.uptime_secs);
            println!("listening:  {}", s.listeners.join(", "));
            println!(
                "config:     {} (loaded at {})",
                s.config_file, s.config_loaded_at
            );
            ExitCode::SUCCESS
        }
        Ok(Response::Error { code, message }) => {
            eprintln!("mtactl: {message}");
            ExitCode::from(match code {
                protocol::ErrorCode::PermissionDenied => exit::PERMISSION,
                _ => exit::FAILED,
            })
        }
        Ok(other) => {
            eprintln!("mtactl: unexpected answer from mtad: {other:?}");
            ExitCode::from(exit::FAILED)
        }
        Err(e) => {
            eprintln!("mtactl: {e}");
            ExitCode::from(exit::FAILED)
        }
    }
}
