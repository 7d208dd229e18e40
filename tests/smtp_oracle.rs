//! The same SMTP dialogs, on the same config, to the real sendmail 8.17
//! (`sm-run -bD`, as a daemon on a port of its own) and to mtad: every
//! reply must agree, code, enhanced code and text, once each server's own
//! host name is written `<host>`. The dialogs are the ones where mtad's
//! own command parser answers (syntax, order of commands, arguments); the
//! replies that the rules decide come with the rules.
//!
//! Needs the reference sendmail that ../shared/tools/install-sendmail-ref
//! unpacks under /opt/ref and root (sm-run's namespace); where either is
//! missing the test says it is skipped, and fails under `CI=true`.

use mtad_e2e::{Client, Daemon, free_port, shared_fixtures, skip, workspace};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The real sendmail as a daemon, ended by its PID when dropped (sm-run
/// execs into it, so the child is sendmail itself).
struct Sendmail {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

/// The name lookups both servers use: a hosts file alone (service switch
/// `hosts files`), so that `$[ $]` and the client's name are answered the
/// same way for both and no query leaves the machine.
struct Names {
    dir: tempfile::TempDir,
}

impl Names {
    fn new(hosts: &str) -> Names {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("hosts"), hosts).unwrap();
        std::fs::write(dir.path().join("service.switch"), "hosts files\n").unwrap();
        Names { dir }
    }

    /// `-O` settings for either server.
    fn options(&self) -> Vec<String> {
        vec![
            format!("HostsFile={}", self.dir.path().join("hosts").display()),
            format!(
                "ServiceSwitchFile={}",
                self.dir.path().join("service.switch").display()
            ),
        ]
    }
}

impl Sendmail {
    fn start(cf: &Path, options: &[String]) -> Option<Sendmail> {
        let tool = workspace().join("../shared/tools/sm-run");
        Sendmail::start_via(&[tool.to_str().unwrap()], cf, options)
    }

    /// sendmail started by `command` (sm-run, or a wrapper that execs it).
    fn start_via(command: &[&str], cf: &Path, options: &[String]) -> Option<Sendmail> {
        let tool = workspace().join("../shared/tools/sm-run");
        let root = std::env::var_os("SM_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/opt/ref/sendmail"));
        if !tool.is_file() || !root.join("usr/libexec/sendmail/sendmail").is_file() {
            skip("the reference sendmail (../shared/tools/install-sendmail-ref) is not installed");
            return None;
        }
        if !nix::unistd::Uid::effective().is_root() {
            skip("sm-run needs root for its namespace");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let queue = dir.path().join("queue");
        std::fs::create_dir(&queue).unwrap();
        let port = free_port();
        let child = Command::new(command[0])
            .args(&command[1..])
            .env("SM_NETNS", "0")
            .arg("-bD")
            .arg("-C")
            .arg(cf)
            .arg("-O")
            .arg(format!(
                "DaemonPortOptions=Name=MTA,Port={port},Addr=127.0.0.1"
            ))
            .arg("-O")
            .arg(format!("QueueDirectory={}", queue.display()))
            .args(options.iter().flat_map(|o| ["-O", o.as_str()]))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
            .spawn()
            .expect("run sm-run");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sendmail did not listen on {port}: {}",
                std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Sendmail { child, port, dir })
    }
}

impl Sendmail {
    /// What sendmail said on stderr.
    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }
}

