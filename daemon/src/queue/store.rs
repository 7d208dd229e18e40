//! The queue on disk: one SQLite database under QueueDirectory, in WAL mode
//! with `synchronous=FULL`, so that a committed message survives a crash or
//! a power cut.
//!
//! Every message is stored whole in one transaction: envelope, recipients,
//! headers and body. A message is either all there or not there at all, and
//! it is acknowledged (250) only after that transaction has committed.
//!
//! One writer thread owns the connection and commits in groups: every
//! message that arrives while a commit is running goes into the next one.
//! With N sessions finishing DATA at once, the disk sees one fsync sequence,
//! not N; durability does not cap throughput at the disk's fsync rate.
//!
//! Values a client supplied (addresses, HELO name, parameters, the message)
//! are bound as SQL parameters, never spliced into text.

use mtactl::protocol::{QueueEntry, QueueRecipient};
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// The database file inside QueueDirectory.
pub const DB_FILE: &str = "queue.db";

/// The most messages committed in one transaction.
const MAX_BATCH: usize = 512;

/// Why the queue could not take or give a message.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue database {path}: {message}")]
    Db { path: PathBuf, message: String },
    #[error("queue directory {path}: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the queue writer has stopped")]
    Stopped,
}

/// One recipient as the client gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecipient {
    /// The address, without angle brackets.
    pub address: String,
    /// ORCPT=, as given (`rfc822;user@example.com`).
    pub orcpt: Option<String>,
    /// NOTIFY=, as given (`SUCCESS,FAILURE`).
    pub notify: Option<String>,
}

/// A message ready to be queued.
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    /// Its queue ID ([`super::id::new_id`]), made before the message is
    /// stored because the Received header names it.
    pub id: String,
    /// Seconds since the epoch.
    pub arrival: i64,
    /// The envelope sender without angle brackets; empty for `<>`.
    pub sender: String,
    pub recipients: Vec<NewRecipient>,
    /// BODY= (7BIT or 8BITMIME), RET= (FULL or HDRS), ENVID=.
    pub body_type: Option<String>,
    pub ret: Option<String>,
    pub envid: Option<String>,
    /// SIZE= as declared.
    pub declared_size: Option<u64>,
    pub client_addr: String,
    /// The client's name and whether it was forward-confirmed.
    pub client_name: Option<String>,
    pub client_verified: bool,
    pub helo: Option<String>,
    /// SMTP or ESMTP (or ESMTPS).
    pub protocol: String,
    /// The DaemonPortOptions Name= of the listener.
    pub daemon: String,
    /// The header section as received plus the headers mtad added, CRLF
    /// line ends, without the blank line.
    pub headers: Vec<u8>,
    /// The body, CRLF line ends, dot-stuffing removed.
    pub body: Vec<u8>,
    /// A check's quarantine reason: the message is queued held (`mtactl
    /// queue` shows it; `mtactl release` lets it go).
    pub quarantine: Option<String>,
}

impl NewMessage {
    /// The size sendmail reports: headers and body.
    pub fn size(&self) -> u64 {
        (self.headers.len() + 2 + self.body.len()) as u64
    }
}

type Reply = tokio::sync::oneshot::Sender<Result<String, String>>;
type RecordReply = tokio::sync::oneshot::Sender<Result<bool, String>>;

/// What the writer thread commits: new messages from sessions, and the
/// queue runner's outcomes, in the same groups (one fsync for both).
enum Job {
    Store {
        message: Box<NewMessage>,
        reply: Reply,
    },
    Record {
        id: String,
        attempt: Box<super::work::Attempt>,
        reply: RecordReply,
    },
    Expand {
        id: String,
        expansions: Vec<super::work::Expansion>,
        reply: RecordReply,
    },
    Hosts {
        hosts: Vec<HostRow>,
        reply: RecordReply,
    },
}

/// One host's last result, as the `hosts` table keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRow {
    /// `192.0.2.1:25`.
    pub addr: String,
    pub name: String,
    /// Seconds since the epoch.
    pub last: i64,
    pub ok: bool,
    pub status: String,
}

