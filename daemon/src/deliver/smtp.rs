//! The SMTP client (RFC 5321): one connection to one address, the
//! greeting, EHLO (HELO when EHLO is refused), opportunistic STARTTLS, and
//! mail transactions with one verdict per recipient.
//!
//! What goes out is always well-formed: every line ends in CRLF, a bare CR
//! or LF in the stored message becomes CRLF (never passed on: a receiver
//! that ends DATA on a bare LF could be made to see a second, smuggled
//! message), and lines starting with `.` are dot-stuffed. SIZE, 8BITMIME,
//! DSN and PIPELINING are used when the server offers them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The longest reply line we take, and the most lines in one reply: a
/// server that sends more is broken or hostile.
const MAX_REPLY_LINE: usize = 4096;
const MAX_REPLY_LINES: usize = 200;

/// A byte stream: plain TCP or TLS over it.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// sendmail's client-side Timeout.* options (op.txt, "Read Timeouts").
#[derive(Debug, Clone)]
pub struct Timeouts {
    pub connect: Duration,
    pub initial: Duration,
    pub helo: Duration,
    pub mail: Duration,
    pub rcpt: Duration,
    pub datainit: Duration,
    pub datablock: Duration,
    pub datafinal: Duration,
    pub rset: Duration,
    pub quit: Duration,
    pub starttls: Duration,
}

impl Timeouts {
    /// From the config, with sendmail's defaults where it is silent. A
    /// zero Timeout.connect means "the kernel's", which can be minutes;
    /// one minute is used instead.
    pub fn from_config(config: &cfparser::Config) -> Timeouts {
        let get = |name: &str, default: u64| {
            config
                .duration(name)
                .filter(|d| !d.is_zero())
                .unwrap_or(Duration::from_secs(default))
        };
        Timeouts {
            connect: get("Timeout.connect", 60),
            initial: get("Timeout.initial", 300),
            helo: get("Timeout.helo", 300),
            mail: get("Timeout.mail", 600),
            rcpt: get("Timeout.rcpt", 3600),
            datainit: get("Timeout.datainit", 300),
            datablock: get("Timeout.datablock", 3600),
            datafinal: get("Timeout.datafinal", 3600),
            rset: get("Timeout.rset", 300),
            quit: get("Timeout.quit", 120),
            starttls: get("Timeout.starttls", 3600),
        }
    }
}

/// One reply: its code and its lines' text (without the code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    /// The reply as one line, for logs and DSNs: `550 5.1.1 No such user`.
    pub fn text(&self) -> String {
        format!("{} {}", self.code, self.lines.join(" "))
            .trim_end()
            .to_string()
    }

    fn class(&self) -> u16 {
        self.code / 100
    }
}

/// What the server offered in its EHLO reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    pub pipelining: bool,
    /// SIZE, with the limit it named (0: none named).
    pub size: Option<u64>,
    pub eight_bit: bool,
    pub dsn: bool,
    pub starttls: bool,
}

impl Extensions {
    fn from_reply(reply: &Reply) -> Extensions {
        let mut ext = Extensions::default();
        // The first line is the server's name; keywords follow.
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let keyword = words.next().unwrap_or("").to_ascii_uppercase();
            match keyword.as_str() {
                "PIPELINING" => ext.pipelining = true,
                "SIZE" => ext.size = Some(words.next().and_then(|w| w.parse().ok()).unwrap_or(0)),
                "8BITMIME" => ext.eight_bit = true,
                "DSN" => ext.dsn = true,
                "STARTTLS" => ext.starttls = true,
                _ => {}
            }
        }
        ext
    }
}

/// Why a connection could not be used at all (the next address or MX host
/// is tried).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    Io(String),
    #[error("timeout waiting for {0}")]
    Timeout(&'static str),
    /// The server refused us at the greeting or at EHLO/HELO.
    #[error("{0}")]
    Refused(String),
    /// STARTTLS was offered but the handshake failed; a plain connection
    /// may still work.
    #[error("STARTTLS: {0}")]
    Tls(String),
}

impl ConnectError {
    /// A refusal with a 5xx code: permanent for this host.
    pub fn is_permanent(&self) -> bool {
        matches!(self, ConnectError::Refused(t) if t.starts_with('5'))
    }
}

/// What became of one recipient in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Sent(String),
    Temp(String),
    Perm(String),
}

