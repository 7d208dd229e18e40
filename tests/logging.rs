//! Logging: syslog datagrams, facility mail, ident sm-mta, in sendmail's
//! line formats, received on a socket the test binds where the daemon is
//! told to send them (Mtad.SyslogSocket; never the machine's /dev/log).
//! The reject lines are checked with fail2ban's own sendmail-reject filter
//! and its fail2ban-regex tool (Debian's package, unpacked by
//! tests/tools/fetch-fail2ban, never installed). Client text cannot forge
//! a line, and logging survives the syslog socket being replaced.

use mtad_e2e::{Client, Daemon, expect, workspace};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

/// A stand-in for the syslog daemon: a datagram socket anyone may send to.
fn syslog(path: &Path) -> UnixDatagram {
    let _ = std::fs::remove_file(path);
    let s = UnixDatagram::bind(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    s
}

/// Every datagram received until `until` returns true for what came in,
/// or the time is up.
fn collect(s: &UnixDatagram, mut until: impl FnMut(&[String]) -> bool) -> Vec<String> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut buf = [0u8; 8192];
    while Instant::now() < deadline && !until(&got) {
        if let Ok(n) = s.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    got
}

#[test]
fn syslog_lines_in_sendmail_format_that_fail2ban_reads() {
    // Client names from a hosts file that does not name 127.0.0.2, so its
    // lookup fails the same way everywhere ({client_resolve} FAIL).
    let names = tempfile::tempdir().unwrap();
    std::fs::write(names.path().join("hosts"), "127.0.0.1 localhost\n").unwrap();
    std::fs::write(names.path().join("service.switch"), "hosts files\n").unwrap();
    let d = Daemon::start(&[
        &format!("HostsFile={}", names.path().join("hosts").display()),
        &format!(
            "ServiceSwitchFile={}",
            names.path().join("service.switch").display()
        ),
    ]);
    let sock = syslog(&d.syslog_socket());

    // From 127.0.0.2, which may not relay: a relaying attempt, an unknown
    // user, an EXPN (noexpn in sendmail-dev.cf), then a good message whose
    // sender carries an escape character and a forged-line attempt.
    let mut c = Client::connect_from(d.port, "127.0.0.2");
    expect!(c.reply(), "220");
    expect!(c.cmd("EHLO client.example"), "250");
    expect!(c.cmd("EXPN root"), "502");
    expect!(c.cmd("MAIL FROM:<spammer@example.org>"), "250");
    expect!(c.cmd("RCPT TO:<victim@remote.example>"), "550 5.7.1");
    expect!(c.cmd("RCPT TO:<nosuchuser-zz@localhost>"), "550 5.1.1");
    expect!(c.cmd("RSET"), "250");
    // A control character outside quotes is refused at MAIL, as sendmail
    // 8.17 refuses it; inside quotes sendmail takes it, and so does mtad,
    // but it never reaches a log line as it is (log::esc, see below).
    expect!(
        c.cmd("MAIL FROM:<odd\x07x@example.org>"),
        "501 5.1.7 Syntax error in mailbox address"
    );
    expect!(c.cmd("MAIL FROM:<\"odd\x1b[2J x\"@example.org>"), "250");
    expect!(c.cmd("RCPT TO:<postmaster@localhost>"), "250");
    expect!(c.cmd("DATA"), "354");
    expect!(c.cmd("Subject: escaped\r\n\r\nx\r\n."), "250");
    expect!(c.cmd("MAIL FROM:<\"odd x\"@example.org>"), "250");
    expect!(c.cmd("RCPT TO:<postmaster@localhost>"), "250");
    expect!(c.cmd("DATA"), "354");
    expect!(
        c.cmd("Subject: logged\r\nMessage-Id: <logged@client.example>\r\n\r\nx\r\n."),
        "250"
    );

    let lines = collect(&sock, |got| {
        got.iter()
            .any(|l| l.contains("msgid=<logged@client.example>"))
    });
    let text = lines.join("\n");
    // Format: <PRI>timestamp ident[pid]: text; facility mail (2).
    for l in &lines {
        assert!(
            l.starts_with("<21>")
                || l.starts_with("<22>")
                || l.starts_with("<19>")
                || l.starts_with("<20>"),
            "{l}"
        );
        assert!(l.contains(&format!(" sm-mta[{}]: ", d.pid())), "{l}");
        assert!(
            !l.contains('\x1b') && !l.contains('\n'),
            "control characters in {l:?}"
        );
    }
    // relay= is the client's name as found (`name [ip]`, `(may be
    // forged)` when it does not lead back) or `[ip]`; the reason after
    // "Relaying denied." follows the lookup, in sendmail's words.
    let relayed = lines
        .iter()
        .find(|l| l.contains("arg1=<victim@remote.example>"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        relayed.contains(": ruleset=check_rcpt, arg1=<victim@remote.example>, relay="),
        "{relayed}"
    );
    assert!(relayed.contains("[127.0.0.2]"), "{relayed}");
    assert!(
        relayed.contains("reject=550 5.7.1 <victim@remote.example>... Relaying denied. "),
        "{relayed}"
    );
    // An unknown user is not a check's refusal: sendmail's usrerr() logs
    // the text after the codes.
    assert!(
        text.contains(": <nosuchuser-zz@localhost>... User unknown"),
        "{text}"
    );
    assert!(
        text.contains("[127.0.0.2]: expn root [rejected]")
            || text.contains("[127.0.0.2] (may be forged): expn root [rejected]"),
        "{text}"
    );
    let from = lines
        .iter()
        .find(|l| l.contains("msgid=<logged@client.example>"))
        .unwrap();
    assert!(
        from.contains("from=<\"odd x\"@example.org>, size="),
        "{from}"
    );
    assert!(
        from.contains(
            ", class=0, nrcpts=1, msgid=<logged@client.example>, proto=ESMTP, daemon=MTA, relay="
        ),
        "{from}"
    );

    // fail2ban's own filter finds the rejections.
    let f2b = workspace().join("target/test-deps/fail2ban");
    let status = std::process::Command::new(workspace().join("tests/tools/fetch-fail2ban"))
        .arg(&f2b)
        .status()
        .unwrap();
    assert!(status.success(), "fetch-fail2ban failed");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mail.log");
    // As rsyslog writes them to a file: the PRI dropped, the host added.
    let file: String = lines
        .iter()
        .map(|l| {
            let rest = l.split_once('>').unwrap().1;
            let (stamp, msg) = rest.split_at(15);
            format!("{stamp} mailhost{msg}\n")
        })
        .collect();
    std::fs::write(&log, &file).unwrap();
    let out = std::process::Command::new("python3")
        .env("PYTHONPATH", f2b.join("usr/lib/python3/dist-packages"))
        .arg(f2b.join("usr/bin/fail2ban-regex"))
        .arg(&log)
        .arg(f2b.join("etc/fail2ban/filter.d/sendmail-reject.conf"))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let matched: usize = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("Lines: "))
        .and_then(|l| l.split(", ").find_map(|p| p.strip_suffix(" matched")))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{report}"));
    // The relaying attempt and the EXPN (fail2ban's filter reads "User
    // unknown" only as a check's reject=).
    assert!(
        matched >= 2,
        "fail2ban matched {matched} lines of\n{file}\n{report}"
    );
}

#[test]
fn logging_survives_the_syslog_socket_being_replaced() {
    let d = Daemon::start(&["PrivacyOptions=public"]);
    let path = d.syslog_socket();
    let send = |subject: &str| {
        let mut c = Client::connect(d.port);
        expect!(c.reply(), "220");
        expect!(c.cmd("EHLO client.example"), "250");
        expect!(c.cmd("MAIL FROM:<a@example.org>"), "250");
        expect!(c.cmd("RCPT TO:<postmaster@localhost>"), "250");
        expect!(c.cmd("DATA"), "354");
        expect!(
            c.cmd(&format!(
                "Subject: s\r\nMessage-Id: <{subject}@x>\r\n\r\nx\r\n."
            )),
            "250"
        );
    };
    let first = syslog(&path);
    send("one");
    let got = collect(&first, |g| g.iter().any(|l| l.contains("<one@x>")));
    assert!(got.iter().any(|l| l.contains("<one@x>")), "{got:?}");
    // The syslog daemon restarts: a new socket at the same path.
    drop(first);
    let second = syslog(&path);
    send("two");
    let got = collect(&second, |g| g.iter().any(|l| l.contains("<two@x>")));
    assert!(
        got.iter().any(|l| l.contains("<two@x>")),
        "lines after the restart: {got:?}"
    );
}

#[test]
fn loglevel_is_honoured_and_sigusr1_logs_the_counters() {
    // LogLevel 1: no per-message lines (level 9), but the counters SIGUSR1
    // asks for (level 1) still come.
    let d = Daemon::start(&["LogLevel=1"]);
    let sock = syslog(&d.syslog_socket());
    let mut c = Client::connect(d.port);
    expect!(c.reply(), "220");
    expect!(c.cmd("EHLO client.example"), "250");
    expect!(c.cmd("MAIL FROM:<a@example.org>"), "250");
    expect!(c.cmd("RCPT TO:<postmaster@localhost>"), "250");
    expect!(c.cmd("DATA"), "354");
    expect!(c.cmd("Subject: quiet\r\n\r\nx\r\n."), "250");
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.pid() as i32),
        nix::sys::signal::Signal::SIGUSR1,
    )
    .unwrap();
    let lines = collect(&sock, |g| g.iter().any(|l| l.contains("stats: since=")));
    let text = lines.join("\n");
    assert!(text.contains("stats: mailer=esmtp, msgsfr=1,"), "{text}");
    assert!(text.contains(", connections_in="), "{text}");
    assert!(
        !text.contains("from=<a@example.org>"),
        "a level-9 line at LogLevel 1: {text}"
    );
}