/// The queue as the daemon writes it.
#[derive(Clone)]
pub struct Queue {
    tx: mpsc::Sender<Job>,
    dir: PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    id              TEXT PRIMARY KEY,
    arrival         INTEGER NOT NULL,
    sender          TEXT NOT NULL,
    size            INTEGER NOT NULL,
    body_type       TEXT,
    ret             TEXT,
    envid           TEXT,
    declared_size   INTEGER,
    client_addr     TEXT NOT NULL,
    client_name     TEXT,
    client_verified INTEGER NOT NULL,
    helo            TEXT,
    protocol        TEXT NOT NULL,
    daemon          TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'queued',
    status_message  TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt    INTEGER NOT NULL DEFAULT 0,
    warned          INTEGER NOT NULL DEFAULT 0,
    headers         BLOB NOT NULL,
    body            BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS recipients (
    message_id  TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL,
    address     TEXT NOT NULL,
    orcpt       TEXT,
    notify      TEXT,
    state       TEXT NOT NULL DEFAULT 'pending',
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_reply  TEXT,
    -- An alias expansion's targets are rows of their own: parent is the
    -- idx of the recipient they came from (whose state is then
    -- 'expanded'), alias the list that named them (for owner-NAME), run_as
    -- whose rights a program or file delivery takes (empty: DefaultUser).
    parent      INTEGER,
    alias       TEXT,
    run_as      TEXT,
    PRIMARY KEY (message_id, idx)
) WITHOUT ROWID;
-- The last result per host address (sendmail's host status), for
-- `mtad -bh` and `mtactl hosts`.
CREATE TABLE IF NOT EXISTS hosts (
    addr    TEXT PRIMARY KEY,
    name    TEXT NOT NULL,
    last    INTEGER NOT NULL,
    ok      INTEGER NOT NULL,
    status  TEXT NOT NULL
) WITHOUT ROWID;
";

/// The schema's version, in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 3;

/// Brings a queue made by an older mtad up to [`SCHEMA_VERSION`]; no
/// message is touched.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version < 2 {
        // Version 1 had no retry bookkeeping.
        let mut have = Vec::new();
        conn.pragma(None, "table_info", "messages", |r| {
            have.push(r.get::<_, String>(1)?);
            Ok(())
        })?;
        for (column, decl) in [
            ("attempts", "INTEGER NOT NULL DEFAULT 0"),
            ("next_attempt", "INTEGER NOT NULL DEFAULT 0"),
            ("warned", "INTEGER NOT NULL DEFAULT 0"),
        ] {
            if !have.iter().any(|c| c == column) {
                conn.execute_batch(&format!("ALTER TABLE messages ADD COLUMN {column} {decl}"))?;
            }
        }
    }
    if version < 3 {
        // Version 2 kept an alias expansion inside its recipient.
        let mut have = Vec::new();
        conn.pragma(None, "table_info", "recipients", |r| {
            have.push(r.get::<_, String>(1)?);
            Ok(())
        })?;
        for column in ["parent INTEGER", "alias TEXT", "run_as TEXT"] {
            let name = column.split(' ').next().unwrap_or(column);
            if !have.iter().any(|c| c == name) {
                conn.execute_batch(&format!("ALTER TABLE recipients ADD COLUMN {column}"))?;
            }
        }
    }
    if version < SCHEMA_VERSION {
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    Ok(())
}

/// Opens (creating if needed) the database with the settings durability
/// needs.
pub(crate) fn open_db(path: &Path) -> Result<Connection, QueueError> {
    let fail = |e: rusqlite::Error| QueueError::Db {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let conn = Connection::open(path).map_err(fail)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(fail)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(QueueError::Db {
            path: path.to_path_buf(),
            message: format!("journal_mode is {mode}, not WAL"),
        });
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(fail)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(fail)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(fail)?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.execute_batch(SCHEMA).map_err(fail)?;
    migrate(&conn).map_err(fail)?;
    Ok(conn)
}

/// Creates the queue directory if it is missing: parents as anyone's
/// directories are (0755), the queue itself closed to all but its owner.
pub fn create_dir(dir: &Path) -> Result<(), QueueError> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.exists() {
        return Ok(());
    }
    let fail = |source| QueueError::Dir {
        path: dir.to_path_buf(),
        source,
    };
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .map_err(fail)?;
    }
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(fail)
}

