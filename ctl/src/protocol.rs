//! Requests, responses and their framing.

use serde::{Deserialize, Serialize};
use std::io::{self, BufRead, Write};

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;

/// The longest line either side accepts, newline included.
pub const MAX_LINE: usize = 1 << 20;

/// The default socket, when the config names none (ControlSocketName).
pub const DEFAULT_SOCKET: &str = "/run/mtad/mtad.sock";

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// The first request of a connection.
    Hello { version: u32 },
    /// pid, version, uptime, listeners, config file.
    Status,
    /// Read the config again; swap it in if it loads.
    Reload,
    /// mailstats' counters and the queue's state; `reset` zeroes them.
    Stats { reset: bool },
    /// The last result per host (hoststat).
    Hosts,
    /// The queue, every message (mtactl filters).
    Queue,
    /// One message whole: envelope, recipients, headers, the body if asked.
    QueueShow { id: String, body: bool },
    /// flush, hold, release or delete: the given IDs, or every message
    /// with a recipient at `domain`, or all of them.
    QueueAction {
        action: QueueAction,
        ids: Vec<String>,
        domain: Option<String>,
        all: bool,
    },
}

/// What `mtactl queue flush|hold|release|delete` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueAction {
    /// Deliver now (held messages stay held).
    Flush,
    /// Keep from delivery until released.
    Hold,
    /// Undo hold; due at once.
    Release,
    /// Remove, without a DSN.
    Delete,
}

/// What the daemon answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Hello {
        version: u32,
    },
    Status(Status),
    Queue {
        /// QueueDirectory, for the heading.
        directory: String,
        entries: Vec<QueueEntry>,
    },
    Message(Box<MessageDetail>),
    /// The config was reloaded: what changed, what needs a restart.
    Reloaded {
        report: String,
    },
    Stats(StatsReport),
    Hosts {
        hosts: Vec<HostEntry>,
    },
    /// How many messages an action touched, and the IDs not found.
    Done {
        count: usize,
        missing: Vec<String>,
    },
    /// The request was refused or failed; `code` tells mtactl which exit
    /// status to use.
    Error {
        code: ErrorCode,
        message: String,
    },
}

/// The daemon's state, for `mtactl status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub pid: u32,
    pub version: String,
    pub uptime_secs: u64,
    pub listeners: Vec<String>,
    pub config_file: String,
    /// When the config in force was loaded, seconds since the epoch.
    pub config_loaded_at: u64,
}

/// One queued message, with the field names of Postfix's `postqueue -j`
/// where they overlap (queue_name, queue_id, arrival_time, message_size,
/// forced_expire, sender, recipients with address and delay_reason).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    /// `active` (being delivered now), `incoming` (not tried yet),
    /// `deferred` (tried, waiting) or `hold`.
    pub queue_name: String,
    pub queue_id: String,
    /// Seconds since the epoch.
    pub arrival_time: i64,
    pub message_size: u64,
    pub forced_expire: bool,
    pub sender: String,
    pub recipients: Vec<QueueRecipient>,
    pub body_type: Option<String>,
    /// The latest deferral reason.
    pub status: Option<String>,
    pub attempts: u32,
    /// When it is next due, seconds since the epoch (0: now).
    pub next_attempt: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueRecipient {
    pub address: String,
    pub delay_reason: Option<String>,
}

/// `mtactl queue show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageDetail {
    pub entry: QueueEntry,
    pub envid: Option<String>,
    pub ret: Option<String>,
    pub client: String,
    pub helo: Option<String>,
    pub protocol: String,
    pub recipients: Vec<RecipientDetail>,
    /// The header section as queued (CRLF line ends).
    pub headers: String,
    pub body: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientDetail {
    pub address: String,
    /// pending, delivered, failed, expanded.
    pub state: String,
    pub attempts: u32,
    pub last_reply: Option<String>,
    pub notify: Option<String>,
    pub orcpt: Option<String>,
    /// For an alias's target: the address it came from.
    pub expanded_from: Option<String>,
}

