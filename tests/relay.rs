//! Relaying, end to end: smtplib hands mtad mail for other domains; mtad
//! finds their MX hosts through a real DNS server on loopback (dnsmasq,
//! started here on a high port, authoritative for `.test`) and delivers
//! with its SMTP client to a real receiving server (Postfix's smtp-sink
//! from Debian, unpacked, never installed), which dumps what it got.
//! The mailers' `A=TCP $h PORT` points every connection at the sink's
//! port, so nothing leaves 127.0.0.1.
//!
//! A 4xx from the receiver is retried (after ETRN); a 5xx, and a domain
//! with a null MX, bounce with a DSN that lands in the local sender's
//! mailbox and that Python's `email` package reads as multipart/report.

use mtad_e2e::{
    Client, Daemon, Peer, certificate, dir_with_spool, dnsmasq, dnsmasq_binary, dsns, expect,
    free_port, local_user, python, site_config, smtp_sink, wait_until,
};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Setup {
    daemon: Daemon,
    _dns: Peer,
    sink_port: u16,
    spool: PathBuf,
    dir: tempfile::TempDir,
    /// The local user DSNs go to.
    user: String,
}

/// None (with a note) where dnsmasq is missing: tests/run installs it
/// when run as root, as CI does.
fn start() -> Option<Setup> {
    start_with(&[])
}

/// As [`start`], with more -O options or arguments for mtad.
fn start_with(extra: &[&str]) -> Option<Setup> {
    if dnsmasq_binary().is_none() {
        assert!(
            !nix::unistd::geteuid().is_root(),
            "running as root: tests/run installs dnsmasq-base"
        );
        mtad_e2e::skip("dnsmasq is not installed (tests/run installs it as root)");
        return None;
    }
    let user = local_user();
    let (dir, spool) = dir_with_spool();
    let sink_port = free_port();
    let dns_port = free_port();
    let dns = dnsmasq(
        dir.path(),
        dns_port,
        "test",
        &[
            "--mx-host=relay.test,mx1.relay.test,10".into(),
            "--mx-host=relay.test,mx2.relay.test,20".into(),
            "--host-record=mx1.relay.test,127.0.0.1".into(),
            // The backup MX has an address where nothing listens: it is
            // only tried if the first fails.
            "--host-record=mx2.relay.test,127.0.0.3".into(),
            "--host-record=implicit.test,127.0.0.1".into(),
            // Nothing listens at down.test's MX host.
            "--mx-host=down.test,mx.down.test,10".into(),
            "--host-record=mx.down.test,127.0.0.3".into(),
            // RFC 7505: MX 0 "." (rdata: preference 0, the root name).
            "--dns-rr=null.test,15,000000".into(),
        ],
    );
    let mc = format!(
        "define(`SMTP_MAILER_ARGS', `TCP $h {sink_port}')dnl\n\
         define(`ESMTP_MAILER_ARGS', `TCP $h {sink_port}')dnl\n\
         define(`RELAY_MAILER_ARGS', `TCP $h {sink_port}')dnl\n\
         define(`SMTP8_MAILER_ARGS', `TCP $h {sink_port}')dnl\n\
         define(`DSMTP_MAILER_ARGS', `TCP $h {sink_port}')dnl\n\
         define(`ALIAS_FILE', `{dir}/aliases')dnl\n\
         FEATURE(`mailertable', `hash {dir}/mailertable')dnl\n",
        dir = dir.path().display()
    );
    std::fs::write(dir.path().join("aliases"), "postmaster: root\n").unwrap();
    // On-demand delivery (dsmtp, F=%): only when the node asks by ETRN.
    // The source beside its .db, as a site keeps them.
    let mailertable = "ondemand.test dsmtp:[127.0.0.1]\n";
    std::fs::write(dir.path().join("mailertable"), mailertable).unwrap();
    mtad_e2e::makemap(&dir.path().join("mailertable"), mailertable)?;
    let cf = site_config(dir.path(), "relay-e2e", &mc);
    let spool_option = format!("Mtad.MailSpoolDirectory={}", spool.display());
    let dns_option = format!("Mtad.Nameservers=127.0.0.1:{dns_port}");
    let mut options = vec![
        "DeliveryMode=background",
        &spool_option,
        &dns_option,
        "PrivacyOptions=public",
    ];
    options.extend_from_slice(extra);
    let daemon = Daemon::start_with(&cf, &options);
    Some(Setup {
        daemon,
        _dns: dns,
        sink_port,
        spool,
        dir,
        user,
    })
}

