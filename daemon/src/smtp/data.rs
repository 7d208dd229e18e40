//! Reading the message after DATA's 354, up to CRLF "." CRLF and nothing
//! else (RFC 5321 4.1.1.4), with dot-stuffing removed (4.5.2).
//!
//! The whole message is always read to its real end, even when it is
//! refused, so that the session stays in step: what the client sent inside
//! the message is never taken as commands. A bare LF or CR anywhere refuses
//! the message (SMTP smuggling: a receiver that would take LF "." LF as the
//! end would read the rest as a second, forged message).

use super::reader::{LineReader, ReadError};
use std::time::Duration;
use tokio::io::AsyncRead;

/// RFC 5321 4.5.3.1.6: a text line is at most 1000 octets with its CRLF.
pub const TEXT_LINE_MAX: usize = 1000;

/// The largest message taken when MaxMessageSize sets no limit (0 or
/// unset): 256 MiB. A message is held in memory until it is committed.
pub const HARD_CEILING: u64 = 256 << 20;

pub struct Limits {
    /// MaxMessageSize (headers and body).
    pub max_size: Option<u64>,
    /// MaxHeadersLength.
    pub max_headers: u64,
    /// Timeout.datablock.
    pub timeout: Duration,
}

/// The message as received: header section (without the blank line) and
/// body, CRLF line ends.
pub struct Message {
    pub headers: Vec<u8>,
    pub body: Vec<u8>,
}

pub enum DataOutcome {
    Message(Message),
    BareLineEnd,
    TooBig,
    HeadersTooBig,
    LineTooLong,
}

pub async fn read<R: AsyncRead + Unpin>(
    reader: &mut LineReader<R>,
    limits: &Limits,
) -> Result<DataOutcome, ReadError> {
    let mut headers = Vec::new();
    let mut body = Vec::new();
    let mut in_headers = true;
    let mut size: u64 = 0;
    let (mut bare, mut too_big, mut headers_too_big, mut too_long) = (false, false, false, false);
    loop {
        let line = reader.read_line(TEXT_LINE_MAX, limits.timeout).await?;
        let mut bytes = line.bytes.as_slice();
        if bytes == b"." && line.is_clean() {
            break;
        }
        if line.bare_lf || line.bare_cr {
            bare = true;
        }
        if line.overlong {
            too_long = true;
        }
        if let Some(rest) = bytes.strip_prefix(b".") {
            bytes = rest;
        }
        size += bytes.len() as u64 + 2;
        if limits.max_size.is_some_and(|max| size > max) {
            too_big = true;
        }
        // Once the message is refused nothing more is kept: a hostile
        // client cannot make mtad hold more than the limit.
        if bare || too_big || too_long || headers_too_big {
            continue;
        }
        if in_headers {
            if bytes.is_empty() {
                in_headers = false;
                continue;
            }
            // A first line that is not a header (nor a continuation)
            // starts the body, as sendmail's collect() decides.
            if !is_header_line(bytes, headers.is_empty()) {
                in_headers = false;
                body.extend_from_slice(bytes);
                body.extend_from_slice(b"\r\n");
                continue;
            }
            headers.extend_from_slice(bytes);
            headers.extend_from_slice(b"\r\n");
            if headers.len() as u64 > limits.max_headers {
                headers_too_big = true;
            }
        } else {
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
    }
    Ok(if bare {
        DataOutcome::BareLineEnd
    } else if too_big {
        DataOutcome::TooBig
    } else if headers_too_big {
        DataOutcome::HeadersTooBig
    } else if too_long {
        DataOutcome::LineTooLong
    } else {
        DataOutcome::Message(Message { headers, body })
    })
}

/// `Name: value`, or a continuation of the previous header.
fn is_header_line(line: &[u8], first: bool) -> bool {
    if !first && (line[0] == b' ' || line[0] == b'\t') {
        return true;
    }
    match line.iter().position(|&b| b == b':') {
        Some(0) | None => false,
        Some(colon) => line[..colon].iter().all(|&b| (33..=126).contains(&b)),
    }
}

/// The number of Received: headers (the hop count).
pub fn count_received(headers: &[u8]) -> usize {
    header_names(headers)
        .iter()
        .filter(|n| n.eq_ignore_ascii_case("Received"))
        .count()
}

/// The names of the headers, in order.
pub fn header_names(headers: &[u8]) -> Vec<String> {
    headers
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && l[0] != b' ' && l[0] != b'\t')
        .filter_map(|l| {
            let colon = l.iter().position(|&b| b == b':')?;
            Some(String::from_utf8_lossy(&l[..colon]).trim().to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_size: Some(10_000),
            max_headers: 1000,
            timeout: Duration::from_secs(1),
        }
    }

    async fn read_all(input: &[u8]) -> (DataOutcome, Vec<u8>) {
        let mut r = LineReader::new(input);
        let o = read(&mut r, &limits()).await.unwrap();
        let mut rest = Vec::new();
        while let Ok(l) = r.read_line(512, Duration::from_secs(1)).await {
            rest.extend_from_slice(&l.bytes);
            rest.push(b'|');
        }
        (o, rest)
    }

    #[tokio::test]
    async fn headers_body_and_dot_stuffing() {
        let (o, rest) =
            read_all(b"Subject: hi\r\nX-A: 1\r\n 2\r\n\r\n..leading dot\r\nbody\r\n.\r\nQUIT\r\n")
                .await;
        let DataOutcome::Message(m) = o else { panic!() };
        assert_eq!(m.headers, b"Subject: hi\r\nX-A: 1\r\n 2\r\n");
        assert_eq!(m.body, b".leading dot\r\nbody\r\n");
        assert_eq!(rest, b"QUIT|");
    }

    #[tokio::test]
    async fn smuggling_variants_never_end_the_message() {
        for fake in [&b"\n.\n"[..], b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n"] {
            let mut input = b"Subject: x\r\n\r\nbody".to_vec();
            input.extend_from_slice(fake);
            input.extend_from_slice(b"MAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\n.\r\nNOOP\r\n");
            let (o, rest) = read_all(&input).await;
            assert!(matches!(o, DataOutcome::BareLineEnd), "{fake:?}");
            assert_eq!(
                rest, b"NOOP|",
                "{fake:?}: smuggled commands were part of the message"
            );
        }
    }

    #[tokio::test]
    async fn limits_refuse_but_read_to_the_end() {
        let mut input = b"Subject: big\r\n\r\n".to_vec();
        for _ in 0..200 {
            input.extend_from_slice(&[b'x'; 98]);
            input.extend_from_slice(b"\r\n");
        }
        input.extend_from_slice(b".\r\nNOOP\r\n");
        let (o, rest) = read_all(&input).await;
        assert!(matches!(o, DataOutcome::TooBig));
        assert_eq!(rest, b"NOOP|");
        let mut long = b"Subject: x\r\n\r\n".to_vec();
        long.extend_from_slice(&[b'y'; 1200]);
        long.extend_from_slice(b"\r\n.\r\n");
        assert!(matches!(read_all(&long).await.0, DataOutcome::LineTooLong));
    }

    #[tokio::test]
    async fn a_body_without_headers() {
        let (o, _) = read_all(b"just text\r\n.\r\n").await;
        let DataOutcome::Message(m) = o else { panic!() };
        assert!(m.headers.is_empty());
        assert_eq!(m.body, b"just text\r\n");
    }

    #[test]
    fn hop_count() {
        let h = b"Received: a\r\n\tb\r\nreceived: c\r\nSubject: d\r\n";
        assert_eq!(count_received(h), 2);
    }
}
