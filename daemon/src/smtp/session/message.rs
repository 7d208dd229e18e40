//! DATA: the message read to its CRLF.CRLF, the checks after the headers
//! and at the end (check_eoh, check_eom), the headers mtad adds, and the
//! commit to the queue before the 250.

use super::*;
use tokio::io::{AsyncRead, AsyncWrite};

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    // ---------------------------------------------------------------- DATA

    pub(super) async fn data(&mut self) -> Next {
        if self.tx.sender.is_none() {
            return self.bad("503 5.0.0 Need MAIL command").await;
        }
        if self.tx.recipients.is_empty() {
            return self.bad("503 5.0.0 Need RCPT (recipient)").await;
        }
        let outcome = self.checks.check_data(self.tx.nrcpts);
        if let Some(reply) = settle(outcome, &mut self.tx) {
            return self.bad(&reply).await;
        }
        self.reply("354 End data with <CR><LF>.<CR><LF>").await;
        self.flush().await;
        let s = self.shared.settings.clone();
        let limits = data::Limits {
            // No MaxMessageSize still has a ceiling: a message is held in
            // memory until it is committed, and a client must not be able
            // to exhaust it.
            max_size: Some(s.size_limit()),
            max_headers: s.max_headers_length,
            timeout: s.datablock_timeout,
        };
        let outcome = match data::read(&mut self.reader, &limits).await {
            Ok(o) => o,
            Err(ReadError::Timeout) => {
                let j = s.host_name.clone();
                self.reply(&format!(
                    "421 4.4.1 {j} Error: timeout reading the message; closing"
                ))
                .await;
                return Next::Close;
            }
            Err(_) => return Next::Close,
        };
        let tx = std::mem::take(&mut self.tx);
        let message = match outcome {
            DataOutcome::Message(m) => m,
            DataOutcome::BareLineEnd => {
                self.reply("554 5.6.11 Message refused: bare LF or CR in the message (lines must end in CRLF)")
                    .await;
                return Next::Continue;
            }
            DataOutcome::TooBig => {
                let max = s.size_limit();
                self.reply(&format!(
                    "552 5.2.3 Message size exceeds fixed maximum message size ({max})"
                ))
                .await;
                return Next::Continue;
            }
            DataOutcome::HeadersTooBig => {
                self.reply("552 5.6.0 Headers too large").await;
                return Next::Continue;
            }
            DataOutcome::LineTooLong => {
                self.reply("500 5.5.0 Line too long: text lines are at most 1000 characters")
                    .await;
                return Next::Continue;
            }
        };
        // check_eoh on the client's headers (how many, how many bytes),
        // then check_eom on the message's size.
        let count = message
            .headers
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty() && !matches!(l[0], b' ' | b'\t' | b'\r'))
            .count();
        let size = (message.headers.len() + message.body.len()) as u64;
        let mut tx = tx;
        // check_eom only once check_eoh has let the message through.
        let eoh = self.checks.check_eoh(count, message.headers.len());
        let refused = settle(eoh, &mut tx).or_else(|| settle(self.checks.check_eom(size), &mut tx));
        if let Some(reply) = refused {
            self.reply(&reply).await;
            return Next::Continue;
        }
        let hops = data::count_received(&message.headers);
        if hops as u64 >= s.max_hops {
            self.reply(&format!(
                "554 5.4.6 Too many hops {hops} ({} max)",
                s.max_hops
            ))
            .await;
            return Next::Continue;
        }
        let client = self.client_name().await;
        let relay = client.describe(self.peer.ip());
        let id = tx.id.clone().unwrap_or_else(crate::queue::id::new_id);
        let now = clock::now();
        let headers = self.headers(&id, now, &tx, message.headers);
        let new = NewMessage {
            id: id.clone(),
            arrival: now,
            sender: tx.sender.clone().unwrap_or_default(),
            recipients: tx.recipients,
            body_type: tx.body_type,
            ret: tx.ret,
            envid: tx.envid,
            declared_size: tx.size,
            client_addr: self.peer.ip().to_string(),
            client_name: client.name,
            client_verified: client.verified,
            helo: self.helo.clone(),
            protocol: self.protocol().into(),
            daemon: self.listener.name.clone(),
            headers,
            body: message.body,
            quarantine: tx
                .quarantine
                .clone()
                .or_else(|| self.quarantine_all.clone()),
        };
        let from_line = format!(
            "from=<{}>, size={}, class=0, nrcpts={}, msgid={}{}, proto={}, daemon={}, relay={}",
            log::esc(&new.sender),
            new.size(),
            new.recipients.len(),
            message_id(&new.headers).map_or_else(String::new, |m| log::esc(&m)),
            new.body_type
                .as_deref()
                .map_or_else(String::new, |b| format!(", bodytype={}", log::esc(b))),
            self.protocol(),
            log::esc(&self.listener.name),
            log::esc(&relay),
        );
        let from_mailer = tx.mailer.clone().unwrap_or_else(|| "esmtp".into());
        let size = new.size();
        if tx.discard || self.discard_all {
            // A check said $#discard: accepted, and dropped (sendmail logs
            // the sender, then "discarded").
            log::info(9, &format!("{id}: {from_line}"));
            log::notice(5, &format!("{id}: discarded"));
            self.reply(&format!("250 2.0.0 {id} Message accepted for delivery"))
                .await;
            return Next::Continue;
        }
        if let Some(reason) = &new.quarantine {
            log::notice(5, &format!("{id}: quarantine={}", log::esc(reason)));
        }
        match self.shared.queue.commit(new).await {
            Ok(id) => {
                log::info(9, &format!("{id}: {from_line}"));
                self.shared.stats.received(&from_mailer, size);
                self.reply(&format!("250 2.0.0 {id} Message accepted for delivery"))
                    .await;
                if self.shared.settings.deliver_at_once {
                    self.shared.wake.notify_one();
                }
            }
            Err(e) => {
                log::error(&format!("{id}: queue write failed: {e}"));
                self.reply("451 4.3.0 Temporary system failure: could not queue the message")
                    .await;
            }
        }
        Next::Continue
    }

    /// The header section as queued: our Received first, then the
    /// client's headers, then Date, From and Message-Id when they were
    /// missing (the config's H lines).
    fn headers(&mut self, id: &str, now: i64, tx: &Transaction, theirs: Vec<u8>) -> Vec<u8> {
        self.macros.set("i", id);
        self.macros.set("b", clock::rfc5322(now));
        self.macros.set("a", clock::rfc5322(now));
        self.macros.set("t", clock::stamp(now));
        let sender = tx.sender.clone().unwrap_or_default();
        self.macros.set(
            "g",
            if sender.is_empty() {
                "MAILER-DAEMON".to_string()
            } else {
                sender.clone()
            },
        );
        self.macros.set("f", sender);
        if tx.recipients.len() == 1 {
            self.macros
                .set("u", format!("<{}>", tx.recipients[0].address));
        } else {
            self.macros.unset("u");
        }
        let settings = self.shared.settings.clone();
        let mut out = Vec::with_capacity(theirs.len() + 512);
        let received = self.expand(&settings.received);
        push_header(&mut out, "Received", &received);
        let present = data::header_names(&theirs);
        out.extend_from_slice(&theirs);
        for h in &settings.add_when_missing {
            if !present.iter().any(|n| n.eq_ignore_ascii_case(&h.name)) {
                let value = self.expand(&h.value);
                push_header(&mut out, &h.name, &value);
            }
        }
        out
    }
}

/// A header line, folded lines with CRLF, as it goes into the queue.
fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    for (i, line) in value.split('\n').enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(line.trim_end_matches('\r').as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// The Message-Id header's value, `<...>`, if there is one.
fn message_id(headers: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(headers);
    let mut lines = text.split("\r\n").peekable();
    while let Some(line) = lines.next() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("Message-Id") {
            let mut v = value.trim().to_string();
            while let Some(next) = lines.peek().filter(|l| l.starts_with([' ', '\t'])) {
                v.push_str(next.trim());
                lines.next();
            }
            return Some(v);
        }
    }
    None
}
