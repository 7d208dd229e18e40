//! Local delivery, end to end: smtplib sends, the queue runner hands the
//! message to the delivery agent, the agent appends to the user's mbox in
//! a test spool, and Python's `mailbox` module reads it back.
//!
//! Run as root (CI), the mailbox must come out owned by the recipient,
//! mode 0600, while the SMTP side runs unprivileged; tests/run creates the
//! recipient account (mtadtest1). Elsewhere the recipient is the user
//! running the tests.

use mtad_e2e::{Client, Daemon, dir_with_spool, expect, python, submit};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The local account mail is delivered to, and its uid.
fn recipient() -> (String, u32) {
    if let Ok(Some(u)) = nix::unistd::User::from_name("mtadtest1") {
        return (u.name, u.uid.as_raw());
    }
    let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .unwrap()
        .expect("the current user has a passwd entry");
    assert!(
        !nix::unistd::geteuid().is_root(),
        "running as root: tests/run creates the mtadtest1 account these tests deliver to"
    );
    (me.name, me.uid.as_raw())
}

fn wait_for(path: &Path, messages: usize) -> Vec<(String, Vec<u8>)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if path.exists() {
            let got = read_mbox(path);
            if got.len() >= messages {
                return got;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} did not get {messages} messages",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// (Subject, body bytes) of each message, as Python's mailbox module
/// splits and parses the file.
fn read_mbox(path: &Path) -> Vec<(String, Vec<u8>)> {
    python(
        "import mailbox, sys\n\
             for m in mailbox.mbox(sys.argv[1]):\n\
             \x20   body = m.get_payload(decode=True)\n\
             \x20   sys.stdout.buffer.write(m['Subject'].encode() + b'\\0' + body.hex().encode() + b'\\n')\n",
        &[path.as_os_str()],
    )
        .lines()
        .map(|l| {
            let (subject, hex) = l.split_once('\0').unwrap();
            let body = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            (subject.to_string(), body)
        })
        .collect()
}

struct Setup {
    daemon: Daemon,
    spool: PathBuf,
    /// A directory anyone may write in, for files aliases name.
    files: PathBuf,
    _dir: tempfile::TempDir,
}

fn start(extra: &[&str]) -> Setup {
    let (user, _) = recipient();
    let (dir, spool) = dir_with_spool();
    let aliases = dir.path().join("aliases");
    let files = dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    std::fs::set_permissions(&files, std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::write(
        &aliases,
        format!(
            "team: {user}\nelsewhere: someone@remote.example\narchive: {}/archive.mbox, {user}\n\
             everything: :include:{}/members\n\
             flaky: {user}, \"|exit 75\"\n\
             slow: \"|sleep 4\"\n",
            files.display(),
            files.display(),
        ),
    )
    .unwrap();
    // An included list with a program and a file besides a user. The
    // program records the uid it runs as and what it read.
    std::fs::write(
        files.join("members"),
        format!(
            "{user}\n\"|id -u > {f}/prog.uid; cat > {f}/prog.msg\"\n{f}/listed.mbox\n{f}/Maildir/\n",
            f = files.display()
        ),
    )
    .unwrap();
    let mut opts = vec![
        "DeliveryMode=background".to_string(),
        format!("Mtad.MailSpoolDirectory={}", spool.display()),
        format!("AliasFile={}", aliases.display()),
    ];
    opts.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = opts.iter().map(String::as_str).collect();
    Setup {
        daemon: Daemon::start(&refs),
        spool,
        files,
        _dir: dir,
    }
}

#[test]
fn smtplib_to_a_local_mailbox_and_back() {
    let (user, uid) = recipient();
    let s = start(&[]);
    let long = "L".repeat(990);
    // Dot-stuffed lines (smtplib stuffs them), a long line, 8-bit text and
    // a line that mbox must escape.
    let script = format!(
        "import smtplib\n\
         body = '.leading dot\\r\\n..two dots\\r\\n{long}\\r\\ncaf\\u00e9 \\u00fcber\\r\\nFrom the start\\r\\n.\\r\\nend\\r\\n'\n\
         msg = ('Subject: first\\r\\nFrom: alice@example.org\\r\\n\\r\\n' + body).encode('utf-8')\n\
         s = smtplib.SMTP('127.0.0.1', {port}, timeout=10)\n\
         s.ehlo('client.example')\n\
         s.sendmail('alice@example.org', ['{user}@localhost'], msg, mail_options=['BODY=8BITMIME'])\n\
         s.sendmail('', ['team@localhost'], b'Subject: second\\r\\n\\r\\nvia the alias\\r\\n')\n\
         s.quit()\n",
        port = s.daemon.port
    );
    python(&script, &[]);
    let mbox = s.spool.join(&user);
    let got = wait_for(&mbox, 2);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].0, "first");
    let want =
        format!(".leading dot\n..two dots\n{long}\ncaf\u{e9} \u{fc}ber\n>From the start\n.\nend\n");
    assert_eq!(String::from_utf8_lossy(&got[0].1), want);
    assert_eq!(got[1].0, "second");
    assert_eq!(got[1].1, b"via the alias\n");

    let text = std::fs::read_to_string(&mbox).unwrap();
    assert!(text.starts_with("From alice@example.org "), "{text}");
    assert!(text.contains("\nFrom MAILER-DAEMON "), "the null sender");
    assert!(
        text.contains("Return-Path: <alice@example.org>\n"),
        "{text}"
    );
    let meta = std::fs::metadata(&mbox).unwrap();
    assert_eq!(meta.uid(), uid, "owned by the recipient");
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert!(!s.spool.join(format!("{user}.lock")).exists());

    // Delivered messages leave the queue.
    s.daemon.wait_empty();
}

