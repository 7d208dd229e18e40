//! STARTTLS: offered when a certificate is configured, the session starts
//! over under TLS, and nothing pipelined in clear text after STARTTLS is
//! ever executed (the CVE-2011-0411 class).

use mtad_e2e::{Client, Daemon, expect};

fn certificate(dir: &std::path::Path) -> (String, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (cert.display().to_string(), key.display().to_string())
}

fn python(script: &str) -> (bool, String) {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn starttls_with_smtplib_and_no_injection() {
    let keys = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(keys.path());
    let d = Daemon::start(&[
        &format!("ServerCertFile={cert}"),
        &format!("ServerKeyFile={key}"),
    ]);
    // Offered before TLS, not after.
    let mut c = Client::connect(d.port);
    expect!(c.reply(), "220");
    let ehlo = expect!(c.cmd("EHLO client.example"), "250");
    assert!(ehlo.contains("STARTTLS"), "{ehlo}");

    // A real client: smtplib with STARTTLS, then a message.
    let (ok, out) = python(&format!(
        "import smtplib, ssl\n\
         s = smtplib.SMTP('127.0.0.1', {port}, timeout=10)\n\
         s.ehlo('tls.example')\n\
         s.starttls(context=ssl._create_unverified_context())\n\
         code, text = s.ehlo('tls.example')\n\
         assert b'STARTTLS' not in text, text\n\
         s.sendmail('tls@example.org', ['root@localhost'], 'Subject: over TLS\\r\\n\\r\\nsecret\\r\\n')\n\
         s.quit()\n",
        port = d.port
    ));
    assert!(ok, "{out}");
    let q = d.mailq();
    assert!(q.contains("<tls@example.org>"), "{q}");

    // Injection: commands sent in clear text right after STARTTLS are
    // dropped; the first reply under TLS answers the first command sent
    // under TLS.
    let (ok, out) = python(&format!(
        "import socket, ssl\n\
         s = socket.create_connection(('127.0.0.1', {port}), timeout=10)\n\
         f = s.makefile('rb')\n\
         def reply():\n\
         \x20   lines = []\n\
         \x20   while True:\n\
         \x20       l = f.readline().decode()\n\
         \x20       lines.append(l)\n\
         \x20       if len(l) < 4 or l[3] != '-': return ''.join(lines)\n\
         reply()\n\
         s.sendall(b'EHLO inject.example\\r\\n'); reply()\n\
         s.sendall(b'STARTTLS\\r\\nRSET\\r\\nMAIL FROM:<injected@example.org>\\r\\n')\n\
         r = reply(); assert r.startswith('220 2.0.0'), r\n\
         t = ssl._create_unverified_context().wrap_socket(s, server_hostname='localhost')\n\
         tf = t.makefile('rb')\n\
         t.sendall(b'NOOP\\r\\n')\n\
         first = tf.readline().decode()\n\
         assert first.startswith('250 2.0.0 OK'), 'injected command answered: ' + first\n\
         t.sendall(b'MAIL FROM:<a@example.org>\\r\\n')\n\
         r = tf.readline().decode()\n\
         assert r.startswith('503'), 'the session must start over (EHLO first): ' + r\n\
         print('ok')\n",
        port = d.port
    ));
    assert!(ok, "{out}");
}

#[test]
fn the_received_header_says_tls() {
    let keys = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(keys.path());
    let d = Daemon::start(&[
        &format!("ServerCertFile={cert}"),
        &format!("ServerKeyFile={key}"),
    ]);
    let (ok, out) = python(&format!(
        "import smtplib, ssl\n\
         s = smtplib.SMTP('127.0.0.1', {port}, timeout=10)\n\
         s.starttls(context=ssl._create_unverified_context())\n\
         s.ehlo('tls.example')\n\
         s.sendmail('tls@example.org', ['root@localhost'], 'Subject: x\\r\\n\\r\\ny\\r\\n')\n\
         s.quit()\n",
        port = d.port
    ));
    assert!(ok, "{out}");
    let db = d.queue_dir().join("queue.db");
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3; c = sqlite3.connect('file:{}?mode=ro', uri=True); print(c.execute('select headers, protocol from messages').fetchone())",
            db.display()
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("with ESMTPS id"), "{text}");
    assert!(text.contains("version=TLSv1.3"), "{text}");
    assert!(text.contains("verify=NO"), "{text}");
}

#[test]
fn no_certificate_no_starttls() {
    let d = Daemon::start(&[]);
    let mut c = Client::connect(d.port);
    expect!(c.reply(), "220");
    let ehlo = c.cmd("EHLO client.example");
    assert!(!ehlo.contains("STARTTLS"));
    expect!(c.cmd("STARTTLS"), "502 5.5.1");
}