impl Verdict {
    fn from_reply(reply: &Reply) -> Verdict {
        match reply.class() {
            2 => Verdict::Sent(reply.text()),
            5 => Verdict::Perm(reply.text()),
            _ => Verdict::Temp(reply.text()),
        }
    }
}

/// The envelope of one transaction.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    pub sender: &'a str,
    pub recipients: Vec<EnvelopeRecipient<'a>>,
    pub size: u64,
    pub eight_bit: bool,
    pub ret: Option<&'a str>,
    pub envid: Option<&'a str>,
}

#[derive(Debug, Clone)]
pub struct EnvelopeRecipient<'a> {
    pub address: &'a str,
    pub notify: Option<&'a str>,
    pub orcpt: Option<&'a str>,
}

/// TLS for the client side: opportunistic, so any certificate is taken
/// (there is no way to know which name an MX host should prove without
/// DANE or MTA-STS, neither of which is implemented); the handshake still
/// checks that the server holds the certificate's key.
pub fn tls_connector() -> tokio_rustls::TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// One open SMTP connection, ready for a transaction.
pub struct Connection {
    stream: BufReader<Box<dyn Io>>,
    /// The MX host's name (or the address, for `[1.2.3.4]`).
    pub host: String,
    pub addr: SocketAddr,
    pub ext: Extensions,
    /// STARTTLS succeeded.
    pub tls: bool,
    /// Transactions completed on it.
    pub messages: u64,
    timeouts: Arc<Timeouts>,
}

