//! The config in force, and swapping it: `mtactl reload` and SIGHUP.
//!
//! Everything derived from the config (settings, policy and aliases,
//! routes, TLS) lives in one [`Shared`]; [`Live`] holds the current one.
//! A new session takes the current one when it is accepted and keeps it to
//! the end, so a reload never changes the rules under a session in flight;
//! the queue runner and the control socket take the current one for each
//! piece of work. What outlives a config (the queue writer, the wake-up
//! signal, the runner's queue connection, the listening sockets) is carried
//! over from the old Shared into the new.
//!
//! A config that does not load leaves the old one in force; every error is
//! reported with file:line:column. Options given with `-O` on the daemon's
//! command line are applied again on each reload. What cannot change
//! without a restart (listeners, the queue directory, the run user, once
//! root is gone) is named in the report.

use crate::server::Shared;
use cfparser::Config;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

pub struct Live {
    current: RwLock<Arc<Shared>>,
    /// The config file and the `-O` options, to load again.
    path: PathBuf,
    opts: cfparser::LoadOptions,
    /// Set on SIGTERM/SIGINT: listeners stop, sessions finish.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// SMTP sessions in progress (for a bounded graceful stop).
    pub sessions: AtomicUsize,
    reloading: std::sync::Mutex<()>,
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// Lines saying what changed.
    pub changed: Vec<String>,
    /// What changed but takes effect only after a restart.
    pub needs_restart: Vec<String>,
}

impl Live {
    pub fn new(shared: Arc<Shared>, path: PathBuf, opts: cfparser::LoadOptions) -> Live {
        Live {
            current: RwLock::new(shared),
            path,
            opts,
            stopping: tokio::sync::watch::channel(false).0,
            sessions: AtomicUsize::new(0),
            reloading: std::sync::Mutex::new(()),
        }
    }

    /// The config in force.
    pub fn current(&self) -> Arc<Shared> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Reads the config again and, if it loads, makes it the one in force.
    /// `Err` carries every error, file:line:column, one per line.
    pub fn reload(&self) -> Result<Reloaded, String> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let loaded = cfparser::load_file(&self.path, &self.opts)
            .map_err(|errors| crate::check::failure(&errors))?;
        let old = self.current();
        let new = Arc::new(Shared::rebuild(&old, Arc::new(loaded.config))?);
        let report = compare(&old.config, &new.config);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = new;
        Ok(report)
    }

    /// Counts a session for as long as the guard lives.
    pub fn session(self: &Arc<Self>) -> SessionGuard {
        self.sessions.fetch_add(1, Ordering::SeqCst);
        SessionGuard(self.clone())
    }
}

pub struct SessionGuard(Arc<Live>);

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.sessions.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Options that only a restart changes, once the sockets are bound and
/// root is gone.
const RESTART_OPTIONS: &[&str] = &[
    "DaemonPortOptions",
    "QueueDirectory",
    "RunAsUser",
    "DefaultUser",
    "ControlSocketName",
    "PidFile",
    "Mtad.MailSpoolDirectory",
    "MaxDaemonChildren",
    "ConnectionRateThrottle",
    "MaxQueueChildren",
    "Mtad.DestinationConcurrency",
    "ConnectionCacheSize",
    "ConnectionCacheTimeout",
    // The SMTP client's, read when the delivery side starts.
    "Timeout.connect",
    "Timeout.initial",
    "Timeout.helo",
    "Timeout.mail",
    "Timeout.rcpt",
    "Timeout.datainit",
    "Timeout.datablock",
    "Timeout.datafinal",
    "Timeout.rset",
    "Timeout.quit",
    "Timeout.starttls",
    "Timeout.hoststatus",
];

/// What differs between two configs, in words an admin reads.
fn compare(old: &Config, new: &Config) -> Reloaded {
    let mut changed = Vec::new();
    let mut needs_restart = Vec::new();
    let mut names: Vec<String> = old
        .options
        .keys()
        .chain(new.options.keys())
        .cloned()
        .collect();
    names.sort();
    names.dedup();
    for name in names {
        let (a, b) = (old.options.get(&name), new.options.get(&name));
        if a.map(|s| &s.value) == b.map(|s| &s.value) {
            continue;
        }
        let show = |v: Option<&cfparser::model::SetOption>| {
            v.map_or_else(|| "(unset)".to_string(), |s| s.raw.clone())
        };
        let line = format!("option {name}: {} -> {}", show(a), show(b));
        if RESTART_OPTIONS.contains(&name.as_str()) {
            needs_restart.push(line);
        } else {
            changed.push(line);
        }
    }
    if old.daemon_ports != new.daemon_ports
        && !needs_restart
            .iter()
            .any(|l| l.starts_with("option DaemonPortOptions"))
    {
        needs_restart.push("the listeners (DaemonPortOptions)".into());
    }
    // Compared without their line numbers: moving a line is no change.
    let mailers = |c: &Config| {
        c.mailers
            .iter()
            .map(|m| {
                let mut m = m.clone();
                m.line = 0;
                m
            })
            .collect::<Vec<_>>()
    };
    if mailers(old) != mailers(new) {
        changed.push("mailers (M lines)".into());
    }
    let words = |c: &Config| {
        c.classes
            .iter()
            .map(|(k, v)| (k.clone(), v.words().map(str::to_string).collect::<Vec<_>>()))
            .collect::<Vec<_>>()
    };
    if words(old) != words(new) {
        changed.push("classes (C and F lines)".into());
    }
    let macros = |c: &Config| {
        c.macros
            .iter()
            .map(|(k, v)| (k.clone(), v.value.to_string()))
            .collect::<Vec<_>>()
    };
    if macros(old) != macros(new) {
        changed.push("macros (D lines)".into());
    }
    let headers = |c: &Config| {
        c.headers
            .iter()
            .map(|h| (h.name.clone(), h.value.to_string()))
            .collect::<Vec<_>>()
    };
    if headers(old) != headers(new) {
        changed.push("headers (H lines)".into());
    }
    Reloaded {
        changed,
        needs_restart,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(lines: &str) -> Config {
        let text = format!("V10/Berkeley\nMlocal, P=/bin/cat, F=l, A=cat\n{lines}");
        cfparser::load_bytes(
            std::path::Path::new("t.cf"),
            text.into_bytes(),
            &Default::default(),
        )
        .expect("loads")
        .config
    }

    #[test]
    fn what_is_read_once_is_said_to_need_a_restart() {
        let old = config("O Timeout.queuewarn=4h\nO Timeout.datafinal=1h\nO MinQueueAge=0\n");
        let new = config("O Timeout.queuewarn=2h\nO Timeout.datafinal=30m\nO MinQueueAge=5m\n");
        let r = compare(&old, &new);
        let has = |v: &[String], what: &str| v.iter().any(|l| l.starts_with(what));
        // Read at each attempt: applied.
        assert!(has(&r.changed, "option Timeout.queuewarn"), "{r:?}");
        assert!(has(&r.changed, "option MinQueueAge"), "{r:?}");
        // The SMTP client's, read at start: not applied until a restart.
        assert!(has(&r.needs_restart, "option Timeout.datafinal"), "{r:?}");
        assert!(!has(&r.changed, "option Timeout.datafinal"), "{r:?}");
    }
}