impl Drop for Sendmail {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

/// Each reply of `dialog`, the greeting first, with the server's own name
/// (the second word of its greeting) written `<host>`.
fn replies(port: u16, dialog: &[&str]) -> Vec<String> {
    let mut c = Client::connect(port);
    let greeting = c.reply();
    let host = greeting.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut out = vec!["220".to_string()];
    for line in dialog {
        let r = c.cmd(line);
        out.push(r.trim_end().replace(&host, "<host>"));
    }
    out
}

/// Dialogs whose every reply comes from the command parser and the
/// session's state, not from the rules: each a line of commands split at
/// ` | `. A successful `EHLO` lists other extensions (AUTH comes with
/// SMTP AUTH, DELIVERBY is not done), so the dialogs greet with HELO;
/// `HELP` alone names `$v`, which is mtad's version; `BY=` and `AUTH=` are
/// left out for the same reasons.
const DIALOGS: &[&str] = &[
    "HELO client.example | MAIL FROM: | RCPT TO: | QUIT",
    "HELO client.example | MAIL FROM:<> | RCPT TO: | RSET | QUIT",
    "HELO client.example | MAIL | MAIL FROM | MAIL TO:<a@b> | QUIT",
    "HELO client.example | MAIL FROM:<> | RCPT | RCPT TO | RCPT FROM:<a@b> | QUIT",
    "HELO | HELO client.example | NOOP | RSET | DATA | QUIT",
    "HELO client.example | RCPT TO:<postmaster> | MAIL FROM:<> | MAIL FROM:<> | QUIT",
    "HELO client.example | MAIL FROM:<> SIZE=abc | MAIL FROM:<> BODY=9BIT | QUIT",
    "HELO client.example | MAIL FROM:<> RET=ALL | MAIL FROM:<> FOO=bar | QUIT",
    "HELO client.example | MAIL FROM:<> | DATA | RSET | RCPT TO:<postmaster> | QUIT",
    "HELO client.example | XYZZY | VRFY | EXPN | ETRN | QUIT",
    "HELO client.example | DATA extra | RSET extra | NOOP extra | QUIT extra",
    "EHLO | HELO  | EHLO a b | HELO c.example | STARTTLS x | STARTTLS | QUIT",
    "HELO c.example | MAIL FROM:<> SIZE | MAIL FROM:<> SIZE=-1 | MAIL FROM:<> SIZE=12x | QUIT",
    "HELO c.example | MAIL FROM:<> SIZE=99999999999999999999 | MAIL FROM:<> BODY | QUIT",
    "HELO c.example | MAIL FROM:<> RET | MAIL FROM:<> RET=FULL RET=HDRS | QUIT",
    "HELO c.example | MAIL FROM:<> ENVID | MAIL FROM:<> ENVID=a+zz | MAIL FROM:<> foo | QUIT",
    "HELO c.example | MAIL FROM:<> ENVID=a+2Bb BODY=7bit RET=hdrs | QUIT",
    "HELO c.example | MAIL FROM:<> | RCPT TO:<a@b> NOTIFY=bogus | RCPT TO:<a@b> NOTIFY | QUIT",
    "HELO c.example | MAIL FROM:<> | RCPT TO:<a@b> NOTIFY=never,success | QUIT",
    "HELO c.example | MAIL FROM:<> | RCPT TO:<a@b> ORCPT | RCPT TO:<a@b> ORCPT=bad | QUIT",
    "HELO c.example | MAIL FROM:<> | RCPT TO:<a@b> Bar=1 | STARTTLS | QUIT",
    "HELO c.example | HELP mail | HELP x | HELP RCPT | HELP dsn | ETRN | QUIT",
    // parseaddr()'s first checks: prescan, then invalidaddr.
    "HELO c.example | MAIL FROM:<a@b | MAIL FROM:a@b> | MAIL FROM:<\"a@b> | QUIT",
    "HELO c.example | MAIL FROM:<a(b@c> | MAIL FROM:<a@b)> | QUIT",
    "HELO c.example | MAIL FROM:<a\u{80}b@c> | MAIL FROM:<> | RCPT TO:<a\u{ff}b@c> | QUIT",
    "HELO c.example | MAIL FROM:<> | RCPT TO:<a@b | RCPT TO:<a@b)> | QUIT",
];

#[test]
fn the_command_parser_answers_as_sendmail() {
    let Some(fixtures) = shared_fixtures() else {
        skip("../shared/fixtures is missing");
        return;
    };
    let cf = fixtures.join("daemon-2525.cf");
    let names = Names::new("127.0.0.1 localhost\n");
    let Some(sendmail) = Sendmail::start(&cf, &names.options()) else {
        return;
    };
    // The config names no user (sendmail falls back to uid 1): mtad must
    // be told whom to run as. Nothing in these dialogs depends on it.
    let mut options = vec!["DefaultUser=mail:mail".to_string()];
    options.extend(names.options());
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let mtad = Daemon::start_with(&cf, &options);
    // sendmail checks its queue directory after it starts listening.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", sendmail.port)).is_ok(),
        "sendmail stopped: {}",
        sendmail.stderr()
    );
    let mut differ = Vec::new();
    for dialog in DIALOGS {
        let dialog: Vec<&str> = dialog.split(" | ").collect();
        let theirs = replies(sendmail.port, &dialog);
        let ours = replies(mtad.port, &dialog);
        for (i, line) in dialog.iter().enumerate() {
            if theirs[i + 1] != ours[i + 1] {
                differ.push(format!(
                    "after `{line}`:\n  sendmail: {}\n  mtad:     {}",
                    theirs[i + 1],
                    ours[i + 1]
                ));
            }
        }
    }
    assert!(differ.is_empty(), "replies differ:\n{}", differ.join("\n"));
}

