//! systemd: the units verify clean, mtad tells the service manager when
//! it is ready, reloading and stopping (sd_notify), and it takes its
//! listening socket from socket activation, never being root then.

use mtad_e2e::{Client, Daemon, bin, expect, workspace};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_units_verify_clean() {
    if !have("systemd-analyze") {
        mtad_e2e::skip("no systemd-analyze here (tests/run installs systemd as root)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let service = std::fs::read_to_string(workspace().join("systemd/mtad.service")).unwrap();
    // The binaries where this build has them (verify checks they exist).
    let service = service
        .replace("/usr/sbin/mtad ", &format!("{} ", bin("mtad").display()))
        .replace(
            "/usr/sbin/mtactl ",
            &format!("{} ", bin("mtactl").display()),
        );
    std::fs::write(dir.path().join("mtad.service"), service).unwrap();
    std::fs::copy(
        workspace().join("systemd/mtad.socket"),
        dir.path().join("mtad.socket"),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.path().join("mtad.service"))
        .arg(dir.path().join("mtad.socket"))
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {said}"
    );
}

#[test]
fn ready_reloading_and_stopping_are_notified() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut d = Daemon::start_env(
        &workspace().join("etc/sendmail-dev.cf"),
        &[],
        &[("NOTIFY_SOCKET", path.display().to_string())],
    );
    let mut buf = [0u8; 512];
    let mut next = || {
        let n = sock.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let ready = next();
    assert!(ready.starts_with("READY=1"), "{ready}");
    // By then it serves, as the run user.
    let mut c = Client::connect(d.port);
    expect!(c.reply(), "220");
    drop(c);
    let out = Command::new(bin("mtactl"))
        .arg("-S")
        .arg(d.control_socket())
        .arg("reload")
        .output()
        .unwrap();
    assert!(out.status.success());
    let reloading = next();
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading}"
    );
    assert_eq!(next(), "READY=1");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.pid() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(next(), "STOPPING=1");
    assert_eq!(
        d.wait_exit(Duration::from_secs(40)).and_then(|s| s.code()),
        Some(0)
    );
}

#[test]
fn socket_activation_and_never_root() {
    if !nix::unistd::geteuid().is_root() || !have("systemd-socket-activate") || !have("setpriv") {
        mtad_e2e::skip("needs root, systemd-socket-activate and setpriv");
        return;
    }
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    nix::unistd::chown(dir.path(), Some(nobody.uid), Some(nobody.gid)).unwrap();
    let tools = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tools.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = tools.path().join("mtad");
    std::fs::copy(bin("mtad"), &exe).unwrap();
    let port = mtad_e2e::free_port();
    let d = dir.path().display().to_string();
    // systemd-socket-activate binds (as root) and execs setpriv, which
    // becomes nobody and execs mtad: the same process, given fd 3.
    let mut child = Command::new("systemd-socket-activate")
        .arg("-l")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--fdname=Activated")
        .arg("setpriv")
        .arg(format!("--reuid={}", nobody.uid))
        .arg(format!("--regid={}", nobody.gid))
        .arg("--clear-groups")
        .arg(&exe)
        .arg("-C")
        .arg(workspace().join("etc/sendmail-dev.cf"))
        .arg("-bD")
        .args(["-O", &format!("QueueDirectory={d}/queue")])
        .args(["-O", &format!("ControlSocketName={d}/ctl.sock")])
        .args(["-O", &format!("PidFile={d}/pid")])
        .args(["-O", &format!("StatusFile={d}/stats")])
        .args(["-O", &format!("Mtad.MailSpoolDirectory={d}/mail")])
        .args(["-O", &format!("Mtad.SyslogSocket={d}/syslog.sock")])
        .args(["-O", "Mtad.Nameservers=127.0.0.1:9"])
        .args(["-O", "DeliveryMode=queueonly"])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(tools.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    // systemd-socket-activate starts the program at the first connection.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut c = loop {
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            drop(s);
            break Client::connect(port);
        }
        assert!(Instant::now() < deadline, "no listener");
        std::thread::sleep(Duration::from_millis(50));
    };
    let greeting = c.reply();
    let log = || std::fs::read_to_string(tools.path().join("stderr")).unwrap_or_default();
    assert!(greeting.starts_with("220"), "{greeting} {}", log());
    expect!(c.cmd("EHLO activated.example"), "250");
    expect!(c.cmd("QUIT"), "221");
    assert!(
        log().contains(&format!("listening on 127.0.0.1:{port} (Activated)")),
        "{}",
        log()
    );
    // Every process of it: the daemon and its agents, none root.
    let pid = child.id();
    let mut all = vec![pid];
    if let Some(line) = log()
        .lines()
        .find_map(|l| l.strip_prefix("mtad: delivery agents started, pids "))
    {
        all.extend(line.split_whitespace().map(|p| p.parse::<u32>().unwrap()));
    }
    assert_eq!(all.len(), 4, "{}", log());
    for p in all {
        let status = std::fs::read_to_string(format!("/proc/{p}/status")).unwrap();
        let uids = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        assert!(
            uids.split_whitespace()
                .skip(1)
                .all(|u| u == nobody.uid.as_raw().to_string()),
            "process {p}: {uids}"
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}
