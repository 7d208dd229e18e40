//! mtactl: the admin's command for a running mtad.

use clap::{Args, Parser, Subcommand};
use mtactl::protocol::{self, QueueAction, QueueEntry, Request, Response};
use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit statuses, distinct so that scripts can tell the cases apart.
mod exit {
    /// The request failed.
    pub const FAILED: u8 = 1;
    /// The command line was wrong.
    pub const USAGE: u8 = 2;
    /// The daemon is not running (no socket, or nobody listening).
    pub const NOT_RUNNING: u8 = 3;
    /// The caller may not do this.
    pub const PERMISSION: u8 = 4;
    /// A queue ID that does not exist.
    pub const NOT_FOUND: u8 = 5;
    /// The config could not be read to find the socket.
    pub const CONFIG: u8 = 6;
    /// `reload`: the config has errors; the daemon keeps the old one.
    pub const RELOAD_REFUSED: u8 = 7;
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
    /// Re-read the config: every error (file:line:column) if it does not
    /// load, and the old one stays; else what changed and what needs a
    /// restart.
    Reload,
    /// sendmail's mailstats counters (per mailer: messages and bytes from
    /// and to, rejected, discarded; connections in, out, rejected), the
    /// queue by state, active sessions and uptime.
    Stats {
        #[arg(long)]
        json: bool,
        /// Zero the counters (they are kept in StatusFile across restarts).
        #[arg(long)]
        reset: bool,
    },
    /// The last result per host (sendmail's hoststat).
    Hosts {
        #[arg(long)]
        json: bool,
    },
    /// The queue as sendmail's mailq shows it; `queue show|flush|hold|
    /// release|delete` act on messages.
    Queue(QueueArgs),
}

#[derive(Debug, Args)]
struct QueueArgs {
    #[command(subcommand)]
    action: Option<QueueCommand>,
    /// One JSON object per message (postqueue -j's field names).
    #[arg(long)]
    json: bool,
    /// Only messages from this sender (substring, any case).
    #[arg(long, value_name = "ADDR")]
    sender: Option<String>,
    /// Only messages with a recipient matching this (substring, any case).
    #[arg(long, value_name = "ADDR")]
    recipient: Option<String>,
    /// Only messages with a recipient at this domain.
    #[arg(long, value_name = "DOMAIN")]
    domain: Option<String>,
    /// Only messages older than this (30m, 2h, 1d; bare numbers: seconds).
    #[arg(long, value_name = "AGE")]
    older_than: Option<String>,
    /// Only messages younger than this.
    #[arg(long, value_name = "AGE")]
    younger_than: Option<String>,
}

#[derive(Debug, Subcommand)]
enum QueueCommand {
    /// One message: envelope, recipients with their state and last
    /// replies, headers; the body with --body.
    Show {
        id: String,
        #[arg(long)]
        body: bool,
    },
    /// Deliver now: IDs, `--domain D`, or ALL (in capitals); `-` reads IDs
    /// from stdin.
    Flush(Targets),
    /// Keep from delivery until released.
    Hold(Targets),
    /// Undo hold.
    Release(Targets),
    /// Remove from the queue, without a DSN.
    Delete(Targets),
}

#[derive(Debug, Args)]
struct Targets {
    /// Queue IDs, `-` for IDs on stdin, or ALL.
    ids: Vec<String>,
    /// Every message with a recipient at this domain.
    #[arg(long, value_name = "DOMAIN")]
    domain: Option<String>,
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
    let result = match cli.command {
        Command::Status => run(&socket, Request::Status),
        Command::Reload => run(&socket, Request::Reload),
        Command::Stats { json, reset } => match exchange(&socket, Request::Stats { reset }) {
            Ok(Response::Stats(r)) if json => print_json(&r),
            Ok(Response::Stats(r)) => {
                print!("{}", mtactl::mailq::mailstats(&r));
                let queue: Vec<String> = r.queue.iter().map(|(k, v)| format!("{k} {v}")).collect();
                println!("queue: {}", queue.join(", "));
                println!("sessions: {}", r.sessions);
                let received = r.rules_messages;
                if received > 0 {
                    println!(
                        "rules: {:.1} us per message received ({} messages)",
                        r.rules_nanos as f64 / received as f64 / 1000.0,
                        received
                    );
                }
                println!("uptime: {}s", r.uptime_secs);
                Ok(())
            }
            Ok(other) => answer(other),
            Err(code) => Err(code),
        },
        Command::Hosts { json } => match exchange(&socket, Request::Hosts) {
            Ok(Response::Hosts { hosts }) if json => hosts.iter().try_for_each(print_json),
            Ok(Response::Hosts { hosts }) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                print!("{}", mtactl::mailq::hoststat(&hosts, now));
                Ok(())
            }
            Ok(other) => answer(other),
            Err(code) => Err(code),
        },
        Command::Queue(q) => queue(&socket, q),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => ExitCode::from(code),
    }
}

