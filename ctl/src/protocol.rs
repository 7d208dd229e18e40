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
}

/// What the daemon answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Hello {
        version: u32,
    },
    Status(Status),
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
