//! SMTP sessions against the real daemon (`mtad -bD` on the shipped
//! development config), as raw dialogs that assert the exact replies.

use mtad_e2e::{Client, Daemon, expect};

fn hello(c: &mut Client) {
    expect!(c.reply(), "220 ");
    expect!(c.cmd("EHLO client.example"), "250-");
}

#[test]
fn greeting_and_ehlo_advertise_what_works() {
    let d = Daemon::start(&[]);
    let mut c = Client::connect(d.port);
    let greeting = expect!(c.reply(), "220 ");
    // SmtpGreetingMessage=$j ESMTP mtad ready; $b, with the date expanded.
    assert!(greeting.contains(" ESMTP mtad ready; "), "{greeting}");
    assert!(
        greeting.contains(" +0") || greeting.contains(" -0"),
        "no date in {greeting}"
    );
    let ehlo = expect!(c.cmd("EHLO client.example"), "250-");
    for ext in [
        "PIPELINING",
        "SIZE 26214400",
        "8BITMIME",
        "ENHANCEDSTATUSCODES",
        "DSN",
    ] {
        assert!(
            ehlo.contains(&format!("250-{ext}\r\n")) || ehlo.contains(&format!("250 {ext}\r\n")),
            "{ext} missing: {ehlo}"
        );
    }
    // The client as this machine's resolver knows 127.0.0.1 (/etc/hosts).
    assert!(ehlo.contains(" [127.0.0.1], pleased to meet you"), "{ehlo}");
    for absent in ["STARTTLS", "ETRN", "EXPN", "VERB"] {
        assert!(
            !ehlo.contains(absent),
            "{absent} advertised but not available: {ehlo}"
        );
    }
    expect!(c.cmd("NOOP"), "250 2.0.0");
    expect!(c.cmd("QUIT"), "221 2.0.0");
}

#[test]
fn a_message_is_accepted_with_a_sendmail_queue_id_and_listed() {
    let d = Daemon::start(&[]);
    let mut c = Client::connect(d.port);
    hello(&mut c);
    expect!(
        c.cmd("MAIL FROM:<sender@example.org> SIZE=300 BODY=8BITMIME RET=HDRS ENVID=abc"),
        "250 2.1.0"
    );
    expect!(
        c.cmd("RCPT TO:<root@localhost> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;root@localhost"),
        "250 2.1.5"
    );
    expect!(c.cmd("RCPT TO:<postmaster>"), "250 2.1.5");
    expect!(c.cmd("DATA"), "354 ");
    let r = expect!(
        c.cmd("Subject: test\r\n\r\nline one\r\n..dot-stuffed\r\n."),
        "250 2.0.0 "
    );
    let id = r.split(' ').nth(2).unwrap().to_string();
    assert_eq!(id.len(), 14, "{r}");
    assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
    assert!(
        r.trim_end().ends_with("Message accepted for delivery"),
        "{r}"
    );
    // Many messages per connection.
    expect!(c.cmd("MAIL FROM:<>"), "250 2.1.0");
    expect!(c.cmd("RCPT TO:<root@localhost>"), "250 2.1.5");
    expect!(c.cmd("DATA"), "354 ");
    let r2 = expect!(c.cmd("Subject: second\r\n\r\nx\r\n."), "250 2.0.0 ");
    let id2 = r2.split(' ').nth(2).unwrap().to_string();
    assert!(id < id2, "IDs sort by arrival: {id} {id2}");
    expect!(c.cmd("QUIT"), "221");
    let q = d.mailq();
    assert!(q.contains("(2 requests)"), "{q}");
    assert!(q.contains(&format!("{id}     ")), "{q}");
    assert!(q.contains("<sender@example.org>"), "{q}");
    assert!(q.contains("\t\t\t\t\t <root@localhost>"), "{q}");
    assert!(q.contains("Total requests: 2"), "{q}");
}

#[test]
fn pipelined_commands_get_their_replies_in_order() {
    let d = Daemon::start(&[]);
    let mut c = Client::connect(d.port);
    hello(&mut c);
    c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<root@localhost>\r\nRCPT TO:<nobody-here@localhost>\r\nRCPT TO:<postmaster@localhost>\r\nDATA\r\n");
    expect!(c.reply(), "250 2.1.0");
    expect!(c.reply(), "250 2.1.5");
    expect!(c.reply(), "550 5.1.1");
    expect!(c.reply(), "250 2.1.5");
    expect!(c.reply(), "354 ");
    c.send(b"Subject: p\r\n\r\nbody\r\n.\r\nNOOP\r\n");
    expect!(c.reply(), "250 2.0.0");
    expect!(c.reply(), "250 2.0.0 OK");
}

