//! Delivery status notifications (RFC 3464): the report a sender gets when
//! a message could not be delivered (failed), is late (delayed, at
//! Timeout.queuewarn), or was delivered and the sender asked to hear so
//! (NOTIFY=SUCCESS).
//!
//! A DSN is a multipart/report with three parts: a text for people, the
//! machine-readable message/delivery-status, and the original message:
//! its header section (text/rfc822-headers) unless RET=FULL asked for all
//! of it (message/rfc822). It is sent from the null sender `<>`, so that
//! it can never cause another DSN to its sender.

use crate::queue::work::Work;
use crate::queue::{NewMessage, NewRecipient};

/// How a delivery's text ends when the next host took no DSN parameters.
pub const RELAYED: &str = " (relayed to a host without DSN)";

/// What the report says about each recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Failed,
    Delayed,
    Delivered,
    /// Passed to a host that will not report success itself.
    Relayed,
}

impl Action {
    fn word(self) -> &'static str {
        match self {
            Action::Failed => "failed",
            Action::Delayed => "delayed",
            Action::Delivered => "delivered",
            Action::Relayed => "relayed",
        }
    }
}

/// One recipient's line in the report.
#[derive(Debug, Clone)]
pub struct Entry {
    pub address: String,
    pub orcpt: Option<String>,
    pub action: Action,
    /// The outcome's text: `550 5.1.1 ...` from a server, or `5.1.1 ...`.
    pub text: String,
}

/// Whether a recipient's NOTIFY= asks for a report of this kind. Without
/// NOTIFY, failures and delays are reported (RFC 3461 §4.1), successes not.
pub fn wanted(notify: Option<&str>, action: Action) -> bool {
    let Some(n) = notify else {
        return matches!(action, Action::Failed | Action::Delayed);
    };
    let word = match action {
        Action::Failed => "FAILURE",
        Action::Delayed => "DELAY",
        Action::Delivered | Action::Relayed => "SUCCESS",
    };
    n.split(',').any(|w| w.trim().eq_ignore_ascii_case(word))
}

/// The enhanced status code in an outcome's text, or one made from its
/// reply code (or the action) when it has none.
pub fn status_of(text: &str, action: Action) -> String {
    for word in text.split_ascii_whitespace().take(3) {
        let w = word.trim_end_matches([',', ':', ';']);
        let parts: Vec<&str> = w.split('.').collect();
        if parts.len() == 3
            && matches!(parts[0], "2" | "4" | "5")
            && parts[1..]
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        {
            return w.to_string();
        }
    }
    match (text.as_bytes().first(), action) {
        (_, Action::Delivered | Action::Relayed) => "2.0.0".into(),
        (_, Action::Delayed) => "4.0.0".into(),
        (Some(b'4'), Action::Failed) => "4.0.0".into(),
        _ => "5.0.0".into(),
    }
}

