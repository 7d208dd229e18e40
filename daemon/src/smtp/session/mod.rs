//! One SMTP session, from the greeting to QUIT (RFC 5321), one method per
//! command. Replies carry enhanced status codes (RFC 3463) and sendmail's
//! wording where an admin knows it.
//!
//! Pipelining (RFC 2920): replies are buffered while the client has more
//! commands waiting and written when it has none, so a client that sends
//! MAIL, RCPT and DATA in one go gets all three replies in order. Nothing
//! after DATA is read as a command until the message has ended with
//! CRLF.CRLF.

mod message;
mod verify;

use super::address::{self, Path};
use super::clean;
use super::command::{self, Command};
use super::data::{self, DataOutcome};
use super::help;
use super::params;
use super::reader::{LineReader, ReadError};
use crate::aliases::Target;
use crate::clock;
use crate::decide::smtp::{Checks, Outcome};
use crate::dns::ClientName;
use crate::log;
use crate::macros::{self, MacroEnv};
use crate::queue::{NewMessage, NewRecipient};
use crate::server::{Listener, Shared};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufWriter};

/// The longest command line read: sendmail's MAXINPLINE (RFC 5321 4.5.3.1.4
/// asks for at least 512 octets; sendmail reads longer ones, so that an
/// address too long for its rules gets their reply, not a line error).
const COMMAND_LINE_MAX: usize = 12288;

/// How long a client may go on sending commands that fail before it is
/// disconnected (a bound against scanners).
const MAX_BAD_COMMANDS: u32 = 25;

/// A recipient as parseaddr() resolved it: mailer, host, user.
type Triple = (String, Option<Vec<u8>>, Vec<u8>);

/// The envelope of the message being built.
#[derive(Default)]
struct Transaction {
    /// The queue ID, given at MAIL as sendmail gives it, so that log lines
    /// about the transaction (rejections too) carry it.
    id: Option<String>,
    sender: Option<String>,
    size: Option<u64>,
    body_type: Option<String>,
    ret: Option<String>,
    envid: Option<String>,
    recipients: Vec<NewRecipient>,
    /// The sender's mailer by ruleset 0 (`{mail_mailer}`), for mailstats.
    mailer: Option<String>,
    /// Each recipient's triple (mailer, host, user) and the address it
    /// was given as: a second RCPT of the same triple adds nothing.
    triples: Vec<(Triple, Vec<u8>)>,
    /// RCPT commands accepted (duplicates too): what check_data gets.
    nrcpts: usize,
    /// A check said `$#discard`: the message is accepted and dropped.
    discard: bool,
    /// A check said `$#error $@ quarantine`: the reason.
    quarantine: Option<String>,
}

/// What happens after a command.
enum Next {
    Continue,
    Close,
    /// STARTTLS was accepted: hand the connection to the TLS handshake.
    StartTls,
}

/// The TLS of a session that went through STARTTLS.
#[derive(Debug, Clone)]
pub struct TlsInfo {
    pub version: String,
    pub cipher: String,
    pub bits: String,
    /// `${verify}`: OK, FAIL or NO (see `tls::Tls::verify`).
    pub verify: &'static str,
}

pub struct Session<R, W> {
    reader: LineReader<R>,
    writer: BufWriter<W>,
    shared: Arc<Shared>,
    listener: Arc<Listener>,
    peer: SocketAddr,
    helo: Option<String>,
    esmtp: bool,
    tx: Transaction,
    macros: MacroEnv,
    bad_commands: u32,
    tls: Option<TlsInfo>,
    client: ClientLookup,
    /// The rules' state for this session (decide/smtp.rs).
    checks: Checks,
    /// check_relay refused the client (sendmail's nullserver): every
    /// command but QUIT, HELO, EHLO, NOOP and RSET gets this reply.
    refused: Option<String>,
    /// The greeting was a 554 (pre-greeting traffic): as sendmail, HELO
    /// and EHLO then get "554 5.5.0 SMTP protocol error".
    greeted_554: bool,
    /// check_relay said `$#discard`: every message is dropped.
    discard_all: bool,
    /// check_relay said `$#error $@ quarantine`: every message is held.
    quarantine_all: Option<String>,
}

