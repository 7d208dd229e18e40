//! The configs that ship in etc/: they load clean, they document mtad's own
//! options, and the development variant differs from the default only
//! where it must.

use cfparser::options::table::MTAD_OPTIONS;
use mtad_e2e::{load, mtad, text, workspace};

#[test]
fn both_load_without_any_warning() {
    for name in ["etc/sendmail.cf", "etc/sendmail-dev.cf"] {
        let path = workspace().join(name);
        let out = mtad(&["-C", path.to_str().unwrap(), "--check"]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{name}: {stderr}");
        assert_eq!(stderr, "", "{name} must load without warnings");
        assert!(stdout.contains("warnings:     0"), "{stdout}");
        let loaded = load(&path);
        assert!(loaded.warnings.is_empty());
        let c = loaded.config;
        assert!(c.mailer("local").is_some() && c.mailer("esmtp").is_some());
        assert!(c.ruleset("canonify").is_some() && c.ruleset("parse").is_some());
    }
}

#[test]
fn mtad_options_are_documented_in_the_default_config() {
    let text = std::fs::read_to_string(workspace().join("etc/sendmail.cf")).unwrap();
    for def in MTAD_OPTIONS {
        let comment = format!("# {}:", def.name);
        assert!(
            text.contains(&comment),
            "etc/sendmail.cf has no comment block `{comment}` documenting {}",
            def.name
        );
    }
}

#[test]
fn default_config_is_a_production_config() {
    let c = load(&workspace().join("etc/sendmail.cf")).config;
    let port = &c.daemon_ports[0];
    assert_eq!(port.get("Port"), Some("smtp"));
    assert!(
        c.text("RunAsUser").is_some(),
        "the network side must not stay root"
    );
    assert!(c.privacy().has("novrfy") && c.privacy().has("noexpn"));
}

#[test]
fn dev_variant_differs_only_in_local_settings() {
    let read = |n: &str| std::fs::read_to_string(workspace().join(n)).unwrap();
    let default = read("etc/sendmail.cf");
    let dev = read("etc/sendmail-dev.cf");
    // Lines that may differ: the header comment block, and these settings.
    let local = [
        "O DaemonPortOptions=",
        "O QueueDirectory=",
        "O StatusFile=",
        "O PidFile=",
        "O ControlSocketName=",
        "O RunAsUser=",
        "# No RunAsUser",
        "O Mtad.MailSpoolDirectory=",
        "#O Mtad.MailSpoolDirectory=",
        "O Mtad.LogStderr=",
    ];
    let body = |t: &str| -> Vec<String> {
        t.lines()
            .skip_while(|l| l.starts_with('#') || l.is_empty())
            .filter(|l| !local.iter().any(|p| l.starts_with(p)))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        body(&default),
        body(&dev),
        "etc/sendmail-dev.cf drifted from etc/sendmail.cf"
    );

    let c = load(&workspace().join("etc/sendmail-dev.cf")).config;
    let port = &c.daemon_ports[0];
    assert_eq!(port.get("Addr"), Some("127.0.0.1"));
    let n: u16 = port.get("Port").unwrap().parse().unwrap();
    assert!(n > 1024, "the dev port must not need root");
    assert!(c.text("RunAsUser").is_none());
    for opt in [
        "QueueDirectory",
        "Mtad.MailSpoolDirectory",
        "PidFile",
        "ControlSocketName",
        "StatusFile",
    ] {
        let v = c.text(opt).unwrap();
        assert!(
            v.starts_with("spool/"),
            "{opt}={v} must be under the checkout"
        );
    }
}