/// Builds the report for `work`'s sender. `me` is our host name ($j);
/// `retry_until` (seconds) is given for delay reports.
pub fn report(
    work: &Work,
    entries: &[Entry],
    me: &str,
    now: i64,
    retry_until: Option<i64>,
    to: &str,
) -> NewMessage {
    let id = crate::queue::id::new_id();
    let boundary = format!("{id}.{now}/{me}");
    let kind = entries.first().map_or(Action::Failed, |e| e.action);
    let subject = match kind {
        Action::Failed => "Returned mail: see transcript for details",
        Action::Delayed => "Warning: could not send message for past while",
        Action::Delivered | Action::Relayed => "Successful Mail Delivery Report",
    };
    let mut headers = String::new();
    headers.push_str(&format!(
        "Received: from localhost by {me} (mtad/{v}) id {id}; {date}\r\n",
        v = env!("CARGO_PKG_VERSION"),
        date = crate::clock::rfc5322(now)
    ));
    headers.push_str(&format!("Date: {}\r\n", crate::clock::rfc5322(now)));
    headers.push_str(&format!(
        "From: Mail Delivery Subsystem <MAILER-DAEMON@{me}>\r\n"
    ));
    headers.push_str(&format!("To: <{to}>\r\n"));
    headers.push_str(&format!("Message-Id: <{id}@{me}>\r\n"));
    headers.push_str(&format!("Subject: {subject}\r\n"));
    headers.push_str(&format!(
        "Auto-Submitted: auto-generated ({})\r\n",
        kind.word()
    ));
    headers.push_str("MIME-Version: 1.0\r\n");
    headers.push_str(&format!(
        "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n"
    ));

    let mut body = String::new();
    body.push_str("This is a MIME-encapsulated message\r\n\r\n");
    body.push_str(&format!("--{boundary}\r\n"));
    body.push_str("Content-Type: text/plain; charset=us-ascii\r\n\r\n");
    body.push_str(&format!(
        "The original message was received at {}\r\nfrom {}\r\n\r\n",
        crate::clock::rfc5322(work.arrival),
        if work.sender.is_empty() {
            "<>".to_string()
        } else {
            format!("<{}>", work.sender)
        }
    ));
    let heading = match kind {
        Action::Failed => "   ----- The following addresses had permanent fatal errors -----",
        Action::Delayed => "   ----- The following addresses had transient non-fatal errors -----",
        Action::Delivered | Action::Relayed => {
            "   ----- The following addresses had successful delivery notifications -----"
        }
    };
    body.push_str(heading);
    body.push_str("\r\n");
    for e in entries {
        body.push_str(&format!("<{}>\r\n    ({})\r\n", e.address, clean(&e.text)));
    }
    if kind == Action::Delayed {
        body.push_str("\r\nThe message will be tried again; you do not need to resend it.\r\n");
    }
    body.push_str(&format!("\r\n--{boundary}\r\n"));
    body.push_str("Content-Type: message/delivery-status\r\n\r\n");
    body.push_str(&format!("Reporting-MTA: dns; {me}\r\n"));
    if let Some(envid) = &work.envid {
        body.push_str(&format!("Original-Envelope-Id: {envid}\r\n"));
    }
    body.push_str(&format!(
        "Arrival-Date: {}\r\n",
        crate::clock::rfc5322(work.arrival)
    ));
    for e in entries {
        body.push_str("\r\n");
        if let Some(o) = &e.orcpt {
            body.push_str(&format!("Original-Recipient: {o}\r\n"));
        }
        body.push_str(&format!("Final-Recipient: RFC822; {}\r\n", e.address));
        body.push_str(&format!("Action: {}\r\n", e.action.word()));
        body.push_str(&format!("Status: {}\r\n", status_of(&e.text, e.action)));
        let text = clean(&e.text);
        if text.as_bytes().first().is_some_and(u8::is_ascii_digit)
            && text.as_bytes().get(1).is_some_and(u8::is_ascii_digit)
        {
            body.push_str(&format!("Diagnostic-Code: SMTP; {text}\r\n"));
        } else {
            body.push_str(&format!("Diagnostic-Code: X-Unix; {text}\r\n"));
        }
        body.push_str(&format!(
            "Last-Attempt-Date: {}\r\n",
            crate::clock::rfc5322(now)
        ));
        if let Some(until) = retry_until {
            body.push_str(&format!(
                "Will-Retry-Until: {}\r\n",
                crate::clock::rfc5322(until)
            ));
        }
    }
    body.push_str(&format!("\r\n--{boundary}\r\n"));
    let full = work
        .ret
        .as_deref()
        .is_some_and(|r| r.eq_ignore_ascii_case("FULL"));
    let mut body = body.into_bytes();
    if full {
        body.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
        body.extend_from_slice(&work.headers);
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(&work.body);
        if !work.body.ends_with(b"\r\n") && !work.body.is_empty() {
            body.extend_from_slice(b"\r\n");
        }
    } else {
        body.extend_from_slice(b"Content-Type: text/rfc822-headers\r\n\r\n");
        body.extend_from_slice(&work.headers);
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());

    NewMessage {
        id,
        arrival: now,
        sender: String::new(),
        recipients: vec![NewRecipient {
            address: to.to_string(),
            orcpt: None,
            notify: None,
        }],
        body_type: Some("8BITMIME".into()),
        ret: None,
        envid: None,
        declared_size: None,
        client_addr: "127.0.0.1".into(),
        client_name: Some("localhost".into()),
        client_verified: true,
        helo: None,
        protocol: "local".into(),
        daemon: "MTA".into(),
        headers: headers.into_bytes(),
        body,
        quarantine: None,
    }
}

/// Text from a server or the system, made safe for one header line: no
/// control characters, bounded length.
fn clean(text: &str) -> String {
    let mut s: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.len() > 900 {
        let mut cut = 900;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_defaults_and_words() {
        assert!(wanted(None, Action::Failed));
        assert!(wanted(None, Action::Delayed));
        assert!(!wanted(None, Action::Delivered));
        assert!(!wanted(Some("NEVER"), Action::Failed));
        assert!(wanted(Some("SUCCESS,DELAY"), Action::Delayed));
        assert!(!wanted(Some("SUCCESS"), Action::Failed));
    }

    #[test]
    fn status_codes() {
        assert_eq!(status_of("550 5.1.1 no such user", Action::Failed), "5.1.1");
        assert_eq!(
            status_of("4.4.1 mx [1.2.3.4]: refused", Action::Delayed),
            "4.4.1"
        );
        assert_eq!(status_of("550 nope", Action::Failed), "5.0.0");
        assert_eq!(status_of("timeout", Action::Delayed), "4.0.0");
    }

    #[test]
    fn report_layout() {
        let work = Work {
            id: "X".into(),
            arrival: 1_795_695_428,
            sender: "alice@example.org".into(),
            body_type: None,
            ret: Some("FULL".into()),
            envid: Some("abc".into()),
            attempts: 1,
            warned: false,
            recipients: vec![],
            headers: b"Subject: hi\r\n".to_vec(),
            body: b"body\r\n".to_vec(),
        };
        let m = report(
            &work,
            &[Entry {
                address: "bob@x.example".into(),
                orcpt: Some("rfc822;bob@x.example".into()),
                action: Action::Failed,
                text: "550 5.1.1 no\r\nsuch".into(),
            }],
            "mail.example",
            1_795_695_500,
            None,
            "alice@example.org",
        );
        assert_eq!(m.sender, "");
        assert_eq!(m.recipients[0].address, "alice@example.org");
        let body = String::from_utf8(m.body).unwrap();
        assert!(
            body.contains("Action: failed\r\nStatus: 5.1.1\r\n"),
            "{body}"
        );
        assert!(body.contains("Diagnostic-Code: SMTP; 550 5.1.1 no  such\r\n"));
        assert!(body.contains("Original-Envelope-Id: abc\r\n"));
        assert!(body.contains("Content-Type: message/rfc822\r\n\r\nSubject: hi\r\n\r\nbody\r\n"));
    }
}