fn queue(socket: &Path, q: QueueArgs) -> Result<(), u8> {
    let (action, targets) = match q.action {
        None => return list(socket, &q),
        Some(QueueCommand::Show { id, body }) => {
            return run(socket, Request::QueueShow { id, body });
        }
        Some(QueueCommand::Flush(t)) => (QueueAction::Flush, t),
        Some(QueueCommand::Hold(t)) => (QueueAction::Hold, t),
        Some(QueueCommand::Release(t)) => (QueueAction::Release, t),
        Some(QueueCommand::Delete(t)) => (QueueAction::Delete, t),
    };
    let mut ids = Vec::new();
    let mut all = false;
    for id in targets.ids {
        match id.as_str() {
            "ALL" => all = true,
            "-" => {
                for line in std::io::stdin().lock().lines() {
                    let line = line.map_err(|e| {
                        eprintln!("mtactl: reading IDs from stdin: {e}");
                        exit::FAILED
                    })?;
                    ids.extend(line.split_whitespace().map(String::from));
                }
            }
            other if other.eq_ignore_ascii_case("all") => {
                eprintln!("mtactl: say ALL, in capitals, to act on every message");
                return Err(exit::USAGE);
            }
            other => ids.push(other.to_string()),
        }
    }
    if !all && ids.is_empty() && targets.domain.is_none() {
        eprintln!("mtactl: name the messages: queue IDs, - (IDs on stdin), --domain D or ALL");
        return Err(exit::USAGE);
    }
    run(
        socket,
        Request::QueueAction {
            action,
            ids,
            domain: targets.domain,
            all,
        },
    )
}

/// `mtactl queue`: the listing, filtered here.
fn list(socket: &Path, q: &QueueArgs) -> Result<(), u8> {
    let (directory, entries) = match exchange(socket, Request::Queue)? {
        Response::Queue { directory, entries } => (directory, entries),
        other => return answer(other),
    };
    let age = |v: &Option<String>| -> Result<Option<i64>, u8> {
        v.as_deref()
            .map(|s| {
                parse_age(s).ok_or_else(|| {
                    eprintln!("mtactl: `{s}` is not an age (30m, 2h, 1d)");
                    exit::USAGE
                })
            })
            .transpose()
    };
    let (older, younger) = (age(&q.older_than)?, age(&q.younger_than)?);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let has = |hay: &str, needle: &str| {
        hay.to_ascii_lowercase()
            .contains(&needle.to_ascii_lowercase())
    };
    let keep = |e: &QueueEntry| {
        q.sender.as_deref().is_none_or(|s| has(&e.sender, s))
            && q.recipient
                .as_deref()
                .is_none_or(|r| e.recipients.iter().any(|x| has(&x.address, r)))
            && q.domain.as_deref().is_none_or(|d| {
                e.recipients.iter().any(|x| {
                    x.address
                        .rsplit_once('@')
                        .is_some_and(|(_, dom)| dom.eq_ignore_ascii_case(d))
                })
            })
            && older.is_none_or(|a| now - e.arrival_time > a)
            && younger.is_none_or(|a| now - e.arrival_time < a)
    };
    let entries: Vec<QueueEntry> = entries.into_iter().filter(keep).collect();
    if q.json {
        for e in &entries {
            match serde_json::to_string(e) {
                Ok(line) => println!("{line}"),
                Err(e) => {
                    eprintln!("mtactl: {e}");
                    return Err(exit::FAILED);
                }
            }
        }
    } else {
        print!("{}", mtactl::mailq::format(&directory, &entries));
    }
    Ok(())
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), u8> {
    match serde_json::to_string(v) {
        Ok(line) => {
            println!("{line}");
            Ok(())
        }
        Err(e) => {
            eprintln!("mtactl: {e}");
            Err(exit::FAILED)
        }
    }
}

/// `30m`, `2h`, `1d`, `1w`, or seconds.
fn parse_age(s: &str) -> Option<i64> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num.parse().ok()?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => return None,
    };
    Some(n * mult)
}

/// ControlSocketName from the config, or mtad's default. A config with
/// errors elsewhere still names its socket (`mtactl reload` is how the
/// admin learns about those errors): then the O line is looked for in the
/// text itself.
fn socket_from_config(config: &Path) -> Result<PathBuf, String> {
    let loaded = cfparser::load_file(
        config,
        &cfparser::LoadOptions {
            read_class_sources: false,
            ..Default::default()
        },
    );
    let name = match loaded {
        Ok(l) => l.config.text("ControlSocketName"),
        Err(e) => {
            let text = std::fs::read(config)
                .map_err(|_| format!("cannot find the control socket:\n{e}"))?;
            String::from_utf8_lossy(&text)
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix("O ControlSocketName="))
                .map(|v| v.trim().to_string())
        }
    };
    Ok(name
        .filter(|s| !s.is_empty())
        .map_or_else(|| PathBuf::from(protocol::DEFAULT_SOCKET), PathBuf::from))
}