impl Connection {
    /// Connects, reads the greeting, says EHLO (or HELO), and upgrades to
    /// TLS when offered and `tls` is given.
    pub async fn open(
        addr: SocketAddr,
        host: &str,
        helo: &str,
        tls: Option<&tokio_rustls::TlsConnector>,
        timeouts: Arc<Timeouts>,
    ) -> Result<Connection, ConnectError> {
        let tcp = tokio::time::timeout(timeouts.connect, TcpStream::connect(addr))
            .await
            .map_err(|_| ConnectError::Timeout("connect"))?
            .map_err(|e| ConnectError::Io(format!("connect to {addr}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let mut conn = Connection {
            stream: BufReader::new(Box::new(tcp) as Box<dyn Io>),
            host: host.to_string(),
            addr,
            ext: Extensions::default(),
            tls: false,
            messages: 0,
            timeouts,
        };
        let greeting = conn.read_reply(conn.timeouts.initial, "greeting").await?;
        if greeting.class() != 2 {
            return Err(ConnectError::Refused(greeting.text()));
        }
        conn.hello(helo).await?;
        if let (true, Some(connector)) = (conn.ext.starttls, tls) {
            conn.starttls(connector).await?;
            conn.hello(helo).await?;
        }
        Ok(conn)
    }

    async fn hello(&mut self, helo: &str) -> Result<(), ConnectError> {
        let t = self.timeouts.helo;
        let reply = self
            .command(&format!("EHLO {helo}"), t, "EHLO reply")
            .await?;
        if reply.class() == 2 {
            self.ext = Extensions::from_reply(&reply);
            return Ok(());
        }
        if reply.code == 421 {
            return Err(ConnectError::Refused(reply.text()));
        }
        let reply = self
            .command(&format!("HELO {helo}"), t, "HELO reply")
            .await?;
        if reply.class() != 2 {
            return Err(ConnectError::Refused(reply.text()));
        }
        self.ext = Extensions::default();
        Ok(())
    }

    async fn starttls(
        &mut self,
        connector: &tokio_rustls::TlsConnector,
    ) -> Result<(), ConnectError> {
        let t = self.timeouts.starttls;
        let reply = self.command("STARTTLS", t, "STARTTLS reply").await?;
        if reply.class() != 2 {
            return Err(ConnectError::Tls(reply.text()));
        }
        // Anything the server sent after its 220 arrived in the clear and
        // would be read as if it came through TLS (CVE-2011-0411's
        // command injection, the other way round): refuse it.
        if !self.stream.buffer().is_empty() {
            return Err(ConnectError::Tls(
                "the server sent data after its STARTTLS reply".into(),
            ));
        }
        let name = rustls::pki_types::ServerName::try_from(self.host.clone())
            .unwrap_or_else(|_| rustls::pki_types::ServerName::from(self.addr.ip()));
        let plain = std::mem::replace(
            &mut self.stream,
            BufReader::new(Box::new(tokio::io::empty()) as Box<dyn Io>),
        )
        .into_inner();
        let secured = tokio::time::timeout(t, connector.connect(name, plain))
            .await
            .map_err(|_| ConnectError::Timeout("the TLS handshake"))?
            .map_err(|e| ConnectError::Tls(e.to_string()))?;
        self.stream = BufReader::new(Box::new(secured) as Box<dyn Io>);
        self.tls = true;
        Ok(())
    }

    /// One transaction. Every recipient gets a verdict; the connection
    /// is fit for another transaction only if `Ok(true)` comes back with
    /// them (an I/O error or timeout leaves it unusable).
    pub async fn send(&mut self, env: &Envelope<'_>, wire: &[u8]) -> (Vec<Verdict>, bool) {
        if let Some(limit) = self.ext.size.filter(|&l| l > 0)
            && env.size > limit
        {
            let text = format!(
                "552 5.3.4 Message size ({}) exceeds the limit ({limit}) of {}",
                env.size, self.host
            );
            return (vec![Verdict::Perm(text); env.recipients.len()], true);
        }
        match self.transaction(env, wire).await {
            Ok((verdicts, clean)) => {
                self.messages += 1;
                if clean {
                    return (verdicts, true);
                }
                // The transaction stopped part way: RSET before reuse.
                let reusable = matches!(
                    self.command("RSET", self.timeouts.rset, "RSET reply").await,
                    Ok(r) if r.class() == 2
                );
                (verdicts, reusable)
            }
            Err(e) => {
                let text = format!("4.4.2 {} [{}]: {e}", self.host, self.addr.ip());
                (vec![Verdict::Temp(text); env.recipients.len()], false)
            }
        }
    }

    /// MAIL, RCPT…, DATA and the message. `Ok((verdicts, true))` when the
    /// transaction ended with the final reply to the message; `false` when
    /// it stopped before (MAIL or every RCPT refused).
    async fn transaction(
        &mut self,
        env: &Envelope<'_>,
        wire: &[u8],
    ) -> Result<(Vec<Verdict>, bool), ConnectError> {
        let mut mail = format!("MAIL FROM:<{}>", env.sender);
        if self.ext.size.is_some() {
            mail.push_str(&format!(" SIZE={}", env.size));
        }
        if env.eight_bit && self.ext.eight_bit {
            mail.push_str(" BODY=8BITMIME");
        }
        if self.ext.dsn {
            if let Some(ret) = env.ret {
                mail.push_str(&format!(" RET={ret}"));
            }
            if let Some(envid) = env.envid {
                mail.push_str(&format!(" ENVID={envid}"));
            }
        }
        let rcpts: Vec<String> = env
            .recipients
            .iter()
            .map(|r| {
                let mut line = format!("RCPT TO:<{}>", r.address);
                if self.ext.dsn {
                    if let Some(n) = r.notify {
                        line.push_str(&format!(" NOTIFY={n}"));
                    }
                    if let Some(o) = r.orcpt {
                        line.push_str(&format!(" ORCPT={o}"));
                    }
                }
                line
            })
            .collect();
        let t = self.timeouts.clone();
        let mut verdicts = Vec::with_capacity(rcpts.len());
        let data_reply;
        if self.ext.pipelining {
            // RFC 2920: the whole envelope and DATA in one write, the
            // replies read in order afterwards.
            let mut batch = format!("{mail}\r\n");
            for r in &rcpts {
                batch.push_str(r);
                batch.push_str("\r\n");
            }
            batch.push_str("DATA\r\n");
            self.write(batch.as_bytes(), t.mail).await?;
            let mail_reply = self.read_reply(t.mail, "MAIL reply").await?;
            for _ in &rcpts {
                verdicts.push(Verdict::from_reply(
                    &self.read_reply(t.rcpt, "RCPT reply").await?,
                ));
            }
            data_reply = self.read_reply(t.datainit, "DATA reply").await?;
            if mail_reply.class() != 2 {
                let v = Verdict::from_reply(&mail_reply);
                if data_reply.code == 354 {
                    self.write(b".\r\n", t.datafinal).await?;
                    self.read_reply(t.datafinal, "end of data").await?;
                }
                return Ok((vec![v; rcpts.len()], false));
            }
        } else {
            let mail_reply = self.command(&mail, t.mail, "MAIL reply").await?;
            if mail_reply.class() != 2 {
                return Ok((vec![Verdict::from_reply(&mail_reply); rcpts.len()], false));
            }
            for r in &rcpts {
                verdicts.push(Verdict::from_reply(
                    &self.command(r, t.rcpt, "RCPT reply").await?,
                ));
            }
            if !verdicts.iter().any(|v| matches!(v, Verdict::Sent(_))) {
                return Ok((verdicts, false));
            }
            data_reply = self.command("DATA", t.datainit, "DATA reply").await?;
        }
        let accepted = verdicts.iter().any(|v| matches!(v, Verdict::Sent(_)));
        if data_reply.code != 354 {
            let v = Verdict::from_reply(&data_reply);
            for verdict in verdicts.iter_mut() {
                if matches!(verdict, Verdict::Sent(_)) {
                    *verdict = match &v {
                        Verdict::Sent(t) => Verdict::Temp(format!("4.5.0 unexpected {t}")),
                        other => other.clone(),
                    };
                }
            }
            return Ok((verdicts, false));
        }
        if !accepted {
            // 354 with no recipient: end the data at once (RFC 2920).
            self.write(b".\r\n", t.datafinal).await?;
            self.read_reply(t.datafinal, "end of data").await?;
            return Ok((verdicts, true));
        }
        self.write(wire, t.datablock).await?;
        let fin = self.read_reply(t.datafinal, "end of data").await?;
        let v = Verdict::from_reply(&fin);
        for verdict in verdicts.iter_mut() {
            if matches!(verdict, Verdict::Sent(_)) {
                *verdict = v.clone();
            }
        }
        Ok((verdicts, true))
    }

    /// Ends the connection politely.
    pub async fn quit(mut self) {
        let t = self.timeouts.quit;
        let _ = self.command("QUIT", t, "QUIT reply").await;
    }

    async fn command(
        &mut self,
        line: &str,
        timeout: Duration,
        what: &'static str,
    ) -> Result<Reply, ConnectError> {
        self.write(format!("{line}\r\n").as_bytes(), timeout)
            .await?;
        self.read_reply(timeout, what).await
    }

    async fn write(&mut self, bytes: &[u8], timeout: Duration) -> Result<(), ConnectError> {
        let stream = &mut self.stream;
        tokio::time::timeout(timeout, async {
            stream.write_all(bytes).await?;
            stream.flush().await
        })
        .await
        .map_err(|_| ConnectError::Timeout("the server to take data"))?
        .map_err(|e| ConnectError::Io(e.to_string()))
    }

    async fn read_reply(
        &mut self,
        timeout: Duration,
        what: &'static str,
    ) -> Result<Reply, ConnectError> {
        tokio::time::timeout(timeout, read_reply(&mut self.stream))
            .await
            .map_err(|_| ConnectError::Timeout(what))?
    }
}

/// Reads one (possibly multi-line) reply.
async fn read_reply<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> Result<Reply, ConnectError> {
    let mut lines = Vec::new();
    let mut code = None;
    loop {
        let mut buf = Vec::new();
        let n = (&mut *r)
            .take(MAX_REPLY_LINE as u64)
            .read_until(b'\n', &mut buf)
            .await
            .map_err(|e| ConnectError::Io(e.to_string()))?;
        if n == 0 {
            return Err(ConnectError::Io("connection closed by the server".into()));
        }
        if buf.last() != Some(&b'\n') {
            return Err(ConnectError::Io("reply line too long".into()));
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\r', '\n']);
        let bad = || ConnectError::Io(format!("malformed reply `{}`", line.escape_default()));
        if line.len() < 3 || !line.as_bytes()[..3].iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        let this: u16 = line[..3].parse().map_err(|_| bad())?;
        if *code.get_or_insert(this) != this {
            return Err(bad());
        }
        let more = line.as_bytes().get(3) == Some(&b'-');
        // The server's words end up in logs, mailq and DSNs: no control
        // characters (a forged log line, terminal escapes) survive.
        lines.push(
            line.get(4..)
                .unwrap_or("")
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect(),
        );
        if !more {
            return Ok(Reply { code: this, lines });
        }
        if lines.len() >= MAX_REPLY_LINES {
            return Err(ConnectError::Io("reply has too many lines".into()));
        }
    }
}

/// The message as it goes after DATA: the header section, the blank line
/// and the body, with CRLF line ends only, dot-stuffed, and the final `.`
/// line. A line longer than `line_limit` (the mailer's L=; RFC 5321 allows
/// 1000 with the CRLF) is broken as sendmail breaks it: the first
/// `line_limit - 1` characters, a `!`, CRLF, and the rest on the next line.
pub fn wire_form(headers: &[u8], body: &[u8], line_limit: Option<usize>) -> Vec<u8> {
    let mut out = Vec::with_capacity(headers.len() + body.len() + 64);
    let limit = line_limit.filter(|&l| l >= 2);
    let mut column = 0;
    put_lines(&mut out, headers, &mut column, limit);
    if column > 0 {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    column = 0;
    put_lines(&mut out, body, &mut column, limit);
    if column > 0 {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Copies `part` to `out`: every line end (CRLF, bare CR, bare LF) as
/// CRLF, a `.` at a line's start doubled, over-long lines broken.
/// `column` is the position in the current output line.
fn put_lines(out: &mut Vec<u8>, part: &[u8], column: &mut usize, limit: Option<usize>) {
    let mut i = 0;
    while i < part.len() {
        let b = part[i];
        match b {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if part.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                *column = 0;
            }
            b'\n' => {
                out.extend_from_slice(b"\r\n");
                *column = 0;
            }
            _ => {
                if let Some(l) = limit
                    && *column >= l - 1
                {
                    out.extend_from_slice(b"!\r\n");
                    *column = 0;
                }
                if *column == 0 && b == b'.' {
                    out.push(b'.');
                }
                out.push(b);
                *column += 1;
            }
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_stuffs_dots_and_mends_line_ends() {
        let w = wire_form(b"Subject: x\r\n", b".a\r\nb\nc\rd\r\n..\r\nend", None);
        assert_eq!(
            w,
            b"Subject: x\r\n\r\n..a\r\nb\r\nc\r\nd\r\n...\r\nend\r\n.\r\n".to_vec()
        );
        assert_eq!(wire_form(b"", b"", None), b"\r\n.\r\n".to_vec());
        // L=5: four characters and `!` a line; a dot starting the rest
        // is stuffed too.
        assert_eq!(
            wire_form(b"", b"abcd.fghijkl\r\nshort\r\n", Some(5)),
            b"\r\nabcd!\r\n..fgh!\r\nijkl\r\nshor!\r\nt\r\n.\r\n".to_vec()
        );
    }

    #[tokio::test]
    async fn replies_multi_line_and_malformed() {
        let mut r: &[u8] =
            b"250-mx.example hello\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n";
        let reply = read_reply(&mut r).await.unwrap();
        assert_eq!(reply.code, 250);
        let ext = Extensions::from_reply(&reply);
        assert!(ext.pipelining && ext.eight_bit && !ext.dsn);
        assert_eq!(ext.size, Some(1000));
        let mut r: &[u8] = b"250-a\r\n550 b\r\n";
        assert!(read_reply(&mut r).await.is_err(), "codes differ");
        let mut r: &[u8] = b"hello\r\n";
        assert!(read_reply(&mut r).await.is_err());
        let mut r: &[u8] = b"250-a\r\n";
        assert!(read_reply(&mut r).await.is_err(), "cut short");
        let mut r: &[u8] = b"354\r\n";
        assert_eq!(read_reply(&mut r).await.unwrap().text(), "354");
        let mut r: &[u8] = b"550 no\x1b[2J\rmtad: forged\r\n";
        assert_eq!(
            read_reply(&mut r).await.unwrap().text(),
            "550 no [2J mtad: forged"
        );
    }

    /// A scripted server on loopback: answers each command from a table.
    async fn server(
        script: Vec<(&'static str, &'static str)>,
    ) -> (SocketAddr, tokio::task::JoinHandle<Vec<String>>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            let mut s = BufReader::new(s);
            s.write_all(b"220 sink.example ESMTP\r\n").await.unwrap();
            let mut seen = Vec::new();
            let mut in_data = false;
            loop {
                let mut line = String::new();
                if s.read_line(&mut line).await.unwrap() == 0 {
                    return seen;
                }
                let line = line.trim_end().to_string();
                if in_data {
                    seen.push(line.clone());
                    if line == "." {
                        in_data = false;
                        let reply = script
                            .iter()
                            .find(|(k, _)| *k == ".")
                            .map_or("250 ok", |x| x.1);
                        s.write_all(format!("{reply}\r\n").as_bytes())
                            .await
                            .unwrap();
                    }
                    continue;
                }
                seen.push(line.clone());
                let verb = line.split([' ', ':']).next().unwrap().to_ascii_uppercase();
                let reply = script
                    .iter()
                    .find(|(k, _)| line.starts_with(k) || *k == verb)
                    .map_or("250 ok", |x| x.1);
                s.write_all(format!("{reply}\r\n").as_bytes())
                    .await
                    .unwrap();
                if verb == "DATA" && reply.starts_with("354") {
                    in_data = true;
                }
                if verb == "QUIT" {
                    return seen;
                }
            }
        });
        (addr, task)
    }

    fn env<'a>(rcpts: &[&'a str]) -> Envelope<'a> {
        Envelope {
            sender: "a@example.org",
            recipients: rcpts
                .iter()
                .map(|a| EnvelopeRecipient {
                    address: a,
                    notify: None,
                    orcpt: None,
                })
                .collect(),
            size: 10,
            eight_bit: true,
            ret: None,
            envid: None,
        }
    }

    #[tokio::test]
    async fn per_recipient_verdicts_with_pipelining() {
        let (addr, task) = server(vec![
            (
                "EHLO",
                "250-sink.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE",
            ),
            ("RCPT TO:<temp@", "451 4.2.0 later"),
            ("RCPT TO:<gone@", "550 5.1.1 no such user"),
            ("DATA", "354 go"),
            (".", "250 2.0.0 queued as X"),
        ])
        .await;
        let t = Arc::new(Timeouts::from_config(&cfparser::Config::default()));
        let mut c = Connection::open(addr, "sink.example", "me.example", None, t)
            .await
            .unwrap();
        assert!(c.ext.pipelining);
        let (v, reusable) = c
            .send(
                &env(&["ok@x", "temp@x", "gone@x"]),
                &wire_form(b"S: 1\r\n", b".x\r\n", None),
            )
            .await;
        assert!(reusable);
        assert_eq!(v[0], Verdict::Sent("250 2.0.0 queued as X".into()));
        assert_eq!(v[1], Verdict::Temp("451 4.2.0 later".into()));
        assert_eq!(v[2], Verdict::Perm("550 5.1.1 no such user".into()));
        c.quit().await;
        let seen = task.await.unwrap();
        assert!(
            seen.contains(&"MAIL FROM:<a@example.org> SIZE=10 BODY=8BITMIME".to_string()),
            "{seen:?}"
        );
        assert!(seen.contains(&"..x".to_string()), "dot-stuffed: {seen:?}");
    }

    #[tokio::test]
    async fn helo_fallback_and_refused_mail() {
        let (addr, task) = server(vec![
            ("EHLO", "502 5.5.1 what"),
            ("HELO", "250 hi"),
            ("MAIL", "553 5.1.8 bad sender"),
        ])
        .await;
        let t = Arc::new(Timeouts::from_config(&cfparser::Config::default()));
        let mut c = Connection::open(addr, "h", "me.example", None, t)
            .await
            .unwrap();
        let (v, reusable) = c
            .send(&env(&["a@x", "b@x"]), &wire_form(b"", b"", None))
            .await;
        assert!(reusable, "RSET succeeded");
        assert!(
            v.iter()
                .all(|v| matches!(v, Verdict::Perm(t) if t.starts_with("553")))
        );
        c.quit().await;
        let seen = task.await.unwrap();
        assert_eq!(
            seen[..4],
            [
                "EHLO me.example",
                "HELO me.example",
                "MAIL FROM:<a@example.org>",
                "RSET"
            ]
        );
    }

    #[tokio::test]
    async fn a_refusing_greeting_is_a_connect_error() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            s.write_all(b"554 5.3.2 go away\r\n").await.unwrap();
        });
        let t = Arc::new(Timeouts::from_config(&cfparser::Config::default()));
        let e = Connection::open(addr, "h", "me", None, t)
            .await
            .err()
            .unwrap();
        assert!(e.is_permanent(), "{e}");
    }
}