#[test]
fn smuggling_never_ends_a_message_early() {
    let d = Daemon::start(&[]);
    for fake in ["\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n", "\r.\r\n"] {
        let mut c = Client::connect(d.port);
        hello(&mut c);
        expect!(c.cmd("MAIL FROM:<a@example.org>"), "250");
        expect!(c.cmd("RCPT TO:<root@localhost>"), "250");
        expect!(c.cmd("DATA"), "354");
        let smuggled = format!(
            "Subject: x\r\n\r\nbody{fake}MAIL FROM:<evil@example.org>\r\nRCPT TO:<postmaster@localhost>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n"
        );
        c.send(smuggled.as_bytes());
        expect!(c.reply(), "554 5.6.11");
        // The smuggled commands were part of the refused message.
        expect!(c.cmd("NOOP"), "250 2.0.0 OK");
    }
    assert!(
        d.mailq().contains("is empty"),
        "nothing was accepted: {}",
        d.mailq()
    );
}

#[test]
fn bare_lf_and_overlong_commands_are_refused() {
    let d = Daemon::start(&[]);
    let mut c = Client::connect(d.port);
    hello(&mut c);
    c.send(b"NOOP\nNOOP\r\n");
    expect!(c.reply(), "500 5.5.2");
    // As sendmail, lines up to its MAXINPLINE (12,288 octets) are read.
    c.send(format!("NOOP {}\r\n", "x".repeat(600)).as_bytes());
    expect!(c.reply(), "250 2.0.0");
    c.send(format!("NOOP {}\r\n", "x".repeat(13000)).as_bytes());
    expect!(c.reply(), "500 5.5.0");
    expect!(c.cmd("NOOP"), "250 2.0.0");
    // A text line over 1000 octets refuses the message, and nothing is kept.
    expect!(c.cmd("MAIL FROM:<a@example.org>"), "250");
    expect!(c.cmd("RCPT TO:<root@localhost>"), "250");
    expect!(c.cmd("DATA"), "354");
    c.send(format!("Subject: long\r\n\r\n{}\r\n.\r\n", "y".repeat(1200)).as_bytes());
    expect!(c.reply(), "500 5.5.0");
    assert!(d.mailq().contains("is empty"));
}

#[test]
fn size_and_recipient_limits() {
    let d = Daemon::start(&["MaxMessageSize=1000", "MaxRecipientsPerMessage=2"]);
    let mut c = Client::connect(d.port);
    hello(&mut c);
    let ehlo = c.cmd("EHLO again.example");
    assert!(ehlo.contains("SIZE 1000"), "{ehlo}");
    expect!(c.cmd("MAIL FROM:<a@example.org> SIZE=2000"), "552 5.2.3");
    expect!(c.cmd("MAIL FROM:<a@example.org> SIZE=500"), "250");
    expect!(c.cmd("RCPT TO:<root@localhost>"), "250");
    expect!(c.cmd("RCPT TO:<postmaster@localhost>"), "250");
    expect!(c.cmd("RCPT TO:<mailer-daemon@localhost>"), "452 4.5.3");
    expect!(c.cmd("DATA"), "354");
    let big = format!(
        "Subject: big\r\n\r\n{}",
        "z".repeat(70)
            .repeat(20)
            .chars()
            .collect::<Vec<_>>()
            .chunks(70)
            .map(|c| c.iter().collect::<String>() + "\r\n")
            .collect::<String>()
    );
    c.send(format!("{big}.\r\n").as_bytes());
    expect!(c.reply(), "552 5.2.3");
    expect!(c.cmd("NOOP"), "250");
}

