//! Reading SMTP lines off a connection, with the rules that keep a session
//! safe: only CRLF ends a line, lines have a length limit, and what is
//! buffered can be seen (to flush pipelined replies at the right moment) and
//! thrown away (after STARTTLS).
//!
//! A bare LF or a bare CR never ends a line: it is reported, and the line
//! goes on to the next CRLF. That is what defeats SMTP smuggling: a message
//! ends only at CRLF "." CRLF, never at LF "." LF or CR "." CR, so text
//! a client hides after such a fake end is part of the (refused) message and
//! is never read as commands.

use std::io;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// One line, up to and without its CRLF.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Line {
    /// The bytes, cut at the limit when the line was longer.
    pub bytes: Vec<u8>,
    /// The line was longer than the limit (CRLF included).
    pub overlong: bool,
    /// An LF not preceded by CR was inside the line.
    pub bare_lf: bool,
    /// A CR not followed by LF was inside the line.
    pub bare_cr: bool,
}

impl Line {
    pub fn is_clean(&self) -> bool {
        !(self.overlong || self.bare_lf || self.bare_cr)
    }
}

/// Why no line could be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("connection closed")]
    Closed,
    #[error("timeout")]
    Timeout,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A buffered reader that knows about CRLF.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Start of the unread bytes in `buf`.
    pos: usize,
}

const CHUNK: usize = 16 * 1024;

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub fn new(inner: R) -> Self {
        LineReader {
            inner,
            buf: Vec::with_capacity(CHUNK),
            pos: 0,
        }
    }

    /// True if bytes the client sent are waiting, read or not yet read.
    pub fn has_buffered(&self) -> bool {
        self.pos < self.buf.len()
    }

    /// True if a whole line (up to CRLF or LF) is already buffered: the
    /// client pipelined another command, so replies can wait.
    pub fn has_buffered_line(&self) -> bool {
        self.buf[self.pos..].contains(&b'\n')
    }

    /// Throws away everything buffered: after STARTTLS nothing the client
    /// sent in clear text before the handshake may count (the
    /// CVE-2011-0411 class of command injection). Returns how much.
    pub fn discard_buffered(&mut self) -> usize {
        let n = self.buf.len() - self.pos;
        self.buf.clear();
        self.pos = 0;
        n
    }

    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Waits up to `wait` for input; true if some arrived (or is buffered).
    /// Used before the greeting: a client that talks first is refused.
    pub async fn input_pending(&mut self, wait: Duration) -> Result<bool, ReadError> {
        if self.has_buffered() {
            return Ok(true);
        }
        match tokio::time::timeout(wait, self.fill()).await {
            Ok(Ok(0)) => Err(ReadError::Closed),
            Ok(Ok(_)) => Ok(true),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Ok(false),
        }
    }

    async fn fill(&mut self) -> io::Result<usize> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > CHUNK {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        // read_buf appends only what arrived, so a read cut short by a
        // timeout leaves the buffer as it was (cancellation safe).
        self.buf.reserve(CHUNK);
        self.inner.read_buf(&mut self.buf).await
    }

    /// Reads one line ending in CRLF. `max` counts the CRLF (RFC 5321
    /// 4.5.3.1: 512 for commands, 1000 for text lines); longer lines are
    /// read to their end and reported as overlong. `timeout` bounds the wait
    /// for each piece of input.
    pub async fn read_line(&mut self, max: usize, timeout: Duration) -> Result<Line, ReadError> {
        let mut line = Line::default();
        let mut len = 0usize; // bytes of the line so far, stored or not
        let mut pending_cr = false;
        loop {
            if self.pos == self.buf.len() {
                let n = tokio::time::timeout(timeout, self.fill())
                    .await
                    .map_err(|_| ReadError::Timeout)??;
                if n == 0 {
                    return Err(ReadError::Closed);
                }
            }
            let avail = &self.buf[self.pos..];
            let mut consumed = 0;
            let mut done = false;
            for &b in avail {
                consumed += 1;
                if pending_cr {
                    pending_cr = false;
                    if b == b'\n' {
                        done = true;
                        break;
                    }
                    line.bare_cr = true;
                    push(&mut line, b'\r', &mut len, max);
                }
                match b {
                    b'\r' => pending_cr = true,
                    b'\n' => {
                        line.bare_lf = true;
                        push(&mut line, b, &mut len, max);
                    }
                    _ => push(&mut line, b, &mut len, max),
                }
            }
            self.pos += consumed;
            if done {
                if len + 2 > max {
                    line.overlong = true;
                }
                return Ok(line);
            }
        }
    }
}

fn push(line: &mut Line, b: u8, len: &mut usize, max: usize) {
    *len += 1;
    if *len + 2 <= max {
        line.bytes.push(b);
    } else {
        line.overlong = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max: usize) -> Vec<Line> {
        let mut r = LineReader::new(input);
        let mut out = Vec::new();
        while let Ok(l) = r.read_line(max, Duration::from_secs(1)).await {
            out.push(l);
        }
        out
    }

    #[tokio::test]
    async fn only_crlf_ends_a_line() {
        let l = lines(b"MAIL FROM:<a>\r\nRCPT\nTO:<b>\r\n.\r\n", 512).await;
        assert_eq!(l.len(), 3);
        assert_eq!(l[0].bytes, b"MAIL FROM:<a>");
        assert!(l[0].is_clean());
        assert_eq!(l[1].bytes, b"RCPT\nTO:<b>");
        assert!(l[1].bare_lf);
        assert_eq!(l[2].bytes, b".");
    }

    #[tokio::test]
    async fn bare_cr_is_reported_and_kept() {
        let l = lines(b"a\rb\r\n\r.\r\r\n", 512).await;
        assert_eq!(l[0].bytes, b"a\rb");
        assert!(l[0].bare_cr);
        assert_eq!(l[1].bytes, b"\r.\r");
        assert!(l[1].bare_cr);
    }

    #[tokio::test]
    async fn long_lines_are_cut_and_flagged() {
        let mut input = vec![b'x'; 600];
        input.extend_from_slice(b"\r\nNOOP\r\n");
        let l = lines(&input, 512).await;
        assert!(l[0].overlong);
        assert_eq!(l[0].bytes.len(), 510);
        assert_eq!(l[1].bytes, b"NOOP", "the next line is intact");
        let exact = [vec![b'y'; 510], b"\r\n".to_vec()].concat();
        assert!(!lines(&exact, 512).await[0].overlong, "510 + CRLF fits");
    }

    #[tokio::test]
    async fn a_wait_that_times_out_leaves_nothing_behind() {
        let (client, server) = tokio::io::duplex(64);
        let mut r = LineReader::new(server);
        assert!(!r.input_pending(Duration::from_millis(10)).await.unwrap());
        assert!(!r.has_buffered());
        drop(client);
    }

    #[tokio::test]
    async fn buffered_input_is_visible() {
        let mut r = LineReader::new(&b"MAIL FROM:<a>\r\nRCPT TO:<b>\r\n"[..]);
        let l = r.read_line(512, Duration::from_secs(1)).await.unwrap();
        assert_eq!(l.bytes, b"MAIL FROM:<a>");
        assert!(r.has_buffered_line(), "a pipelined command is waiting");
        r.read_line(512, Duration::from_secs(1)).await.unwrap();
        assert!(!r.has_buffered());
        let mut r = LineReader::new(&b"STARTTLS\r\nMAIL FROM:<evil>\r\n"[..]);
        r.read_line(512, Duration::from_secs(1)).await.unwrap();
        assert_eq!(r.discard_buffered(), 18);
        assert!(!r.has_buffered_line());
    }
}
