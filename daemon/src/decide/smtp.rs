//! What the rules decide in an SMTP session, where sendmail's server asks
//! them (srvrsmtp.c, conf.c):
//!
//! * at connect, check_relay on `{client_name} $| {client_addr}`;
//! * at MAIL, setsender(): parseaddr() of the address (rulesets 3 and 0)
//!   sets `{mail_mailer}`, `{mail_host}`, `{mail_addr}` and `$f`; then,
//!   after the ESMTP parameters, check_mail on the address as sent;
//! * at RCPT, parseaddr() of the address (its `$#error` answers first)
//!   sets `{rcpt_mailer}`, `{rcpt_host}`, `{rcpt_addr}`; then, after the
//!   parameters, check_rcpt on the address as sent.
//!
//! Each check's refusal is the reply buildaddr() made of its `$#error`,
//! and the log line is rscheck()'s: `ruleset=check_rcpt, arg1=<a@b>,
//! relay=name [addr], reject=550 5.7.1 <a@b>... Relaying denied`.

use super::Rules;
use rules::address::{Address, Flags};
use rules::check::{CheckFlags, Verdict};
use rules::env::{Collect, Env, Macros};
use rules::report::{Kind, Message};
use std::sync::Arc;

/// What a check decided, ready for the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Accept,
    /// Refused with `reply`; `log` is rscheck()'s line (without the queue
    /// ID).
    Reject {
        reply: String,
        log: String,
    },
    /// Accepted; the message is to be dropped.
    Discard {
        log: String,
    },
    /// Accepted; the message is to be held.
    Quarantine {
        reason: String,
        log: String,
    },
}

/// A parsed address: parseaddr()'s triple, and where the address ended
/// in the argument (ESMTP parameters follow).
#[derive(Debug, Clone)]
pub struct Parsed {
    pub address: Address,
    pub end: usize,
}

/// One session's state for the rules: the macros sendmail defines for it
/// (the connection's, then the transaction's), over the config's. The
/// engine's buffers are lent per call (see [`Rules::take_buffers`]).
pub struct Checks {
    rules: Arc<Rules>,
    pub macros: Macros,
    /// CPU time spent in the engine so far (for `mtactl stats`).
    spent: std::time::Duration,
}

