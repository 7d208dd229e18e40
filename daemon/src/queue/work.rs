//! What the queue runner reads from the queue and records in it.
//!
//! Every outcome is written, in one IMMEDIATE transaction, before the
//! runner acts on it: a recipient marked delivered is never delivered
//! again, one marked for retry keeps its attempt count, and a message
//! leaves the queue in the same transaction that records its last
//! recipient's final state. A crash between a delivery and its record
//! repeats only that one delivery.

use super::store::{DB_FILE, QueueError, open_db};
use mtactl::protocol::{MessageDetail, QueueAction, QueueEntry, RecipientDetail};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};

/// A message the runner is to work on: its envelope, the recipients still
/// pending, and the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Work {
    pub id: String,
    pub arrival: i64,
    pub sender: String,
    pub body_type: Option<String>,
    pub ret: Option<String>,
    pub envid: Option<String>,
    /// Delivery attempts made so far (for the backoff).
    pub attempts: u32,
    /// Whether the delay warning (Timeout.queuewarn) went out.
    pub warned: bool,
    pub recipients: Vec<PendingRecipient>,
    pub headers: Vec<u8>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRecipient {
    /// Its place in the message's recipient list.
    pub idx: u32,
    pub address: String,
    pub orcpt: Option<String>,
    pub notify: Option<String>,
    pub attempts: u32,
    pub last_reply: Option<String>,
    /// Set for an alias expansion's target: the idx it came from.
    pub parent: Option<u32>,
    /// The alias (list) that named this target.
    pub alias: Option<String>,
    /// Whose rights a program or file target runs with (empty or None:
    /// DefaultUser).
    pub run_as: Option<String>,
}

/// An alias expansion to record: the targets `parent` expanded to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    pub parent: u32,
    pub children: Vec<Child>,
}

/// One target of an expansion, in the queue's notation: `|command`,
/// `/file`, `\user` (a mailbox, not expanded again), `user@domain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    pub address: String,
    pub alias: Option<String>,
    pub run_as: Option<String>,
}

/// What became of one recipient in one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered; the reply or status that said so.
    Delivered(String),
    /// Try again later.
    Deferred(String),
    /// Given up on: a permanent failure, or Timeout.queuereturn.
    Failed(String),
}

/// One attempt's results, recorded in one transaction: each recipient's
/// outcome, when to try again, whether the delay report went out with
/// it, and the reports (DSNs) to queue. A report and the outcome it
/// reports are committed together: a crash can neither lose the report
/// nor send it twice.
#[derive(Debug, Clone, Default)]
pub struct Attempt {
    pub outcomes: Vec<(u32, Outcome)>,
    pub next_attempt: i64,
    pub warned: bool,
    pub reports: Vec<crate::queue::NewMessage>,
}

impl Outcome {
    fn state(&self) -> (&'static str, &str) {
        match self {
            Outcome::Delivered(r) => ("delivered", r),
            Outcome::Deferred(r) => ("pending", r),
            Outcome::Failed(r) => ("failed", r),
        }
    }
}

/// The runner's own connection to the queue database.
pub struct WorkDb {
    conn: Connection,
    path: PathBuf,
}

impl WorkDb {
    pub fn open(dir: &Path) -> Result<WorkDb, QueueError> {
        let path = dir.join(DB_FILE);
        Ok(WorkDb {
            conn: open_db(&path)?,
            path,
        })
    }

    fn fail(&self, e: rusqlite::Error) -> QueueError {
        QueueError::Db {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// IDs of messages whose next attempt is due at `now` (seconds), the
    /// longest-waiting first, at most `limit`. Without `retries` (a pass
    /// that is not a queue run), only messages never tried and those an
    /// admin flushed.
    pub fn due(&self, now: i64, limit: usize, retries: bool) -> Result<Vec<String>, QueueError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id FROM messages WHERE state = 'queued' AND next_attempt <= ?1
                 AND (?3 OR attempts = 0 OR next_attempt = 0)
                 ORDER BY next_attempt, id LIMIT ?2",
            )
            .map_err(|e| self.fail(e))?;
        stmt.query_map(params![now, limit as i64, retries], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.fail(e))
    }