/// The client's verified name: looked up from the start of the session,
/// awaited (within its bound) only where it is used.
enum ClientLookup {
    Pending(tokio::task::JoinHandle<ClientName>, tokio::time::Instant),
    Done(ClientName),
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    pub fn new(
        read: R,
        write: W,
        peer: SocketAddr,
        listener: Arc<Listener>,
        shared: Arc<Shared>,
        tls: Option<TlsInfo>,
        counts: crate::clients::Counts,
    ) -> Self {
        let mut macros = MacroEnv::default();
        let mut checks = Checks::new(shared.rules.clone());
        let s = &shared.settings;
        let mut set = |name: &str, value: String| {
            checks.set(name, &value);
            macros.set(name, value);
        };
        set("j", s.host_name.clone());
        set("v", macros::VERSION.into());
        set("client_addr", crate::decide::smtp::client_addr(peer.ip()));
        set("client_port", peer.port().to_string());
        set("daemon_name", listener.name.clone());
        set("daemon_flags", listener.modifiers.clone());
        set("if_addr", listener.addr.ip().to_string());
        set("_", format!("[{}]", peer.ip()));
        set("client_rate", counts.rate.to_string());
        set("client_connections", counts.connections.to_string());
        set("total_rate", counts.total_rate.to_string());
        if let Some(t) = &tls {
            set("tls_version", t.version.clone());
            set("cipher", t.cipher.clone());
            set("cipher_bits", t.bits.clone());
            set("verify", t.verify.into());
        }
        let client = match shared.names.clone() {
            Some(names) => {
                let ip = peer.ip();
                let task = tokio::spawn(async move { names.verify(ip).await });
                ClientLookup::Pending(task, tokio::time::Instant::now() + crate::dns::BOUND)
            }
            None => ClientLookup::Done(ClientName::unknown("FAIL")),
        };
        Session {
            reader: LineReader::new(read),
            writer: BufWriter::new(write),
            shared,
            listener,
            peer,
            helo: None,
            esmtp: false,
            tx: Transaction::default(),
            macros,
            bad_commands: 0,
            tls,
            client,
            checks,
            refused: None,
            greeted_554: false,
            discard_all: false,
            quarantine_all: None,
        }
    }

    /// Sets a macro for the templates and for the rules alike.
    fn set_macro(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        self.checks.set(name, &value);
        self.macros.set(name, value);
    }

    /// The client's name, waiting for the lookups if they are still
    /// running (never past their bound); sets `$_`, `${client_name}` and
    /// `${client_resolve}`.
    async fn client_name(&mut self) -> ClientName {
        if let ClientLookup::Pending(task, deadline) = &mut self.client {
            let name = match tokio::time::timeout_at(*deadline, &mut *task).await {
                Ok(Ok(name)) => name,
                _ => {
                    task.abort();
                    ClientName::unknown("TEMP")
                }
            };
            let ip = self.peer.ip();
            self.set_macro("_", name.describe(ip));
            // As sendmail: a name that does not lead back is not the
            // client's name for the rules ({client_name} is `[addr]`), only
            // what its PTR record says ({client_ptr}).
            let ptr = name.name.clone().unwrap_or_else(|| format!("[{ip}]"));
            let for_rules = if name.resolve == "FORGED" {
                format!("[{ip}]")
            } else {
                ptr.clone()
            };
            self.set_macro("client_name", for_rules);
            self.set_macro("client_ptr", ptr);
            self.set_macro("client_resolve", name.resolve);
            self.client = ClientLookup::Done(name);
        }
        match &self.client {
            ClientLookup::Done(n) => n.clone(),
            ClientLookup::Pending(..) => ClientName::unknown("TEMP"),
        }
    }

    /// Runs the session to its end, or to STARTTLS: then the connection
    /// comes back, with nothing the client sent before it, for the TLS
    /// handshake and a new session. Errors end the session; they are the
    /// client's problem, never the daemon's.
    pub async fn run(mut self) -> Option<(R, W)> {
        let upgrade = matches!(self.serve().await, Ok(true));
        self.shared.stats.rules_time(self.checks.take_spent());
        let _ = self.writer.flush().await;
        if upgrade {
            return Some((self.reader.into_inner(), self.writer.into_inner()));
        }
        let _ = self.writer.shutdown().await;
        None
    }