#[test]
fn relaying_is_decided_on_the_parsed_address() {
    let d = Daemon::start(&[]);
    // 127.0.0.2 is loopback but, as in sendmail, not allowed to relay.
    let mut c = Client::connect_from(d.port, "127.0.0.2");
    hello(&mut c);
    expect!(c.cmd("MAIL FROM:<outsider@example.org>"), "250");
    expect!(c.cmd("RCPT TO:<victim@remote.example>"), "550 5.7.1");
    // sendmail-dev.cf's ruleset 0 refuses the %-hack and bang paths.
    expect!(
        c.cmd("RCPT TO:<victim%remote.example@localhost>"),
        "553 5.1.3 <victim%remote.example@localhost>... No %-hack here"
    );
    expect!(
        c.cmd("RCPT TO:<remote.example!victim>"),
        "553 5.1.3 <remote.example!victim>... No bang paths here"
    );
    expect!(
        c.cmd("RCPT TO:<@localhost,@relay.example:victim@remote.example>"),
        "550 5.7.1"
    );
    expect!(
        c.cmd("RCPT TO:<\"victim@remote.example\"@localhost>"),
        "550 5.1.1"
    );
    let r = c.cmd("RCPT TO:<victim@remote.example@localhost>");
    assert!(r.starts_with("553") || r.starts_with("501"), "{r}");
    expect!(c.cmd("RCPT TO:<postmaster@localhost>"), "250 2.1.5");
    expect!(c.cmd("RCPT TO:<Postmaster>"), "250 2.1.5");
    expect!(c.cmd("RCPT TO:<no-such-user-here@localhost>"), "550 5.1.1");
    // From 127.0.0.1 the same remote recipient may be relayed.
    let mut ok = Client::connect(d.port);
    hello(&mut ok);
    expect!(ok.cmd("MAIL FROM:<insider@example.org>"), "250");
    expect!(ok.cmd("RCPT TO:<someone@remote.example>"), "250 2.1.5");
}

#[test]
fn privacy_options_as_sendmail_answers_them() {
    // sendmail-dev.cf: novrfy, noexpn, needmailhelo, noetrn.
    let d = Daemon::start(&[]);
    let mut c = Client::connect(d.port);
    expect!(c.reply(), "220");
    expect!(c.cmd("MAIL FROM:<a@example.org>"), "503 5.0.0");
    expect!(c.cmd("VRFY root"), "252 2.5.2");
    expect!(c.cmd("EXPN root"), "502 5.7.0");
    expect!(c.cmd("ETRN example.org"), "502 5.7.0");
    let open = Daemon::start(&["PrivacyOptions=public"]);
    let mut c = Client::connect(open.port);
    expect!(c.reply(), "220");
    expect!(c.cmd("VRFY root"), "250 2.1.5");
    expect!(c.cmd("VRFY no-such-user-here"), "550 5.1.1");
    expect!(c.cmd("MAIL FROM:<a@example.org>"), "250");
}

#[test]
fn expn_lists_what_an_alias_expands_to() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let list = dir.path().join("list");
    std::fs::write(&list, "# included\nroot, carol@remote.example\n").unwrap();
    let aliases = dir.path().join("aliases");
    std::fs::write(
        &aliases,
        format!(
            "staff: root,\n  bob@Remote.Example, crew\ncrew: :include:{}, \"|/usr/bin/logger -t mail\"\n\
             loop1: loop2\nloop2: loop1\nno colon\n",
            list.display()
        ),
    )
    .unwrap();
    let alias_file = format!("AliasFile={}", aliases.display());
    let d = Daemon::start(&["PrivacyOptions=public", &alias_file]);
    // The bad line is reported with its file and line, and the rest used.
    // (The port answers as soon as it is bound; the aliases are read just
    // after, so the warning may come a moment later.)
    let warning = format!("{}:6: missing colon", aliases.display());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !d.stderr().contains(&warning) {
        assert!(std::time::Instant::now() < deadline, "{}", d.stderr());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut c = Client::connect(d.port);
    hello(&mut c);
    let r = c.cmd("EXPN staff");
    let lines: Vec<&str> = r.lines().collect();
    assert_eq!(lines.len(), 4, "{r}");
    // An account is listed with its full name, as sendmail lists it.
    assert!(lines[0].starts_with("250-2.1.5 root <root@"), "{r}");
    assert_eq!(lines[1], "250-2.1.5 <bob@remote.example>");
    assert_eq!(lines[2], "250-2.1.5 <carol@remote.example>");
    assert_eq!(lines[3], "250 2.1.5 <\"|/usr/bin/logger -t mail\">");
    expect!(c.cmd("EXPN <STAFF@localhost>"), "250-2.1.5 root <root@");
    expect!(c.cmd("EXPN loop1"), "554 5.3.5");
    expect!(c.cmd("EXPN no-such-user-here"), "550 5.1.1");
    // EXPN of a remote address lists it (VRFY would say 252).
    expect!(
        c.cmd("EXPN someone@remote.example"),
        "250 2.1.5 <someone@remote.example>"
    );
    expect!(
        c.cmd("VRFY someone@remote.example"),
        "252 2.1.5 <someone@remote.example>"
    );
    // The aliases also decide RCPT.
    expect!(c.cmd("MAIL FROM:<a@example.org>"), "250");
    expect!(c.cmd("RCPT TO:<crew@localhost>"), "250 2.1.5");
}

