//! Delivery status notifications, end to end with local mailboxes only:
//! who gets them (the sender; owner-LIST for a list's members; postmaster,
//! once, for a message from `<>`), when (a failure at once, a delay after
//! Timeout.queuewarn, a failure at Timeout.queuereturn), and what NOTIFY=
//! changes. Each DSN is read back from the mbox by Python's `email`
//! package as a multipart/report.

use mtad_e2e::{Client, Daemon, dir_with_spool, dsns, expect, local_user};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

struct Setup {
    daemon: Daemon,
    mbox: PathBuf,
    user: String,
    _dir: tempfile::TempDir,
}

fn start(extra: &[&str]) -> Setup {
    let user = local_user();
    let (dir, spool) = dir_with_spool();
    let aliases = dir.path().join("aliases");
    std::fs::write(
        &aliases,
        format!(
            "postmaster: {user}\n\
             list: \\{user}, \\nosuchuser-x1\n\
             owner-list: {user}\n\
             stuck: \"|exit 75\"\n\
             broken-postmaster-test: \\nosuchuser-x2\n\
             gone4: \\nosuchuser-x4\n"
        ),
    )
    .unwrap();
    let mut opts = vec![
        "DeliveryMode=background".to_string(),
        "PrivacyOptions=public".to_string(),
        format!("Mtad.MailSpoolDirectory={}", spool.display()),
    ];
    if !extra.iter().any(|o| o.starts_with("AliasFile=")) {
        opts.push(format!("AliasFile={}", aliases.display()));
    }
    opts.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = opts.iter().map(String::as_str).collect();
    Setup {
        daemon: Daemon::start(&refs),
        mbox: spool.join(&user),
        user,
        _dir: dir,
    }
}

fn send(port: u16, from: &str, rcpts: &[&str], subject: &str) -> String {
    let mut c = Client::connect(port);
    expect!(c.reply(), "220");
    expect!(c.cmd("EHLO client.example"), "250");
    expect!(c.cmd(&format!("MAIL FROM:<{from}>")), "250");
    for r in rcpts {
        expect!(c.cmd(&format!("RCPT TO:{r}")), "250");
    }
    expect!(c.cmd("DATA"), "354");
    let r = expect!(
        c.cmd(&format!(
            "Subject: {subject}\r\nMessage-Id: <{subject}@client.example>\r\n\r\nbody\r\n."
        )),
        "250 2.0.0"
    );
    expect!(c.cmd("QUIT"), "221");
    r.split_whitespace().nth(2).unwrap().to_string()
}

fn reports(mbox: &Path) -> Vec<String> {
    if mbox.exists() {
        dsns(mbox)
    } else {
        Vec::new()
    }
}

fn mbox_text(mbox: &Path) -> String {
    std::fs::read_to_string(mbox).unwrap_or_default()
}

#[test]
fn failures_go_to_owner_list_and_a_null_senders_to_postmaster_once() {
    let s = start(&[]);
    // A list member that does not exist: the report goes to owner-list
    // (here the local user), not to the remote sender.
    send(
        s.daemon.port,
        "alice@example.org",
        &["<list@localhost>"],
        "to-the-list",
    );
    s.daemon.wait_until("the owner's report", || {
        reports(&s.mbox).iter().any(|r| r.contains("nosuchuser-x1"))
    });
    let r = reports(&s.mbox);
    let owner = r.iter().find(|l| l.contains("nosuchuser-x1")).unwrap();
    assert!(
        owner.starts_with("multipart/report delivery-status"),
        "{owner}"
    );
    assert!(
        owner.contains("failed|5.1.1|RFC822; \\nosuchuser-x1 text/rfc822-headers"),
        "{owner}"
    );
    assert!(
        mbox_text(&s.mbox).contains("To: <owner-list>"),
        "{}",
        mbox_text(&s.mbox)
    );

    // From <>: a failure is reported to postmaster (the local user), never
    // to the empty sender.
    send(
        s.daemon.port,
        "",
        &["<broken-postmaster-test@localhost>"],
        "from-null",
    );
    s.daemon.wait_until("the postmaster report", || {
        reports(&s.mbox).iter().any(|r| r.contains("nosuchuser-x2"))
    });
    assert!(mbox_text(&s.mbox).contains("To: <postmaster>"));
    s.daemon.wait_empty();
}

#[test]
fn a_report_to_postmaster_that_fails_stops_there() {
    // postmaster itself cannot be delivered to: the double bounce is
    // logged and dropped, and the queue empties.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let aliases = dir.path().join("aliases");
    std::fs::write(&aliases, "postmaster: \\nosuchuser-x3\n").unwrap();
    let s = start(&[&format!("AliasFile={}", aliases.display())]);
    send(s.daemon.port, "", &["<postmaster@localhost>"], "doomed");
    s.daemon.wait_until("the discarded double bounce", || {
        s.daemon
            .stderr()
            .contains("double bounce to postmaster failed; it is discarded")
    });
    s.daemon.wait_empty();
    assert_eq!(
        s.daemon.stderr().matches("stat=Failed").count(),
        1,
        "{}",
        s.daemon.stderr()
    );
}

#[test]
fn a_delay_warning_once_then_a_failure_at_queuereturn() {
    let s = start(&["Timeout.queuewarn=1s", "Timeout.queuereturn=4s"]);
    let sender = format!("{}@localhost", s.user);
    let id = send(s.daemon.port, &sender, &["<stuck@localhost>"], "slow");
    s.daemon.wait_until("the first deferral", || {
        s.daemon.stderr().contains("exited 75")
    });
    // Retries come on ETRN; the first after queuewarn brings one delay
    // report, later ones none, and the one after queuereturn a failure.
    let etrn = || {
        let mut c = Client::connect(s.daemon.port);
        expect!(c.reply(), "220");
        expect!(c.cmd("EHLO client.example"), "250");
        expect!(c.cmd("ETRN localhost"), "250");
    };
    std::thread::sleep(Duration::from_millis(1100));
    etrn();
    s.daemon.wait_until("the delay report", || {
        reports(&s.mbox).iter().any(|r| r.contains("delayed|4."))
    });
    etrn();
    s.daemon.wait_until("a third attempt", || {
        s.daemon.stderr().matches("exited 75").count() >= 3
    });
    assert_eq!(reports(&s.mbox).len(), 1, "one delay report only");
    assert!(mbox_text(&s.mbox).contains("Will-Retry-Until: "));
    std::thread::sleep(Duration::from_millis(3000));
    etrn();
    s.daemon.wait_until("the failure report", || {
        reports(&s.mbox).iter().any(|r| r.contains("failed|4.4.7"))
    });
    let r = reports(&s.mbox);
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(r[1].contains("failed|4.4.7|RFC822; |exit 75"), "{r:?}");
    s.daemon
        .wait_until("the message to leave", || !s.daemon.mailq().contains(&id));
}

#[test]
fn notify_never_silences_and_notify_success_reports_delivery() {
    let s = start(&[]);
    let sender = format!("{}@localhost", s.user);
    send(
        s.daemon.port,
        &sender,
        &["<gone4@localhost> NOTIFY=NEVER"],
        "never",
    );
    send(
        s.daemon.port,
        &sender,
        &[&format!("<{}@localhost> NOTIFY=SUCCESS", s.user)],
        "success",
    );
    s.daemon.wait_until("the success report", || {
        reports(&s.mbox).iter().any(|r| r.contains("delivered|2."))
    });
    s.daemon.wait_empty();
    let r = reports(&s.mbox);
    assert_eq!(r.len(), 1, "no report for NOTIFY=NEVER: {r:?}");
}
