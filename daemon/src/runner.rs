//! The queue runner: takes due messages from the queue and delivers them,
//! recording each recipient's outcome before anything else happens.
//!
//! It wakes when a session has queued a message (DeliveryMode background
//! or interactive), when ETRN asks for a run, and every `-q` interval, as
//! sendmail's queue runs do (without `-q`, nothing is retried: sendmail's
//! rule too). What is delivered today: recipients routed to the `local`
//! mailer whose aliases lead to local mailboxes, written by the delivery
//! agent, and files aliases name (written as DefaultUser). Everything
//! else (other mailers, programs, remote aliases) stays queued, untouched,
//! with its reason in mailq, until the code for it lands. A permanent failure is
//! also held, not dropped: it is reported by a DSN, and until DSNs exist
//! the message keeps it in the queue for the admin to see.

use crate::agent::{Agent, Message, Reply, Request};
use crate::aliases::Target;
use crate::queue::work::{Outcome, WorkDb};
use crate::route::Router;
use crate::server::Shared;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The first retry comes after this; each later one waits twice as long,
/// up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: i64 = 5 * 60;
const MAX_BACKOFF: i64 = 4 * 3600;

/// Messages taken per pass.
const BATCH: usize = 200;

pub struct Runner {
    pub shared: Arc<Shared>,
    pub db: Arc<Mutex<WorkDb>>,
    pub router: Router,
    pub agent: Agent,
    /// `-q`: how often to look for retries that came due.
    pub interval: Option<Duration>,
}

impl Runner {
    pub async fn run(self: Arc<Self>) {
        // With -q, a run at start-up, as sendmail's; without, only what
        // arrives (or ETRN) starts one.
        if self.interval.is_none() {
            self.shared.wake.notified().await;
        }
        loop {
            let me = self.clone();
            let result = tokio::task::spawn_blocking(move || me.pass()).await;
            if let Ok(Err(e)) = result {
                eprintln!("mtad: queue run: {e}");
            }
            match self.interval {
                Some(every) => tokio::select! {
                    _ = self.shared.wake.notified() => {}
                    _ = tokio::time::sleep(every) => {}
                },
                None => self.shared.wake.notified().await,
            }
        }
    }

    /// One pass over the due messages.
    fn pass(&self) -> Result<(), String> {
        loop {
            let due = self
                .lock()
                .due(crate::clock::now(), BATCH)
                .map_err(|e| e.to_string())?;
            if due.is_empty() {
                return Ok(());
            }
            for id in &due {
                self.deliver(id)?;
            }
            if due.len() < BATCH {
                return Ok(());
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WorkDb> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn deliver(&self, id: &str) -> Result<(), String> {
        let Some(work) = self.lock().load(id).map_err(|e| e.to_string())? else {
            return Ok(());
        };
        // The message as every local target gets it: built once, moved
        // out of the queue row rather than copied per recipient.
        let prepend = if self
            .shared
            .config
            .mailer("local")
            .is_some_and(|m| m.has_flag('P'))
        {
            format!("Return-Path: <{}>\r\n", work.sender).into_bytes()
        } else {
            Vec::new()
        };
        let message = Message {
            sender: work.sender.clone(),
            date: crate::clock::ctime(work.arrival),
            prepend,
            headers: work.headers,
            body: work.body,
        };
        let mut outcomes = Vec::new();
        for r in &work.recipients {
            let outcome = match self.router.route(&r.address) {
                Ok(d) if d.mailer == "local" => self.local(&d.user, &message),
                Ok(d) => Outcome::Deferred(held(&format!("mailer {}", d.mailer))),
                Err(e) => Outcome::Deferred(format!("4.3.5 {e}")),
            };
            eprintln!(
                "mtad: {id}: to=<{}>, {}",
                r.address.escape_default(),
                describe(&outcome)
            );
            outcomes.push((r.idx, outcome));
        }
        let next = crate::clock::now() + backoff(work.attempts);
        self.shared
            .queue
            .record_blocking(id, outcomes, next)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// A local name: its alias expansion, each local mailbox through the
    /// agent. One outcome for the recipient: delivered if every mailbox
    /// took it, else deferred with the first reason.
    fn local(&self, user: &str, message: &Message) -> Outcome {
        let targets = match self.shared.policy.expand(user) {
            Ok(t) => t,
            Err(e) => return Outcome::Deferred(format!("4.3.5 {e}")),
        };
        let mut delivered = Vec::new();
        for target in targets {
            let reply = match target {
                Target::Local(name) => {
                    let base = name.split('+').next().unwrap_or(&name).to_string();
                    self.agent.call(&Request::Mailbox {
                        user: base,
                        message: message.clone(),
                    })
                }
                Target::File { path, .. } => self.agent.call(&Request::File {
                    path: path.display().to_string(),
                    message: message.clone(),
                }),
                Target::Remote(a) => Reply::Retry(held(&format!("<{a}>"))),
                Target::Program { command, .. } => Reply::Retry(held(&format!("\"|{command}\""))),
            };
            match reply {
                Reply::Delivered(text) => delivered.push(text),
                Reply::Retry(text) => return Outcome::Deferred(text),
                Reply::Bounce(text) => {
                    return Outcome::Deferred(format!("{text} (held: DSNs are not sent yet)"));
                }
            }
        }
        Outcome::Delivered(delivered.join("; "))
    }
}

/// Why a target stays queued: its kind of delivery is not written yet.
fn held(what: &str) -> String {
    format!("4.3.0 {what} is not delivered by this version yet; held in the queue")
}

/// The wait before attempt `attempts + 1`.
fn backoff(attempts: u32) -> i64 {
    FIRST_BACKOFF
        .saturating_mul(1i64 << attempts.min(20))
        .min(MAX_BACKOFF)
}

fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Delivered(t) => format!("stat=Sent ({t})"),
        Outcome::Deferred(t) => format!("stat=Deferred: {t}"),
        Outcome::Failed(t) => format!("stat=Failed: {t}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(0), 300);
        assert_eq!(backoff(1), 600);
        assert_eq!(backoff(5), 9600);
        assert_eq!(backoff(6), MAX_BACKOFF);
        assert_eq!(backoff(1000), MAX_BACKOFF);
    }
}
