//! How the daemon runs: root is dropped before the network is read, -bd
//! detaches and writes PidFile, a missing mode is an error.

use mtad_e2e::{Client, Daemon, bin, expect, skip, text, workspace};
use std::process::Command;

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// The real, effective, saved and filesystem uids of a process.
fn uids(pid: u32) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .unwrap()
        .split_whitespace()
        .map(|u| u.parse().unwrap())
        .collect()
}

#[test]
fn started_as_root_it_serves_as_the_run_user() {
    if !is_root() {
        skip("not root, nothing to drop");
        return;
    }
    let d = Daemon::start(&["RunAsUser=nobody"]);
    let nobody: u32 = String::from_utf8(
        Command::new("id")
            .args(["-u", "nobody"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .parse()
    .unwrap();
    // The port takes connections from the moment it is bound (as root);
    // nothing reads them before the drop, which the log then reports.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !d.stderr().contains("running as nobody") {
        assert!(std::time::Instant::now() < deadline, "{}", d.stderr());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(uids(d.pid()), vec![nobody; 4], "every uid is nobody's");
    // And it works as nobody: the queue is its own.
    let mut c = Client::connect(d.port);
    expect!(c.reply(), "220");
    expect!(c.cmd("EHLO x.example"), "250");
    expect!(c.cmd("MAIL FROM:<a@example.org>"), "250");
    expect!(c.cmd("RCPT TO:<root@localhost>"), "250");
    expect!(c.cmd("DATA"), "354");
    expect!(c.cmd("Subject: x\r\n\r\ny\r\n."), "250 2.0.0");
    assert!(d.stderr().contains("running as nobody"), "{}", d.stderr());
}

#[test]
fn root_is_refused_as_the_run_user() {
    if !is_root() {
        skip("not root");
        return;
    }
    let out = Command::new(bin("mtad"))
        .arg("-C")
        .arg(workspace().join("etc/sendmail-dev.cf"))
        .args([
            "-bD",
            "-O",
            "RunAsUser=root",
            "-O",
            "DaemonPortOptions=Port=0,Addr=127.0.0.1",
        ])
        .arg("-O")
        .arg(format!(
            "QueueDirectory={}/q",
            std::env::temp_dir().display()
        ))
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(71), "{stderr}");
    assert!(
        stderr.contains("will not serve the network as root"),
        "{stderr}"
    );
}

#[test]
fn dash_bd_detaches_and_writes_its_pid() {
    let dir = tempfile::tempdir().unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let port = mtad_e2e::free_port();
    let pid_file = dir.path().join("mtad.pid");
    let out = Command::new(bin("mtad"))
        .arg("-C")
        .arg(workspace().join("etc/sendmail-dev.cf"))
        .arg("-bd")
        .arg("-O")
        .arg(format!("DaemonPortOptions=Port={port},Addr=127.0.0.1"))
        .arg("-O")
        .arg(format!("QueueDirectory={}/queue", dir.path().display()))
        .arg("-O")
        .arg(format!("PidFile={}", pid_file.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    // The parent is gone; the detached daemon answers and its pid is in
    // PidFile, with the command line on the second line as in sendmail. The
    // child writes it once it has its pid, after the parent has returned.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let pid_text = loop {
        let t = std::fs::read_to_string(&pid_file).unwrap_or_default();
        if t.lines().count() >= 2 || std::time::Instant::now() > deadline {
            break t;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut lines = pid_text.lines();
    let pid: i32 = lines.next().unwrap().parse().unwrap();
    // Ended by the pid it wrote, even when an assertion below fails: a
    // detached daemon outlives the test otherwise.
    struct EndOnDrop(i32);
    impl Drop for EndOnDrop {
        fn drop(&mut self) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.0),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    let _end = EndOnDrop(pid);
    assert!(lines.next().unwrap().contains("-bd"));
    let mut c = Client::connect(port);
    expect!(c.reply(), "220");
}

#[test]
fn a_mode_is_required() {
    let out = Command::new(bin("mtad"))
        .arg("-C")
        .arg(workspace().join("etc/sendmail-dev.cf"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out).1.contains("-bD"));
}

#[test]
fn dash_bi_builds_the_alias_database_the_daemon_then_reads() {
    let dir = tempfile::tempdir().unwrap();
    let aliases = dir.path().join("aliases");
    std::fs::write(
        &aliases,
        "# the team\nteam: alice, bob@remote.example\nbad line without colon\npostmaster: root\n",
    )
    .unwrap();
    let config = workspace().join("etc/sendmail-dev.cf");
    let alias_opt = format!("AliasFile={}", aliases.display());
    let out = Command::new(bin("mtad"))
        .arg("-C")
        .arg(&config)
        .args(["-O", &alias_opt, "-bi"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(
        stdout.trim(),
        format!(
            "{}: 2 aliases, longest 31 bytes, 47 bytes total",
            aliases.display()
        )
    );
    assert!(
        stderr.contains(&format!("{}:3:", aliases.display())),
        "{stderr}"
    );
    let db = dir.path().join("aliases.mtad.db");
    assert!(db.exists());

    // The source changes after the build: the daemon says so, and (as
    // sendmail) keeps using the database until -bi is run again.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&aliases, "team: carol\npostmaster: root\n").unwrap();
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(2);
    std::fs::File::options()
        .write(true)
        .open(&aliases)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let d = Daemon::start(&[&alias_opt, "PrivacyOptions=public"]);
    let mut c = Client::connect(d.port);
    expect!(c.reply(), "220");
    expect!(c.cmd("EHLO client.example"), "250");
    let r = expect!(c.cmd("EXPN team"), "250");
    assert!(
        r.contains("alice@") && r.contains("<bob@remote.example>"),
        "{r}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !d.stderr().contains("out of date") {
        assert!(std::time::Instant::now() < deadline, "{}", d.stderr());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        d.stderr().contains("run mtad -bi (newaliases)"),
        "{}",
        d.stderr()
    );
}

#[test]
fn a_dead_delivery_agent_ends_the_daemon_and_loses_no_mail() {
    let mut d = Daemon::start(&["PrivacyOptions=public"]);
    let mut c = Client::connect(d.port);
    expect!(c.reply(), "220");
    expect!(c.cmd("EHLO client.example"), "250");
    expect!(c.cmd("MAIL FROM:<alice@example.org>"), "250");
    expect!(c.cmd("RCPT TO:<postmaster@localhost>"), "250");
    expect!(c.cmd("DATA"), "354");
    let r = expect!(c.cmd("Subject: kept\r\n\r\nx\r\n."), "250 2.0.0");
    let id = r.split_whitespace().nth(2).unwrap().to_string();
    let log = d.stderr();
    let pids: Vec<i32> = log
        .lines()
        .find_map(|l| l.strip_prefix("mtad: delivery agents started, pids "))
        .expect("the agents' pids in the log")
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 3, "{log}");
    // Ours to end: the daemon we started started it.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pids[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let status = d
        .wait_exit(std::time::Duration::from_secs(10))
        .expect("the daemon exits when its agent dies");
    assert_eq!(status.code(), Some(75), "{}", d.stderr());
    assert!(
        d.stderr()
            .contains("has exited; exiting so that the supervisor restarts mtad")
    );
    // The other agents notice their socket closing and end too.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    for pid in &pids[1..] {
        while std::path::Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z ")
        {
            assert!(
                std::time::Instant::now() < deadline,
                "agent {pid} is still running"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    let d = d.restart();
    assert!(d.mailq().contains(&id), "{}", d.mailq());
}

/// mtad -bD on the dev config with a given QueueDirectory: its stderr
/// and exit status, when it refuses to start.
fn refused(queue: &std::path::Path) -> (Option<i32>, String) {
    let dir = queue.parent().unwrap();
    let out = Command::new(bin("mtad"))
        .current_dir(dir)
        .args(["-C"])
        .arg(workspace().join("etc/sendmail-dev.cf"))
        .args([
            "-bD",
            "-O",
            "DaemonPortOptions=Name=MTA,Port=0,Addr=127.0.0.1",
        ])
        .arg("-O")
        .arg(format!("QueueDirectory={}", queue.display()))
        .arg("-O")
        .arg(format!("ControlSocketName={}/ctl.sock", dir.display()))
        .arg("-O")
        .arg(format!("PidFile={}/pid", dir.display()))
        .arg("-O")
        .arg(format!("StatusFile={}/stats", dir.display()))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_unsafe_queue_directory_is_refused_saying_why() {
    use std::os::unix::fs::PermissionsExt;
    let base = tempfile::tempdir().unwrap();
    // A group-writable, not sticky, parent.
    let open = base.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o775)).unwrap();
    let (code, err) = refused(&open.join("queue"));
    assert_eq!(code, Some(71), "{err}");
    assert!(
        err.contains("is group- or world-writable (mode 0775) and not sticky"),
        "{err}"
    );
    // A symbolic link.
    let safe = base.path().join("safe");
    std::fs::create_dir(&safe).unwrap();
    std::fs::set_permissions(&safe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let real = safe.join("real");
    std::fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, safe.join("queue")).unwrap();
    let (code, err) = refused(&safe.join("queue"));
    assert_eq!(code, Some(71));
    assert!(err.contains("is a symbolic link"), "{err}");
    // Readable by others.
    let wide = safe.join("wide");
    std::fs::create_dir(&wide).unwrap();
    std::fs::set_permissions(&wide, std::fs::Permissions::from_mode(0o755)).unwrap();
    if is_root() {
        // As root the queue must belong to the run user (mail here).
        let (code, err) = refused(&wide);
        assert_eq!(code, Some(71));
        assert!(
            err.contains("belongs to root, not to the user mtad runs as"),
            "{err}"
        );
        let mail = nix::unistd::User::from_name("mail").unwrap().unwrap();
        nix::unistd::chown(&wide, Some(mail.uid), Some(mail.gid)).unwrap();
    }
    let (code, err) = refused(&wide);
    assert_eq!(code, Some(71));
    assert!(err.contains("has mode 0755; it must be 0700"), "{err}");
}

#[test]
fn the_delivery_agents_hold_no_listening_socket() {
    let d = Daemon::start(&[]);
    // The port answers from the moment it is bound, a little before the
    // agents are started and logged.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !d.stderr().contains("delivery agents started") {
        assert!(std::time::Instant::now() < deadline, "{}", d.stderr());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let log = d.stderr();
    let pids: Vec<u32> = log
        .lines()
        .find_map(|l| l.strip_prefix("mtad: delivery agents started, pids "))
        .expect("pids in the log")
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    for pid in pids {
        let sockets: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.unwrap().path()).ok())
            .map(|l| l.display().to_string())
            .filter(|l| l.starts_with("socket:"))
            .collect();
        // The socketpair to the daemon on its stdin, perhaps the syslog
        // socket it logs to; never a TCP socket in LISTEN.
        let stdin = std::fs::read_link(format!("/proc/{pid}/fd/0")).unwrap();
        assert!(
            sockets.contains(&stdin.display().to_string()),
            "agent {pid}: {sockets:?}"
        );
        let listening = listening_inodes();
        for s in &sockets {
            let inode = s.trim_start_matches("socket:[").trim_end_matches(']');
            assert!(
                !listening.iter().any(|l| l == inode),
                "agent {pid} holds a listening socket: {s}"
            );
        }
    }
}

/// The inodes of the TCP sockets in LISTEN (state 0A in /proc/net/tcp*).
fn listening_inodes() -> Vec<String> {
    let mut out = Vec::new();
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.get(3) == Some(&"0A")
                && let Some(inode) = cols.get(9)
            {
                out.push(inode.to_string());
            }
        }
    }
    out
}