#[test]
fn what_cannot_be_delivered_yet_stays_queued_and_etrn_runs_the_queue() {
    let s = start(&["PrivacyOptions=public"]);
    let mut c = Client::connect(s.daemon.port);
    expect!(c.reply(), "220");
    let ehlo = expect!(c.cmd("EHLO client.example"), "250");
    assert!(ehlo.contains("250-ETRN"), "{ehlo}");
    expect!(c.cmd("MAIL FROM:<alice@example.org>"), "250");
    expect!(c.cmd("RCPT TO:<elsewhere@localhost>"), "250");
    expect!(c.cmd("DATA"), "354");
    let r = expect!(c.cmd("Subject: held\r\n\r\nx\r\n."), "250 2.0.0");
    let id = r.split_whitespace().nth(2).unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let q = s.daemon.mailq();
        if q.contains("remote.example: host name lookup failure") {
            assert!(q.contains(&id), "{q}");
            break;
        }
        assert!(Instant::now() < deadline, "{q}");
        std::thread::sleep(Duration::from_millis(50));
    }
    expect!(
        c.cmd("ETRN remote.example"),
        "250 2.0.0 Queuing for node remote.example started"
    );
    expect!(
        c.cmd("ETRN @example"),
        "250 2.0.0 Queuing for node @example started"
    );
    expect!(c.cmd("ETRN #slowq"), "459 4.5.4");
    // sendmail answers a bare ETRN with 500, not 501.
    expect!(c.cmd("ETRN"), "500 5.5.2 Parameter required");
    expect!(c.cmd("ETRN bad;domain"), "501 5.5.4");
    assert!(s.daemon.mailq().contains(&id), "still queued, not lost");
}

