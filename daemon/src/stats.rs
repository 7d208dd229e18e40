//! The counters of sendmail's mailstats: per mailer, messages and bytes
//! received from it and delivered to it, rejected and discarded; and
//! connections in, out and rejected. Kept across restarts in StatusFile
//! (JSON, written every few seconds and at stop; not sendmail's binary
//! statistics file, which mailstats reads and mtad does not).

use mtactl::protocol::MailerCount;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Data {
    /// Counting since, seconds since the epoch.
    since: i64,
    mailers: BTreeMap<String, MailerCount>,
    connections_in: u64,
    connections_out: u64,
    connections_rejected: u64,
}

pub struct Stats {
    data: Mutex<Data>,
    file: Option<PathBuf>,
    dirty: std::sync::atomic::AtomicBool,
    /// Time the SMTP sessions spent in the rules (nanoseconds) since the
    /// start or the last reset; not kept in StatusFile.
    rules_nanos: std::sync::atomic::AtomicU64,
    /// Messages received over the same time.
    rules_messages: std::sync::atomic::AtomicU64,
}

/// Makes StatusFile (and its directory, if missing) for the run user,
/// while still root: the daemon writes it after dropping privileges.
pub fn prepare_file(
    config: &cfparser::Config,
    owner: Option<(nix::unistd::Uid, nix::unistd::Gid)>,
) -> Result<(), String> {
    let Some(path) = config.text("StatusFile").filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    let path = PathBuf::from(path);
    let fail = |e: std::io::Error| format!("StatusFile {}: {e}", path.display());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::create_dir_all(dir).map_err(fail)?;
        if let Some((uid, gid)) = owner {
            nix::unistd::chown(dir, Some(uid), Some(gid)).map_err(|e| fail(e.into()))?;
        }
    }
    if !path.exists() {
        std::fs::File::create(&path).map_err(fail)?;
    }
    if let Some((uid, gid)) = owner {
        nix::unistd::chown(&path, Some(uid), Some(gid)).map_err(|e| fail(e.into()))?;
    }
    Ok(())
}

impl Stats {
    /// Counters from StatusFile if it holds some, else from zero.
    pub fn open(config: &cfparser::Config) -> Stats {
        let file = config
            .text("StatusFile")
            .filter(|s| !s.is_empty())
            .map(|p| std::path::absolute(&p).unwrap_or_else(|_| PathBuf::from(p)));
        let data = file
            .as_ref()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|b| serde_json::from_slice::<Data>(&b).ok())
            .unwrap_or_else(|| Data {
                since: crate::clock::now(),
                ..Data::default()
            });
        Stats {
            data: Mutex::new(data),
            file,
            dirty: std::sync::atomic::AtomicBool::new(false),
            rules_nanos: std::sync::atomic::AtomicU64::new(0),
            rules_messages: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn with(&self, f: impl FnOnce(&mut Data)) {
        f(&mut self.data.lock().unwrap_or_else(|p| p.into_inner()));
        self.dirty.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn mailer<'a>(d: &'a mut Data, name: &str) -> &'a mut MailerCount {
        d.mailers
            .entry(name.to_string())
            .or_insert_with(|| MailerCount {
                mailer: name.to_string(),
                ..MailerCount::default()
            })
    }

    /// A message received from `mailer` (the sender's).
    pub fn received(&self, mailer: &str, bytes: u64) {
        self.rules_messages
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.with(|d| {
            let m = Stats::mailer(d, mailer);
            m.msgsfr += 1;
            m.bytes_from += bytes;
        });
    }

    /// A delivery to `mailer`.
    pub fn delivered(&self, mailer: &str, bytes: u64) {
        self.with(|d| {
            let m = Stats::mailer(d, mailer);
            m.msgsto += 1;
            m.bytes_to += bytes;
        });
    }

    /// A message or recipient refused, counted to the sender's mailer.
    pub fn rejected(&self, mailer: &str) {
        self.with(|d| Stats::mailer(d, mailer).msgsrej += 1);
    }

    pub fn connection_in(&self) {
        self.with(|d| d.connections_in += 1);
    }

    pub fn connection_out(&self) {
        self.with(|d| d.connections_out += 1);
    }

    pub fn connection_rejected(&self) {
        self.with(|d| d.connections_rejected += 1);
    }

    /// (since, per mailer, in, out, rejected).
    pub fn snapshot(&self) -> (i64, Vec<MailerCount>, u64, u64, u64) {
        let d = self.data.lock().unwrap_or_else(|p| p.into_inner());
        (
            d.since,
            d.mailers.values().cloned().collect(),
            d.connections_in,
            d.connections_out,
            d.connections_rejected,
        )
    }

    /// Time a session spent in the rules (its checks and parses).
    pub fn rules_time(&self, spent: std::time::Duration) {
        let n = u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX);
        self.rules_nanos
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// The sessions' time in the rules since the start or the last reset,
    /// and the messages received meanwhile.
    pub fn rules_nanos(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.rules_nanos.load(Relaxed),
            self.rules_messages.load(Relaxed),
        )
    }

    /// Back to zero, counting from now.
    pub fn reset(&self) {
        self.rules_nanos
            .store(0, std::sync::atomic::Ordering::Relaxed);
        self.rules_messages
            .store(0, std::sync::atomic::Ordering::Relaxed);
        self.with(|d| {
            *d = Data {
                since: crate::clock::now(),
                ..Data::default()
            }
        });
        self.save();
    }

    /// Writes StatusFile if something changed. (A file cut short by a
    /// crash reads as no counters: they start again from zero.)
    pub fn save(&self) {
        if !self.dirty.swap(false, std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let Some(file) = &self.file else { return };
        let data = self.data.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Ok(bytes) = serde_json::to_vec(&data) else {
            return;
        };
        // In place: the run user owns the file (made at start-up), not
        // necessarily its directory.
        let written = std::fs::write(file, bytes);
        if let Err(e) = written {
            crate::log::warning(&format!("StatusFile {}: {e}", file.display()));
        }
    }
}