    /// Serves commands; true when the session continues under TLS.
    async fn serve(&mut self) -> Result<bool, ReadError> {
        if self.check_relay().await {
            return Ok(false);
        }
        if self.tls.is_some() {
            // After STARTTLS the session starts over without a greeting
            // (RFC 3207 4.2).
            return self.commands().await;
        }
        // A client that talks before the greeting is a spam engine that
        // does not wait for replies; sendmail's greet_pause refuses it.
        // The config's greet_pause ruleset says how long, else
        // Mtad.GreetPause; not for a client check_relay refused.
        let pause = if self.refused.is_some() {
            std::time::Duration::ZERO
        } else if self.checks.rules().has("greet_pause") {
            let client = self.client_name().await;
            let ip = self.peer.ip();
            let name = client.name.unwrap_or_else(|| format!("[{ip}]"));
            let addr = crate::decide::smtp::client_addr(ip);
            self.checks.greet_pause(&name, &addr).unwrap_or_default()
        } else {
            self.shared.settings.greet_pause
        };
        let started = std::time::Instant::now();
        if !pause.is_zero() && self.reader.input_pending(pause).await? {
            // As sendmail: the greeting says 554, every command but QUIT,
            // HELO, EHLO, NOOP and RSET gets "550 5.0.0 Command rejected",
            // and the log line is the one fail2ban reads.
            let client = self.client_name().await;
            let ip = self.peer.ip();
            let name = client.name.unwrap_or_else(|| format!("[{ip}]"));
            let waited = started.elapsed();
            let secs = waited.as_secs() + u64::from(waited.subsec_millis() >= 500);
            self.shared.stats.connection_rejected();
            log::info(
                2,
                &format!(
                    "rejecting commands from {} [{ip}] due to pre-greeting traffic after {secs} seconds",
                    log::esc(&name)
                ),
            );
            self.refused = Some("550 5.0.0 Command rejected".into());
            self.greeted_554 = true;
            let j = self.shared.settings.host_name.clone();
            self.reply(&format!("554 {j} ESMTP not accepting messages"))
                .await;
            self.flush().await;
            return self.commands().await;
        }
        self.macros.set("b", clock::rfc5322(clock::now()));
        let greeting = self.expand(&self.shared.settings.greeting.clone());
        self.reply(&format!("220 {greeting}")).await;
        self.flush().await;
        self.commands().await
    }

    /// check_relay on the client, as sendmail's validate_connection() runs
    /// it before the greeting (its log line has no queue ID, NOQID): a refusal makes this a session that refuses
    /// every command (sendmail's nullserver), one starting `421 ` closes at
    /// once. True when the session is over.
    async fn check_relay(&mut self) -> bool {
        if !self.checks.rules().has("check_relay") {
            return false;
        }
        self.client_name().await;
        let ip = self.peer.ip();
        let name = self.checks.macros.get(b"client_name").map_or_else(
            || format!("[{ip}]"),
            |n| String::from_utf8_lossy(n).into_owned(),
        );
        let addr = crate::decide::smtp::client_addr(ip);
        match self.checks.connect(&name, &addr) {
            Outcome::Accept => false,
            Outcome::Discard { log } => {
                log::notice(4, &log::esc(&log));
                self.discard_all = true;
                false
            }
            Outcome::Quarantine { reason, log } => {
                log::notice(4, &log::esc(&log));
                self.quarantine_all = Some(reason);
                false
            }
            Outcome::Reject { reply, log } => {
                log::notice(4, &log::esc(&log));
                self.shared.stats.connection_rejected();
                if reply.starts_with("421 ") {
                    self.reply(&reply).await;
                    return true;
                }
                self.refused = Some(reply);
                false
            }
        }
    }

    /// The command loop; true when the client asked for STARTTLS.
    async fn commands(&mut self) -> Result<bool, ReadError> {
        loop {
            let timeout = self.shared.settings.command_timeout;
            let line = match self.reader.read_line(COMMAND_LINE_MAX, timeout).await {
                Ok(l) => l,
                Err(ReadError::Timeout) => {
                    let j = self.shared.settings.host_name.clone();
                    self.reply(&format!(
                        "421 4.4.2 {j} Error: timeout waiting for a command; closing"
                    ))
                    .await;
                    return Ok(false);
                }
                Err(e) => return Err(e),
            };
            let next = if line.bare_lf || line.bare_cr {
                self.bad("500 5.5.2 Bare LF or CR in command: lines must end in CRLF")
                    .await
            } else if line.overlong {
                self.bad("500 5.5.0 Command line too long").await
            } else {
                self.command(command::parse(&line.bytes)).await
            };
            match next {
                Next::Close => {
                    self.flush().await;
                    return Ok(false);
                }
                Next::StartTls => {
                    self.flush().await;
                    // Whatever the client pipelined after STARTTLS was
                    // sent in clear text: it is dropped, never executed.
                    self.reader.discard_buffered();
                    return Ok(true);
                }
                Next::Continue => {}
            }
            if !self.reader.has_buffered_line() {
                self.flush().await;
            }
        }
    }