fn send(port: u16, from: &str, to: &[&str], message: &str) {
    let rcpts: Vec<String> = to.iter().map(|t| format!("'{t}'")).collect();
    python(
        &format!(
            "import smtplib, sys\n\
             s = smtplib.SMTP('127.0.0.1', {port}, timeout=10)\n\
             s.sendmail('{from}', [{}], sys.argv[1].encode('utf-8'), mail_options=['BODY=8BITMIME'])\n\
             s.quit()\n",
            rcpts.join(", ")
        ),
        &[std::ffi::OsStr::new(message)],
    );
}

/// The transactions smtp-sink dumped: (envelope recipients, message), as
/// Python's email parser reads each file.
fn dumped(dir: &Path, want: usize) -> Vec<(Vec<String>, String, Vec<u8>)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        if files.len() >= want {
            std::thread::sleep(Duration::from_millis(200));
            return files
                .iter()
                .map(|f| {
                    let out = python(
                        "import email, sys\n\
                         from email import policy\n\
                         m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.compat32)\n\
                         rcpts = [v.split()[0].strip('<>') for v in m.get_all('X-Rcpt-Args', [])]\n\
                         body = m.get_payload(decode=True)\n\
                         sys.stdout.write(','.join(rcpts) + '\\0' + m['Subject'] + '\\0' + body.hex())\n",
                        &[f.as_os_str()],
                    );
                    let mut parts = out.split('\0');
                    let rcpts = parts.next().unwrap().split(',').map(String::from).collect();
                    let subject = parts.next().unwrap().to_string();
                    let hex = parts.next().unwrap();
                    let body = (0..hex.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                        .collect();
                    (rcpts, subject, body)
                })
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "smtp-sink got {} of {want} messages",
            files.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn mail_for_other_domains_reaches_their_mx_host() {
    let Some(s) = start() else { return };
    let dump = s.dir.path().join("sink");
    let _sink = smtp_sink(s.sink_port, &dump, &[]);
    let long = "x".repeat(980);
    let body = format!(".starts with a dot\r\ncaf\u{e9}\r\n{long}\r\nend\r\n");
    send(
        s.daemon.port,
        "alice@localhost",
        &["bob@relay.test", "carol@relay.test", "dave@implicit.test"],
        &format!("Subject: relayed\r\nFrom: alice@localhost\r\n\r\n{body}"),
    );
    let got = dumped(&dump, 2);
    assert_eq!(got.len(), 2, "one transaction per domain");
    let mut rcpts: Vec<String> = got.iter().flat_map(|(r, _, _)| r.clone()).collect();
    rcpts.sort();
    assert_eq!(
        rcpts,
        ["bob@relay.test", "carol@relay.test", "dave@implicit.test"],
        "one transaction per domain, both relay.test recipients in one"
    );
    for (_, subject, got_body) in &got {
        assert_eq!(subject, "relayed");
        // smtp-sink writes LF line ends and one blank line after each
        // message in its dump files.
        assert_eq!(
            String::from_utf8_lossy(got_body),
            format!("{}\n", body.replace("\r\n", "\n"))
        );
    }
    s.daemon.wait_empty();
    // sendmail's delivery line.
    let log = s.daemon.stderr();
    let line = log
        .lines()
        .find(|l| l.contains(": to=<bob@relay.test>, delay="))
        .unwrap_or_else(|| panic!("{log}"));
    // sendmail's order: mailer, pri, relay.
    assert!(line.contains(", mailer=esmtp, pri="), "{line}");
    assert!(line.contains(", relay=relay.test, dsn=2.0.0, "), "{line}");
    assert!(line.contains(", dsn=2.0.0, stat=Sent (250"), "{line}");
}

#[test]
fn a_4xx_is_retried_and_a_5xx_or_null_mx_bounces_with_a_dsn() {
    let Some(s) = start() else { return };
    let dump = s.dir.path().join("sink");
    let mbox = s.spool.join(&s.user);

    // 4xx to every RCPT: deferred, the reason in mailq.
    let sink = smtp_sink(s.sink_port, &dump, &["-r", "RCPT"]);
    send(
        s.daemon.port,
        &format!("{}@localhost", s.user),
        &["bob@relay.test"],
        "Subject: soft\r\n\r\nretry me\r\n",
    );
    wait_until("a deferral", || s.daemon.mailq().contains("relay.test"));
    wait_until("the 4xx in mailq", || {
        let q = s.daemon.mailq();
        q.contains("(4") || q.contains(" 4")
    });
    drop(sink);
    // The receiver recovers; ETRN asks for a run.
    let _sink = smtp_sink(s.sink_port, &dump, &[]);
    let mut c = Client::connect(s.daemon.port);
    expect!(c.reply(), "220");
    expect!(c.cmd("EHLO client.example"), "250");
    expect!(c.cmd("ETRN relay.test"), "250");
    let got = dumped(&dump, 1);
    assert_eq!(got[0].1, "soft");
    s.daemon.wait_empty();
    assert!(!mbox.exists(), "no DSN for a retried delivery");
    drop(_sink);

    // 5xx to every RCPT, and a null MX: failure DSNs to the sender.
    let _sink = smtp_sink(s.sink_port, &dump, &["-f", "RCPT"]);
    send(
        s.daemon.port,
        &format!("{}@localhost", s.user),
        &["gone@relay.test"],
        "Subject: hard\r\n\r\nbounce me\r\n",
    );
    send(
        s.daemon.port,
        &format!("{}@localhost", s.user),
        &["x@null.test"],
        "Subject: nullmx\r\n\r\nnobody takes this\r\n",
    );
    wait_until("two DSNs", || mbox.exists() && dsns(&mbox).len() == 2);
    let got = dsns(&mbox);
    let hard = got
        .iter()
        .find(|l| l.contains("gone@relay.test"))
        .expect("DSN for the 5xx");
    assert!(
        hard.starts_with(
            "multipart/report delivery-status Mail Delivery Subsystem <MAILER-DAEMON@"
        ),
        "{hard}"
    );
    assert!(hard.contains(" failed|5."), "{hard}");
    assert!(
        hard.contains("|RFC822; gone@relay.test text/rfc822-headers"),
        "{hard}"
    );
    let null = got
        .iter()
        .find(|l| l.contains("x@null.test"))
        .expect("DSN for the null MX");
    assert!(
        null.contains(" failed|5.1.10|RFC822; x@null.test"),
        "{null}"
    );
    s.daemon.wait_empty();
}

#[test]
fn the_smart_host_gets_the_mail_over_starttls() {
    // The receiver: a second mtad offering STARTTLS, keeping what it gets
    // in its queue (the harness's queueonly).
    let keys = tempfile::tempdir().unwrap();
    std::fs::set_permissions(keys.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (cert, key) = certificate(keys.path());
    for f in [&cert, &key] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let receiver = Daemon::start(&[
        &format!("ServerCertFile={cert}"),
        &format!("ServerKeyFile={key}"),
    ]);

    // The sender: DS[127.0.0.1], the relay mailer at the receiver's port.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mc = format!(
        "define(`SMART_HOST', `[127.0.0.1]')dnl\n\
         define(`RELAY_MAILER_ARGS', `TCP $h {port}')dnl\n\
         define(`ALIAS_FILE', `{dir}/aliases')dnl\n",
        port = receiver.port,
        dir = dir.path().display()
    );
    std::fs::write(dir.path().join("aliases"), "postmaster: root\n").unwrap();
    let cf = site_config(dir.path(), "smarthost-tls", &mc);
    let sender = Daemon::start_with(&cf, &["DeliveryMode=background"]);
    send(
        sender.port,
        "alice@localhost",
        &["bob@far.test"],
        "Subject: secret\r\n\r\nover TLS\r\n",
    );

    wait_until("the receiver to queue it", || {
        receiver.mailq().contains("<bob@far.test>")
    });
    wait_until("the sender's queue to empty", || {
        sender.mailq().contains("is empty")
    });
    let log = sender.stderr();
    let line = log
        .lines()
        .find(|l| l.contains(": to=<bob@far.test>, delay="))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains(", mailer=relay, pri=") && line.contains(", relay=[127.0.0.1], dsn="),
        "{line}"
    );
    assert!(line.contains("stat=Sent (250 2.0.0"), "{line}");
    // The receiver's Received header says the session was TLS.
    let headers = python(
        "import sqlite3, sys\n\
         db = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True)\n\
         for (h,) in db.execute('SELECT headers FROM messages'):\n\
         \x20   sys.stdout.write(h.decode())\n",
        &[receiver.queue_dir().join("queue.db").as_os_str()],
    );
    let received = headers.split("\r\nReceived:").next().unwrap();
    assert!(received.contains("version=TLSv1.3"), "{headers}");
    assert!(received.contains("with ESMTPS"), "{headers}");
}

#[test]
fn one_connection_carries_message_after_message() {
    let Some(s) = start() else { return };
    let dump = s.dir.path().join("sink");
    // -c: smtp-sink counts sessions (when they end), QUITs and messages.
    let sink = smtp_sink(s.sink_port, &dump, &["-c"]);
    for n in 1..=3 {
        send(
            s.daemon.port,
            "alice@localhost",
            &["bob@relay.test"],
            &format!("Subject: number {n}\r\n\r\nx\r\n"),
        );
        dumped(&dump, n);
    }
    // Three messages in one session (sess counts sessions begun), still
    // open in mtad's connection cache (no QUIT yet).
    let counters = sink.log();
    let last = counters
        .split(['\r', '\n'])
        .rfind(|l| l.contains("mesg="))
        .unwrap_or("")
        .to_string();
    assert!(last.contains("mesg=3"), "{counters:?}");
    assert!(
        last.contains("sess=1 quit=0"),
        "one cached connection, not one per message: {counters:?}"
    );
    // The host status (saved every few seconds) names the MX host and its
    // last reply, in sendmail's hoststat layout.
    wait_until("the host status", || {
        s.daemon.hoststat().contains("mx1.relay.test")
    });
    let h = s.daemon.hoststat();
    assert!(h.starts_with("-------------- Hostname"), "{h}");
    // The same through mtactl.
    let out = std::process::Command::new(mtad_e2e::bin("mtactl"))
        .arg("-S")
        .arg(s.daemon.control_socket())
        .arg("hosts")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().nth(1),
        h.lines().nth(1)
    );
    let line = h.lines().find(|l| l.contains("mx1.relay.test")).unwrap();
    assert!(
        line.contains(&format!("mx1.relay.test [127.0.0.1:{}]", s.sink_port))
            && line.contains(" 250 "),
        "{h}"
    );
}