// ---------------------------------------------------------------------------
// The check rulesets, as sendmail's m4 writes them, answering the same
// clients the same way.

/// Access map entries for the rules dialogs: clients by address, network
/// and name; senders; recipients.
const ACCESS: &str = "\
Connect:127.0.0.3\t\tREJECT
Connect:rejected.example\tERROR:5.7.1:550 Go away, rejected.example
Connect:127.0.0.5\t\tRELAY
Connect:127.1\t\t\tREJECT
Connect:127.0.0.7\t\tDISCARD
Connect:127.0.0.9\t\tERROR:\"421 4.3.2 Too many connections\"
From:spammer@example.com\tREJECT
From:bulk.example.com\t\tDISCARD
From:temp.example.com\t\tERROR:\"451 4.7.1 Try again later\"
To:partner.example.org\t\tRELAY
To:blocked@lab.example\t\tERROR:5.1.1:550 User blocked by access map
To:remote.example.com\t\tREJECT
To:sales@\t\t\tERROR:550 no sales
GreetPause:127.0.0\t\t0
ClientRate:127.0.0.8\t\t1
";

/// The hosts file both servers name clients by.
const HOSTS: &str = "\
127.0.0.1\tlocalhost
127.0.0.2\tclient.example
127.0.0.4\trejected.example
127.0.0.5\trelay-ok.example
";

