//! Real sendmail.cf files, generated at test time by sendmail's own m4
//! macros from the .mc files in tests/mc, load in mtad without an error,
//! and what they say ends up in the typed model.

use cfparser::model::{ClassSource, HeaderCondition, Token};
use cfparser::options::OptionValue;
use cfparser::{MacroName, Meta};
use mtad_e2e::{generated, generated_configs, load, mtad, text};
use std::time::Duration;

#[test]
fn every_generated_config_passes_mtad_check() {
    let configs = generated_configs();
    assert!(configs.len() >= 12, "expected the whole tests/mc set");
    for cf in configs {
        let out = mtad(&["-C", cf.to_str().unwrap(), "--check"]);
        let (stdout, stderr) = text(&out);
        assert!(
            out.status.success(),
            "{} failed --check:\n{stderr}",
            cf.display()
        );
        assert!(
            stdout.contains(": loaded (config level 10/Berkeley)"),
            "{stdout}"
        );
        assert!(!stderr.contains("error:"), "{stderr}");
        // The only warnings are files the .mc files name under /nonexistent
        // without -o, as real sendmail warns about them, and map classes
        // mtad does not have (hub.mc's LDAP routing), said with their line.
        for line in stderr.lines().filter(|l| l.contains("warning:")) {
            assert!(
                line.contains("/nonexistent/")
                    || line.contains("class program")
                    || line.contains("class ldap not available"),
                "unexpected warning in {}: {line}",
                cf.display()
            );
        }
    }
}

#[test]
fn options_are_typed() {
    let c = load(&generated("options")).config;
    assert_eq!(c.size("MaxMessageSize"), Some(52_428_800));
    assert_eq!(c.int("MaxHopCount"), Some(30));
    assert_eq!(c.int("LogLevel"), Some(14));
    assert_eq!(
        c.duration("Timeout.queuereturn"),
        Some(Duration::from_secs(5 * 86400))
    );
    assert_eq!(
        c.duration("Timeout.queuewarn"),
        Some(Duration::from_secs(4 * 3600))
    );
    assert_eq!(c.duration("Timeout.connect"), Some(Duration::from_secs(30)));
    assert_eq!(c.duration("Timeout.ident"), Some(Duration::ZERO));
    assert_eq!(
        c.option("Timeout.resolver.retry"),
        Some(&OptionValue::Count(4))
    );
    assert_eq!(
        c.option("MaxMimeHeaderLength"),
        Some(&OptionValue::IntPair(256, Some(128)))
    );
    assert_eq!(c.option("EightBitMode"), Some(&OptionValue::Enum("mime")));
    assert_eq!(c.bool("SevenBitInput"), Some(false));
    match c.option("DefaultUser") {
        Some(OptionValue::User(u)) => {
            assert_eq!(
                (u.user.as_str(), u.group.as_deref()),
                ("mail", Some("mail"))
            )
        }
        other => panic!("DefaultUser: {other:?}"),
    }
    match c.option("AliasFile") {
        Some(OptionValue::List(files)) => assert_eq!(
            files,
            &[
                "/nonexistent/mtad-test-etc/aliases",
                "/nonexistent/mtad-test-etc/lists"
            ]
        ),
        other => panic!("AliasFile: {other:?}"),
    }
    let p = c.privacy();
    for f in [
        "authwarnings",
        "noexpn",
        "novrfy",
        "noetrn",
        "noverb",
        "restrictmailq",
        "noreceipts",
    ] {
        assert!(p.has(f), "PrivacyOptions lacks {f}");
    }
    assert!(!p.has("needmailhelo"));
    // The Received header came from confRECEIVED_HEADER, with conditionals.
    let received = c.headers.iter().find(|h| h.name == "Received").unwrap();
    assert!(
        received
            .value
            .to_string()
            .contains("$?{auth_type}(authenticated)")
    );
}

#[test]
fn listeners_one_per_daemon_port_options_line() {
    let c = load(&generated("debian-mta")).config;
    let names: Vec<&str> = c.daemon_ports.iter().filter_map(|p| p.name()).collect();
    assert_eq!(names, ["MTA-v6", "MTA-v4", "MSP-v6", "MSP-v4"]);
    assert_eq!(c.daemon_ports[0].family(), "inet6");
    assert_eq!(c.daemon_ports[0].get("Addr"), Some("::1"));
    assert_eq!(c.daemon_ports[3].modifiers(), "Ea");

    let c = load(&generated("milters")).config;
    let filtered = c
        .daemon_ports
        .iter()
        .find(|p| p.name() == Some("Filtered"))
        .unwrap();
    assert_eq!(filtered.get("InputMailFilters"), Some("archive;clamav"));
    assert_eq!(filtered.get("SndBufSize"), Some("65536"));
    assert_eq!(filtered.modifiers(), "bcE");

    let c = load(&generated("tls-auth")).config;
    assert_eq!(c.client_ports.len(), 2);
    assert_eq!(c.client_ports[1].family(), "inet6");
    assert_eq!(c.client_ports[1].modifiers(), "hA");
}