impl Checks {
    pub fn new(rules: Arc<Rules>) -> Checks {
        let macros = Macros::over(rules.macros.clone());
        Checks {
            rules,
            macros,
            spent: std::time::Duration::ZERO,
        }
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    pub fn set(&mut self, name: &str, value: &str) {
        self.macros.set(name.as_bytes(), value.as_bytes());
    }

    pub fn unset(&mut self, name: &str) {
        self.macros.unset(name.as_bytes());
    }

    /// Runs `f` on a call of the engine with this session's macros; the
    /// messages it said are returned with its result.
    fn with_call<T>(
        &mut self,
        f: impl FnOnce(&mut rules::rewrite::Call<'_, '_>) -> T,
    ) -> (T, Vec<Message>) {
        let started = thread_cpu_time();
        let rules = self.rules.clone();
        let mut session = rules.engine.session_with(rules.take_buffers());
        let mut out = Collect::default();
        let resolver = &rules.resolver;
        let r = {
            let mut env = Env::new(&mut self.macros, &mut out, resolver);
            let mut call = session.call(&mut env);
            f(&mut call)
        };
        rules.give_buffers(session.into_buffers());
        self.spent += thread_cpu_time().saturating_sub(started);
        (r, out.messages)
    }

    /// The time spent in the engine since the last call.
    pub fn take_spent(&mut self) -> std::time::Duration {
        std::mem::take(&mut self.spent)
    }

    /// rscheck() of `name` with its log line, or Accept.
    fn check(&mut self, name: &str, p1: &[u8], p2: Option<&[u8]>, to: &[u8]) -> Outcome {
        self.check_with(name, p1, p2, to, CheckFlags::ADDRESS)
    }

    fn check_with(
        &mut self,
        name: &str,
        p1: &[u8],
        p2: Option<&[u8]>,
        to: &[u8],
        flags: CheckFlags,
    ) -> Outcome {
        let (verdict, messages) = self.with_call(|call| call.rscheck(name, p1, p2, flags, to));
        if verdict == Verdict::Accept {
            // The common case: no log line to build.
            return Outcome::Accept;
        }
        let mut log = format!("ruleset={name}, arg1={}", String::from_utf8_lossy(p1));
        if let Some(p2) = p2 {
            log.push_str(&format!(", arg2={}", String::from_utf8_lossy(p2)));
        }
        if let Some(relay) = self.macros.get(b"_") {
            log.push_str(&format!(", relay={}", String::from_utf8_lossy(relay)));
        }
        match verdict {
            Verdict::Accept => Outcome::Accept,
            Verdict::Discard => Outcome::Discard {
                log: format!("{log}, discard"),
            },
            Verdict::Quarantine(reason) => {
                let reason = String::from_utf8_lossy(&reason).into_owned();
                self.set("quarantine", &reason);
                Outcome::Quarantine {
                    log: format!("{log}, quarantine={reason}"),
                    reason,
                }
            }
            Verdict::Reject { .. } => {
                // MsgBuf: the last message said, which is the refusal.
                let reply = messages
                    .iter()
                    .rev()
                    .find(|m| m.kind == Kind::User)
                    .or(messages.last())
                    .map_or_else(|| "550 5.7.1 Access denied".into(), Message::smtp_reply);
                Outcome::Reject {
                    log: format!("{log}, reject={reply}"),
                    reply,
                }
            }
        }
    }

    /// check_relay at connect: `name` is `{client_name}` (`[addr]` when
    /// the client has none), `addr` its address as sendmail writes it.
    pub fn connect(&mut self, name: &str, addr: &str) -> Outcome {
        self.check("check_relay", name.as_bytes(), Some(addr.as_bytes()), b"")
    }

    /// The greet_pause ruleset on the client (FEATURE(greet_pause)): how
    /// long to wait for the client to talk before the greeting, from its
    /// `$# msecs` (at most 5 minutes, as sendmail caps it); None when the
    /// config has no such ruleset.
    pub fn greet_pause(&mut self, name: &str, addr: &str) -> Option<std::time::Duration> {
        let (ws, _) = self
            .with_call(|call| call.rscap("greet_pause", name.as_bytes(), Some(addr.as_bytes())));
        let ws = ws?;
        let msecs = match ws.as_slice() {
            [net, value, ..] if net.as_slice() == [rules::meta::CANONNET] => {
                let digits: Vec<u8> = value
                    .iter()
                    .copied()
                    .take_while(u8::is_ascii_digit)
                    .collect();
                String::from_utf8_lossy(&digits).parse::<u64>().unwrap_or(0)
            }
            _ => 0,
        };
        Some(std::time::Duration::from_millis(msecs).min(std::time::Duration::from_secs(300)))
    }

    /// setsender() on the MAIL argument (after `FROM:`): the first
    /// complaint is the reply. Sets `$f` and the `{mail_*}` macros.
    pub fn sender(&mut self, arg: &[u8]) -> Result<Parsed, String> {
        let ((a, end), messages) = self.with_call(|call| call.set_sender_to(arg, b"", b' '));
        if let Some(m) = messages.iter().find(|m| refuses(m)) {
            return Err(m.smtp_reply());
        }
        let Some(address) = a else {
            return Err("553 5.1.7 Invalid sender address".into());
        };
        // e_from.q_paddr: the address as the client gave it.
        self.set("mail_from", &String::from_utf8_lossy(&arg[..end]));
        self.set("mail_mailer", &address.mailer);
        let host = address.host.as_deref().map(String::from_utf8_lossy);
        self.set("mail_host", host.as_deref().unwrap_or("localhost"));
        self.set("mail_addr", &String::from_utf8_lossy(&address.user));
        Ok(Parsed { address, end })
    }

    /// check_mail on the address as the client sent it.
    pub fn check_mail(&mut self, addr: &[u8]) -> Outcome {
        self.set("addr_type", "e s");
        let o = self.check("check_mail", addr, None, addr);
        self.unset("addr_type");
        o
    }

    /// check_data at DATA, on the number of recipients (RSF_RMCOMM and
    /// RSF_UNSTRUCTURED, as smtp_data() calls it).
    pub fn check_data(&mut self, nrcpts: usize) -> Outcome {
        let flags = CheckFlags {
            remove_comments: true,
            unstructured: true,
        };
        self.check_with(
            "check_data",
            nrcpts.to_string().as_bytes(),
            None,
            b"",
            flags,
        )
    }

    /// check_eoh after the headers: `count $| bytes` (RSF_UNSTRUCTURED,
    /// as collect() calls it).
    pub fn check_eoh(&mut self, count: usize, bytes: usize) -> Outcome {
        let flags = CheckFlags::UNSTRUCTURED;
        self.check_with(
            "check_eoh",
            count.to_string().as_bytes(),
            Some(bytes.to_string().as_bytes()),
            b"",
            flags,
        )
    }

    /// check_eom at the end of the message, on its size, `{msg_size}`
    /// set to it.
    pub fn check_eom(&mut self, size: u64) -> Outcome {
        let size = size.to_string();
        self.set("msg_size", &size);
        let flags = CheckFlags::UNSTRUCTURED;
        self.check_with("check_eom", size.as_bytes(), None, b"", flags)
    }

    /// check_vrfy or check_expn on the argument.
    pub fn verify(&mut self, ruleset: &str, arg: &[u8]) -> Outcome {
        self.check(ruleset, arg, None, b"")
    }

    /// parseaddr() on the RCPT argument (after `TO:`), as a recipient:
    /// the first complaint (prescan, invalidaddr, a `$#error` of ruleset
    /// 0) is the reply. Sets the `{rcpt_*}` macros.
    pub fn recipient(&mut self, arg: &[u8]) -> Result<Parsed, String> {
        for m in ["rcpt_mailer", "rcpt_host", "rcpt_addr"] {
            self.unset(m);
        }
        self.set("addr_type", "e r");
        let ((a, end), messages) =
            self.with_call(|call| call.parse_address_to(arg, Flags::default(), b' '));
        self.unset("addr_type");
        if let Some(m) = messages.iter().find(|m| refuses(m)) {
            return Err(m.smtp_reply());
        }
        let Some(address) = a else {
            return Err("501 5.0.0 Missing recipient".into());
        };
        if address.bad {
            return Err("550 5.1.1 Addressee unknown".into());
        }
        self.set("rcpt_mailer", &address.mailer);
        let host = address.host.as_deref().map(String::from_utf8_lossy);
        self.set("rcpt_host", host.as_deref().unwrap_or("localhost"));
        self.set("rcpt_addr", &String::from_utf8_lossy(&address.user));
        Ok(Parsed { address, end })
    }

    /// check_rcpt on the address as the client sent it.
    pub fn check_rcpt(&mut self, addr: &[u8]) -> Outcome {
        self.set("addr_type", "e r");
        let o = self.check("check_rcpt", addr, None, addr);
        self.unset("addr_type");
        o
    }

    /// After RCPT: the `{rcpt_*}` macros go (srvrsmtp.c's rcpt_done).
    pub fn recipient_done(&mut self) {
        for m in ["rcpt_mailer", "rcpt_host", "rcpt_addr", "dsn_notify"] {
            self.unset(m);
        }
    }
}

/// The CPU time of this thread: what a call of the engine costs, without
/// the time the thread waited for a core.
fn thread_cpu_time() -> std::time::Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map_or(std::time::Duration::ZERO, std::time::Duration::from)
}