/// From each client address, the dialogs the rules answer.
const RULE_DIALOGS: &[(&str, &str)] = &[
    (
        "127.0.0.1",
        "HELO c.example | MAIL FROM:<a@example.org> | RCPT TO:<x@remote.example> | RCPT TO:<root> | QUIT",
    ),
    (
        "127.0.0.1",
        "HELO c.example | MAIL FROM:<spammer@example.com> | MAIL FROM:<x@bulk.example.com> | RCPT TO:<root> | QUIT",
    ),
    (
        "127.0.0.1",
        "HELO c.example | MAIL FROM:<a@temp.example.com> | MAIL FROM:<a@nowhere.invalid> | MAIL FROM:<a@localhost> | QUIT",
    ),
    (
        "127.0.0.1",
        "HELO c.example | MAIL FROM:<> | RCPT TO:<blocked@lab.example> | RCPT TO:<u@remote.example.com> | RCPT TO:<sales@localhost> | QUIT",
    ),
    (
        "127.0.0.2",
        "HELO c.example | MAIL FROM:<a@example.org> | RCPT TO:<x@remote.example> | RCPT TO:<y@partner.example.org> | RCPT TO:<root@localhost> | QUIT",
    ),
    (
        "127.0.0.2",
        "HELO c.example | MAIL FROM:<> | RCPT TO:<x@sub.partner.example.org> | RCPT TO:<nosuchuser-zz@localhost> | RCPT TO:<a%b@localhost> | QUIT",
    ),
    // With delay_checks the sender's checks run at RCPT, on {mail_from}.
    (
        "127.0.0.2",
        "HELO c.example | MAIL FROM:<spammer@example.com> | RCPT TO:<root@localhost> | QUIT",
    ),
    (
        "127.0.0.2",
        "HELO c.example | MAIL FROM:<a@nowhere.invalid> | RCPT TO:<root@localhost> | QUIT",
    ),
    (
        "127.0.0.3",
        "HELO c.example | MAIL FROM:<a@example.org> | NOOP | RSET | VRFY root | QUIT",
    ),
    (
        "127.0.0.4",
        "HELO c.example | MAIL FROM:<a@example.org> | RCPT TO:<root> | QUIT",
    ),
    (
        "127.0.0.5",
        "HELO c.example | MAIL FROM:<a@example.org> | RCPT TO:<x@remote.example> | QUIT",
    ),
    (
        "127.1.0.1",
        "HELO c.example | MAIL FROM:<a@example.org> | QUIT",
    ),
    (
        "127.0.0.7",
        "HELO c.example | MAIL FROM:<a@example.org> | RCPT TO:<x@remote.example> | QUIT",
    ),
    ("127.0.0.9", "NOOP"),
    // VRFY and EXPN through parseaddr() and the aliases.
    (
        "127.0.0.1",
        "HELO c.example | VRFY root | VRFY <root@localhost> | VRFY nosuchuser-zz | VRFY x@remote.example | VRFY postmaster | VRFY <a%b@localhost> | VRFY | QUIT",
    ),
    (
        "127.0.0.1",
        "HELO c.example | EXPN postmaster | EXPN root | EXPN nosuchuser-zz | EXPN x@remote.example | EXPN | QUIT",
    ),
    // check_data on the number of recipients (a duplicate counts), and
    // check_eoh on the headers (none here).
    (
        "127.0.0.1",
        "HELO c.example | MAIL FROM:<> | RCPT TO:<root> | RCPT TO:<postmaster> | RCPT TO:<root> | DATA | RSET | QUIT",
    ),
    (
        "127.0.0.1",
        "HELO c.example | MAIL FROM:<> | RCPT TO:<root> | DATA | \r\nno headers here\r\n. | QUIT",
    ),
    // Addresses built to break the engine.
    ("127.0.0.1", HOSTILE_MAIL),
    ("127.0.0.1", HOSTILE_RCPT),
    // FEATURE(ratecontrol): one connection a minute from 127.0.0.8.
    ("127.0.0.8", "NOOP | QUIT"),
    ("127.0.0.8", "NOOP | QUIT"),
];

/// MAIL with addresses built to break the engine: deep nesting, many
/// tokens, unbalanced quotes, brackets and comments, 8-bit and control
/// bytes; a good MAIL last.
const HOSTILE_MAIL: &str = "HELO c.example | \
MAIL FROM:<<<<<<<<<<<<<<<<<<<<a@b>>>>>>>>>>>>>>>>>>>> | \
MAIL FROM:<a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a@example.org> | \
MAIL FROM:<\"a@example.org> | \
MAIL FROM:<a@[192.0.2.1> | \
MAIL FROM:<(((a)))@example.org> | \
MAIL FROM:<a\\@example.org> | \
MAIL FROM:<@a,@b,@c:u@example.org> | \
MAIL FROM:<\"odd\u{1b}[2J x\"@example.org> | \
MAIL FROM:<a\u{7}b@example.org> | \
MAIL FROM:<xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx@example.org> | \
MAIL FROM:<a@example.org> | \
QUIT";

/// RCPT with the same kind of addresses.
const HOSTILE_RCPT: &str = "HELO c.example | MAIL FROM:<> | \
RCPT TO:<<<<<<<<<<<<<<<<<<<<root>>>>>>>>>>>>>>>>>>>> | \
RCPT TO:<r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r.r@localhost> | \
RCPT TO:<\"root@localhost> | \
RCPT TO:<root@[127.0.0.1> | \
RCPT TO:<(root)@localhost> | \
RCPT TO:<root@localhost@localhost> | \
RCPT TO:<@localhost:root@localhost> | \
RCPT TO:<\"\\\"\"@localhost> | \
RCPT TO:<root@localhost> | \
QUIT";