#[test]
fn without_pipelining_or_dsn_at_the_receiver_success_is_reported_as_relayed() {
    let Some(s) = start() else { return };
    let dump = s.dir.path().join("sink");
    // -p: no PIPELINING (one command at a time), -N: no DSN.
    let _sink = smtp_sink(s.sink_port, &dump, &["-p", "-N"]);
    let mut c = Client::connect(s.daemon.port);
    expect!(c.reply(), "220");
    expect!(c.cmd("EHLO client.example"), "250");
    expect!(c.cmd(&format!("MAIL FROM:<{}@localhost>", s.user)), "250");
    expect!(
        c.cmd("RCPT TO:<bob@relay.test> NOTIFY=SUCCESS,FAILURE"),
        "250"
    );
    expect!(c.cmd("RCPT TO:<carol@relay.test>"), "250");
    expect!(c.cmd("DATA"), "354");
    expect!(c.cmd("Subject: step by step\r\n\r\nx\r\n."), "250 2.0.0");
    let got = dumped(&dump, 1);
    let mut rcpts = got[0].0.clone();
    rcpts.sort();
    assert_eq!(rcpts, ["bob@relay.test", "carol@relay.test"]);
    let mbox = s.spool.join(&s.user);
    wait_until("the relayed report", || {
        mbox.exists() && !dsns(&mbox).is_empty()
    });
    let r = dsns(&mbox);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(
        r[0].contains(" relayed|2.0.0|RFC822; bob@relay.test "),
        "{r:?}"
    );
    assert!(
        !r[0].contains("carol"),
        "no NOTIFY=SUCCESS for carol: {r:?}"
    );
}

