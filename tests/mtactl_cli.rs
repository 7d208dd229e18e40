//! mtactl finds the daemon's socket, speaks the control protocol, and says
//! clearly (with its own exit status) when the daemon is not there.

use mtactl::protocol::{self, Request, Response, Status};
use mtad_e2e::{bin, text};
use std::io::BufReader;
use std::os::unix::net::UnixListener;
use std::process::Command;

fn mtactl(args: &[&str]) -> std::process::Output {
    Command::new(bin("mtactl")).args(args).output().unwrap()
}

#[test]
fn not_running_is_exit_3_naming_the_socket_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("mtad.sock");
    let cf = dir.path().join("t.cf");
    std::fs::write(
        &cf,
        format!(
            "V10\nO ControlSocketName={}\nMlocal, P=/bin/cat, A=cat\n",
            sock.display()
        ),
    )
    .unwrap();
    let out = mtactl(&["-C", cf.to_str().unwrap(), "status"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("mtad is not running"), "{stderr}");
    assert!(stderr.contains(sock.to_str().unwrap()), "{stderr}");
}

#[test]
fn an_unreadable_config_is_exit_6() {
    let out = mtactl(&["-C", "/nonexistent/sendmail.cf", "status"]);
    assert_eq!(out.status.code(), Some(6));
    assert!(
        text(&out)
            .1
            .contains("cannot read /nonexistent/sendmail.cf")
    );
}

#[test]
fn status_over_a_real_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("ctl.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(&stream);
        let mut writer = &stream;
        let hello: Request = protocol::read_message(&mut reader).unwrap();
        assert_eq!(
            hello,
            Request::Hello {
                version: protocol::VERSION
            }
        );
        protocol::write_message(
            &mut writer,
            &Response::Hello {
                version: protocol::VERSION,
            },
        )
        .unwrap();
        let req: Request = protocol::read_message(&mut reader).unwrap();
        assert_eq!(req, Request::Status);
        let status = Status {
            pid: 4242,
            version: "0.1.0".into(),
            uptime_secs: 61,
            listeners: vec!["127.0.0.1:2525".into()],
            config_file: "/etc/mail/sendmail.cf".into(),
            config_loaded_at: 1_700_000_000,
        };
        protocol::write_message(&mut writer, &Response::Status(status)).unwrap();
    });
    let out = mtactl(&["-S", sock.to_str().unwrap(), "status"]);
    server.join().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("pid:        4242"), "{stdout}");
    assert!(stdout.contains("listening:  127.0.0.1:2525"), "{stdout}");
}

/// mtactl against a real daemon: its socket from the harness (-S).
fn ctl(d: &mtad_e2e::Daemon, args: &[&str]) -> std::process::Output {
    let sock = d.control_socket();
    let mut all = vec!["-S", sock.to_str().unwrap()];
    all.extend_from_slice(args);
    mtactl(&all)
}

fn queue_one(d: &mtad_e2e::Daemon, from: &str, to: &str, subject: &str) -> String {
    mtad_e2e::submit(
        d.port,
        from,
        to,
        &format!("Subject: {subject}\r\n\r\nthe body of {subject}\r\n"),
    )
}