    async fn command(&mut self, cmd: Command) -> Next {
        if self.greeted_554 && matches!(cmd, Command::Helo(_) | Command::Ehlo(_)) {
            return self.bad("554 5.5.0 SMTP protocol error").await;
        }
        if let Some(refusal) = self.refused.clone()
            && !matches!(
                cmd,
                Command::Quit
                    | Command::Helo(_)
                    | Command::Ehlo(_)
                    | Command::Noop
                    | Command::Rset
                    | Command::Unknown(_)
                    | Command::Syntax(_)
            )
        {
            return self.bad(&refusal).await;
        }
        match cmd {
            Command::Helo(name) => self.helo(name, false).await,
            Command::Ehlo(name) => self.helo(name, true).await,
            Command::Mail(raw) => self.mail(&raw).await,
            Command::Rcpt(raw) => self.rcpt(&raw).await,
            Command::Data => self.data().await,
            Command::Rset => {
                self.tx = Transaction::default();
                self.reply("250 2.0.0 Reset state").await;
                Next::Continue
            }
            Command::Noop => {
                self.reply("250 2.0.0 OK").await;
                Next::Continue
            }
            Command::Quit => {
                let j = self.shared.settings.host_name.clone();
                self.reply(&format!("221 2.0.0 {j} closing connection"))
                    .await;
                Next::Close
            }
            Command::Help(topic) => {
                let file = self
                    .shared
                    .config
                    .text("HelpFile")
                    .map(std::path::PathBuf::from);
                let expand = |line: &str| match cfparser::template::parse(line) {
                    Ok(t) => self.expand(&t),
                    Err(_) => line.to_string(),
                };
                let lines =
                    help::reply(file.as_deref(), &topic, &expand, env!("CARGO_PKG_VERSION"));
                for line in lines {
                    self.reply(&line).await;
                }
                Next::Continue
            }
            Command::Vrfy(arg) => self.vrfy(&arg, false).await,
            Command::Expn(arg) => self.vrfy(&arg, true).await,
            Command::Verb => {
                if self.shared.settings.privacy.has("noverb") {
                    self.reply("502 5.7.0 Verbose unavailable").await;
                } else {
                    self.reply("250 2.0.0 Verbose mode").await;
                }
                Next::Continue
            }
            Command::Etrn(arg) => self.etrn(&arg).await,
            Command::StartTls => self.starttls().await,
            Command::Http => {
                self.reply("421 4.7.0 This is an SMTP server, not a web server; closing")
                    .await;
                Next::Close
            }
            Command::Unknown(verb) => {
                let shown: String = verb.chars().filter(|c| !c.is_control()).take(40).collect();
                self.bad(&format!("500 5.5.1 Command unrecognized: \"{shown}\""))
                    .await
            }
            Command::Syntax(reply) => self.bad(reply).await,
        }
    }

    // ---------------------------------------------------------------- HELO