#[test]
fn protocol_errors_and_sequence() {
    let d = Daemon::start(&[]);
    let mut c = Client::connect(d.port);
    hello(&mut c);
    expect!(c.cmd("RCPT TO:<root@localhost>"), "503 5.0.0");
    expect!(c.cmd("DATA"), "503 5.0.0");
    expect!(c.cmd("MAIL FROM:<a@example.org> FOO=bar"), "555 5.5.4");
    expect!(c.cmd("MAIL FROM:<a@example.org> BODY=BINARY"), "501 5.5.4");
    expect!(c.cmd("MAIL FROM:<a@example.org>"), "250");
    expect!(c.cmd("MAIL FROM:<b@example.org>"), "503 5.5.0");
    expect!(
        c.cmd("RCPT TO:<root@localhost> NOTIFY=SOMETIMES"),
        "501 5.5.4"
    );
    expect!(c.cmd("DATA"), "503 5.0.0");
    expect!(c.cmd("RSET"), "250 2.0.0");
    expect!(c.cmd("XYZZY"), "500 5.5.1");
    // The development config names no HelpFile: sendmail's answer then.
    expect!(c.cmd("HELP"), "502 5.3.0");
}

#[test]
fn help_comes_from_the_help_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("helpfile");
    std::fs::write(
        &file,
        "#vers\t2\nsmtp\tThis is $j\nsmtp\tTopics: HELO MAIL\nmail\tMAIL FROM: <sender>\n",
    )
    .unwrap();
    let d = Daemon::start(&[&format!("HelpFile={}", file.display())]);
    let mut c = Client::connect(d.port);
    let greeting = c.reply();
    let host = greeting.split_whitespace().nth(1).unwrap().to_string();
    assert_eq!(
        c.cmd("HELP"),
        format!(
            "214-2.0.0 This is {host}\r\n214-2.0.0 Topics: HELO MAIL\r\n214 2.0.0 End of HELP info\r\n"
        )
    );
    assert_eq!(
        c.cmd("HELP Mail"),
        "214-2.0.0 MAIL FROM: <sender>\r\n214 2.0.0 End of HELP info\r\n"
    );
    expect!(c.cmd("HELP quux"), "504 5.3.0 HELP topic \"quux\" unknown");
}

#[test]
fn too_many_hops_is_a_loop() {
    let d = Daemon::start(&["MaxHopCount=5"]);
    let mut c = Client::connect(d.port);
    hello(&mut c);
    expect!(c.cmd("MAIL FROM:<a@example.org>"), "250");
    expect!(c.cmd("RCPT TO:<root@localhost>"), "250");
    expect!(c.cmd("DATA"), "354");
    let hops: String = (0..6)
        .map(|i| format!("Received: from hop{i}.example by x; date\r\n"))
        .collect();
    expect!(
        c.cmd(&format!("{hops}Subject: loop\r\n\r\nx\r\n.")),
        "554 5.4.6"
    );
}

#[test]
fn web_clients_and_early_talkers_are_turned_away() {
    let d = Daemon::start(&["Mtad.GreetPause=1s"]);
    // As sendmail's greet_pause: a 554 greeting, HELO and EHLO a protocol
    // error, every command but QUIT, NOOP and RSET refused.
    let mut c = Client::connect(d.port);
    c.send(b"EHLO hasty.example\r\n");
    expect!(c.reply(), "554 ");
    expect!(c.reply(), "554 5.5.0 SMTP protocol error");
    expect!(
        c.cmd("MAIL FROM:<a@example.org>"),
        "550 5.0.0 Command rejected"
    );
    expect!(c.cmd("QUIT"), "221");
    let mut c = Client::connect(d.port);
    expect!(c.reply(), "220");
    expect!(c.cmd("GET / HTTP/1.1"), "421");
    assert!(c.closed());
}

#[test]
fn a_connection_cap_answers_421() {
    let d = Daemon::start(&["MaxDaemonChildren=2"]);
    // A session that just closed frees its place a moment later (the
    // harness's own probe, then `a` below): connect until served.
    let served = || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let mut c = Client::connect(d.port);
            if c.reply().starts_with("220") {
                return c;
            }
            assert!(std::time::Instant::now() < deadline, "never served");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    let a = served();
    let _b = served();
    let mut c = Client::connect(d.port);
    expect!(c.reply(), "421 4.3.2");
    drop(a);
    let _e = served();
}