impl Queue {
    /// Opens the queue in `dir` (created, mode 0700, if missing) and starts
    /// its writer thread.
    pub fn open(dir: &Path) -> Result<Queue, QueueError> {
        create_dir(dir)?;
        let conn = open_db(&dir.join(DB_FILE))?;
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("queue-writer".into())
            .spawn(move || writer(conn, rx))
            .map_err(|source| QueueError::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
        Ok(Queue {
            tx,
            dir: dir.to_path_buf(),
        })
    }

    /// Checks that the queue can be opened (and creates its schema),
    /// without starting anything: done before the daemon detaches, so that
    /// a bad queue directory is reported on the terminal.
    pub fn check(dir: &Path) -> Result<(), QueueError> {
        create_dir(dir)?;
        open_db(&dir.join(DB_FILE)).map(drop)
    }

    /// Stores a message; returns its queue ID once it is durable.
    pub async fn commit(&self, message: NewMessage) -> Result<String, QueueError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Job::Store {
                message: Box::new(message),
                reply,
            })
            .map_err(|_| QueueError::Stopped)?;
        self.answer(rx.await)
    }

    /// The writer's answer to one job, as the caller's error type.
    fn answer<T>(
        &self,
        r: Result<Result<T, String>, tokio::sync::oneshot::error::RecvError>,
    ) -> Result<T, QueueError> {
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(message)) => Err(QueueError::Db {
                path: self.dir.join(DB_FILE),
                message,
            }),
            Err(_) => Err(QueueError::Stopped),
        }
    }
}

/// Records delivery attempts (see [`super::work::Attempt`]) through the
/// writer, so that they share its group commits: all are sent before any
/// reply is awaited, so they land in one transaction. For each, true when
/// the message has left the queue.
impl Queue {
    #[cfg(test)]
    pub async fn record(
        &self,
        id: &str,
        attempt: super::work::Attempt,
    ) -> Result<bool, QueueError> {
        let done = self.record_many(vec![(id.to_string(), attempt)]).await?;
        Ok(done.first().copied().unwrap_or(false))
    }

    pub async fn record_many(
        &self,
        items: Vec<(String, super::work::Attempt)>,
    ) -> Result<Vec<bool>, QueueError> {
        let mut waiting = Vec::with_capacity(items.len());
        for (id, attempt) in items {
            let (reply, rx) = tokio::sync::oneshot::channel();
            self.tx
                .send(Job::Record {
                    id,
                    attempt: Box::new(attempt),
                    reply,
                })
                .map_err(|_| QueueError::Stopped)?;
            waiting.push(rx);
        }
        let mut done = Vec::with_capacity(waiting.len());
        for rx in waiting {
            done.push(self.answer(rx.await)?);
        }
        Ok(done)
    }
}

impl Queue {
    /// Makes an alias expansion durable: each parent becomes 'expanded'
    /// and its targets recipients of their own, so that a retry delivers
    /// only to the targets still pending.
    pub async fn expand(
        &self,
        id: &str,
        expansions: Vec<super::work::Expansion>,
    ) -> Result<(), QueueError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Job::Expand {
                id: id.to_string(),
                expansions,
                reply,
            })
            .map_err(|_| QueueError::Stopped)?;
        self.answer(rx.await).map(drop)
    }
}

impl Queue {
    /// Keeps the latest host statuses (sharing the writer's commits).
    pub async fn save_hosts(&self, hosts: Vec<HostRow>) -> Result<(), QueueError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Job::Hosts { hosts, reply })
            .map_err(|_| QueueError::Stopped)?;
        self.answer(rx.await).map(drop)
    }
}

fn save_hosts(tx: &rusqlite::Transaction<'_>, hosts: &[HostRow]) -> Result<(), String> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO hosts (addr, name, last, ok, status) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (addr) DO UPDATE SET name = ?2, last = ?3, ok = ?4, status = ?5",
        )
        .map_err(|e| e.to_string())?;
    for h in hosts {
        stmt.execute(params![h.addr, h.name, h.last, h.ok, h.status])
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The host statuses, read-only (as [`list`] reads the queue), by name.
pub fn hosts(dir: &Path) -> Result<Vec<HostRow>, QueueError> {
    let Some((conn, path)) = open_read_only(dir)? else {
        return Ok(Vec::new());
    };
    let db = |e: rusqlite::Error| QueueError::Db {
        path: path.clone(),
        message: e.to_string(),
    };
    let exists: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'hosts'",
            [],
            |r| r.get(0),
        )
        .map_err(db)?;
    if !exists {
        return Ok(Vec::new());
    }
    let mut stmt = conn
        .prepare("SELECT addr, name, last, ok, status FROM hosts ORDER BY name, addr")
        .map_err(db)?;
    stmt.query_map([], |r| {
        Ok(HostRow {
            addr: r.get(0)?,
            name: r.get(1)?,
            last: r.get(2)?,
            ok: r.get(3)?,
            status: r.get(4)?,
        })
    })
    .map_err(db)?
    .collect::<Result<_, _>>()
    .map_err(db)
}