    /// Several messages, in one visit to the database; those that have
    /// left the queue are left out.
    pub fn load_many(&self, ids: &[String]) -> Result<Vec<Work>, QueueError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(w) = self.load(id)? {
                out.push(w);
            }
        }
        Ok(out)
    }

    /// The message and its pending recipients; `None` if it has left the
    /// queue.
    pub fn load(&self, id: &str) -> Result<Option<Work>, QueueError> {
        let work = self
            .conn
            .prepare_cached(
                "SELECT id, arrival, sender, body_type, ret, envid, attempts, warned, headers, body
                 FROM messages WHERE id = ?1",
            )
            .and_then(|mut stmt| {
                stmt.query_row([id], |r| {
                    Ok(Work {
                        id: r.get(0)?,
                        arrival: r.get(1)?,
                        sender: r.get(2)?,
                        body_type: r.get(3)?,
                        ret: r.get(4)?,
                        envid: r.get(5)?,
                        attempts: r.get(6)?,
                        warned: r.get(7)?,
                        recipients: Vec::new(),
                        headers: r.get(8)?,
                        body: r.get(9)?,
                    })
                })
            })
            .optional()
            .map_err(|e| self.fail(e))?;
        let Some(mut work) = work else {
            return Ok(None);
        };
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT idx, address, orcpt, notify, attempts, last_reply, parent, alias, run_as
                 FROM recipients WHERE message_id = ?1 AND state = 'pending' ORDER BY idx",
            )
            .map_err(|e| self.fail(e))?;
        work.recipients = stmt
            .query_map([id], |r| {
                Ok(PendingRecipient {
                    idx: r.get(0)?,
                    address: r.get(1)?,
                    orcpt: r.get(2)?,
                    notify: r.get(3)?,
                    attempts: r.get(4)?,
                    last_reply: r.get(5)?,
                    parent: r.get(6)?,
                    alias: r.get(7)?,
                    run_as: r.get(8)?,
                })
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| self.fail(e))?;
        Ok(Some(work))
    }

    /// Records one attempt's outcomes. With recipients still pending, the
    /// message waits until `next_attempt`; with none, it leaves the queue
    /// (true is returned). The caller sends any DSN first: a message whose
    /// failures still need reporting must not be removed. The daemon's
    /// runner goes through the queue writer instead
    /// (`Queue::record`, sharing its group commits); this is the
    /// same transaction on the tests' own connection.
    #[cfg(test)]
    pub fn record(
        &mut self,
        id: &str,
        outcomes: &[(u32, Outcome)],
        next_attempt: i64,
    ) -> Result<bool, QueueError> {
        let path = self.path.clone();
        let fail = |e: rusqlite::Error| QueueError::Db {
            path: path.clone(),
            message: e.to_string(),
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(fail)?;
        let attempt = Attempt {
            outcomes: outcomes.to_vec(),
            next_attempt,
            ..Attempt::default()
        };
        let done = record_in(&tx, id, &attempt).map_err(|e| QueueError::Db {
            path: self.path.clone(),
            message: e,
        })?;
        tx.commit().map_err(fail)?;
        Ok(done)
    }

    /// The queue as mtactl lists it.
    pub fn list(&mut self) -> Result<Vec<QueueEntry>, QueueError> {
        super::store::list_on(&self.conn).map_err(|e| self.fail(e))
    }

    /// One message for `mtactl queue show`; `None` if it is not queued.
    pub fn show(&mut self, id: &str, body: bool) -> Result<Option<MessageDetail>, QueueError> {
        let entry = self.list()?.into_iter().find(|e| e.queue_id == id);
        let Some(entry) = entry else { return Ok(None) };
        let row = self
            .conn
            .query_row(
                "SELECT envid, ret, client_addr, client_name, helo, protocol, headers, body
                 FROM messages WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, Vec<u8>>(6)?,
                        r.get::<_, Vec<u8>>(7)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.fail(e))?;
        let Some((envid, ret, addr, name, helo, protocol, headers, text)) = row else {
            return Ok(None);
        };
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT r.address, r.state, r.attempts, r.last_reply, r.notify, r.orcpt, p.address
                 FROM recipients r LEFT JOIN recipients p
                   ON p.message_id = r.message_id AND p.idx = r.parent
                 WHERE r.message_id = ?1 ORDER BY r.idx",
            )
            .map_err(|e| self.fail(e))?;
        let recipients = stmt
            .query_map([id], |r| {
                Ok(RecipientDetail {
                    address: r.get(0)?,
                    state: r.get(1)?,
                    attempts: r.get(2)?,
                    last_reply: r.get(3)?,
                    notify: r.get(4)?,
                    orcpt: r.get(5)?,
                    expanded_from: r.get(6)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.fail(e))?;
        Ok(Some(MessageDetail {
            entry,
            envid,
            ret,
            client: match name {
                Some(n) => format!("{n} [{addr}]"),
                None => format!("[{addr}]"),
            },
            helo,
            protocol,
            recipients,
            headers: String::from_utf8_lossy(&headers).into_owned(),
            body: body.then(|| String::from_utf8_lossy(&text).into_owned()),
        }))
    }

    /// flush, hold, release or delete the messages named by `ids`, or
    /// with a pending recipient at `domain`, or all. One IMMEDIATE
    /// transaction. Returns how many were touched and the IDs not found.
    pub fn act(
        &mut self,
        action: QueueAction,
        ids: &[String],
        domain: Option<&str>,
        all: bool,
    ) -> Result<(usize, Vec<String>), QueueError> {
        let path = self.path.clone();
        let fail = |e: rusqlite::Error| QueueError::Db {
            path: path.clone(),
            message: e.to_string(),
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(fail)?;
        let mut targets: Vec<String> = Vec::new();
        let mut missing = Vec::new();
        if all {
            let mut stmt = tx.prepare("SELECT id FROM messages").map_err(fail)?;
            targets = stmt
                .query_map([], |r| r.get(0))
                .and_then(|rows| rows.collect())
                .map_err(fail)?;
        } else if let Some(d) = domain {
            let mut stmt = tx
                .prepare(
                    "SELECT DISTINCT message_id FROM recipients
                     WHERE state IN ('pending', 'expanded')
                       AND lower(address) LIKE '%@' || lower(?1) ESCAPE '\\'",
                )
                .map_err(fail)?;
            targets = stmt
                .query_map([escape_like(d)], |r| r.get(0))
                .and_then(|rows| rows.collect())
                .map_err(fail)?;
        }
        for id in ids {
            let exists: bool = tx
                .query_row(
                    "SELECT count(*) > 0 FROM messages WHERE id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .map_err(fail)?;
            if exists {
                targets.push(id.clone());
            } else {
                missing.push(id.clone());
            }
        }
        targets.sort();
        targets.dedup();
        let sql = match action {
            QueueAction::Flush => {
                "UPDATE messages SET next_attempt = 0 WHERE id = ?1 AND state = 'queued'"
            }
            QueueAction::Hold => "UPDATE messages SET state = 'held' WHERE id = ?1",
            QueueAction::Release => {
                "UPDATE messages SET state = 'queued', next_attempt = 0 WHERE id = ?1"
            }
            QueueAction::Delete => "DELETE FROM messages WHERE id = ?1",
        };
        let mut count = 0;
        for id in &targets {
            count += tx.execute(sql, [id]).map_err(fail)?;
        }
        tx.commit().map_err(fail)?;
        Ok((count, missing))
    }

    /// Makes every waiting message due now (ETRN, `-q` by hand); with a
    /// domain, only messages with a pending recipient there (and, with
    /// `subdomains`, below it), or an alias there whose targets are
    /// pending. Returns how many.
    pub fn hurry(&mut self, domain: Option<&str>, subdomains: bool) -> Result<usize, QueueError> {
        let n = match domain {
            None => self.conn.execute(
                "UPDATE messages SET next_attempt = 0 WHERE state = 'queued'",
                [],
            ),
            Some(d) => self.conn.execute(
                "UPDATE messages SET next_attempt = 0 WHERE state = 'queued' AND id IN
                 (SELECT message_id FROM recipients WHERE state IN ('pending', 'expanded')
                  AND (lower(address) LIKE '%@' || lower(?1) ESCAPE '\\'
                       OR (?2 AND lower(address) LIKE '%@%.' || lower(?1) ESCAPE '\\')))",
                params![escape_like(d), subdomains],
            ),
        };
        n.map_err(|e| self.fail(e))
    }
}

/// The statements of [`WorkDb::record`], inside the caller's transaction.
pub(crate) fn record_in(
    tx: &rusqlite::Transaction<'_>,
    id: &str,
    attempt: &Attempt,
) -> Result<bool, String> {
    for report in &attempt.reports {
        super::store::insert(tx, report)?;
    }
    record_outcomes(
        tx,
        id,
        &attempt.outcomes,
        attempt.next_attempt,
        attempt.warned,
    )
    .map_err(|e| e.to_string())
}

fn record_outcomes(
    tx: &rusqlite::Transaction<'_>,
    id: &str,
    outcomes: &[(u32, Outcome)],
    next_attempt: i64,
    warned: bool,
) -> rusqlite::Result<bool> {
    {
        let mut stmt = tx.prepare_cached(
            "UPDATE recipients SET state = ?3, last_reply = ?4, attempts = attempts + 1
             WHERE message_id = ?1 AND idx = ?2 AND state = 'pending'",
        )?;
        for (idx, outcome) in outcomes {
            let (state, reply) = outcome.state();
            stmt.execute(params![id, idx, state, reply])?;
        }
    }
    let pending: i64 = tx
        .prepare_cached(
            "SELECT count(*) FROM recipients WHERE message_id = ?1 AND state = 'pending'",
        )?
        .query_row([id], |r| r.get(0))?;
    let status = outcomes.iter().rev().find_map(|(_, o)| match o {
        Outcome::Deferred(r) => Some(r.clone()),
        _ => None,
    });
    let done = pending == 0;
    if done {
        tx.prepare_cached("DELETE FROM messages WHERE id = ?1")?
            .execute([id])?;
    } else {
        tx.prepare_cached(
            "UPDATE messages SET attempts = attempts + 1, next_attempt = ?2,
             status_message = coalesce(?3, status_message), warned = warned OR ?4
             WHERE id = ?1",
        )?
        .execute(params![id, next_attempt, status, warned])?;
    }
    Ok(done)
}

/// The statements of [`super::Queue::expand`]: targets get the next free
/// idx numbers and their parent's NOTIFY and ORCPT.
pub(crate) fn expand_in(
    tx: &rusqlite::Transaction<'_>,
    id: &str,
    expansions: &[Expansion],
) -> Result<(), String> {
    let sql = |e: rusqlite::Error| e.to_string();
    let mut next: i64 = tx
        .query_row(
            "SELECT coalesce(max(idx), -1) + 1 FROM recipients WHERE message_id = ?1",
            [id],
            |r| r.get(0),
        )
        .map_err(sql)?;
    for e in expansions {
        let changed = tx
            .execute(
                "UPDATE recipients SET state = 'expanded', attempts = attempts + 1
                 WHERE message_id = ?1 AND idx = ?2 AND state = 'pending'",
                params![id, e.parent],
            )
            .map_err(sql)?;
        if changed != 1 {
            // Expanded before (a repeated job): nothing to add.
            continue;
        }
        for c in &e.children {
            tx.execute(
                "INSERT INTO recipients (message_id, idx, address, orcpt, notify, parent, alias, run_as)
                 SELECT ?1, ?2, ?3, orcpt, notify, ?4, ?5, ?6 FROM recipients
                 WHERE message_id = ?1 AND idx = ?4",
                params![id, next, c.address, e.parent, c.alias, c.run_as],
            )
            .map_err(sql)?;
            next += 1;
        }
    }
    Ok(())
}

/// `d` with LIKE's wildcards taken literally.
fn escape_like(d: &str) -> String {
    let mut out = String::with_capacity(d.len());
    for c in d.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{NewMessage, Queue};

    fn message(recipients: &[&str]) -> NewMessage {
        crate::queue::store::sample_message("alice@example.org", recipients)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn attempts_are_recorded_and_finished_messages_leave() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(dir.path()).unwrap();
        let id = q
            .commit(message(&["a@x.example", "b@y.example", "c@x.example"]))
            .await
            .unwrap();
        let mut db = WorkDb::open(dir.path()).unwrap();
        assert_eq!(db.due(0, 10, true).unwrap(), vec![id.clone()]);
        assert_eq!(
            db.due(0, 10, false).unwrap(),
            vec![id.clone()],
            "never tried"
        );
        let w = db.load(&id).unwrap().unwrap();
        assert_eq!(w.recipients.len(), 3);
        assert_eq!(w.body, b"hello\r\n");

        let done = db
            .record(
                &id,
                &[
                    (0, Outcome::Delivered("250 ok".into())),
                    (1, Outcome::Deferred("451 try later".into())),
                    (2, Outcome::Failed("550 no".into())),
                ],
                1000,
            )
            .unwrap();
        assert!(!done);
        assert!(
            db.due(999, 10, true).unwrap().is_empty(),
            "not before its time"
        );
        assert_eq!(db.due(1000, 10, true).unwrap(), vec![id.clone()]);
        // Deferred: a queue run's, not a wake-up's, until an admin flushes.
        assert!(db.due(1000, 10, false).unwrap().is_empty());
        let w = db.load(&id).unwrap().unwrap();
        assert_eq!(w.attempts, 1);
        assert!(!w.warned);
        assert_eq!(w.recipients.len(), 1);
        assert_eq!(w.recipients[0].address, "b@y.example");
        assert_eq!(w.recipients[0].attempts, 1);
        assert_eq!(w.recipients[0].last_reply.as_deref(), Some("451 try later"));
        let listed = crate::queue::store::list(dir.path()).unwrap();
        assert_eq!(listed[0].status.as_deref(), Some("451 try later"));
        assert_eq!(listed[0].queue_name, "deferred");
        assert_eq!(
            listed[0].recipients[0].delay_reason.as_deref(),
            Some("451 try later")
        );

        // A second record of the delivered one changes nothing.
        db.record(&id, &[(0, Outcome::Failed("x".into()))], 2000)
            .unwrap();
        assert!(
            db.record(&id, &[(1, Outcome::Delivered("250 ok".into()))], 0)
                .unwrap()
        );
        assert_eq!(db.load(&id).unwrap(), None);
        assert!(crate::queue::store::list(dir.path()).unwrap().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn outcomes_through_the_writer_share_its_commits() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(dir.path()).unwrap();
        let id = q
            .commit(message(&["a@x.example", "b@x.example"]))
            .await
            .unwrap();
        let attempt = |idx, next| Attempt {
            outcomes: vec![(idx, Outcome::Delivered("250".into()))],
            next_attempt: next,
            ..Attempt::default()
        };
        let first = q.record(&id, attempt(0, 77)).await.unwrap();
        assert!(!first);
        let db = WorkDb::open(dir.path()).unwrap();
        assert!(db.due(76, 10, true).unwrap().is_empty());
        assert_eq!(db.load(&id).unwrap().unwrap().recipients.len(), 1);
        let done = q.record(&id, attempt(1, 0)).await.unwrap();
        assert!(done);
        assert_eq!(db.load(&id).unwrap(), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn expansions_become_recipients_of_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(dir.path()).unwrap();
        let id = q
            .commit(message(&["list@localhost", "b@y.example"]))
            .await
            .unwrap();
        let child = |a: &str| Child {
            address: a.into(),
            alias: Some("list".into()),
            run_as: None,
        };
        let expansion = Expansion {
            parent: 0,
            children: vec![child("\\bob"), child("|cat"), child("/tmp/f")],
        };
        q.expand(&id, vec![expansion.clone()]).await.unwrap();
        // Repeated (a retried job): nothing more is added.
        q.expand(&id, vec![expansion]).await.unwrap();
        let db = WorkDb::open(dir.path()).unwrap();
        let w = db.load(&id).unwrap().unwrap();
        let got: Vec<(u32, &str, Option<u32>)> = w
            .recipients
            .iter()
            .map(|r| (r.idx, r.address.as_str(), r.parent))
            .collect();
        assert_eq!(
            got,
            [
                (1, "b@y.example", None),
                (2, "\\bob", Some(0)),
                (3, "|cat", Some(0)),
                (4, "/tmp/f", Some(0))
            ]
        );
        assert_eq!(
            w.recipients[1].notify.as_deref(),
            Some("FAILURE,DELAY"),
            "the parent's NOTIFY"
        );
        assert_eq!(w.recipients[1].alias.as_deref(), Some("list"));
        // The targets finish the message; the expanded parent does not
        // hold it.
        let all: Vec<(u32, Outcome)> = [1, 2, 3, 4]
            .iter()
            .map(|&i| (i, Outcome::Delivered("ok".into())))
            .collect();
        let done = q
            .record(
                &id,
                Attempt {
                    outcomes: all,
                    ..Attempt::default()
                },
            )
            .await
            .unwrap();
        assert!(done);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hurry_by_domain() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(dir.path()).unwrap();
        let a = q.commit(message(&["u@Slow.Example"])).await.unwrap();
        let b = q.commit(message(&["u@other.example"])).await.unwrap();
        let c = q.commit(message(&["u@slow_example"])).await.unwrap();
        let sub = q.commit(message(&["u@mx.slow.example"])).await.unwrap();
        let mut db = WorkDb::open(dir.path()).unwrap();
        for id in [&a, &b, &c, &sub] {
            db.record(id, &[(0, Outcome::Deferred("451".into()))], 5000)
                .unwrap();
        }
        assert!(db.due(100, 10, true).unwrap().is_empty());
        assert_eq!(db.hurry(Some("slow.example"), false).unwrap(), 1);
        assert_eq!(db.due(100, 10, true).unwrap(), vec![a.clone()]);
        // Hurried (ETRN) is flushed: a wake-up delivers it.
        assert_eq!(db.due(100, 10, false).unwrap(), vec![a.clone()]);
        assert_eq!(db.hurry(Some("slow.example"), true).unwrap(), 2);
        let mut due = db.due(100, 10, true).unwrap();
        due.sort();
        let mut want = vec![a, sub];
        want.sort();
        assert_eq!(due, want);
        assert_eq!(db.hurry(None, false).unwrap(), 4);
        assert_eq!(db.due(100, 10, true).unwrap().len(), 4);
    }

    #[test]
    fn a_version_1_queue_is_brought_up_to_date() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE messages (id TEXT PRIMARY KEY, arrival INTEGER NOT NULL,
             sender TEXT NOT NULL, size INTEGER NOT NULL, body_type TEXT, ret TEXT, envid TEXT,
             declared_size INTEGER, client_addr TEXT NOT NULL, client_name TEXT,
             client_verified INTEGER NOT NULL, helo TEXT, protocol TEXT NOT NULL,
             daemon TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'queued', status_message TEXT,
             headers BLOB NOT NULL, body BLOB NOT NULL) WITHOUT ROWID;
             INSERT INTO messages (id, arrival, sender, size, client_addr, client_verified,
             protocol, daemon, headers, body) VALUES ('old', 1, 's', 1, '127.0.0.1', 0, 'SMTP',
             'MTA', x'', x'');
             PRAGMA user_version = 1;",
        )
        .unwrap();
        drop(old);
        let db = WorkDb::open(dir.path()).unwrap();
        assert_eq!(db.due(0, 10, true).unwrap(), vec!["old".to_string()]);
        let v: i64 = db
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, 3);
    }
}