    async fn helo(&mut self, name: String, esmtp: bool) -> Next {
        if !valid_helo(&name) {
            return self.bad("501 5.0.0 Invalid domain name").await;
        }
        self.tx = Transaction::default();
        self.esmtp = esmtp;
        self.set_macro("s", name.clone());
        self.set_macro("r", self.protocol());
        self.helo = Some(name);
        let j = self.shared.settings.host_name.clone();
        // As sendmail, the reply names the client as DNS knows it, not as
        // it named itself.
        let who = self.client_name().await.describe(self.peer.ip());
        let first = format!("{j} Hello {who}, pleased to meet you");
        if !esmtp {
            self.reply(&format!("250 {first}")).await;
            return Next::Continue;
        }
        let mut lines = vec![
            first,
            "ENHANCEDSTATUSCODES".into(),
            "PIPELINING".into(),
            "8BITMIME".into(),
        ];
        lines.push(format!("SIZE {}", self.shared.settings.size_limit()));
        lines.push("DSN".into());
        if self.shared.tls.is_some() && self.tls.is_none() {
            lines.push("STARTTLS".into());
        }
        let privacy = self.shared.settings.privacy;
        if !privacy.has("noexpn") {
            lines.push("EXPN".into());
        }
        if !privacy.has("noverb") {
            lines.push("VERB".into());
        }
        if !privacy.has("noetrn") && self.shared.work.is_some() {
            lines.push("ETRN".into());
        }
        lines.push("HELP".into());
        let last = lines.len() - 1;
        for (i, l) in lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            self.reply(&format!("250{sep}{l}")).await;
        }
        Next::Continue
    }

    // ---------------------------------------------------------------- STARTTLS

    async fn starttls(&mut self) -> Next {
        if self.tls.is_some() {
            return self.bad("503 5.5.0 TLS already active").await;
        }
        // sendmail's texts: a server without a usable certificate, then a
        // transaction already open.
        if self.shared.tls.is_none() {
            return self.bad("454 4.3.3 TLS not available after start").await;
        }
        if self.tx.sender.is_some() {
            return self
                .bad("503 5.5.0 TLS not permitted during a mail transaction")
                .await;
        }
        self.reply("220 2.0.0 Ready to start TLS").await;
        Next::StartTls
    }

    // ---------------------------------------------------------------- MAIL

    async fn mail(&mut self, raw: &[u8]) -> Next {
        if self.helo.is_none() && self.shared.settings.privacy.has("needmailhelo") {
            return self.bad("503 5.0.0 Polite people say HELO first").await;
        }
        if self.tx.sender.is_some() {
            return self.bad("503 5.5.0 Sender already specified").await;
        }
        let arg = String::from_utf8_lossy(raw);
        let at = match self.argument_start(&arg, "from") {
            Ok(at) => at,
            Err(reply) => return self.bad(&reply).await,
        };
        let parsed = match self.checks.sender(&raw[at..]) {
            Ok(p) => p,
            Err(reply) => return self.bad(&reply).await,
        };
        let address_text = raw[at..at + parsed.end].to_vec();
        // The ESMTP parameters follow the address where parseaddr() ended.
        let params = params::split(&String::from_utf8_lossy(&raw[at + parsed.end..]));
        let params = params.as_slice();
        let sender = self.stored_address(&address_text, &parsed.address, true);
        let no_receipts = self.shared.settings.privacy.has("noreceipts");
        let asked = match params::mail(params, no_receipts) {
            Ok(m) => m,
            Err(e) => return self.bad(&e.0).await,
        };
        let mut tx = Transaction {
            size: asked.size,
            body_type: asked.body_type,
            ret: asked.ret,
            envid: asked.envid,
            mailer: Some(parsed.address.mailer.clone()),
            ..Transaction::default()
        };
        tx.id = Some(crate::queue::id::new_id());
        self.set_macro("i", tx.id.clone().unwrap_or_default());
        if let Some(reply) = settle(self.checks.check_mail(&address_text), &mut tx) {
            self.tx.mailer = tx.mailer.take();
            self.count_rejected();
            return self.bad(&reply).await;
        }
        let s = &self.shared.settings;
        let max = s.size_limit();
        if let Some(size) = tx.size
            && size > max
        {
            return self
                .reply_continue(&format!(
                    "552 5.2.3 Message size exceeds fixed maximum message size ({max})"
                ))
                .await;
        }
        if let Some(min) = s.min_free_blocks
            && free_blocks(&s.queue_dir).is_some_and(|free| free < min)
        {
            return self
                .reply_continue("452 4.4.5 Insufficient disk space; try again later")
                .await;
        }
        tx.sender = Some(sender);
        self.tx = tx;
        let ok = rules::report::Message::new(
            rules::report::Kind::User,
            b"250 2.1.0 Sender ok",
            Some(&address_text),
        );
        self.reply(&ok.smtp_reply()).await;
        Next::Continue
    }

    // ---------------------------------------------------------------- RCPT

    async fn rcpt(&mut self, raw: &[u8]) -> Next {
        if self.tx.sender.is_none() {
            return self.bad("503 5.0.0 Need MAIL before RCPT").await;
        }
        if let Some(max) = self.shared.settings.max_recipients
            && self.tx.recipients.len() >= max
        {
            return self.reply_continue("452 4.5.3 Too many recipients").await;
        }
        let next = self.recipient(raw).await;
        self.checks.recipient_done();
        next
    }

    /// RCPT in sendmail's order: skipword, parseaddr() (rulesets 3 and 0),
    /// the ESMTP parameters, check_rcpt, then whether a local user exists.
    async fn recipient(&mut self, raw: &[u8]) -> Next {
        let arg = String::from_utf8_lossy(raw);
        let at = match self.argument_start(&arg, "to") {
            Ok(at) => at,
            Err(reply) => return self.bad(&reply).await,
        };
        let parsed = match self.checks.recipient(&raw[at..]) {
            Ok(p) => p,
            Err(reply) => {
                self.log_usrerr(&reply);
                self.count_rejected();
                return self.bad(&reply).await;
            }
        };
        let address_text = raw[at..at + parsed.end].to_vec();
        let params = params::split(&String::from_utf8_lossy(&raw[at + parsed.end..]));
        let params = params.as_slice();
        let said = |text: &[u8], to: &[u8]| {
            rules::report::Message::new(rules::report::Kind::User, text, Some(to)).smtp_reply()
        };
        let no_receipts = self.shared.settings.privacy.has("noreceipts");
        let params::Rcpt { notify, orcpt } = match params::rcpt(params, no_receipts) {
            Ok(r) => r,
            Err(e) => return self.bad(&e.0).await,
        };
        if let Some(reply) = settle(self.checks.check_rcpt(&address_text), &mut self.tx) {
            self.count_rejected();
            return self.bad(&reply).await;
        }
        let a = &parsed.address;
        let discarding = self.tx.discard || self.discard_all;
        if !discarding {
            if let Some(reply) = self.no_check_rcpt_relay(a, &address_text) {
                let id = self.tx.id.clone();
                let log = format!(
                    "ruleset=check_rcpt, arg1={}, relay={}, reject={reply}",
                    String::from_utf8_lossy(&address_text),
                    self.client_name().await.describe(self.peer.ip())
                );
                log_check(id.as_deref(), &log);
                self.count_rejected();
                return self.bad(&reply).await;
            }
            // recipient(): a local user must exist (an alias or an account).
            if self.local_recipient(a) {
                let user = String::from_utf8_lossy(&a.user).into_owned();
                if !self.shared.policy.local_user_exists(&user) {
                    let reply = said(b"550 5.1.1 User unknown", &address_text);
                    self.log_usrerr(&reply);
                    self.count_rejected();
                    return self.bad(&reply).await;
                }
            }
        }
        // recipient(): the same triple twice is one recipient, and the
        // reply names the address it was first given as (q_paddr).
        let triple = (a.mailer.clone(), a.host.clone(), a.user.clone());
        let shown_as = match self.tx.triples.iter().find(|(t, _)| *t == triple) {
            Some((_, first)) => first.clone(),
            None => {
                let address = self.stored_address(&address_text, a, false);
                if address.is_empty() {
                    // Whatever the rules said, no recipient is empty.
                    return self.bad("553 5.0.0 <>... User address required").await;
                }
                self.tx.triples.push((triple, address_text.clone()));
                self.tx.recipients.push(NewRecipient {
                    address,
                    orcpt,
                    notify,
                });
                address_text.clone()
            }
        };
        self.tx.nrcpts += 1;
        self.set_macro("nrcpts", self.tx.nrcpts.to_string());
        let ok: &[u8] = if a.queue {
            b"250 2.1.5 Recipient ok (will queue)"
        } else {
            b"250 2.1.5 Recipient ok"
        };
        self.reply(&said(ok, &shown_as)).await;
        Next::Continue
    }

    /// The address as the queue keeps it: as RFC 5321 writes it when the
    /// client's text is a plain path (`<user@domain>`, the quoting made
    /// canonical), else what parseaddr() made of it (the envelope address
    /// the mailer would get), so that an address only the rules read is
    /// still delivered where they said.
    fn stored_address(&self, text: &[u8], a: &rules::address::Address, sender: bool) -> String {
        let t = String::from_utf8_lossy(text);
        let t = t.trim();
        let inner = t
            .strip_prefix('<')
            .and_then(|i| i.strip_suffix('>'))
            .unwrap_or(t);
        match address::parse_path(inner) {
            Ok(Path::Null) => String::new(),
            Ok(Path::Mailbox(m)) => m.to_addr(),
            Err(_) if sender => self
                .checks
                .macros
                .get(b"f")
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .unwrap_or_default(),
            Err(_) => {
                let user = String::from_utf8_lossy(&a.user).into_owned();
                match &a.host {
                    Some(h) if !user.contains('@') => {
                        format!("{user}@{}", String::from_utf8_lossy(h))
                    }
                    _ => user,
                }
            }
        }
    }

    /// Whether parseaddr() gave a local name, whose user must then exist
    /// (the local mailer, or one that looks in the aliases, flag A).
    fn local_recipient(&self, a: &rules::address::Address) -> bool {
        a.mailer == "local"
            || self
                .shared
                .config
                .mailer(&a.mailer)
                .is_some_and(|m| m.has_flag('A'))
    }

    /// A config without check_rcpt would relay for anyone under sendmail;
    /// mtad does not (no relaying unless the config allows it): mail for a
    /// mailer that is not local (flag l) from a client other than this
    /// host is refused with sendmail's words.
    fn no_check_rcpt_relay(&self, a: &rules::address::Address, text: &[u8]) -> Option<String> {
        if self.checks.rules().has("check_rcpt") {
            return None;
        }
        let local = self
            .shared
            .config
            .mailer(&a.mailer)
            .is_none_or(|m| m.has_flag('l'));
        if local || self.peer.ip().is_loopback() {
            return None;
        }
        Some(format!(
            "550 5.7.1 {}... Relaying denied",
            String::from_utf8_lossy(text)
        ))
    }

    // ---------------------------------------------------------------- ETRN

    /// ETRN (RFC 1985): run the queue now for a domain (`@domain`: and its
    /// subdomains), as sendmail does; `#queue` names a queue group, and
    /// mtad has only the one queue.
    async fn etrn(&mut self, arg: &str) -> Next {
        if self.shared.settings.privacy.has("noetrn") {
            return self
                .reply_continue("502 5.7.0 Sorry, we do not allow this operation")
                .await;
        }
        let Some(work) = self.shared.work.clone() else {
            return self
                .reply_continue("458 4.3.0 Unable to queue messages: no queue runner")
                .await;
        };
        let arg = arg.trim();
        if arg.is_empty() {
            return self.bad("500 5.5.2 Parameter required").await;
        }
        if let Some(group) = arg.strip_prefix('#') {
            return self
                .reply_continue(&format!("459 4.5.4 queue {}: unknown queue", clean(group)))
                .await;
        }
        let (domain, subdomains) = match arg.strip_prefix('@') {
            Some(d) => (d, true),
            None => (arg, false),
        };
        let valid = !domain.is_empty()
            && domain.len() <= 255
            && domain.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':')
            });
        if !valid {
            return self.bad("501 5.5.4 Invalid domain name").await;
        }
        let d = domain.to_string();
        let hurried = tokio::task::spawn_blocking(move || {
            work.lock()
                .unwrap_or_else(|p| p.into_inner())
                .hurry(Some(&d), subdomains)
        })
        .await;
        match hurried {
            Ok(Ok(_)) => {
                // Mailers with F=% (dsmtp) deliver to this node now.
                self.shared
                    .etrn
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((
                        domain.to_ascii_lowercase(),
                        subdomains,
                        std::time::Instant::now(),
                    ));
                self.shared.wake.notify_one();
                self.reply_continue(&format!("250 2.0.0 Queuing for node {arg} started"))
                    .await
            }
            _ => {
                self.reply_continue(
                    "458 4.3.0 Unable to queue messages for node: queue unavailable",
                )
                .await
            }
        }
    }

    /// SMTP, ESMTP, or ESMTPS under TLS (RFC 3848), for `$r` and the queue.
    fn protocol(&self) -> &'static str {
        match (self.esmtp, self.tls.is_some()) {
            (false, false) => "SMTP",
            (false, true) => "SMTPS",
            (true, false) => "ESMTP",
            (true, true) => "ESMTPS",
        }
    }

    /// skipword(): where the address starts in the argument (after
    /// `FROM:` or `TO:` and blanks), or sendmail's reply.
    fn argument_start(&self, arg: &str, keyword: &str) -> Result<usize, String> {
        let rest = command::skip_word(arg, keyword).map_err(|e| e.0)?;
        // What skipword passed over is ASCII: the same length in both.
        Ok(arg.len() - rest.len())
    }

    // ---------------------------------------------------------------- I/O

    fn expand(&self, t: &cfparser::Template) -> String {
        self.macros.expand(t, &self.shared.config)
    }

    /// One reply line. Replies are ASCII: as sendmail's fmtmsg() does, an
    /// 8-bit byte (an address echoed back) loses its eighth bit.
    async fn reply(&mut self, line: &str) {
        if line.is_ascii() {
            let _ = self.writer.write_all(line.as_bytes()).await;
        } else {
            let seven: Vec<u8> = line.bytes().map(|b| b & 0x7f).collect();
            let _ = self.writer.write_all(&seven).await;
        }
        let _ = self.writer.write_all(b"\r\n").await;
    }

    async fn reply_continue(&mut self, line: &str) -> Next {
        self.reply(line).await;
        Next::Continue
    }

    /// A refused command; too many in a row and the client is dropped.
    /// sendmail's rejection line, which fail2ban's sendmail-reject filter
    /// reads: `QUEUEID: ruleset=check_rcpt, arg1=<addr>, relay=name [ip],
    /// reject=550 ...`.
    /// A user error during RCPT, logged as sendmail's usrerr() logs it
    /// there (LogUsrErrs): `QUEUEID: <a@b>... User unknown`, the text
    /// after the codes.
    fn log_usrerr(&self, reply: &str) {
        let mut text = reply.get(4..).unwrap_or("");
        if let Some(l) = rules::report::enhanced_len(text.as_bytes())
            && text.as_bytes().get(l) == Some(&b' ')
        {
            text = &text[l + 1..];
        }
        let id = self.tx.id.as_deref().unwrap_or("NOQUEUE");
        log::notice(4, &format!("{id}: {}", log::esc(text)));
    }

    /// A refused MAIL or RCPT, counted for mailstats under the sender's
    /// mailer, as sendmail's markstats() counts it.
    fn count_rejected(&self) {
        let mailer = self.tx.mailer.as_deref().unwrap_or("esmtp");
        self.shared.stats.rejected(mailer);
    }

    /// `name [ip]: vrfy ARG [rejected]`, as sendmail logs refused VRFY and
    /// EXPN.
    async fn log_refused(&mut self, verb: &str, arg: &str) {
        // sendmail's CurSmtpClient: `name [ip]`, without "(may be forged)".
        let who = match self.client_name().await.name {
            Some(n) => format!("{n} [{}]", self.peer.ip()),
            None => format!("[{}]", self.peer.ip()),
        };
        let first = arg.split_whitespace().next().unwrap_or("");
        log::notice(
            5,
            &format!("{}: {verb} {} [rejected]", log::esc(&who), log::esc(first)),
        );
    }

    async fn bad(&mut self, line: &str) -> Next {
        self.reply(line).await;
        self.bad_commands += 1;
        if self.bad_commands >= MAX_BAD_COMMANDS {
            let j = self.shared.settings.host_name.clone();
            self.reply(&format!(
                "421 4.7.0 {j} Too many errors; closing connection"
            ))
            .await;
            return Next::Close;
        }
        Next::Continue
    }

    async fn flush(&mut self) {
        let _ = self.writer.flush().await;
    }
}