/// sendmail refuses maps and alias files below a world-writable directory;
/// a checkout may sit below /tmp, whose sticky bit makes it safe.
const STICKY: &str = "DontBlameSendmail=TrustStickyBit";

/// The real sendmail with its own view of names: in a private mount
/// namespace, /etc/hosts, /etc/nsswitch.conf and /etc/resolv.conf are the
/// test's (files only, no server), so that its reverse lookups of clients
/// (gethostbyaddr) find what mtad's HostsFile finds.
fn sendmail_with_names(cf: &Path, dir: &Path, options: &[String]) -> Option<Sendmail> {
    if Command::new("unshare").arg("--help").output().is_err() {
        skip("unshare (util-linux) is missing");
        return None;
    }
    // The system's switch with `hosts: files` (users and the rest as the
    // machine has them).
    let system = std::fs::read_to_string("/etc/nsswitch.conf").unwrap_or_default();
    let mut switch: String = system
        .lines()
        .filter(|l| !l.trim_start().starts_with("hosts:"))
        .map(|l| format!("{l}\n"))
        .collect();
    switch.push_str("hosts: files\n");
    std::fs::write(dir.join("nsswitch.conf"), switch).unwrap();
    std::fs::write(dir.join("resolv.conf"), "nameserver 127.0.0.1\n").unwrap();
    let wrapper = dir.join("sm-with-names");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nset -e\nmount --bind {d}/hosts /etc/hosts\n\
             mount --bind {d}/nsswitch.conf /etc/nsswitch.conf\n\
             mount --bind {d}/resolv.conf /etc/resolv.conf\n\
             exec {tool} \"$@\"\n",
            d = dir.display(),
            tool = workspace().join("../shared/tools/sm-run").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    Sendmail::start_via(
        &[
            "unshare",
            "-m",
            "--propagation",
            "private",
            wrapper.to_str().unwrap(),
        ],
        cf,
        options,
    )
}

