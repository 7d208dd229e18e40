//! STARTTLS: offered when a certificate is configured, the session starts
//! over under TLS, and nothing pipelined in clear text after STARTTLS is
//! ever executed (the CVE-2011-0411 class).

use mtad_e2e::{Client, Daemon, certificate, expect, python};

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
    python(
        &format!(
            "import smtplib, ssl\n\
         s = smtplib.SMTP('127.0.0.1', {port}, timeout=10)\n\
         s.ehlo('tls.example')\n\
         s.starttls(context=ssl._create_unverified_context())\n\
         code, text = s.ehlo('tls.example')\n\
         assert b'STARTTLS' not in text, text\n\
         s.sendmail('tls@example.org', ['root@localhost'], 'Subject: over TLS\\r\\n\\r\\nsecret\\r\\n')\n\
         s.quit()\n",
            port = d.port
        ),
        &[],
    );
    let q = d.mailq();
    assert!(q.contains("<tls@example.org>"), "{q}");

    // Injection: commands sent in clear text right after STARTTLS are
    // dropped; the first reply under TLS answers the first command sent
    // under TLS.
    python(
        &format!(
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
        ),
        &[],
    );
}

#[test]
fn the_received_header_says_tls() {
    let keys = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(keys.path());
    let d = Daemon::start(&[
        &format!("ServerCertFile={cert}"),
        &format!("ServerKeyFile={key}"),
    ]);
    python(
        &format!(
            "import smtplib, ssl\n\
         s = smtplib.SMTP('127.0.0.1', {port}, timeout=10)\n\
         s.starttls(context=ssl._create_unverified_context())\n\
         s.ehlo('tls.example')\n\
         s.sendmail('tls@example.org', ['root@localhost'], 'Subject: x\\r\\n\\r\\ny\\r\\n')\n\
         s.quit()\n",
            port = d.port
        ),
        &[],
    );
    let db = d.queue_dir().join("queue.db");
    let text = python(
        &format!(
            "import sqlite3; c = sqlite3.connect('file:{}?mode=ro', uri=True); print(c.execute('select headers, protocol from messages').fetchone())",
            db.display()
        ),
        &[],
    );
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
    // sendmail's reply when it has no usable certificate.
    expect!(c.cmd("STARTTLS"), "454 4.3.3 TLS not available after start");
}

/// A CA, a client certificate it signed and one it did not, as PEM files.
fn client_certificates(dir: &std::path::Path) -> [String; 5] {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "mtad test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let ca_file = write("ca.pem", ca.pem());
    let member_key = KeyPair::generate().unwrap();
    let member = CertificateParams::new(vec!["client.example".into()])
        .unwrap()
        .signed_by(&member_key, &ca)
        .unwrap();
    let stranger = rcgen::generate_simple_self_signed(vec!["client.example".into()]).unwrap();
    [
        ca_file,
        write("member.pem", member.pem()),
        write("member.key", member_key.serialize_pem()),
        write("stranger.pem", stranger.cert.pem()),
        write("stranger.key", stranger.signing_key.serialize_pem()),
    ]
}

#[test]
fn client_certificates_are_verified_against_cacertfile_and_never_refused() {
    let keys = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(keys.path());
    let [ca, member, member_key, stranger, stranger_key] = client_certificates(keys.path());
    let d = Daemon::start(&[
        &format!("ServerCertFile={cert}"),
        &format!("ServerKeyFile={key}"),
        &format!("CACertFile={ca}"),
    ]);
    // One message each: a certificate the CA signed, one it did not, none.
    python(
        &format!(
            "import smtplib, ssl\n\
         def send(sender, chain):\n\
         \x20   ctx = ssl._create_unverified_context()\n\
         \x20   if chain: ctx.load_cert_chain(*chain)\n\
         \x20   s = smtplib.SMTP('127.0.0.1', {port}, timeout=10)\n\
         \x20   s.starttls(context=ctx)\n\
         \x20   s.ehlo('tls.example')\n\
         \x20   s.sendmail(sender, ['root@localhost'], 'Subject: x\\r\\n\\r\\ny\\r\\n')\n\
         \x20   s.quit()\n\
         send('member@example.org', ('{member}', '{member_key}'))\n\
         send('stranger@example.org', ('{stranger}', '{stranger_key}'))\n\
         send('anonymous@example.org', None)\n",
            port = d.port
        ),
        &[],
    );
    let db = d.queue_dir().join("queue.db");
    let text = python(
        &format!(
            "import sqlite3\n\
             c = sqlite3.connect('file:{}?mode=ro', uri=True)\n\
             for sender, headers in c.execute('select sender, headers from messages order by sender'):\n\
             \x20   v = headers.decode() if isinstance(headers, bytes) else headers\n\
             \x20   print(sender, v[v.index('verify='):].split(')')[0])\n",
            db.display()
        ),
        &[],
    );
    assert_eq!(
        text,
        "anonymous@example.org verify=NO\nmember@example.org verify=OK\nstranger@example.org verify=FAIL\n"
    );
}
