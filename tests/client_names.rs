//! The client's name is looked up (reverse, then forward) beside the
//! session, in the service switch's order (`files` is HostsFile, `dns`
//! the configured servers, which are asked about loopback addresses too):
//! the greeting never waits, and the HELO reply and the Received header
//! name the client as sendmail does. Clients at 127.0.0.x play outside
//! hosts named by a hosts file or by dnsmasq.

use mtad_e2e::{Client, Daemon, dnsmasq, dnsmasq_binary, expect, free_port, python};

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

/// A hosts file and a switch that reads it first; `servers` as
/// Mtad.Nameservers.
fn start(dir: &std::path::Path, hosts: &str, switch: &str, servers: &str) -> Daemon {
    std::fs::write(dir.join("hosts"), hosts).unwrap();
    std::fs::write(dir.join("service.switch"), switch).unwrap();
    Daemon::start(&[
        &format!("HostsFile={}", dir.join("hosts").display()),
        &format!("ServiceSwitchFile={}", dir.join("service.switch").display()),
        &format!("Mtad.Nameservers={servers}"),
    ])
}

#[test]
fn the_received_header_names_the_client_as_verified() {
    // A resolver that never answers: nothing may wait on it for long.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let d = start(
        dir.path(),
        "127.0.0.1 localhost\n127.0.0.2 outside.example outside\n",
        "hosts files dns\n",
        &format!("127.0.0.1:{port}"),
    );
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
        hello.contains("Hello outside.example [127.0.0.2], pleased"),
        "{hello}"
    );
    // In neither the file nor (silent) DNS: the address alone, in time.
    let start = std::time::Instant::now();
    let hello = send(&d, "127.0.0.3");
    assert!(hello.contains("Hello [127.0.0.3], pleased"), "{hello}");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(8),
        "waited too long"
    );
    let r = received(&d);
    assert_eq!(r[0], "Received: from helo.example (localhost [127.0.0.1])");
    assert_eq!(
        r[1],
        "Received: from helo.example (outside.example [127.0.0.2])"
    );
    assert_eq!(r[2], "Received: from helo.example ([127.0.0.3])");
    drop(silent);
}

#[test]
fn a_name_that_does_not_lead_back_may_be_forged() {
    if dnsmasq_binary().is_none() {
        mtad_e2e::skip("dnsmasq is not installed (tests/run installs it as root)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dns_port = free_port();
    let _dns = dnsmasq(
        dir.path(),
        dns_port,
        "test",
        &[
            // 127.0.0.4 says it is liar.test, which is elsewhere.
            "--ptr-record=4.0.0.127.in-addr.arpa,liar.test".into(),
            "--address=/liar.test/127.0.0.9".into(),
            "--ptr-record=5.0.0.127.in-addr.arpa,honest.test".into(),
            "--address=/honest.test/127.0.0.5".into(),
        ],
    );
    // DNS alone: the hosts file's localhost is not asked.
    let d = start(
        dir.path(),
        "",
        "hosts dns\n",
        &format!("127.0.0.1:{dns_port}"),
    );
    let hello = send(&d, "127.0.0.4");
    assert!(
        hello.contains("Hello liar.test [127.0.0.4] (may be forged), pleased"),
        "{hello}"
    );
    let hello = send(&d, "127.0.0.5");
    assert!(
        hello.contains("Hello honest.test [127.0.0.5], pleased"),
        "{hello}"
    );
    // The rules see a forged name as the address ({client_name} is
    // `[addr]`, as sendmail sets it), so the relaying refusal says so.
    let mut c = Client::connect_from(d.port, "127.0.0.4");
    expect!(c.reply(), "220");
    expect!(c.cmd("HELO helo.example"), "250");
    expect!(c.cmd("MAIL FROM:<a@example.org>"), "250");
    expect!(
        c.cmd("RCPT TO:<x@remote.example>"),
        "550 5.7.1 <x@remote.example>... Relaying denied. IP name possibly forged [127.0.0.4]"
    );
    drop(c);
    let r = received(&d);
    assert_eq!(
        r[0],
        "Received: from helo.example (liar.test [127.0.0.4] (may be forged))"
    );
    assert_eq!(
        r[1],
        "Received: from helo.example (honest.test [127.0.0.5])"
    );
}

#[test]
fn connect_entries_of_the_access_map_match_the_client_by_name() {
    if dnsmasq_binary().is_none() {
        mtad_e2e::skip("dnsmasq is not installed (tests/run installs it as root)");
        return;
    }
    let dir = tempfile::tempdir_in(mtad_e2e::workspace().join("target")).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let dns_port = free_port();
    let _dns = dnsmasq(
        dir.path(),
        dns_port,
        "test",
        &[
            "--ptr-record=6.0.0.127.in-addr.arpa,blocked.test".into(),
            "--address=/blocked.test/127.0.0.6".into(),
            "--ptr-record=7.0.0.127.in-addr.arpa,mx.sub.test".into(),
            "--address=/mx.sub.test/127.0.0.7".into(),
            "--ptr-record=8.0.0.127.in-addr.arpa,fine.test".into(),
            "--address=/fine.test/127.0.0.8".into(),
            // The sender's domain, for check_mail.
            "--address=/example.org/192.0.2.10".into(),
        ],
    );
    let Some(()) = mtad_e2e::makemap(
        &dir.path().join("access"),
        "Connect:blocked.test\tREJECT\nConnect:sub.test\tERROR:\"550 go away, sub.test\"\n",
    ) else {
        return;
    };
    let cf = mtad_e2e::site_config(
        dir.path(),
        "connect-names",
        &format!(
            "FEATURE(`access_db', `hash -T<TMPF> {}/access')dnl\n",
            dir.path().display()
        ),
    );
    std::fs::write(dir.path().join("service.switch"), "hosts dns\n").unwrap();
    let d = Daemon::start_with(
        &cf,
        &[
            &format!(
                "ServiceSwitchFile={}",
                dir.path().join("service.switch").display()
            ),
            &format!("Mtad.Nameservers=127.0.0.1:{dns_port}"),
        ],
    );
    let mail_from = |from: &str| {
        let mut c = Client::connect_from(d.port, from);
        expect!(c.reply(), "220");
        expect!(c.cmd("HELO helo.example"), "250");
        c.cmd("MAIL FROM:<a@example.org>")
    };
    // By the name itself, and by a parent domain of it (as sendmail's
    // check_relay looks them up); a client named otherwise goes on.
    expect!(mail_from("127.0.0.6"), "550 5.7.1 Access denied");
    expect!(mail_from("127.0.0.7"), "550 5.0.0 go away, sub.test");
    expect!(mail_from("127.0.0.8"), "250 2.1.0");
}