/// The reply to an ESMTP parameter mtad does not take (RFC 5321 4.1.1.11:
/// 555), naming it without control characters.
/// A HELO/EHLO name: a domain or an address literal, printable ASCII.
fn valid_helo(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_[]:".contains(&b))
}

/// Free blocks for unprivileged users on the filesystem of `dir`, in
/// 1 KiB units as sendmail counts MinFreeBlocks.
fn free_blocks(dir: &std::path::Path) -> Option<u64> {
    let st = nix::sys::statvfs::statvfs(dir).ok()?;
    Some(st.blocks_available() as u64 * st.fragment_size() as u64 / 1024)
}

/// A check's outcome applied to the transaction: anything but an accept
/// is logged as rscheck() logs it, `$#discard` and quarantine mark the
/// transaction, and a refusal's reply is returned.
fn settle(outcome: Outcome, tx: &mut Transaction) -> Option<String> {
    let (log, reply) = match outcome {
        Outcome::Accept => return None,
        Outcome::Reject { reply, log } => (log, Some(reply)),
        Outcome::Discard { log } => {
            tx.discard = true;
            (log, None)
        }
        Outcome::Quarantine { reason, log } => {
            tx.quarantine = Some(reason);
            (log, None)
        }
    };
    log_check(tx.id.as_deref(), &log);
    reply
}

/// rscheck()'s line for a check that did not simply accept:
/// `QUEUEID: ruleset=check_rcpt, arg1=<addr>, relay=name [ip],
/// reject=550 ...` (fail2ban's sendmail-reject filter reads it).
fn log_check(id: Option<&str>, line: &str) {
    let id = id.unwrap_or("NOQUEUE");
    log::notice(4, &format!("{id}: {}", log::esc(line)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helo_names() {
        assert!(valid_helo("client.example"));
        assert!(valid_helo("[192.0.2.1]"));
        assert!(!valid_helo("bad name"));
        assert!(!valid_helo("evil\u{1b}"));
    }
}