#[test]
fn the_check_rulesets_answer_as_sendmail() {
    let makemap = PathBuf::from("/opt/ref/sendmail/usr/sbin/makemap");
    if !makemap.exists() {
        skip("the reference makemap (../shared/tools/install-sendmail-ref) is not installed");
        return;
    }
    // The daemons read the map as their own users, and sendmail wants no
    // directory on its path writable by others (not /tmp).
    let dir = tempfile::tempdir_in(workspace().join("target")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let names = Names::new(HOSTS);
    std::fs::write(dir.path().join("hosts"), HOSTS).unwrap();
    let mut child = Command::new(&makemap)
        .args(["-C", "/dev/null", "hash"])
        .arg(dir.path().join("access"))
        .stdin(Stdio::piped())
        .spawn()
        .expect("makemap");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ACCESS.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "makemap failed");
    let db = dir.path().join("access.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    for delay in [false, true] {
        let name = if delay { "rules-delay" } else { "rules" };
        let cf = mtad_e2e::site_config(
            dir.path(),
            name,
            &format!(
                "FEATURE(`access_db', `hash -T<TMPF> {d}/access')dnl\n\
                 FEATURE(`blocklist_recipients')dnl\n\
                 define(`ALIAS_FILE', `{d}/aliases')dnl\n\
                 LOCAL_RULESETS\n\
                 Scheck_data\n\
                 R3\t$#error $@ 5.7.1 $: \"550 Too many recipients for us\"\n\
                 Scheck_eoh\n\
                 R0 $| $*\t$#error $@ 5.6.0 $: \"554 No headers\"\n\
                 {delay}RELAY_DOMAIN(`partner.example.org')dnl\n",
                d = dir.path().display(),
                delay = if delay {
                    "FEATURE(`delay_checks')dnl\n\
                     FEATURE(`greet_pause', `300')dnl\n\
                     FEATURE(`ratecontrol', `nodelay', `terminate')dnl\n\
                     FEATURE(`conncontrol', `nodelay', `terminate')dnl\n"
                } else {
                    ""
                }
            ),
        );
        // The aliases, and their database made by sendmail's own -bi.
        std::fs::write(
            dir.path().join("aliases"),
            "postmaster: root\nmailer-daemon: postmaster\n",
        )
        .unwrap();
        let bi = Command::new(workspace().join("../shared/tools/sm-run"))
            .arg("-bi")
            .arg("-C")
            .arg(&cf)
            .arg(format!("-OQueueDirectory={}", dir.path().display()))
            .arg(format!("-O{STICKY}"))
            .output()
            .expect("sm-run -bi");
        assert!(bi.status.success(), "sendmail -bi: {bi:?}");
        std::fs::set_permissions(
            dir.path().join("aliases.db"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let mut sm_options = names.options();
        sm_options.push(STICKY.into());
        let Some(sendmail) = sendmail_with_names(&cf, dir.path(), &sm_options) else {
            return;
        };
        let mut options = names.options();
        options.push("Mtad.Nameservers=".into());
        let options: Vec<&str> = options.iter().map(String::as_str).collect();
        let mtad = Daemon::start_with(&cf, &options);
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", sendmail.port)).is_ok(),
            "sendmail stopped: {}",
            sendmail.stderr()
        );
        let mut differ = Vec::new();
        for (from, dialog) in RULE_DIALOGS {
            let dialog: Vec<&str> = dialog.split(" | ").collect();
            let theirs = replies_from(sendmail.port, from, &dialog);
            let ours = replies_from(mtad.port, from, &dialog);
            for i in 0..theirs.len().max(ours.len()) {
                let t = theirs.get(i).map_or("(closed)", String::as_str);
                let o = ours.get(i).map_or("(closed)", String::as_str);
                if t != o {
                    let after = if i == 0 {
                        "the greeting"
                    } else {
                        dialog[i - 1]
                    };
                    differ.push(format!(
                        "{name}, from {from}, after `{after}`:\n  sendmail: {t}\n  mtad:     {o}"
                    ));
                }
            }
        }
        if delay {
            // greet_pause: a client that talks first, from an address the
            // GreetPause: entries leave at the default 300 ms.
            let theirs = early_talk(sendmail.port, "127.2.0.1");
            let ours = early_talk(mtad.port, "127.2.0.1");
            if theirs != ours {
                differ.push(format!(
                    "{name}, an early talker:\n  sendmail: {theirs:?}\n  mtad:     {ours:?}"
                ));
            }
        }
        assert!(differ.is_empty(), "replies differ:\n{}", differ.join("\n"));
    }
}

/// A client at `from` that sends its commands at once, before the
/// greeting: everything the server answers, its name written `<host>`.
fn early_talk(port: u16, from: &str) -> Vec<String> {
    let mut c = Client::connect_from(port, from);
    c.send(b"EHLO early.example\r\nMAIL FROM:<a@example.org>\r\nQUIT\r\n");
    let mut out = Vec::new();
    let mut host = String::new();
    loop {
        let r = c.reply();
        if r.is_empty() {
            break;
        }
        if host.is_empty() {
            host = r.split_whitespace().nth(1).unwrap_or("").to_string();
        }
        let first = r.lines().next().unwrap_or("").replace(&host, "<host>");
        out.push(first);
    }
    out
}

/// Each reply of `dialog` from a client at `from`: the greeting's code
/// first (its text names the server), then each reply in full with the
/// server's own name written `<host>`, until the server closes.
fn replies_from(port: u16, from: &str, dialog: &[&str]) -> Vec<String> {
    let mut c = Client::connect_from(port, from);
    let greeting = c.reply();
    let host = greeting.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut out = vec![if greeting.starts_with("220") {
        "220".to_string()
    } else {
        greeting.trim_end().to_string()
    }];
    if !greeting.starts_with("220") {
        return out;
    }
    for line in dialog {
        let r = c.cmd(line);
        if r.is_empty() {
            break;
        }
        out.push(r.trim_end().replace(&host, "<host>"));
    }
    out
}
