//! Every line type of sendmail.cf, and the option kinds, into the model.

use cfparser::model::{ClassSource, HeaderCondition, Token};
use cfparser::options::OptionValue;
use cfparser::template::Piece;
use cfparser::{Config, LoadOptions, MacroName, Meta, load_bytes};
use std::path::Path;
use std::time::Duration;

const MLOCAL: &str = "Mlocal, P=/bin/cat, F=l, A=cat\n";

fn load(body: &str) -> Config {
    load_with(body.as_bytes().to_vec(), &LoadOptions::default())
}

fn load_with(bytes: Vec<u8>, opts: &LoadOptions) -> Config {
    let mut all = MLOCAL.as_bytes().to_vec();
    all.extend(bytes);
    match load_bytes(Path::new("t.cf"), all, opts) {
        Ok(l) => {
            assert!(
                l.warnings.is_empty(),
                "unexpected warnings: {:?}",
                l.warnings
            );
            l.config
        }
        Err(e) => panic!("did not load:\n{e}"),
    }
}

fn errors(body: &[u8]) -> String {
    let mut all = MLOCAL.as_bytes().to_vec();
    all.extend_from_slice(body);
    match load_bytes(Path::new("t.cf"), all, &LoadOptions::default()) {
        Ok(_) => panic!("loaded, but should not have"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn v_line() {
    let c = load("V10/Berkeley\n");
    let v = c.version.unwrap();
    assert_eq!((v.level, v.vendor.as_deref()), (10, Some("Berkeley")));
    assert_eq!(load("V9\n").version.unwrap().vendor, None);
}

#[test]
fn d_lines_short_and_long_names() {
    let c = load("Dj$w.example.com\nD{MyMacro}hello world\nDS\nDq\"quoted\\n\"\n");
    let j = c.macro_value("j").unwrap();
    assert_eq!(
        j.pieces,
        [
            Piece::Macro(MacroName::new("w")),
            Piece::Text(".example.com".into())
        ]
    );
    assert_eq!(c.macro_value("MyMacro").unwrap().to_string(), "hello world");
    assert!(
        c.macro_value("S").unwrap().pieces.is_empty(),
        "DS defines an empty macro"
    );
    assert_eq!(
        c.macro_value("q").unwrap().pieces,
        [Piece::Text("quoted\n".into())],
        "quotes dropped and escapes resolved, as munchstring() does"
    );
    // {x} and x are the same macro.
    assert!(load("D{x}1\n").macro_value("x").is_some());
}

#[test]
fn c_lines_with_macros_and_class_references() {
    let c = load("DMexample.org\nCwlocalhost mail.$M\nC{Other}a b\nCw$={Other} c\nCO @ % !\nC..\n");
    let w = c.class("w").unwrap();
    for word in ["localhost", "mail.example.org", "a", "b", "c"] {
        assert!(
            w.contains(word),
            "{word} missing from {:?}",
            w.words().collect::<Vec<_>>()
        );
    }
    assert_eq!(c.class("O").unwrap().len(), 3);
    assert!(c.class(".").unwrap().contains("."));
    // Membership ignores case; the first spelling is kept (as sendmail).
    let c = load("C{Modes}s d D\nCwMail.Example\n");
    let modes = c.class("Modes").unwrap();
    assert_eq!(modes.words().collect::<Vec<_>>(), ["d", "s"]);
    assert!(c.class("w").unwrap().contains("mail.EXAMPLE"));
}

#[test]
fn f_lines_file_program_map() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("names");
    std::fs::write(&file, "root:x:0\nuser:x:1000\n").unwrap();
    let c = load(&format!(
        "FL{} %[^:]\nFP|/bin/echo\nF{{M}}key@hash:/etc/mail/classes\nFX -o /nonexistent/x\n",
        file.display()
    ));
    let l = c.class("L").unwrap();
    assert!(l.contains("root") && l.contains("user"));
    assert!(
        matches!(&c.class("P").unwrap().sources[0], ClassSource::Program { command, .. } if command == "/bin/echo")
    );
    match &c.class("M").unwrap().sources[0] {
        ClassSource::Map { key, spec, .. } => {
            assert_eq!(
                (key.as_str(), spec.as_str()),
                ("key", "hash:/etc/mail/classes")
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        &c.class("X").unwrap().sources[0],
        ClassSource::File { optional: true, .. }
    ));
}

#[test]
fn o_lines_long_and_legacy_forms() {
    let c = load("O MaxMessageSize=1000\nOA/etc/aliases\nOL9\nO SevenBitInput\nOdb\n");
    assert_eq!(c.size("MaxMessageSize"), Some(1000));
    assert_eq!(
        c.option("AliasFile"),
        Some(&OptionValue::List(vec!["/etc/aliases".into()]))
    );
    assert_eq!(c.int("LogLevel"), Some(9));
    assert_eq!(c.bool("SevenBitInput"), Some(true), "no value means True");
    assert_eq!(
        c.option("DeliveryMode"),
        Some(&OptionValue::Enum("background"))
    );
}

#[test]
fn option_kinds() {
    let c = load(
        "O Timeout.queuereturn=5d4h\n\
         O Timeout.queuewarn=4\n\
         O Timeout=ident=5s,rcpt=2h\n\
         O QueueFileMode=0600\n\
         O BlankSub=.\n\
         O DontBlameSendmail=GroupWritableIncludeFile, TrustStickyBit\n\
         O RunAsUser=mail:mail\n\
         O PrivacyOptions=goaway\n\
         O PrivacyOptions=restrictqrun\n\
         O ClientPortOptions=Family=inet, Addr=192.0.2.1, M=h\n\
         O MaxMimeHeaderLength=256/128\n\
         O SmtpGreetingMessage=$j ESMTP $?{x}x$|y$.\n\
         O ConnectionCacheTimeout=90s\n\
         O MinQueueAge=30\n\
         O AliasFile=/etc/aliases\n\
         O AliasFile=/etc/lists,/etc/more\n",
    );
    assert_eq!(
        c.duration("Timeout.queuereturn"),
        Some(Duration::from_secs(5 * 86400 + 4 * 3600))
    );
    assert_eq!(
        c.duration("Timeout.queuewarn"),
        Some(Duration::from_secs(4 * 3600)),
        "bare: hours"
    );
    assert_eq!(c.duration("Timeout.ident"), Some(Duration::from_secs(5)));
    assert_eq!(c.duration("Timeout.rcpt"), Some(Duration::from_secs(7200)));
    assert_eq!(c.option("QueueFileMode"), Some(&OptionValue::Mode(0o600)));
    assert_eq!(c.option("BlankSub"), Some(&OptionValue::Char('.')));
    assert_eq!(
        c.option("DontBlameSendmail"),
        Some(&OptionValue::List(vec![
            "GroupWritableIncludeFile".into(),
            "TrustStickyBit".into()
        ]))
    );
    let p = c.privacy();
    assert!(
        p.has("goaway") || (p.has("novrfy") && p.has("noexpn")),
        "goaway expands"
    );
    assert!(p.has("restrictqrun"), "PrivacyOptions lines add up");
    assert_eq!(c.client_ports[0].get("Addr"), Some("192.0.2.1"));
    assert_eq!(
        c.option("MaxMimeHeaderLength"),
        Some(&OptionValue::IntPair(256, Some(128)))
    );
    assert!(c.text("SmtpGreetingMessage").unwrap().contains("$?{x}"));
    assert_eq!(
        c.duration("ConnectionCacheTimeout"),
        Some(Duration::from_secs(90))
    );
    assert_eq!(
        c.duration("MinQueueAge"),
        Some(Duration::from_secs(30 * 60)),
        "bare: minutes"
    );
    assert_eq!(
        c.option("AliasFile"),
        Some(&OptionValue::List(vec![
            "/etc/aliases".into(),
            "/etc/lists".into(),
            "/etc/more".into()
        ]))
    );
}

#[test]
fn h_lines_flags_and_conditionals() {
    let c = load(
        "H?P?Return-Path: <$g>\nHReceived: $?sfrom $s $.by $j\n\tid $i; $b\nH?${MyFlag}?X-Flag: yes\n",
    );
    assert_eq!(c.headers.len(), 3);
    assert_eq!(
        c.headers[0].condition,
        Some(HeaderCondition::MailerFlags("P".into()))
    );
    let received = &c.headers[1];
    assert_eq!(received.name, "Received");
    assert!(
        matches!(&received.value.pieces[0], Piece::Cond { name, otherwise: None, .. } if name.0 == "s")
    );
    assert!(
        received.value.to_string().contains("by $j\n\tid $i"),
        "folding kept"
    );
    assert_eq!(
        c.headers[2].condition,
        Some(HeaderCondition::Macro(MacroName::new("MyFlag")))
    );
}

#[test]
fn p_t_e_lines() {
    let c = load("Pjunk=-100\nPlist=-30\nTroot daemon\nTuucp\nEPATH=/bin:/usr/bin\nETZ\n");
    assert_eq!(
        c.precedences,
        [("junk".to_string(), -100), ("list".to_string(), -30)]
    );
    let t = c.class("t").unwrap();
    assert!(t.contains("root") && t.contains("daemon") && t.contains("uucp"));
    assert_eq!(
        c.environment,
        [
            ("PATH".to_string(), Some("/bin:/usr/bin".to_string())),
            ("TZ".to_string(), None)
        ]
    );
}

#[test]
fn k_lines() {
    let c = load(
        "DDmail\nKaccess hash -T<TMPF> -o /etc/mail/access\nKresolve host -a<OKR> -T<TEMP>\nKmine text -k0 -v1 /etc/$D/mine\n",
    );
    let access = &c.maps["access"];
    assert_eq!(access.class, "hash");
    assert!(access.optional());
    assert_eq!(access.flags[0].arg, "<TMPF>");
    assert_eq!(access.source_file().unwrap(), Path::new("/etc/mail/access"));
    assert_eq!(c.maps["resolve"].args.len(), 0);
    assert_eq!(
        c.maps["mine"].args,
        ["/etc/mail/mine"],
        "macros expanded when read"
    );
}

#[test]
fn m_lines_every_equate() {
    let c = load(
        "Sx\nSy=30\n\
         Mtest, P=/usr/bin/agent, F=lsDFMq, S=x/y, R=30, A=agent -f $g $u,\n\
         \tE=\\r\\n, M=1000, m=5, r=100, L=990, D=$z:/, U=mail:mail, N=10, C=utf-8,\n\
         \tT=DNS/RFC822/SMTP, W=2m, Q=slow, /=/var/jail\n",
    );
    let m = c.mailer("test").unwrap();
    assert_eq!(m.path, "/usr/bin/agent");
    assert_eq!(m.flags, "lsDFMq");
    let s = m.sender_rulesets.as_ref().unwrap();
    assert_eq!((s.envelope.as_str(), s.header.as_deref()), ("x", Some("y")));
    assert_eq!(m.recipient_rulesets.as_ref().unwrap().envelope, "30");
    let argv: Vec<String> = m.argv.iter().map(|t| t.to_string()).collect();
    assert_eq!(argv, ["agent", "-f", "$g", "$u"]);
    assert_eq!(m.eol, "\r\n");
    assert_eq!(
        (m.max_size, m.max_messages, m.max_recipients, m.line_limit),
        (Some(1000), Some(5), Some(100), Some(990))
    );
    assert_eq!(m.directories.len(), 2);
    assert_eq!(m.user.as_ref().unwrap().group.as_deref(), Some("mail"));
    assert_eq!((m.nice, m.charset.as_deref()), (Some(10), Some("utf-8")));
    assert_eq!(m.types.as_ref().unwrap().diagnostic, "SMTP");
    assert_eq!(m.wait, Some(Duration::from_secs(120)));
    assert_eq!(
        (m.queue_group.as_deref(), m.root.as_deref()),
        (Some("slow"), Some("/var/jail"))
    );
    // Long field names: only the first letter counts.
    let c = load("Mlong, Path=/bin/x, Flags=l, Argv=x $u\n");
    assert_eq!(c.mailer("long").unwrap().path, "/bin/x");
    // sendmail's defaults for what is left out.
    let c = load("Msmtp, P=[IPC], F=mL, A=TCP $h\nMcat, P=/bin/cat, A=cat $u\n");
    let smtp = c.mailer("smtp").unwrap();
    assert_eq!(smtp.eol, "\r\n", "no $u in argv: CRLF");
    assert_eq!(smtp.line_limit, Some(990), "flag L without L=");
    assert_eq!(smtp.max_recipients, Some(100));
    assert_eq!(smtp.types.as_ref().unwrap().diagnostic, "smtp");
    assert_eq!(
        c.mailer("cat").unwrap().eol,
        "\n",
        "$u in argv: local delivery, LF"
    );
    // A quoted value may hold a comma.
    let c = load("Mq, P=/bin/x, A=\"x, y\" $u\n");
    assert_eq!(c.mailer("q").unwrap().argv[0].to_string(), "x,");
}

#[test]
fn s_and_r_lines() {
    let body = concat!(
        "Mlocal, P=/bin/cat, F=l, A=cat\n",
        "O OperatorChars=.:%@!^/[]+\n\
         S3\n\
         R$* < $* > $*\t$2\tfocus\n\
         Scanonify2=96\n\
         R$+ @ $+\t$: $1 < @ $[ $2 $] >\n\
         Snamed\n\
         R$={w}\t$@ $&{client_name} $(access $1 $: OK $) $>3 $1\n\
         R\"quoted string\" $~X $- $@\t$#error $@ 5.1.1 $: \"550 no\"\n\
         S3\n\
         R$+\t$@ $1\n",
    );
    let loaded = load_bytes(
        Path::new("t.cf"),
        body.as_bytes().to_vec(),
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(loaded.warnings.len(), 1);
    assert!(
        loaded.warnings[0]
            .to_string()
            .starts_with("t.cf:10:1: warning: Ruleset 3 has multiple definitions"),
        "as sendmail warns: {}",
        loaded.warnings[0]
    );
    let c = loaded.config;
    let s3 = c.ruleset("3").unwrap();
    assert_eq!(s3.rules.len(), 2, "S3 reopened appends");
    assert_eq!(s3.rules[0].comment, "focus");
    assert_eq!(c.ruleset("canonify2").unwrap().number, 96);
    let named = c.ruleset("named").unwrap();
    assert_eq!(
        named.number, 199,
        "first unnumbered name takes the top number"
    );
    let r = &named.rules[0];
    assert_eq!(r.lhs, [Token::Class(MacroName::new("w"))]);
    assert_eq!(
        r.rhs,
        [
            Token::Meta(Meta::Host),
            Token::Deferred(MacroName::new("client_name")),
            Token::Meta(Meta::LookupBegin),
            Token::Word("access".into()),
            Token::Replacement(1),
            Token::Meta(Meta::User),
            Token::Word("OK".into()),
            Token::Meta(Meta::LookupEnd),
            Token::Meta(Meta::Call),
            Token::Word("3".into()),
            Token::Replacement(1),
        ]
    );
    let r = &named.rules[1];
    assert_eq!(r.lhs[0], Token::Word("\"quoted string\"".into()));
    assert_eq!(r.lhs[1], Token::NotClass(MacroName::new("X")));
    assert_eq!(r.rhs.last(), Some(&Token::Word("\"550 no\"".into())));
    let canon = &c.ruleset("96").unwrap().rules[0];
    assert_eq!(
        canon.lhs,
        [
            Token::Meta(Meta::MatchOneOrMore),
            Token::Op('@'),
            Token::Meta(Meta::MatchOneOrMore)
        ]
    );
}

#[test]
fn rules_split_with_the_configs_operators() {
    let c = load("S1\nRa.b%c\t$@ x\n");
    assert_eq!(
        c.ruleset("1").unwrap().rules[0].lhs.len(),
        3,
        "default .:@[] splits at . only"
    );
    let c = load("O OperatorChars=.%\nS1\nRa.b%c\t$@ x\n");
    assert_eq!(c.ruleset("1").unwrap().rules[0].lhs.len(), 5);
}

#[test]
fn q_and_x_lines() {
    let c = load(
        "Qslow, P=/var/spool/slow, F=f, I=2h, R=2, r=50, J=100, N=10\n\
         Xdkim, S=inet:8891@localhost, F=T, T=C:10s;S:1m;R:1m;E:5m\n",
    );
    let q = &c.queue_groups[0];
    assert_eq!(
        (q.name.as_str(), q.path.as_deref(), q.flags.as_str()),
        ("slow", Some("/var/spool/slow"), "f")
    );
    assert_eq!(
        (q.interval, q.runners, q.recipients, q.jobs, q.nice),
        (
            Some(Duration::from_secs(7200)),
            Some(2),
            Some(50),
            Some(100),
            Some(10)
        )
    );
    let x = &c.milters[0];
    assert_eq!(
        (x.name.as_str(), x.socket.as_str(), x.flags.as_str()),
        ("dkim", "inet:8891@localhost", "T")
    );
    assert_eq!(x.timeouts[0], ('C', Duration::from_secs(10)));
    assert_eq!(x.timeouts[3], ('E', Duration::from_secs(300)));
}

#[test]
fn comments_continuations_and_blank_lines() {
    let c = load(
        "V10/Berkeley\n\
         # a comment\n\
         #  continued comment line\n\
         \tstill the comment\n\
         \n\
         O LogLevel=9  # trailing comment\n\
         Mprog, P=/bin/sh, F=lsDFM,   # the path\n\
         \tA=sh -c $u\n\
         O MustQuoteChars=\\#.\n",
    );
    assert_eq!(c.int("LogLevel"), Some(9));
    assert_eq!(c.mailer("prog").unwrap().argv.len(), 3);
    assert_eq!(
        c.text("MustQuoteChars").as_deref(),
        Some("#."),
        "\\# is a literal #"
    );
}

#[test]
fn bytes_that_are_not_utf8_are_kept() {
    let c = load_with(
        b"DXcaf\xe9\nCY \xff\xfe\n".to_vec(),
        &LoadOptions::default(),
    );
    assert_eq!(c.macro_value("X").unwrap().to_string(), "caf\u{e9}");
    assert!(c.class("Y").unwrap().contains("\u{ff}\u{fe}"));
}

#[test]
fn crlf_line_ends_are_accepted() {
    let c = load("O LogLevel=9\r\nO MaxHopCount=30\r\n");
    assert_eq!(c.int("MaxHopCount"), Some(30));
}

#[test]
fn refused_where_sendmail_misreads() {
    let e = errors(b"O MaxMessageSize=abc\n");
    assert!(
        e.contains("t.cf:2:18: error: expected a size in bytes"),
        "{e}"
    );
    let e = errors(b"O LogLevel=9\nDXab\0cd\n");
    assert!(e.contains("t.cf:3:5: error: NUL byte in the line"), "{e}");
    let e = errors(b"DXa $?y b\n");
    assert!(
        e.contains("t.cf:2:5: error: unterminated `$?y` conditional"),
        "{e}"
    );
    let e = errors(b"S0\nR$* $?x foo\t$@ x\n");
    assert!(e.contains("t.cf:3:5: error: "), "{e}");
    let e = errors(b"Mx, P=[TCP], A=TCP $h\n");
    assert!(e.contains("P=[TCP] must be replaced by P=[IPC]"), "{e}");
    let e = errors(b"Mx, P=[IPC], A=TCP\n");
    assert!(e.contains("too few parameters"), "{e}");
    let e = errors(b"O MaxHopCount=\n");
    assert!(e.contains("expected a number"), "{e}");
    // Every error of the file is reported, not only the first.
    let e = errors(b"O MaxHopCount=x\nO LogLevel=y\nZ\n");
    assert_eq!(e.matches("error:").count(), 3, "{e}");
}

#[test]
fn a_config_without_a_local_mailer_is_refused() {
    let e = match load_bytes(
        Path::new("t.cf"),
        b"V10\n".to_vec(),
        &LoadOptions::default(),
    ) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("loaded"),
    };
    assert!(e.contains("no local mailer is defined"), "{e}");
}

#[test]
fn predefined_macros_are_seen_by_c_lines() {
    let opts = LoadOptions {
        predefined: vec![
            ("w".into(), "mail".into()),
            ("m".into(), "lab.example".into()),
        ],
        ..Default::default()
    };
    let c = load_with(b"Cw$w.$m $w\n".to_vec(), &opts);
    let w = c.class("w").unwrap();
    assert!(w.contains("mail.lab.example") && w.contains("mail"));
}
