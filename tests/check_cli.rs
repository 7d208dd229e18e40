//! `mtad -C FILE --check` and `-O Name=Value`, from the outside.

use mtad_e2e::{mtad, text, workspace};
use std::io::Write;

fn config(body: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".cf").tempfile().unwrap();
    f.write_all(body.as_bytes()).unwrap();
    f
}

const BASE: &str = "V10/Berkeley\n\
O MaxMessageSize=1000000\n\
O PrivacyOptions=novrfy\n\
O DaemonPortOptions=Name=MTA, Port=smtp\n\
O DaemonPortOptions=Name=MSA, Port=587, M=E\n\
Cwlocalhost mail.example.org\n\
Mlocal, P=/bin/cat, F=lsDFM, A=cat\n\
S0\n\
R$+\t$#local $: $1\n";

#[test]
fn summary_counts_what_was_loaded() {
    let cf = config(BASE);
    let out = mtad(&["-C", cf.path().to_str().unwrap(), "--check"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr, "");
    assert!(
        stdout.contains("loaded (config level 10/Berkeley)"),
        "{stdout}"
    );
    assert!(stdout.contains("options:      4 set"), "{stdout}");
    assert!(stdout.contains("classes:      1 (w=2)"), "{stdout}");
    assert!(
        stdout.contains("mailers:      4 (prog, *file*, *include*, local)"),
        "sendmail's built-in mailers come first: {stdout}"
    );
    assert!(stdout.contains("rulesets:     1 with 1 rules"), "{stdout}");
    assert!(
        stdout.contains("listeners:    2 (MTA *:smtp, MSA *:587)"),
        "{stdout}"
    );
}

#[test]
fn dash_o_replaces_the_files_setting() {
    let cf = config(BASE);
    let path = cf.path().to_str().unwrap();
    let out = mtad(&[
        "-C",
        path,
        "-O",
        "DaemonPortOptions=Port=2525,Addr=127.0.0.1",
        "-O",
        "MaxMessageSize=5m",
        "--check",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("listeners:    1 (Daemon 127.0.0.1:2525)"),
        "the file's two listeners are replaced by the one given: {stdout}"
    );
    assert!(stdout.contains("(2 from -O)"), "{stdout}");

    // The library view of the same: the value, and that it came from -O.
    let opts = cfparser::LoadOptions {
        overrides: vec!["MaxMessageSize=5m".into(), "PrivacyOptions=goaway".into()],
        ..Default::default()
    };
    let c = cfparser::load_file(cf.path(), &opts).unwrap().config;
    assert_eq!(c.size("MaxMessageSize"), Some(5 << 20));
    assert!(c.privacy().has("noexpn") && c.privacy().has("novrfy"));
    assert_eq!(
        c.options["MaxMessageSize"].origin,
        cfparser::model::Origin::CommandLine
    );
}

#[test]
fn a_bad_dash_o_value_is_an_error() {
    let cf = config(BASE);
    let out = mtad(&[
        "-C",
        cf.path().to_str().unwrap(),
        "-O",
        "MaxMessageSize=abc",
        "--check",
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("error: -O MaxMessageSize=abc: expected a size in bytes"),
        "{stderr}"
    );
}

#[test]
fn unknown_options_warn_with_their_place_and_still_load() {
    let cf = config(&format!("{BASE}O NoSuchOption=1\nO Mtad.NoSuchEither=2\n"));
    let path = cf.path().to_str().unwrap();
    let out = mtad(&["-C", path, "-O", "AlsoUnknown=3", "--check"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{path}:10:3: warning: readcf: unknown option name NoSuchOption"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{path}:11:3: warning:")),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: -O AlsoUnknown=3: unknown option name AlsoUnknown"),
        "{stderr}"
    );
    assert!(stdout.contains("warnings:     3"), "{stdout}");
}

#[test]
fn missing_class_file_warns_unless_optional() {
    let cf = config(&format!(
        "{BASE}Fw/nonexistent/local-host-names\nFR -o /nonexistent/relay-domains\n"
    ));
    let path = cf.path().to_str().unwrap();
    let out = mtad(&["-C", path, "--check"]);
    let (_, stderr) = text(&out);
    assert!(out.status.success());
    assert!(
        stderr.contains(&format!(
            "{path}:10:1: warning: fileclass: cannot open '/nonexistent/local-host-names'"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("relay-domains"), "-o is silent: {stderr}");
}

#[test]
fn class_files_are_read_at_load_with_their_format() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("local-host-names");
    std::fs::write(&hosts, "lab.example # ours\n# a comment\nother.example\n").unwrap();
    let cf = config(&format!("{BASE}Fw{} %[^\\#]\n", hosts.display()));
    let c = cfparser::load_file(cf.path(), &Default::default())
        .unwrap()
        .config;
    let w = c.class("w").unwrap();
    for name in [
        "localhost",
        "mail.example.org",
        "lab.example",
        "other.example",
    ] {
        assert!(
            w.contains(name),
            "class w lacks {name}: {:?}",
            w.words().collect::<Vec<_>>()
        );
    }
    assert_eq!(w.len(), 4);
}

#[test]
fn dash_c_defaults_to_etc_mail_sendmail_cf() {
    let out = mtad(&["--check"]);
    let (stdout, stderr) = text(&out);
    // Whether or not this machine has one, the default file is the one read.
    assert!(
        stdout.starts_with("/etc/mail/sendmail.cf: loaded")
            || stderr.contains("/etc/mail/sendmail.cf"),
        "{stdout}{stderr}"
    );
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let out = mtad(&["-C", "/nonexistent/sendmail.cf", "--check"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("cannot read /nonexistent/sendmail.cf: No such file"),
        "{stderr}"
    );
}

#[test]
fn the_readme_run_command_works() {
    // README: cargo run -p mtad -- -C etc/sendmail-dev.cf -bD (the daemon
    // itself is exercised by tests/smtp_session.rs; here, its config).
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    assert!(
        readme.contains("cargo run -p mtad -- -C etc/sendmail-dev.cf -bD"),
        "README lost its run command"
    );
    let out = std::process::Command::new(mtad_e2e::bin("mtad"))
        .current_dir(workspace())
        .args(["-C", "etc/sendmail-dev.cf", "--check"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
}
