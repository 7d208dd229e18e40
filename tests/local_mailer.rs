//! The local mailer's own program: when Mlocal's P= is installed and
//! Mtad.MailSpoolDirectory is unset, mtad runs it as sendmail does (argv
//! from A= with $u, $h, $f expanded, no shell, the message on stdin) and
//! reads its exit code as sysexits: 0 delivered, 75 retry, 67 bounce.
//!
//! The program here is a test script standing in for procmail or
//! mail.local (which would write into the machine's own /var/mail): it
//! records its argv, its uid and what it read.

use mtad_e2e::{Client, Daemon, expect, local_user, site_config};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

#[test]
fn the_local_mailers_program_delivers_and_its_exit_code_counts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let script = dir.path().join("deliver");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             # deliver -d USER -a DETAIL -f SENDER\n\
             o={out}/$2\n\
             printf '%s\\n' \"$@\" > $o.argv\n\
             id -u > $o.uid\n\
             cat > $o.msg\n\
             case $2 in later) exit 75 ;; nouser) exit 67 ;; esac\n\
             exit 0\n",
            out = out.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        dir.path().join("aliases"),
        "postmaster: root\nlater: \\later\ngone: \\nouser\n",
    )
    .unwrap();
    let cf = site_config(
        dir.path(),
        "local-mailer",
        &format!(
            "define(`ALIAS_FILE', `{d}/aliases')dnl
\
             define(`LOCAL_MAILER_PATH', `{d}/deliver')dnl
\
             define(`LOCAL_MAILER_FLAGS', `SPfhn9')dnl
\
             define(`LOCAL_MAILER_ARGS', `deliver -d $u -a $h -f $f')dnl
",
            d = dir.path().display()
        ),
    );
    let text = std::fs::read_to_string(&cf).unwrap();
    let mlocal = text.lines().find(|l| l.starts_with("Mlocal")).unwrap();
    assert!(
        mlocal.contains(&format!("P={}/deliver", dir.path().display())),
        "{mlocal}"
    );
    let user = local_user();
    let d = Daemon::start_with(&cf, &["DeliveryMode=background", "PrivacyOptions=public"]);

    let mut c = Client::connect(d.port);
    expect!(c.reply(), "220");
    expect!(c.cmd("EHLO client.example"), "250");
    expect!(c.cmd("MAIL FROM:<alice@example.org>"), "250");
    expect!(c.cmd(&format!("RCPT TO:<{user}+folder@localhost>")), "250");
    expect!(c.cmd("RCPT TO:<later@localhost>"), "250");
    expect!(c.cmd("RCPT TO:<gone@localhost>"), "250");
    expect!(c.cmd("DATA"), "354");
    expect!(
        c.cmd("Subject: by the program\r\n\r\nbody; $(touch /tmp/x)\r\n."),
        "250 2.0.0"
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    while [user.as_str(), "later", "nouser"]
        .iter()
        .any(|u| !out.join(format!("{u}.msg")).exists())
        || d.stderr().matches("stat=").count() < 3
    {
        assert!(Instant::now() < deadline, "{}", d.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    let argv = std::fs::read_to_string(out.join(format!("{user}.argv"))).unwrap();
    assert_eq!(
        argv,
        format!("-d\n{user}\n-a\nfolder\n-f\nalice@example.org\n"),
        "A= expanded"
    );
    let msg = std::fs::read_to_string(out.join(format!("{user}.msg"))).unwrap();
    assert!(msg.contains("Subject: by the program\n"), "{msg}");
    assert!(msg.ends_with("\nbody; $(touch /tmp/x)\n"), "{msg}");
    // F=S: run as root (the program changes to the user itself), as
    // sendmail runs procmail; otherwise DefaultUser.
    let uid: u32 = std::fs::read_to_string(out.join(format!("{user}.uid")))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(uid, nix::unistd::geteuid().as_raw());

    let log = d.stderr();
    assert!(
        log.contains(&format!(
            "stat=Sent (250 2.0.0 {user}+folder... Delivered by"
        )),
        "{log}"
    );
    assert!(log.contains("exited 75 (temporary failure)"), "{log}");
    assert!(log.contains("stat=Failed: 550 5.1.1"), "{log}");
    let q = d.mailq();
    assert!(q.contains("later"), "the 75 stays queued: {q}");
    assert!(!q.contains("nouser") && !q.contains(&user), "{q}");
}