#[test]
fn a_host_that_refused_is_not_tried_again_by_every_message() {
    let Some(s) = start() else { return };
    send(
        s.daemon.port,
        "alice@localhost",
        &["a@down.test"],
        "Subject: one\r\n\r\nx\r\n",
    );
    wait_until("the refusal", || {
        s.daemon.stderr().contains("to=<a@down.test>")
    });
    send(
        s.daemon.port,
        "alice@localhost",
        &["b@down.test"],
        "Subject: two\r\n\r\nx\r\n",
    );
    wait_until("the second deferral", || {
        s.daemon.stderr().contains("to=<b@down.test>")
    });
    let log = s.daemon.stderr();
    let first = log
        .lines()
        .find(|l| l.contains("to=<a@down.test>"))
        .unwrap();
    let second = log
        .lines()
        .find(|l| l.contains("to=<b@down.test>"))
        .unwrap();
    assert!(
        first.contains("stat=Deferred: 4.4.1 mx.down.test [127.0.0.3]: connect to 127.0.0.3:"),
        "{first}"
    );
    assert!(
        second.contains("(host status, retried after Timeout.hoststatus)"),
        "{second}"
    );
    let q = s.daemon.mailq();
    assert!(
        q.contains("<a@down.test>") && q.contains("<b@down.test>"),
        "both stay queued: {q}"
    );
}