#[test]
fn queueonly_waits_for_a_queue_run_and_etrn_starts_one() {
    let (user, _) = recipient();
    let s = start(&["DeliveryMode=queueonly", "PrivacyOptions=public"]);
    let mut c = Client::connect(s.daemon.port);
    expect!(c.reply(), "220");
    expect!(c.cmd("EHLO client.example"), "250");
    expect!(c.cmd("MAIL FROM:<alice@example.org>"), "250");
    expect!(c.cmd(&format!("RCPT TO:<{user}@localhost>")), "250");
    expect!(c.cmd("DATA"), "354");
    let r = expect!(
        c.cmd("Subject: later\r\n\r\nqueued first\r\n."),
        "250 2.0.0"
    );
    let id = r.split_whitespace().nth(2).unwrap().to_string();
    std::thread::sleep(Duration::from_millis(500));
    let mbox = s.spool.join(&user);
    assert!(!mbox.exists(), "queueonly: nothing is delivered at once");
    assert!(s.daemon.mailq().contains(&id));
    expect!(
        c.cmd("ETRN localhost"),
        "250 2.0.0 Queuing for node localhost started"
    );
    let got = wait_for(&mbox, 1);
    assert_eq!(got[0], ("later".to_string(), b"queued first\n".to_vec()));
}

#[test]
fn a_file_an_alias_names_is_appended_to_as_defaultuser() {
    let (user, _) = recipient();
    let s = start(&[]);
    submit(
        s.daemon.port,
        "alice@example.org",
        "archive@localhost",
        "Subject: kept\r\n\r\nfor the record\r\n",
    );
    let archive = s.files.join("archive.mbox");
    let got = wait_for(&archive, 1);
    assert_eq!(got[0], ("kept".to_string(), b"for the record\n".to_vec()));
    // The user on the same alias got it too.
    let got = wait_for(&s.spool.join(&user), 1);
    assert_eq!(got[0].0, "kept");
    // Written as DefaultUser (mail:mail in sendmail-dev.cf) when the agent
    // is root; as the user running the tests otherwise.
    let expected = if nix::unistd::geteuid().is_root() {
        nix::unistd::User::from_name("mail")
            .unwrap()
            .unwrap()
            .uid
            .as_raw()
    } else {
        nix::unistd::geteuid().as_raw()
    };
    assert_eq!(std::fs::metadata(&archive).unwrap().uid(), expected);
    assert!(!s.files.join("archive.mbox.lock").exists());
}