/// One mailer's counters, as sendmail's mailstats shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailerCount {
    pub mailer: String,
    pub msgsfr: u64,
    pub bytes_from: u64,
    pub msgsto: u64,
    pub bytes_to: u64,
    pub msgsrej: u64,
    pub msgsdis: u64,
}

/// `mtactl stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsReport {
    /// Counting since, seconds since the epoch.
    pub since: i64,
    pub mailers: Vec<MailerCount>,
    pub connections_in: u64,
    pub connections_out: u64,
    pub connections_rejected: u64,
    /// Messages in the queue by state (incoming, active, deferred, hold).
    pub queue: Vec<(String, u64)>,
    pub sessions: u64,
    pub uptime_secs: u64,
    /// Time the SMTP sessions spent in the config's rules (check
    /// rulesets, address parsing), nanoseconds, since `since`.
    #[serde(default)]
    pub rules_nanos: u64,
    /// Messages received over the same time (since the daemon started or
    /// the last reset).
    #[serde(default)]
    pub rules_messages: u64,
}

/// One host's last result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostEntry {
    pub name: String,
    pub addr: String,
    /// Seconds since the epoch.
    pub last: i64,
    pub ok: bool,
    pub status: String,
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The peer may not do this (decided from SO_PEERCRED).
    PermissionDenied,
    /// A queue ID or other name that does not exist.
    NotFound,
    /// The client speaks a version the daemon does not.
    BadVersion,
    /// The request could not be parsed.
    BadRequest,
    /// A reload found errors in the config (the old one stays).
    ConfigError,
    /// Anything else.
    Failed,
}

/// Reading a line failed, or the line was not a valid message.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed")]
    Closed,
    #[error("line longer than {MAX_LINE} bytes")]
    TooLong,
    #[error("malformed message: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Writes one message as a line.
pub fn write_message<T: Serialize>(w: &mut impl Write, msg: &T) -> io::Result<()> {
    let mut line = serde_json::to_vec(msg).map_err(io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line)?;
    w.flush()
}

/// Reads one message, refusing a line longer than MAX_LINE before it is
/// parsed.
pub fn read_message<T: for<'de> Deserialize<'de>>(r: &mut impl BufRead) -> Result<T, FrameError> {
    let mut line = Vec::new();
    let n = io::Read::take(&mut *r, MAX_LINE as u64 + 1).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Err(FrameError::Closed);
    }
    if n > MAX_LINE {
        return Err(FrameError::TooLong);
    }
    Ok(serde_json::from_slice(&line)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn round_trips_as_one_json_line() {
        let mut buf = Vec::new();
        write_message(&mut buf, &Request::Hello { version: VERSION }).unwrap();
        write_message(&mut buf, &Request::Status).unwrap();
        assert_eq!(
            String::from_utf8(buf.clone()).unwrap(),
            "{\"cmd\":\"hello\",\"version\":1}\n{\"cmd\":\"status\"}\n"
        );
        let mut r = Cursor::new(buf);
        assert_eq!(
            read_message::<Request>(&mut r).unwrap(),
            Request::Hello { version: 1 }
        );
        assert_eq!(read_message::<Request>(&mut r).unwrap(), Request::Status);
        assert!(matches!(
            read_message::<Request>(&mut r),
            Err(FrameError::Closed)
        ));
    }

    #[test]
    fn refuses_overlong_and_malformed_lines() {
        let mut long = vec![b'x'; MAX_LINE + 10];
        long.push(b'\n');
        assert!(matches!(
            read_message::<Request>(&mut Cursor::new(long)),
            Err(FrameError::TooLong)
        ));
        assert!(matches!(
            read_message::<Request>(&mut Cursor::new(b"{\"cmd\":\"nope\"}\n".to_vec())),
            Err(FrameError::Malformed(_))
        ));
    }

    #[test]
    fn errors_carry_a_code() {
        let r = Response::Error {
            code: ErrorCode::PermissionDenied,
            message: "only root may flush the queue".into(),
        };
        let mut buf = Vec::new();
        write_message(&mut buf, &r).unwrap();
        assert!(String::from_utf8_lossy(&buf).contains("\"code\":\"permission_denied\""));
    }
}