/// The writer thread: takes every job that is waiting, stores them all in
/// one IMMEDIATE transaction, commits (the fsyncs), then answers each.
fn writer(mut conn: Connection, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let results = store_batch(&mut conn, &batch);
        for (job, result) in batch.into_iter().zip(results) {
            match (job, result) {
                (Job::Store { reply, .. }, r) => {
                    let _ = reply.send(r.map(|done| done.unwrap_or_default()));
                }
                (
                    Job::Record { reply, .. }
                    | Job::Expand { reply, .. }
                    | Job::Hosts { reply, .. },
                    r,
                ) => {
                    let _ = reply.send(r.map(|done| done.is_some()));
                }
            }
        }
    }
}

/// Commits a group of jobs in one transaction. Each result is, for a
/// stored message, `Some(id)`; for a record, `Some(_)` when the message is
/// finished and `None` when it stays.
fn store_batch(conn: &mut Connection, batch: &[Job]) -> Vec<Result<Option<String>, String>> {
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return batch.iter().map(|_| Err(e.to_string())).collect(),
    };
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        // A savepoint per job: one that fails leaves the others of the
        // group untouched.
        let result = tx
            .prepare_cached("SAVEPOINT m")
            .and_then(|mut s| s.execute([]))
            .map_err(|e| e.to_string())
            .and_then(|_| match job {
                Job::Store { message, .. } => insert(&tx, message).map(Some),
                Job::Record { id, attempt, .. } => {
                    super::work::record_in(&tx, id, attempt).map(|done| done.then(String::new))
                }
                Job::Expand { id, expansions, .. } => {
                    super::work::expand_in(&tx, id, expansions).map(|()| None)
                }
                Job::Hosts { hosts, .. } => save_hosts(&tx, hosts).map(|()| None),
            });
        match result {
            Ok(r) => {
                let _ = tx
                    .prepare_cached("RELEASE m")
                    .and_then(|mut s| s.execute([]));
                results.push(Ok(r));
            }
            Err(e) => {
                let _ = tx.execute_batch("ROLLBACK TO m; RELEASE m");
                results.push(Err(e));
            }
        }
    }
    match tx.commit() {
        Ok(()) => results,
        Err(e) => batch.iter().map(|_| Err(e.to_string())).collect(),
    }
}

/// Inserts one message. Its ID is unique within the process; one taken
/// already (a restart within the same instant) fails this message, and
/// only this one, with a temporary error.
pub(crate) fn insert(tx: &rusqlite::Transaction<'_>, m: &NewMessage) -> Result<String, String> {
    let id = m.id.clone();
    let sql = |e: rusqlite::Error| e.to_string();
    {
        // Cached: the same statements run for every message, and parsing
        // SQL showed up in profiles.
        let inserted = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO messages (id, arrival, sender, size, body_type, ret, envid,
                declared_size, client_addr, client_name, client_verified, helo, protocol, daemon,
                headers, body, state, status_message)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                CASE WHEN ?17 IS NULL THEN 'queued' ELSE 'held' END, 'quarantined: ' || ?17)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    id,
                    m.arrival,
                    m.sender,
                    m.size() as i64,
                    m.body_type,
                    m.ret,
                    m.envid,
                    m.declared_size.map(|s| s as i64),
                    m.client_addr,
                    m.client_name,
                    m.client_verified,
                    m.helo,
                    m.protocol,
                    m.daemon,
                    m.headers,
                    m.body,
                    m.quarantine,
                ])
            })
            .map_err(sql)?;
        if inserted != 1 {
            return Err(format!("queue ID {id} is taken"));
        }
    }
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO recipients (message_id, idx, address, orcpt, notify) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(sql)?;
    for (i, r) in m.recipients.iter().enumerate() {
        stmt.execute(params![id, i as i64, r.address, r.orcpt, r.notify])
            .map_err(sql)?;
    }
    Ok(id)
}

/// Reads the queue for listing, without writing anything: a listing never
/// creates the database or its WAL files (which, made by root, would lock
/// the daemon out).
pub fn list(dir: &Path) -> Result<Vec<QueueEntry>, QueueError> {
    let Some((conn, path)) = open_read_only(dir)? else {
        return Ok(Vec::new());
    };
    list_on(&conn).map_err(|e| QueueError::Db {
        path,
        message: e.to_string(),
    })
}

