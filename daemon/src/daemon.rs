//! `mtad -bD` and `-bd`: bind, drop root, open the queue, serve.
//!
//! The order matters: sockets are bound while root (port 25), privileges
//! are dropped before anything reads the network, the process detaches
//! (-bd) before any thread exists (fork copies only the calling thread),
//! and only then are the queue writer and the tokio runtime started.

use crate::policy::Policy;
use crate::queue::Queue;
use crate::server::{self, Shared};
use crate::settings::{self, Settings};
use crate::{privilege, say};
use cfparser::Loaded;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

pub fn run(
    loaded: Loaded,
    config_file: &std::path::Path,
    opts: cfparser::LoadOptions,
    detach: bool,
    interval: Option<Duration>,
) -> ExitCode {
    match start(loaded, config_file, opts, detach, interval) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // To the terminal (or the journal) and to syslog.
            say(&mut std::io::stderr(), &format!("mtad: {e}"));
            crate::log::line(0, crate::log::Severity::Err, &format!("cannot start: {e}"));
            ExitCode::from(71)
        }
    }
}

fn start(
    loaded: Loaded,
    config_file: &std::path::Path,
    opts: cfparser::LoadOptions,
    detach: bool,
    interval: Option<Duration>,
) -> Result<(), String> {
    let started = std::time::Instant::now();
    let config = Arc::new(loaded.config);
    let (host, warning) = settings::host_name(&config);
    if let Some(w) = warning {
        crate::log::warning(&w);
    }
    let settings = Settings::from_config(&config, &host);
    let tls = crate::tls::acceptor(&config)?;
    // Sockets from systemd (socket activation) replace DaemonPortOptions;
    // then mtad need never be root.
    let activated = crate::systemd::listeners()?;
    let bound = if activated.is_empty() {
        server::bind_all(&config)?
    } else {
        activated
            .into_iter()
            .map(|(socket, name)| {
                let addr = socket
                    .local_addr()
                    .map_err(|e| format!("socket activation: {e}"))?;
                Ok(server::Bound {
                    socket,
                    info: server::Listener {
                        name,
                        addr,
                        modifiers: String::new(),
                    },
                })
            })
            .collect::<Result<Vec<_>, String>>()?
    };
    // Opened now, while the directory may still need root; written once
    // the process has its final pid (after detaching).
    let pid_file = open_pid_file(&config)?;
    // The delivery agent keeps the privileges this process is about to
    // give up.
    let agent = crate::agent::Agent::spawn(detach, &config)?;
    crate::log::info(
        9,
        &format!(
            "delivery agents started, pids {}",
            agent
                .pids()
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        ),
    );
    // The control socket, bound while root and given to the run user.
    let run_as = if nix::unistd::geteuid().is_root() {
        Some(privilege::run_as(&config)?)
    } else {
        None
    };
    let control = crate::control::bind(
        &crate::control::socket_path(&config),
        run_as.as_ref().map(|(_, uid, gid)| (*uid, *gid)),
    )?;
    crate::stats::prepare_file(&config, run_as.as_ref().map(|(_, u, g)| (*u, *g)))?;
    match run_as {
        Some((name, uid, gid)) => {
            privilege::prepare_queue_dir(&settings.queue_dir, uid, gid)?;
            privilege::drop_to(uid, gid)?;
            crate::log::info(9, &format!("running as {name}"));
        }
        None => privilege::prepare_queue_dir(
            &settings.queue_dir,
            nix::unistd::geteuid(),
            nix::unistd::getegid(),
        )?,
    }
    Queue::check(&settings.queue_dir).map_err(|e| e.to_string())?;
    if detach {
        nix::unistd::daemon(true, false).map_err(|e| format!("cannot detach: {e}"))?;
    }
    if let Some((path, mut f)) = pid_file {
        let args: Vec<String> = std::env::args().collect();
        writeln!(f, "{}\n{}", std::process::id(), args.join(" "))
            .map_err(|e| format!("PidFile {path}: {e}"))?;
    }
    // Threads may exist from here on (the process has detached). The
    // signals are watched before the listeners are announced: from that
    // line on, SIGTERM or SIGINT stops mtad in order instead of killing it.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let watched = {
        let _in_runtime = runtime.enter();
        Watched::install()
    };
    for b in &bound {
        crate::log::info(
            9,
            &format!("listening on {} ({})", b.info.addr, b.info.name),
        );
    }
    let queue = Queue::open(&settings.queue_dir).map_err(|e| e.to_string())?;
    let policy = Policy::from_config(&config, &host);
    for w in &policy.aliases.warnings {
        crate::log::warning(w);
    }
    let work = crate::queue::work::WorkDb::open(&settings.queue_dir).map_err(|e| e.to_string())?;
    let work = Arc::new(std::sync::Mutex::new(work));
    let router = crate::route::Router::from_config(&config, &host);
    let stats = Arc::new(crate::stats::Stats::open(&config));
    let config_file =
        std::path::absolute(config_file).unwrap_or_else(|_| config_file.to_path_buf());
    let rules = Arc::new(crate::decide::Rules::load(&config, &host));
    let shared = Arc::new(Shared {
        config,
        settings,
        rules,
        policy,
        router,
        queue,
        tls,
        names: None,
        wake: Arc::new(tokio::sync::Notify::new()),
        work: Some(work.clone()),
        etrn: Arc::new(std::sync::Mutex::new(Vec::new())),
        delivering: Arc::new(std::sync::Mutex::new(std::collections::HashSet::new())),
        started,
        listeners: bound
            .iter()
            .map(|b| format!("{} ({})", b.info.addr, b.info.name))
            .collect(),
        config_file: config_file.clone(),
        loaded_at: crate::clock::now(),
        stats: stats.clone(),
    });
    runtime.block_on(async move {
        let mut shared = shared;
        // The resolvers need the runtime; they are made inside it.
        match crate::dns::HostNames::new(&shared.config) {
            Ok(r) => Arc::get_mut(&mut shared).map(|s| s.names = Some(r)),
            Err(e) => {
                crate::log::warning(&format!("{e}; client names are not looked up"));
                None
            }
        };
        let remote = crate::deliver::remote::Remote::from_config(
            &shared.config,
            crate::dns::resolver(&shared.config).ok(),
            &shared.settings.host_name,
        )
        .counting(shared.stats.clone());
        let live = Arc::new(crate::live::Live::new(shared, config_file, opts));
        let runner = Arc::new(crate::runner::Runner::new(
            live.clone(),
            work,
            agent,
            remote,
            interval,
        ));
        tokio::spawn(runner.clone().run());
        tokio::spawn(crate::control::serve(control, live.clone()));
        if let Some(watched) = watched {
            tokio::spawn(signals(live.clone(), watched));
        }
        // Bound, unprivileged, serving: systemd may call us started.
        crate::systemd::notify("READY=1\nSTATUS=accepting mail");
        server::serve(bound, live.clone()).await;
        crate::systemd::notify("STOPPING=1");
        stop(&live).await;
    });
    Ok(())
}