#[test]
fn dsmtp_waits_for_etrn() {
    let Some(s) = start() else { return };
    let dump = s.dir.path().join("sink");
    let _sink = smtp_sink(s.sink_port, &dump, &[]);
    send(
        s.daemon.port,
        "alice@localhost",
        &["x@ondemand.test"],
        "Subject: on demand\r\n\r\nx\r\n",
    );
    wait_until("the hold", || {
        s.daemon.mailq().contains("held for ETRN of ondemand.test")
    });
    assert!(
        std::fs::read_dir(&dump).map_or(0, |d| d.count()) == 0,
        "not delivered before ETRN"
    );
    let mut c = Client::connect(s.daemon.port);
    expect!(c.reply(), "220");
    expect!(c.cmd("EHLO client.example"), "250");
    expect!(c.cmd("ETRN ondemand.test"), "250");
    let got = dumped(&dump, 1);
    assert_eq!(got[0].0, ["x@ondemand.test"]);
}

/// A deferral, then the receiver recovers while mtad runs `-q2s` with a
/// one-second host status: with `backoff`, the retry waits 5 minutes,
/// queue runs or not; without, as in sendmail, the next queue run delivers.
fn retry_after_recovery(backoff: bool) {
    let mut extra = vec!["-q2s", "Timeout.hoststatus=1s"];
    if backoff {
        extra.push("Mtad.RetryBackoff=True");
    }
    let Some(s) = start_with(&extra) else { return };
    let dump = s.dir.path().join("sink");
    let sink = smtp_sink(s.sink_port, &dump, &["-r", "RCPT"]);
    send(
        s.daemon.port,
        &format!("{}@localhost", s.user),
        &["carol@relay.test"],
        "Subject: later\r\n\r\nretry me\r\n",
    );
    wait_until("the 4xx in mailq", || {
        let q = s.daemon.mailq();
        q.contains("carol@relay.test") && (q.contains("(4") || q.contains(" 4"))
    });
    drop(sink);
    let _sink = smtp_sink(s.sink_port, &dump, &[]);
    if backoff {
        // Three queue runs go by; the message waits for its backoff.
        std::thread::sleep(Duration::from_secs(7));
        assert!(
            std::fs::read_dir(&dump).map_or(true, |d| d.count() == 0),
            "retried before its backoff"
        );
        assert!(s.daemon.mailq().contains("carol@relay.test"));
    } else {
        let got = dumped(&dump, 1);
        assert_eq!(got[0].1, "later");
        s.daemon.wait_empty();
        let log = s.daemon.stderr();
        assert!(
            log.contains("to=<carol@relay.test>") && log.contains("stat=Sent"),
            "{log}"
        );
    }
}

#[test]
fn every_queue_run_retries_what_was_deferred() {
    retry_after_recovery(false);
}

#[test]
fn with_retry_backoff_queue_runs_wait_for_it() {
    retry_after_recovery(true);
}
