//! What an admin does to a running daemon: reload its config (mtactl
//! reload, SIGHUP) with a broken file and a good one, under load; stop it
//! with SIGTERM under load. Nothing acknowledged is lost, no session is
//! dropped by a reload, a broken config changes nothing.

use mtad_e2e::{Client, Daemon, bin, expect, text, workspace};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// mtactl on a control socket.
fn mtactl_at(sock: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(bin("mtactl"))
        .arg("-S")
        .arg(sock)
        .args(args)
        .output()
        .unwrap()
}

/// Senders that keep sending until told to stop (or the daemon goes):
/// every queue ID that got a 250, and whether any session failed.
struct Load {
    acked: Arc<Mutex<Vec<String>>>,
    broken: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(port: u16, senders: usize, tolerate_refusal: bool) -> Load {
        let acked: Arc<Mutex<Vec<String>>> = Arc::default();
        let broken: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..senders)
            .map(|n| {
                let (acked, broken, stop) = (acked.clone(), broken.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut i = 0;
                    while !stop.load(Ordering::SeqCst) {
                        // A new session for every few messages, so that
                        // sessions start and end while the config changes.
                        let Ok(stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                            if !tolerate_refusal {
                                broken.lock().unwrap().push("connect refused".into());
                            }
                            return;
                        };
                        drop(stream);
                        let mut c = Client::connect(port);
                        let greeting = c.reply();
                        if !greeting.starts_with("220") {
                            broken.lock().unwrap().push(format!("greeting {greeting}"));
                            return;
                        }
                        c.cmd("EHLO load.example");
                        for _ in 0..3 {
                            let steps = [
                                format!("MAIL FROM:<load{n}@example.org>"),
                                "RCPT TO:<root@localhost>".to_string(),
                                "DATA".to_string(),
                                format!("Subject: load {n} {i}\r\n\r\nbody\r\n."),
                            ];
                            let mut last = String::new();
                            for s in &steps {
                                last = c.cmd(s);
                                if last.is_empty() {
                                    break;
                                }
                            }
                            if let Some(id) = last.strip_prefix("250 2.0.0 ") {
                                acked
                                    .lock()
                                    .unwrap()
                                    .push(id.split(' ').next().unwrap().to_string());
                            } else if !stop.load(Ordering::SeqCst) || !tolerate_refusal {
                                broken
                                    .lock()
                                    .unwrap()
                                    .push(format!("reply `{}`", last.trim_end()));
                                return;
                            } else {
                                return;
                            }
                            i += 1;
                        }
                        c.cmd("QUIT");
                    }
                })
            })
            .collect();
        Load {
            acked,
            broken,
            stop,
            threads,
        }
    }

    fn finish(self) -> (Vec<String>, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
        let acked = self.acked.lock().unwrap().clone();
        let broken = self.broken.lock().unwrap().clone();
        (acked, broken)
    }
}

/// The queue IDs in the daemon's queue database, read with sqlite3.
fn queued_ids(d: &Daemon) -> Vec<String> {
    mtad_e2e::python(
        "import sqlite3, sys\n\
         db = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True)\n\
         for (i,) in db.execute('SELECT id FROM messages'): print(i)\n",
        &[d.queue_dir().join("queue.db").as_os_str()],
    )
    .lines()
    .map(String::from)
    .collect()
}