/// The signals mtad acts on, caught from the moment they are installed:
/// one that arrives before [`signals`] runs waits in its stream.
struct Watched {
    hup: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
}

impl Watched {
    /// Installs the handlers; must be called in the runtime's context.
    /// `None` (logged) if they cannot be: the signals then act by default.
    fn install() -> Option<Watched> {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(hup), Ok(term), Ok(int), Ok(usr1)) = (
            signal(SignalKind::hangup()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::user_defined1()),
        ) else {
            crate::log::error("cannot watch signals; SIGHUP and SIGTERM act by default");
            return None;
        };
        Some(Watched {
            hup,
            term,
            int,
            usr1,
        })
    }
}

/// Signals only set flags or start work elsewhere: SIGHUP reloads (as
/// `mtactl reload`), SIGTERM and SIGINT stop, SIGUSR1 logs the counters.
async fn signals(live: Arc<crate::live::Live>, watched: Watched) {
    let Watched {
        mut hup,
        mut term,
        mut int,
        mut usr1,
    } = watched;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                let l = live.clone();
                crate::systemd::reloading();
                let result = tokio::task::spawn_blocking(move || l.reload()).await;
                crate::systemd::notify("READY=1");
                match result {
                    Ok(Ok(r)) => crate::log::info(9, &format!("SIGHUP: {}", crate::control::describe_reload(&r).replace('\n', "; "))),
                    Ok(Err(e)) => crate::log::info(9, &format!("SIGHUP: the config does not load; the old one stays in force:\n{e}")),
                    Err(e) => crate::log::info(9, &format!("SIGHUP: {e}")),
                }
            }
            _ = term.recv() => { live.stopping.send_replace(true); }
            _ = int.recv() => { live.stopping.send_replace(true); }
            _ = usr1.recv() => {
                // mailstats' counters, one line per mailer, then the rest.
                let s = live.current();
                let (since, mailers, cin, cout, crej) = s.stats.snapshot();
                for m in &mailers {
                    crate::log::info(1, &format!(
                        "stats: mailer={}, msgsfr={}, bytes_from={}, msgsto={}, bytes_to={}, msgsrej={}, msgsdis={}",
                        m.mailer, m.msgsfr, m.bytes_from, m.msgsto, m.bytes_to, m.msgsrej, m.msgsdis
                    ));
                }
                crate::log::info(1, &format!(
                    "stats: since={}, connections_in={cin}, connections_out={cout}, connections_rejected={crej}, sessions={}, delivering={}, uptime={}s",
                    crate::clock::stamp(since),
                    live.sessions.load(std::sync::atomic::Ordering::SeqCst),
                    s.delivering.lock().map(|d| d.len()).unwrap_or(0),
                    s.started.elapsed().as_secs()
                ));
            }
        }
    }
}