#[test]
fn an_included_list_delivers_to_a_user_a_program_and_a_file() {
    let (user, _) = recipient();
    let s = start(&[]);
    submit(
        s.daemon.port,
        "alice@example.org",
        "everything@localhost",
        "Subject: to all\r\n\r\none for everyone\r\n",
    );
    let got = wait_for(&s.spool.join(&user), 1);
    assert_eq!(
        got[0],
        ("to all".to_string(), b"one for everyone\n".to_vec())
    );
    let got = wait_for(&s.files.join("listed.mbox"), 1);
    assert_eq!(got[0].0, "to all");
    // A target ending in `/` is a Maildir: the message whole in new/.
    let new = s.files.join("Maildir/new");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_dir(&new).map_or(0, |d| d.count()) == 0 {
        assert!(
            Instant::now() < deadline,
            "no Maildir delivery: {}",
            s.daemon.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let file = std::fs::read_dir(&new)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("Subject: to all\n"), "{text}");
    assert!(text.ends_with("\n\none for everyone\n"), "{text}");
    assert_eq!(
        std::fs::read_dir(s.files.join("Maildir/tmp"))
            .unwrap()
            .count(),
        0
    );
    let msg = s.files.join("prog.msg");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !msg.exists() || std::fs::read(&msg).unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the program did not run: {}",
            s.daemon.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let text = std::fs::read_to_string(&msg).unwrap();
    assert!(text.starts_with("From alice@example.org "), "{text}");
    assert!(text.contains("\nSubject: to all\n"), "{text}");
    assert!(text.ends_with("\n\none for everyone\n"), "{text}");
    // Programs run as DefaultUser (mail in sendmail-dev.cf) when the agent
    // is root, never as root.
    let uid: u32 = std::fs::read_to_string(s.files.join("prog.uid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let expected = if nix::unistd::geteuid().is_root() {
        nix::unistd::User::from_name("mail")
            .unwrap()
            .unwrap()
            .uid
            .as_raw()
    } else {
        nix::unistd::geteuid().as_raw()
    };
    assert_eq!(uid, expected);
    s.daemon.wait_empty();
}

#[test]
fn a_retry_after_a_partial_failure_delivers_only_what_is_left() {
    let (user, _) = recipient();
    let s = start(&["PrivacyOptions=public"]);
    let mut c = Client::connect(s.daemon.port);
    expect!(c.reply(), "220");
    expect!(c.cmd("EHLO client.example"), "250");
    expect!(c.cmd("MAIL FROM:<alice@example.org>"), "250");
    expect!(c.cmd("RCPT TO:<flaky@localhost>"), "250");
    expect!(c.cmd("DATA"), "354");
    expect!(c.cmd("Subject: once\r\n\r\nx\r\n."), "250 2.0.0");
    let mbox = s.spool.join(&user);
    wait_for(&mbox, 1);
    // The program said EX_TEMPFAIL: it alone stays queued.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let q = s.daemon.mailq();
        if q.contains("temporary failure") {
            assert!(q.contains("|exit 75"), "{q}");
            assert!(
                !q.contains(&format!("\\{user}")),
                "the mailbox is done: {q}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{q}");
        std::thread::sleep(Duration::from_millis(50));
    }
    expect!(c.cmd("ETRN localhost"), "250");
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.daemon.stderr().matches("to=<|exit 75>").count() < 2 {
        assert!(Instant::now() < deadline, "{}", s.daemon.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        read_mbox(&mbox).len(),
        1,
        "the mailbox got it once, not again on the retry"
    );
}

#[test]
fn a_safe_forward_file_is_followed_and_an_unsafe_one_ignored() {
    let (user, uid) = recipient();
    let fwd = tempfile::tempdir().unwrap();
    std::fs::set_permissions(fwd.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let forward_path = format!("{}/$u.forward", fwd.path().display());
    let s = start(&[&format!("ForwardPath={forward_path}")]);
    let file = fwd.path().join(format!("{user}.forward"));
    let out = s.files.join("fwd.out");
    std::fs::write(
        &file,
        format!(
            "# keep a copy, and run a program as me\n\\{user}, \"|id -u > {o}.uid; cat > {o}\"\n",
            o = out.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    nix::unistd::chown(&file, Some(nix::unistd::Uid::from_raw(uid)), None).unwrap();

    let send = |subject: &str| {
        submit(
            s.daemon.port,
            "alice@example.org",
            &format!("{user}@localhost"),
            &format!("Subject: {subject}\r\n\r\nbody\r\n"),
        )
    };
    send("forwarded");
    let got = wait_for(&s.spool.join(&user), 1);
    assert_eq!(got[0].0, "forwarded");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&out).is_ok_and(|t| t.contains("Subject: forwarded")) {
        assert!(Instant::now() < deadline, "{}", s.daemon.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    let ran_as: u32 = std::fs::read_to_string(format!("{}.uid", out.display()))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(ran_as, uid, "a .forward's program runs as its owner");

    // Group-writable: unsafe, ignored; the mail goes to the mailbox only.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o664)).unwrap();
    std::fs::remove_file(&out).unwrap();
    send("not forwarded");
    let got = wait_for(&s.spool.join(&user), 2);
    assert_eq!(got[1].0, "not forwarded");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!out.exists(), "the unsafe .forward was not used");
    assert!(
        s.daemon
            .stderr()
            .contains("is group- or world-writable; ignored"),
        "{}",
        s.daemon.stderr()
    );
}

#[test]
fn a_slow_program_holds_up_no_mailbox() {
    let (user, _) = recipient();
    let s = start(&[]);
    let send = |rcpt: &str, subject: &str| {
        submit(
            s.daemon.port,
            "alice@example.org",
            &format!("{rcpt}@localhost"),
            &format!("Subject: {subject}\r\n\r\nx\r\n"),
        )
    };
    send("slow", "for the slow program");
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    send(&user, "for the mailbox");
    wait_for(&s.spool.join(&user), 1);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "the mailbox waited for the program: {:?}",
        t.elapsed()
    );
    // The program finishes; nothing is left running or queued.
    s.daemon.wait_empty();
}