#[test]
fn reload_keeps_the_old_config_on_errors_and_swaps_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let cf = dir.path().join("live.cf");
    // The file names the control socket, so that mtactl -C finds it even
    // when the rest of the file is broken.
    let ctl = dir.path().join("ctl.sock");
    let original = std::fs::read_to_string(workspace().join("etc/sendmail-dev.cf"))
        .unwrap()
        .replace(
            "O ControlSocketName=spool/mtad.sock",
            &format!("O ControlSocketName={}", ctl.display()),
        );
    std::fs::write(&cf, &original).unwrap();
    let ctl_opt = format!("ControlSocketName={}", ctl.display());
    // -O options stay in force across reloads: EXPN is allowed here
    // although the file says noexpn.
    let d = Daemon::start_with(&cf, &["PrivacyOptions=public", &ctl_opt]);
    let load = Load::start(d.port, 4, false);
    std::thread::sleep(Duration::from_millis(300));

    // A session opened before the reload keeps the config it began with.
    let mut before = Client::connect(d.port);
    let greeting = expect!(before.reply(), "220");
    assert!(greeting.contains("ESMTP mtad ready"), "{greeting}");

    // Broken: every error with file:line:column, exit 7, nothing changes.
    let broken = format!("{original}O MaxMessageSize=lots\nXnot a line\n");
    std::fs::write(&cf, &broken).unwrap();
    let lines = broken.lines().count();
    let out = Command::new(bin("mtactl"))
        .arg("-C")
        .arg(&cf)
        .arg("reload")
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert!(stderr.contains("the old one stays in force"), "{stderr}");
    assert!(
        stderr.contains(&format!("live.cf:{}:", lines - 1)),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("live.cf:{lines}:")), "{stderr}");
    let mut c = Client::connect(d.port);
    assert!(
        c.reply().contains("ESMTP mtad ready"),
        "the old config serves on"
    );

    // Good: a new greeting for new sessions; the report names the change.
    let changed = original.replace(
        "O SmtpGreetingMessage=$j ESMTP mtad ready; $b",
        "O SmtpGreetingMessage=$j ESMTP reloaded; $b",
    );
    assert_ne!(changed, original);
    std::fs::write(&cf, &changed).unwrap();
    let out = mtactl_at(&ctl, &["reload"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("changed: option SmtpGreetingMessage"),
        "{stdout}"
    );
    let mut c = Client::connect(d.port);
    assert!(
        c.reply().contains("ESMTP reloaded"),
        "new sessions get the new config"
    );
    expect!(c.cmd("EHLO client.example"), "250");
    expect!(c.cmd("EXPN postmaster"), "25");
    // The session from before goes on, whole.
    expect!(before.cmd("EHLO before.example"), "250");
    expect!(before.cmd("MAIL FROM:<before@example.org>"), "250");
    expect!(before.cmd("RCPT TO:<root@localhost>"), "250");
    expect!(before.cmd("DATA"), "354");
    let r = expect!(before.cmd("Subject: before\r\n\r\nx\r\n."), "250 2.0.0");
    let before_id = r.split(' ').nth(2).unwrap().to_string();

    // SIGHUP does the same.
    std::fs::write(&cf, &original).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.pid() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.stderr().contains("mtad: SIGHUP: reloaded") {
        assert!(Instant::now() < deadline, "{}", d.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut c = Client::connect(d.port);
    assert!(c.reply().contains("ESMTP mtad ready"));

    let (acked, broken) = load.finish();
    assert!(
        broken.is_empty(),
        "sessions failed during the reloads: {broken:?}"
    );
    // The config a reload replaced goes with its last session, inside the
    // runtime: nothing it holds may panic on the way.
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
    assert!(acked.len() > 10, "{}", acked.len());
    let queued = queued_ids(&d);
    for id in acked.iter().chain([&before_id]) {
        assert!(
            queued.contains(id),
            "{id} was acknowledged and is not queued"
        );
    }
}

#[test]
fn sigterm_under_load_exits_0_and_loses_nothing() {
    // With `dns` in the switch, the rules' resolver holds a runtime of its
    // own, which must go quietly with the daemon's.
    let names = tempfile::tempdir().unwrap();
    let switch = names.path().join("service.switch");
    std::fs::write(&switch, "hosts files dns\n").unwrap();
    let mut d = Daemon::start(&[&format!("ServiceSwitchFile={}", switch.display())]);
    let load = Load::start(d.port, 4, true);
    std::thread::sleep(Duration::from_millis(700));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.pid() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = d.wait_exit(Duration::from_secs(40)).expect("mtad stops");
    let (acked, _) = load.finish();
    assert_eq!(status.code(), Some(0), "{}", d.stderr());
    assert!(d.stderr().contains("mtad: stopped"), "{}", d.stderr());
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
    assert!(acked.len() > 10, "{}", acked.len());
    let queued = queued_ids(&d);
    for id in &acked {
        assert!(
            queued.contains(id),
            "{id} was acknowledged and is not queued"
        );
    }
    // Nothing listens any more.
    assert!(std::net::TcpStream::connect(("127.0.0.1", d.port)).is_err());
}

#[test]
fn ctrl_c_at_the_terminal_stops_gracefully() {
    use std::os::unix::process::CommandExt;
    // As a terminal's Ctrl-C: SIGINT to mtad's whole process group. The
    // agents have their own group, so the daemon stops in order (exit 0)
    // instead of seeing its agents killed under it (exit 75).
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let port = mtad_e2e::free_port();
    let d = dir.path().display().to_string();
    let mut child = Command::new(bin("mtad"))
        .current_dir(dir.path())
        .arg("-C")
        .arg(workspace().join("etc/sendmail-dev.cf"))
        .arg("-bD")
        .args([
            "-O",
            &format!("DaemonPortOptions=Name=MTA,Port={port},Addr=127.0.0.1"),
        ])
        .args(["-O", &format!("QueueDirectory={d}/queue")])
        .args(["-O", &format!("ControlSocketName={d}/ctl.sock")])
        .args(["-O", &format!("PidFile={d}/pid")])
        .args(["-O", &format!("Mtad.SyslogSocket={d}/syslog.sock")])
        .process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let log = || std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default();
    while !log().contains("listening on") {
        assert!(Instant::now() < deadline, "{}", log());
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{}", log());
    assert!(log().contains("stopped (0 sessions"), "{}", log());
}

#[test]
fn a_signal_right_after_listening_on_stops_gracefully() {
    // From the moment mtad says it is listening, SIGTERM and SIGINT stop
    // it in order: its signal handlers exist before that line. The log is
    // read from a pipe, line by line, and the signal sent the instant the
    // line arrives, a few times over.
    use std::io::BufRead;
    for round in 0..6 {
        let signal = if round % 2 == 0 {
            nix::sys::signal::Signal::SIGTERM
        } else {
            nix::sys::signal::Signal::SIGINT
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let port = mtad_e2e::free_port();
        let d = dir.path().display().to_string();
        let mut child = Command::new(bin("mtad"))
            .current_dir(dir.path())
            .arg("-C")
            .arg(workspace().join("etc/sendmail-dev.cf"))
            .arg("-bD")
            .args([
                "-O",
                &format!("DaemonPortOptions=Name=MTA,Port={port},Addr=127.0.0.1"),
            ])
            .args(["-O", &format!("QueueDirectory={d}/queue")])
            .args(["-O", &format!("ControlSocketName={d}/ctl.sock")])
            .args(["-O", &format!("PidFile={d}/pid")])
            .args(["-O", &format!("Mtad.SyslogSocket={d}/syslog.sock")])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut log = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("round {round}: {e}: {}", log.join("\n")));
            let listening = line.contains("listening on");
            log.push(line);
            if listening {
                break;
            }
        }
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
        let deadline = Instant::now() + Duration::from_secs(40);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                panic!("round {round}: mtad did not stop: {}", log.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The rest of the log, up to the last line a stop writes.
        while !log.iter().any(|l| l.contains("stopped (")) {
            match rx.recv_timeout(Duration::from_secs(5)) {
                Ok(line) => log.push(line),
                Err(_) => break,
            }
        }
        let log = log.join("\n");
        assert_eq!(
            status.code(),
            Some(0),
            "round {round} ({signal}): {status:?}\n{log}"
        );
        assert!(log.contains("stopped (0 sessions"), "round {round}: {log}");
    }
}