/// After the listeners have closed: the sessions in progress get
/// [`STOP_WAIT`] to finish, then the deliveries in progress as long again
/// (each records its outcomes before it ends), and mtad exits 0. Every
/// accepted message is in the queue whatever happens: a session cut off
/// had not been answered 250 yet.
async fn stop(live: &Arc<crate::live::Live>) {
    crate::log::info(
        9,
        "stopping: no new connections; waiting for sessions and deliveries",
    );
    let deadline = tokio::time::Instant::now() + STOP_WAIT;
    while live.sessions.load(std::sync::atomic::Ordering::SeqCst) > 0
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = tokio::time::Instant::now() + STOP_WAIT;
    let shared = live.current();
    while !shared
        .delivering
        .lock()
        .map(|d| d.is_empty())
        .unwrap_or(true)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shared.stats.save();
    crate::log::info(
        9,
        &format!(
            "stopped ({} sessions, {} deliveries cut short)",
            live.sessions.load(std::sync::atomic::Ordering::SeqCst),
            shared.delivering.lock().map(|d| d.len()).unwrap_or(0)
        ),
    );
}

/// How long a stop waits for sessions, then for deliveries.
const STOP_WAIT: Duration = Duration::from_secs(30);

/// PidFile, to hold the daemon's pid and then its command line, as
/// sendmail writes it.
fn open_pid_file(config: &cfparser::Config) -> Result<Option<(String, std::fs::File)>, String> {
    let Some(path) = config.text("PidFile").filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    if let Some(parent) = std::path::Path::new(&path).parent()
        && !parent.as_os_str().is_empty()
        && !parent.exists()
    {
        std::fs::create_dir_all(parent).map_err(|e| format!("PidFile {path}: {e}"))?;
    }
    let f = std::fs::File::create(&path).map_err(|e| format!("PidFile {path}: {e}"))?;
    Ok(Some((path, f)))
}