#[test]
fn status_and_queue_from_the_running_daemon() {
    let d = mtad_e2e::Daemon::start(&[]);
    let out = ctl(&d, &["status"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!("pid:        {}", d.pid())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("127.0.0.1:{} (MTA)", d.port)),
        "{stdout}"
    );
    assert!(stdout.contains("etc/sendmail-dev.cf"), "{stdout}");

    let a = queue_one(&d, "alice@example.org", "postmaster@localhost", "first");
    let b = queue_one(&d, "bob@example.net", "root@localhost", "second");
    let out = ctl(&d, &["queue"]);
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    assert!(stdout.contains("(2 requests)"), "{stdout}");
    assert!(stdout.contains(&a) && stdout.contains(&b), "{stdout}");
    assert!(stdout.contains("<alice@example.org>") && stdout.contains("<root@localhost>"));
    assert!(stdout.ends_with("\t\tTotal requests: 2\n"), "{stdout}");
    // The same layout as mtad -bp.
    assert_eq!(stdout.lines().nth(1), d.mailq().lines().nth(1));

    let out = ctl(&d, &["queue", "--json", "--sender", "BOB@"]);
    let (stdout, _) = text(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(
        lines[0].contains(&format!("\"queue_id\":\"{b}\"")),
        "{stdout}"
    );
    assert!(lines[0].contains("\"queue_name\":\"incoming\""), "{stdout}");
    assert!(
        lines[0]
            .contains("\"recipients\":[{\"address\":\"root@localhost\",\"delay_reason\":null}]"),
        "{stdout}"
    );
    let out = ctl(
        &d,
        &["queue", "--domain", "localhost", "--older-than", "1h"],
    );
    assert!(text(&out).0.contains("is empty"), "{}", text(&out).0);

    let out = ctl(&d, &["queue", "show", &a, "--body"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("sender:     <alice@example.org>"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  <postmaster@localhost> pending attempts=0"),
        "{stdout}"
    );
    assert!(stdout.contains("  Subject: first"), "{stdout}");
    assert!(stdout.contains("the body of first"), "{stdout}");
    let out = ctl(&d, &["queue", "show", "6AQZZZZZZZZZZZ"]);
    assert_eq!(out.status.code(), Some(5), "a missing ID: {}", text(&out).1);
}

#[test]
fn hold_release_flush_delete_and_all_in_capitals() {
    let d = mtad_e2e::Daemon::start(&[]);
    // Remote recipients whose domain cannot be looked up (the harness's
    // resolver is a closed port): flush and release run the queue, and
    // the messages stay.
    let a = queue_one(&d, "alice@example.org", "x@remote.example", "one");
    let b = queue_one(&d, "alice@example.org", "y@remote.example", "two");
    let out = ctl(&d, &["queue", "hold", &a]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(text(&out).0, "1 message affected\n");
    let q = text(&ctl(&d, &["queue"])).0;
    assert!(q.contains("QUARANTINE: held"), "{q}");
    let json = text(&ctl(&d, &["queue", "--json"])).0;
    assert!(json.contains("\"queue_name\":\"hold\""), "{json}");
    let out = ctl(&d, &["queue", "release", &a]);
    assert!(out.status.success());
    assert!(!text(&ctl(&d, &["queue"])).0.contains("QUARANTINE"));
    // ALL only in capitals.
    let out = ctl(&d, &["queue", "delete", "all"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("say ALL, in capitals"));
    // A missing ID: the others still count, exit 5.
    let out = ctl(&d, &["queue", "flush", &b, "6AQZZZZZZZZZZZ"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(text(&out).1.contains("6AQZZZZZZZZZZZ: no such message"));
    // IDs from stdin.
    let mut child = Command::new(bin("mtactl"))
        .args([
            "-S",
            d.control_socket().to_str().unwrap(),
            "queue",
            "delete",
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{a}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let q = d.mailq();
    assert!(!q.contains(&a) && q.contains(&b), "{q}");
    let out = ctl(&d, &["queue", "delete", "ALL"]);
    assert!(out.status.success());
    assert!(d.mailq().contains("is empty"));
}

#[test]
fn other_users_may_list_at_most() {
    if !nix::unistd::geteuid().is_root() {
        mtad_e2e::skip("not root, cannot run mtactl as another user");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    // A copy anyone can run, wherever the checkout is.
    let tools = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tools.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = tools.path().join("mtactl");
    std::fs::copy(bin("mtactl"), &exe).unwrap();
    let as_nobody = |d: &mtad_e2e::Daemon, args: &[&str]| {
        Command::new(&exe)
            .args(["-S", d.control_socket().to_str().unwrap()])
            .args(args)
            .uid(nobody.uid.as_raw())
            .gid(nobody.gid.as_raw())
            .output()
            .unwrap()
    };
    // sendmail-dev.cf has restrictmailq: not even the listing.
    let d = mtad_e2e::Daemon::start(&[]);
    let id = queue_one(&d, "alice@example.org", "root@localhost", "private");
    let out = as_nobody(&d, &["queue"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out).1);
    assert!(text(&out).1.contains("permission denied"));
    drop(d);
    // Without it, listing yes, anything else no.
    let d = mtad_e2e::Daemon::start(&["PrivacyOptions=public"]);
    let id2 = queue_one(&d, "alice@example.org", "root@localhost", "public");
    let out = as_nobody(&d, &["queue"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(text(&out).0.contains(&id2));
    for args in [
        vec!["queue", "delete", id2.as_str()],
        vec!["status"],
        vec!["queue", "show", id2.as_str()],
    ] {
        let out = as_nobody(&d, &args);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", text(&out).1);
    }
    assert!(d.mailq().contains(&id2), "still queued");
    let _ = id;
}

#[test]
fn stats_count_what_was_sent_and_survive_a_restart() {
    use mtad_e2e::{Client, expect};
    let user = mtad_e2e::local_user();
    let spool = tempfile::tempdir().unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(spool.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    }
    let spool_opt = format!("Mtad.MailSpoolDirectory={}", spool.path().display());
    let mut d = mtad_e2e::Daemon::start(&["DeliveryMode=background", &spool_opt]);
    for n in 0..3 {
        queue_one(
            &d,
            "alice@example.org",
            &format!("{user}@localhost"),
            &format!("s{n}"),
        );
    }
    let mut c = Client::connect_from(d.port, "127.0.0.2");
    expect!(c.reply(), "220");
    expect!(c.cmd("EHLO x.example"), "250");
    expect!(c.cmd("MAIL FROM:<bob@example.net>"), "250");
    expect!(c.cmd("RCPT TO:<someone@elsewhere.example>"), "550 5.7.1");
    drop(c);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !d.mailq().contains("is empty") {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = ctl(&d, &["stats", "--json"]);
    let (json, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let has = |s: &str| json.contains(s);
    assert!(has("{\"mailer\":\"esmtp\",\"msgsfr\":3,"), "{json}");
    assert!(has("\"msgsrej\":1"), "{json}");
    assert!(
        has("{\"mailer\":\"local\",\"msgsfr\":0,\"bytes_from\":0,\"msgsto\":3,"),
        "{json}"
    );
    // Four sessions, and the harness's probe for the open port.
    assert!(has("\"connections_in\":5"), "{json}");
    let out = ctl(&d, &["stats"]);
    let (table, _) = text(&out);
    assert!(table.starts_with("Statistics from "), "{table}");
    assert!(
        table.contains(" M   msgsfr  bytes_from   msgsto    bytes_to  msgsrej msgsdis  Mailer"),
        "{table}"
    );
    assert!(
        table.lines().any(|l| l.starts_with(" T        3 ")),
        "{table}"
    );
    assert!(
        table.lines().any(|l| l.starts_with(" C        5 ")),
        "{table}"
    );
    assert!(
        table.contains("queue: incoming 0, active 0, deferred 0, hold 0"),
        "{table}"
    );

    // Kept across a restart (StatusFile, saved at stop).
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.pid() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(
        d.wait_exit(std::time::Duration::from_secs(40))
            .unwrap()
            .code(),
        Some(0)
    );
    let d = d.restart();
    let (json, _) = text(&ctl(&d, &["stats", "--json"]));
    assert!(
        json.contains("{\"mailer\":\"esmtp\",\"msgsfr\":3,"),
        "after the restart: {json}"
    );
    let (json, _) = text(&ctl(&d, &["stats", "--json", "--reset"]));
    assert!(!json.contains("\"msgsfr\":3"), "{json}");
    assert!(json.contains("\"connections_in\":0"), "{json}");
}