/// The queue database opened read-only, for readers outside the daemon
/// (`-bp`, `-bh`); `None` when there is none yet, which a reader never
/// creates.
fn open_read_only(dir: &Path) -> Result<Option<(Connection, PathBuf)>, QueueError> {
    let path = dir.join(DB_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let conn =
        Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| {
            QueueError::Db {
                path: path.clone(),
                message: e.to_string(),
            }
        })?;
    Ok(Some((conn, path)))
}

/// The listing, on a connection the caller has.
pub(crate) fn list_on(conn: &Connection) -> rusqlite::Result<Vec<QueueEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, arrival, size, sender, body_type, status_message, state, attempts,
                next_attempt
         FROM messages ORDER BY id",
    )?;
    let mut out: Vec<QueueEntry> = stmt
        .query_map([], |r| {
            let state: String = r.get(6)?;
            let attempts: u32 = r.get(7)?;
            Ok(QueueEntry {
                queue_id: r.get(0)?,
                arrival_time: r.get(1)?,
                message_size: r.get::<_, i64>(2)? as u64,
                sender: r.get(3)?,
                body_type: r.get(4)?,
                status: r.get(5)?,
                queue_name: match (state.as_str(), attempts) {
                    ("held", _) => "hold",
                    (_, 0) => "incoming",
                    _ => "deferred",
                }
                .to_string(),
                attempts,
                next_attempt: r.get(8)?,
                forced_expire: false,
                recipients: Vec::new(),
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut rstmt = conn.prepare_cached(
        "SELECT address, last_reply FROM recipients WHERE message_id = ?1 AND state = 'pending'
         ORDER BY idx",
    )?;
    for m in &mut out {
        m.recipients = rstmt
            .query_map([&m.queue_id], |r| {
                Ok(QueueRecipient {
                    address: r.get(0)?,
                    delay_reason: r.get(1)?,
                })
            })?
            .collect::<Result<_, _>>()?;
    }
    Ok(out)
}

/// A small message for the queue's tests.
#[cfg(test)]
pub(crate) fn sample_message(sender: &str, recipients: &[&str]) -> NewMessage {
    NewMessage {
        id: crate::queue::id::new_id(),
        arrival: 1_795_695_428,
        sender: sender.to_string(),
        recipients: recipients
            .iter()
            .map(|a| NewRecipient {
                address: a.to_string(),
                orcpt: Some(format!("rfc822;{a}")),
                notify: Some("FAILURE,DELAY".into()),
            })
            .collect(),
        client_addr: "127.0.0.1".into(),
        protocol: "ESMTP".into(),
        daemon: "MTA".into(),
        headers: b"Subject: test\r\n".to_vec(),
        body: b"hello\r\n".to_vec(),
        ..NewMessage::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(n: usize) -> NewMessage {
        sample_message(&format!("sender{n}@example.org"), &["root@localhost"])
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn commits_in_groups_and_lists() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(dir.path()).unwrap();
        let mut handles = Vec::new();
        for n in 0..50 {
            let q = q.clone();
            handles.push(tokio::spawn(async move { q.commit(message(n)).await }));
        }
        let mut ids = Vec::new();
        for h in handles {
            ids.push(h.await.unwrap().unwrap());
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 50);
        let listed = list(dir.path()).unwrap();
        assert_eq!(listed.len(), 50);
        assert_eq!(listed[0].recipients[0].address, "root@localhost");
        assert_eq!(
            listed[0].message_size,
            ("Subject: test\r\n\r\nhello\r\n".len()) as u64
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_taken_id_fails_only_its_message() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(dir.path()).unwrap();
        let first = message(1);
        let mut again = message(2);
        again.id = first.id.clone();
        q.commit(first).await.unwrap();
        assert!(q.commit(again).await.is_err());
        assert!(q.commit(message(3)).await.is_ok());
        assert_eq!(list(dir.path()).unwrap().len(), 2);
    }

    #[test]
    fn listing_a_missing_queue_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(list(dir.path()).unwrap().is_empty());
        assert!(!dir.path().join(DB_FILE).exists());
    }

    #[test]
    fn the_database_is_wal_and_full() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_db(&dir.path().join(DB_FILE)).unwrap();
        let sync: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "FULL");
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}