#[test]
fn python_smtplib_sends_a_message() {
    let d = Daemon::start(&[]);
    let script = format!(
        "import smtplib\n\
         s = smtplib.SMTP('127.0.0.1', {port}, timeout=10)\n\
         s.ehlo('python.example')\n\
         r = s.sendmail('py@example.org', ['root@localhost', 'postmaster@localhost'], 'Subject: from python\\r\\n\\r\\nhello\\r\\n')\n\
         assert r == {{}}, r\n\
         s.quit()\n",
        port = d.port
    );
    mtad_e2e::python(&script, &[]);
    let q = d.mailq();
    assert!(
        q.contains("<py@example.org>") && q.contains("(1 request)"),
        "{q}"
    );
}

#[test]
fn swaks_sends_a_message_pipelined_and_not() {
    if std::process::Command::new("swaks")
        .arg("--version")
        .output()
        .is_err()
    {
        mtad_e2e::skip("swaks is not installed (tests/run installs it when run as root)");
        return;
    }
    let d = Daemon::start(&[]);
    for extra in [&[][..], &["--pipeline"][..]] {
        let out = std::process::Command::new("swaks")
            .args(["--server", &format!("127.0.0.1:{}", d.port)])
            .args([
                "--from",
                "swaks@example.org",
                "--to",
                "root@localhost,postmaster@localhost",
            ])
            .args(["--helo", "swaks.example", "--header", "Subject: from swaks"])
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}");
        assert!(
            stdout.contains(" 250 2.0.0 ") && stdout.contains("Message accepted for delivery"),
            "{stdout}"
        );
    }
    let q = d.mailq();
    assert!(
        q.contains("(2 requests)") && q.contains("<swaks@example.org>"),
        "{q}"
    );
}

#[test]
fn a_full_disk_refuses_mail_at_mail_from() {
    // MinFreeBlocks far above what any test machine has free.
    let d = Daemon::start(&["MinFreeBlocks=999999999999"]);
    let mut c = Client::connect(d.port);
    hello(&mut c);
    expect!(c.cmd("MAIL FROM:<a@example.org>"), "452 4.4.5");
}

#[test]
fn an_idle_client_times_out() {
    let d = Daemon::start(&["Timeout.command=1s"]);
    let mut c = Client::connect(d.port);
    hello(&mut c);
    // Say nothing: after Timeout.command the server gives up.
    expect!(c.reply(), "421 4.4.2");
    assert!(c.closed());
}

#[test]
fn the_connection_rate_is_throttled() {
    let d = Daemon::start(&["ConnectionRateThrottle=2"]);
    // The harness's own probe counted in the current second; start afresh.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let start = std::time::Instant::now();
    let mut clients: Vec<Client> = (0..3).map(|_| Client::connect(d.port)).collect();
    for c in clients.iter_mut().take(2) {
        expect!(c.reply(), "220");
    }
    assert!(start.elapsed() < std::time::Duration::from_millis(800));
    // The third connection of the same second waits for the next one.
    expect!(clients[2].reply(), "220");
    assert!(
        start.elapsed() >= std::time::Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn several_listeners_ipv4_and_ipv6() {
    let v4 = mtad_e2e::free_port();
    let v6 = mtad_e2e::free_port();
    if std::net::TcpListener::bind(("::1", 0)).is_err() {
        mtad_e2e::skip("no IPv6 loopback on this machine");
        return;
    }
    let d = Daemon::start(&[
        &format!("DaemonPortOptions=Name=Second,Port={v4},Addr=127.0.0.1"),
        &format!("DaemonPortOptions=Name=Six,Port={v6},Addr=::1,Family=inet6"),
    ]);
    let _ = d.port; // the harness's own listener, besides these two
    for addr in [format!("127.0.0.1:{v4}"), format!("[::1]:{v6}")] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut stream = loop {
            match std::net::TcpStream::connect(&addr) {
                Ok(s) => break s,
                Err(e) if std::time::Instant::now() > deadline => panic!("{addr}: {e}"),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        };
        let mut buf = [0u8; 512];
        let n = std::io::Read::read(&mut stream, &mut buf).unwrap();
        assert!(buf[..n].starts_with(b"220 "), "{addr}");
    }
}
