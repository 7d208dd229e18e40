//! The client's name is looked up (reverse, then forward) beside the
//! session: the greeting never waits, and the Received header names the
//! client as sendmail does. (Loopback addresses are `localhost` to any
//! resolver, RFC 6761: 127.0.0.1 verifies, 127.0.0.2 does not lead back
//! and is "(may be forged)". The verification itself, against a DNS server
//! with real names, is tested in daemon/src/dns.rs.)

use mtad_e2e::{Client, Daemon, expect, python};

fn received(d: &Daemon) -> Vec<String> {
    let db = d.queue_dir().join("queue.db");
    python(
        &format!(
            "import sqlite3; c = sqlite3.connect('file:{}?mode=ro', uri=True)\nfor (h,) in c.execute('select headers from messages order by id'): print(h.decode().split('\\r\\n')[0])",
            db.display()
        ),
        &[],
    )
    .lines()
        .map(str::to_string)
        .collect()
}

fn send(d: &Daemon, from: &str) -> String {
    let mut c = Client::connect_from(d.port, from);
    expect!(c.reply(), "220");
    let hello = expect!(c.cmd("EHLO helo.example"), "250");
    expect!(c.cmd("MAIL FROM:<a@example.org>"), "250");
    expect!(c.cmd("RCPT TO:<root@localhost>"), "250");
    expect!(c.cmd("DATA"), "354");
    expect!(c.cmd("Subject: x\r\n\r\ny\r\n."), "250");
    hello
}

#[test]
fn the_received_header_names_the_client_as_verified() {
    // A resolver that never answers: nothing may wait on it for long.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let d = Daemon::start(&[&format!("Mtad.Nameservers=127.0.0.1:{port}")]);
    let start = std::time::Instant::now();
    let mut c = Client::connect(d.port);
    expect!(c.reply(), "220");
    assert!(
        start.elapsed() < std::time::Duration::from_millis(500),
        "the greeting waited"
    );
    drop(c);

    let hello = send(&d, "127.0.0.1");
    assert!(
        hello.contains("Hello localhost [127.0.0.1], pleased"),
        "{hello}"
    );
    let hello = send(&d, "127.0.0.2");
    assert!(
        hello.contains("Hello localhost [127.0.0.2] (may be forged)"),
        "{hello}"
    );
    let r = received(&d);
    assert_eq!(r[0], "Received: from helo.example (localhost [127.0.0.1])");
    assert_eq!(
        r[1],
        "Received: from helo.example (localhost [127.0.0.2] (may be forged))"
    );
    drop(silent);
}