/// Whether a message said while parsing refuses the command: an error, not
/// a note (`050 Transient parse error`, said in verbose mode only).
fn refuses(m: &Message) -> bool {
    matches!(m.code[0], b'4' | b'5')
}

/// A client's address as sendmail's anynet_ntoa() writes it for the rules:
/// `192.0.2.1`, `IPv6:2001:db8::1` (an IPv4-mapped address as IPv4).
pub fn client_addr(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => format!("IPv6:{v6}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config with the first checks only: canonify and parse that take
    /// any address, and a check_rcpt that refuses one domain.
    fn checks() -> Checks {
        let cf = "V10/Berkeley\nO OperatorChars=.:@[]\n\
                  Mlocal, P=/bin/cat, F=lsA, A=cat\n\
                  Scanonify=3\nSparse=0\nR$*\t$#local $: $1\n\
                  Scheck_rcpt\nR<$* @ bad.example>\t$#error $@ 5.7.1 $: \"550 Relaying denied\"\n";
        let loaded = cfparser::load_bytes(
            std::path::Path::new("t.cf"),
            cf.as_bytes().to_vec(),
            &Default::default(),
        )
        .expect("config");
        Checks::new(Arc::new(Rules::load(&loaded.config, "mail.lab.example")))
    }

    #[test]
    fn parseaddr_replies_as_the_real_sendmail() {
        let mut c = checks();
        // Each reply below is what sendmail 8.17 answered to MAIL FROM:.
        assert!(c.sender(b"<a@b>").is_ok());
        assert_eq!(c.sender(b"<a@b> SIZE=10").map(|p| p.end).ok(), Some(5));
        assert!(c.sender(b"<\"a b\"@c>").is_ok());
        let err = |r: Result<Parsed, String>| r.err().unwrap_or_default();
        assert_eq!(err(c.sender(b"<a@b")), "553 5.0.0 <a@b... Unbalanced '<'");
        assert_eq!(err(c.sender(b"a@b>")), "553 5.0.0 a@b>... Unbalanced '>'");
        assert_eq!(
            err(c.sender(b"<a(b@c>")),
            "553 5.0.0 <a(b@c>... Unbalanced '('"
        );
        assert_eq!(
            err(c.sender(b"<a\x80b@c>")),
            "501 5.1.7 8-bit character in mailbox address \"<a?b@c>\""
        );
        assert_eq!(
            err(c.recipient(b"<a\x80b@c>")),
            "501 5.1.3 8-bit character in mailbox address \"<a?b@c>\""
        );
        // invalidaddr() refuses 0x80-0x9f only.
        assert!(c.recipient("<a\u{ff}b@c>".as_bytes()).is_ok());
    }

    #[test]
    fn the_triple_becomes_macros_and_check_rcpt_refuses() {
        let mut c = checks();
        let p = c.recipient(b"<u@bad.example> NOTIFY=NEVER").unwrap();
        assert_eq!(p.address.mailer, "local");
        assert_eq!(p.end, 15);
        assert_eq!(c.macros.get(b"rcpt_mailer"), Some(&b"local"[..]));
        assert_eq!(c.macros.get(b"rcpt_host"), Some(&b"localhost"[..]));
        c.set("_", "client.example [192.0.2.1]");
        match c.check_rcpt(b"<u@bad.example>") {
            Outcome::Reject { reply, log } => {
                assert_eq!(reply, "550 5.7.1 <u@bad.example>... Relaying denied");
                assert_eq!(
                    log,
                    "ruleset=check_rcpt, arg1=<u@bad.example>, \
                     relay=client.example [192.0.2.1], \
                     reject=550 5.7.1 <u@bad.example>... Relaying denied"
                );
            }
            o => panic!("{o:?}"),
        }
        assert_eq!(c.check_rcpt(b"<u@good.example>"), Outcome::Accept);
        // No check_relay or check_mail in this config: accepted.
        assert_eq!(c.connect("[192.0.2.1]", "192.0.2.1"), Outcome::Accept);
        assert_eq!(c.check_mail(b"<a@b>"), Outcome::Accept);
        c.recipient_done();
        assert_eq!(c.macros.get(b"rcpt_mailer"), None);
    }

    #[test]
    fn client_addresses_as_anynet_ntoa() {
        assert_eq!(client_addr("192.0.2.1".parse().unwrap()), "192.0.2.1");
        assert_eq!(client_addr("::1".parse().unwrap()), "IPv6:::1");
        assert_eq!(
            client_addr("::ffff:192.0.2.1".parse().unwrap()),
            "192.0.2.1"
        );
    }
}