#[test]
fn milters_and_queue_groups() {
    let c = load(&generated("milters")).config;
    let names: Vec<&str> = c.milters.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["clamav", "opendkim", "spf", "archive"]);
    let dkim = &c.milters[1];
    assert_eq!(dkim.socket, "inet:8891@127.0.0.1");
    assert_eq!(dkim.flags, "R");
    assert_eq!(
        dkim.timeouts,
        [
            ('C', Duration::from_secs(10)),
            ('S', Duration::from_secs(60)),
            ('R', Duration::from_secs(60)),
            ('E', Duration::from_secs(300))
        ]
    );
    assert!(c.option("Milter.macros.connect").is_some());

    let c = load(&generated("queues")).config;
    let slow = c.queue_groups.iter().find(|q| q.name == "slow").unwrap();
    assert_eq!(slow.path.as_deref(), Some("/var/spool/mqueue/slow"));
    assert_eq!(slow.interval, Some(Duration::from_secs(7200)));
    assert_eq!(
        (slow.runners, slow.jobs, slow.nice, slow.recipients),
        (Some(2), Some(100), Some(10), Some(50))
    );
    let bulk = c.queue_groups.iter().find(|q| q.name == "bulk").unwrap();
    assert_eq!(
        bulk.runners,
        Some(4),
        "long field names count by their first letter"
    );
}

#[test]
fn hand_written_lines_of_local_config() {
    let c = load(&generated("local-config")).config;
    // C lines
    assert!(c.class("MtadStatic").unwrap().contains("beta.example.com"));
    assert_eq!(c.class("Z").unwrap().len(), 3);
    // F lines: optional missing files are silent; a program class ran.
    let scanf = c.class("MtadScanf").unwrap();
    assert!(
        matches!(&scanf.sources[0], ClassSource::File { optional: true, format, .. } if format == "%[^#]")
    );
    let prog = c.class("MtadProg").unwrap();
    assert!(
        matches!(&prog.sources[0], ClassSource::Program { command, .. } if command == "/bin/hostname")
    );
    assert_eq!(prog.len(), 1, "the host name, read from /bin/hostname");
    // T line
    assert!(c.class("t").unwrap().contains("nobody"));
    // D line
    assert_eq!(
        c.macro_value("MtadMacro").unwrap().to_string(),
        "mtad-test-value"
    );
    // E lines, with and without a value
    assert!(c.environment.contains(&("TZ".into(), Some("UTC".into()))));
    assert!(c.environment.contains(&("LANG".into(), None)));
    // P line
    assert!(c.precedences.contains(&("mtad-test".into(), 42)));
    // H lines
    let auth = c.headers.iter().find(|h| h.name == "X-Mtad-Auth").unwrap();
    assert_eq!(
        auth.condition,
        Some(HeaderCondition::MailerFlags("R".into()))
    );
    assert_eq!(
        auth.value.to_string(),
        "$?{auth_type}authenticated ($&{auth_type}) by $j$|not authenticated$."
    );
    // K lines
    let regex = &c.maps["mtadregex"];
    assert_eq!(regex.class, "regex");
    assert_eq!(
        regex.args,
        ["^[0-9]+\\.example\\.com$"],
        "a final `$` is a literal dollar"
    );
    assert_eq!(c.maps["mtadseq"].args, ["mtadhash", "mtadtext"]);
    assert!(c.maps["mtadhash"].optional());
    // M lines
    let cat = c.mailer("mtadcat").unwrap();
    assert_eq!(cat.max_size, Some(1_000_000));
    assert_eq!(cat.path, "/bin/cat");
    let num = c.mailer("mtadnum").unwrap();
    assert_eq!(num.sender_rulesets.as_ref().unwrap().envelope, "14");
    // S lines: named, named=number, numbered
    assert_eq!(c.ruleset("myset").unwrap().number, 70);
    assert_eq!(c.ruleset("72").unwrap().rules.len(), 2);
    let check_mail = c.ruleset("Local_check_mail").unwrap();
    assert!(
        check_mail.number >= 100,
        "named rulesets are numbered from the top"
    );
    // R lines as tokens
    let rule = &c.ruleset("Local_check_rcpt").unwrap().rules[1];
    assert_eq!(
        rule.lhs,
        [
            Token::Meta(Meta::MatchZeroOrMore),
            Token::CondElse,
            Token::Class(MacroName::new("MtadNets")),
            Token::Meta(Meta::MatchZeroOrMore)
        ]
    );
    assert_eq!(
        rule.rhs,
        [Token::Meta(Meta::Host), Token::Word("OK".into())]
    );
}

#[test]
fn mailers_of_the_stock_macro_set() {
    let c = load(&generated("mailers")).config;
    for m in [
        "local", "prog", "smtp", "esmtp", "smtp8", "dsmtp", "relay", "procmail", "usenet", "fax",
    ] {
        assert!(c.mailer(m).is_some(), "no mailer {m}");
    }
    let esmtp = c.mailer("esmtp").unwrap();
    assert!(esmtp.is_ipc());
    assert_eq!(esmtp.eol, "\r\n");
    // SMTP_MAILER_LL, _MAXMSGS, _MAXRCPTS and _CHARSET of mailers.mc:
    assert_eq!(esmtp.line_limit, Some(998));
    assert_eq!(
        (esmtp.max_messages, esmtp.max_recipients),
        (Some(100), Some(50))
    );
    assert_eq!(esmtp.charset.as_deref(), Some("iso-8859-1"));
    let argv: Vec<String> = esmtp.argv.iter().map(|t| t.to_string()).collect();
    assert_eq!(argv, ["TCP", "$h"]);
    let types = esmtp.types.as_ref().unwrap();
    assert_eq!(
        (
            types.mta.as_str(),
            types.address.as_str(),
            types.diagnostic.as_str()
        ),
        ("DNS", "RFC822", "SMTP")
    );
    // FEATURE(smrsh): the prog mailer runs smrsh.
    let prog = c.mailer("prog").unwrap();
    assert!(prog.path.ends_with("/smrsh"), "{}", prog.path);
    let dirs: Vec<String> = prog.directories.iter().map(|t| t.to_string()).collect();
    assert_eq!(dirs, ["$z", "/tmp"]);
}