/// Sends one request (after the hello), returns the response; a failure to
/// reach the daemon is reported here, with its exit status.
fn exchange(socket: &Path, request: Request) -> Result<Response, u8> {
    let stream = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e) => {
            if e.kind() == std::io::ErrorKind::PermissionDenied {
                eprintln!("mtactl: permission denied on {}", socket.display());
                return Err(exit::PERMISSION);
            }
            eprintln!(
                "mtactl: mtad is not running (cannot connect to {}: {e})",
                socket.display()
            );
            return Err(exit::NOT_RUNNING);
        }
    };
    let mut writer = &stream;
    let mut reader = BufReader::new(&stream);
    let mut talk = || -> Result<Response, protocol::FrameError> {
        protocol::write_message(
            &mut writer,
            &Request::Hello {
                version: protocol::VERSION,
            },
        )?;
        let hello: Response = protocol::read_message(&mut reader)?;
        if let Response::Error { .. } = hello {
            return Ok(hello);
        }
        protocol::write_message(&mut writer, &request)?;
        protocol::read_message(&mut reader)
    };
    talk().map_err(|e| {
        eprintln!("mtactl: {e}");
        exit::FAILED
    })
}

fn run(socket: &Path, request: Request) -> Result<(), u8> {
    let response = exchange(socket, request)?;
    answer(response)
}

/// Prints a response; errors map to their exit statuses.
fn answer(response: Response) -> Result<(), u8> {
    match response {
        Response::Status(s) => {
            println!("pid:        {}", s.pid);
            println!("version:    {}", s.version);
            println!("uptime:     {}s", s.uptime_secs);
            println!("listening:  {}", s.listeners.join(", "));
            println!(
                "config:     {} (loaded at {})",
                s.config_file,
                mtactl::mailq::ctime(s.config_loaded_at as i64)
            );
            Ok(())
        }
        Response::Message(m) => {
            let e = &m.entry;
            println!("id:         {}", e.queue_id);
            println!("state:      {}", e.queue_name);
            println!("arrived:    {}", mtactl::mailq::ctime(e.arrival_time));
            println!("size:       {}", e.message_size);
            println!("sender:     <{}>", mtactl::mailq::printable(&e.sender, 400));
            println!(
                "client:     {}{}",
                m.client,
                m.helo
                    .as_deref()
                    .map_or(String::new(), |h| format!(" (HELO {h})"))
            );
            println!("protocol:   {}", m.protocol);
            if let Some(b) = &e.body_type {
                println!("body:       {b}");
            }
            if let Some(r) = &m.ret {
                println!("ret:        {r}");
            }
            if let Some(v) = &m.envid {
                println!("envid:      {v}");
            }
            println!("attempts:   {}", e.attempts);
            if e.next_attempt > 0 {
                println!("next try:   {}", mtactl::mailq::ctime(e.next_attempt));
            }
            println!("recipients:");
            for r in &m.recipients {
                print!(
                    "  <{}> {} attempts={}",
                    mtactl::mailq::printable(&r.address, 400),
                    r.state,
                    r.attempts
                );
                if let Some(p) = &r.expanded_from {
                    print!(" from=<{}>", mtactl::mailq::printable(p, 400));
                }
                if let Some(n) = &r.notify {
                    print!(" notify={n}");
                }
                println!();
                if let Some(l) = &r.last_reply {
                    println!("      last reply: {}", mtactl::mailq::printable(l, 400));
                }
            }
            println!("headers:");
            for line in m.headers.lines() {
                let line = line.trim_end_matches('\r').replace('\t', "    ");
                println!("  {}", mtactl::mailq::printable(&line, 2000));
            }
            if let Some(body) = &m.body {
                println!("body:");
                print!("{body}");
            }
            Ok(())
        }
        Response::Reloaded { report } => {
            println!("{report}");
            Ok(())
        }
        Response::Done { count, missing } => {
            println!(
                "{count} message{} affected",
                if count == 1 { "" } else { "s" }
            );
            if missing.is_empty() {
                Ok(())
            } else {
                for id in &missing {
                    eprintln!("mtactl: {id}: no such message in the queue");
                }
                Err(exit::NOT_FOUND)
            }
        }
        Response::Error { code, message } => {
            eprintln!("mtactl: {message}");
            Err(match code {
                protocol::ErrorCode::PermissionDenied => exit::PERMISSION,
                protocol::ErrorCode::NotFound => exit::NOT_FOUND,
                protocol::ErrorCode::ConfigError => exit::RELOAD_REFUSED,
                _ => exit::FAILED,
            })
        }
        other => {
            eprintln!("mtactl: unexpected answer from mtad: {other:?}");
            Err(exit::FAILED)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_age;

    #[test]
    fn ages() {
        assert_eq!(parse_age("30m"), Some(1800));
        assert_eq!(parse_age("2h"), Some(7200));
        assert_eq!(parse_age("90"), Some(90));
        assert_eq!(parse_age("1x"), None);
        assert_eq!(parse_age("m"), None);
    }
}
