//! What mtad reads is what sendmail reads, asked of the real sendmail 8.17
//! in address test mode: every ruleset of the generated configs (and the
//! shared fixtures), dumped with `=S`, token for token against cfparser's
//! token lists; every class, listed with `$=X`, word for word; every
//! mailer, as `=M` prints it; every macro a D line defines, as `$x` prints
//! it.
//!
//! Needs the reference sendmail that ../shared/tools/install-sendmail-ref
//! unpacks under /opt/ref (`$SM_ROOT`, as for the tools; never the system
//! MTA; tests/run installs it as root) and root for its private namespace
//! (../shared/tools/sm-bt); where either is missing the test says it is
//! skipped, and fails under `CI=true` (mtad_e2e::skip).

use cfparser::Config;
use cfparser::model::mailer::RulesetPair;
use cfparser::model::{ClassSource, Mailer, Token};
use mtad_e2e::{generated_configs, load, load_as_test_mode, shared_fixtures, skip, workspace};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The reference sendmail binary, where sm-bt runs it from.
fn sendmail() -> PathBuf {
    std::env::var_os("SM_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/ref/sendmail"))
        .join("usr/libexec/sendmail/sendmail")
}

fn sm_bt() -> Option<PathBuf> {
    let tool = workspace().join("../shared/tools/sm-bt");
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let sendmail = sendmail();
    let missing = [
        (!root).then(|| "root".to_string()),
        (!tool.exists()).then(|| tool.display().to_string()),
        (!sendmail.exists()).then(|| {
            format!(
                "{} (../shared/tools/install-sendmail-ref)",
                sendmail.display()
            )
        }),
    ];
    let missing: Vec<String> = missing.into_iter().flatten().collect();
    if !missing.is_empty() {
        skip(&format!("the sendmail oracle needs {}", missing.join(", ")));
        return None;
    }
    Some(tool)
}

/// How sendmail -bt prints a rule (`=S`): tokens joined by spaces, both
/// sides followed by a space, the sides separated by two TABs.
fn shown(lhs: &[Token], rhs: &[Token]) -> String {
    let side = |t: &[Token]| t.iter().map(|x| format!("{x} ")).collect::<String>();
    format!("R{}\t\t{}", side(lhs), side(rhs))
}

/// Runs sendmail -bt on `cf` with one command per line of `input`, and
/// returns the lines of each answer (one more than there are commands: the
/// final prompt's).
fn ask_sendmail(tool: &Path, cf: &Path, input: &str) -> Vec<Vec<String>> {
    let mut child = Command::new(tool)
        .arg(cf)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run sm-bt");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.as_bytes()).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // sendmail prints "> " before it reads each line; what follows, up to
    // the next prompt, is the answer (a rule's text may hold "> " too, but
    // never at the start of a line).
    let mut answers: Vec<Vec<String>> = Vec::new();
    for mut line in text.lines() {
        while let Some(rest) = line
            .strip_prefix("> ")
            .or_else(|| (line == ">").then_some(""))
        {
            answers.push(Vec::new());
            line = rest;
        }
        if let Some(a) = answers.last_mut()
            && !line.is_empty()
        {
            a.push(line.to_string());
        }
    }
    assert_eq!(
        answers.len(),
        input.lines().count() + 1,
        "{}: one answer per command",
        cf.display()
    );
    answers
}

fn compare_rules(cf: &Path, tool: &Path) -> usize {
    let config = load_as_test_mode(cf).config;
    let names: Vec<String> = config
        .rulesets
        .values()
        .map(|r| r.name.clone().unwrap_or_else(|| r.number.to_string()))
        .collect();
    let input: String = names.iter().map(|n| format!("=S{n}\n")).collect();
    let answers = ask_sendmail(tool, cf, &input);
    let mut compared = 0;
    for ((name, answer), rs) in names.iter().zip(&answers).zip(config.rulesets.values()) {
        let theirs: Vec<&String> = answer.iter().filter(|l| l.starts_with('R')).collect();
        assert_eq!(
            theirs.len(),
            rs.rules.len(),
            "{}: ruleset {name}: sendmail has {} rules, mtad {}",
            cf.display(),
            theirs.len(),
            rs.rules.len()
        );
        for (theirs, rule) in theirs.iter().zip(&rs.rules) {
            assert_eq!(
                &shown(&rule.lhs, &rule.rhs),
                *theirs,
                "{} line {}: ruleset {name}",
                cf.display(),
                rule.line
            );
            compared += 1;
        }
    }
    compared
}

/// The classes a config defines itself: not sendmail's own one-letter
/// lower-case classes (w, k, m, t, e, ... which it fills from the host), and
/// not those filled by a program (it runs in sendmail's namespace).
fn compare_classes(cf: &Path, tool: &Path) -> usize {
    let config = load(cf).config;
    let names: Vec<_> = config
        .classes
        .iter()
        .filter(|(name, class)| {
            let sendmails_own = name.0.len() == 1 && name.0.chars().all(|c| c.is_ascii_lowercase());
            let from_elsewhere = class
                .sources
                .iter()
                .any(|s| matches!(s, ClassSource::Program { .. } | ClassSource::Map { .. }));
            !sendmails_own && !from_elsewhere
        })
        .collect();
    let input: String = names.iter().map(|(n, _)| format!("$={n}\n")).collect();
    let answers = ask_sendmail(tool, cf, &input);
    for ((name, class), theirs) in names.iter().zip(&answers) {
        let theirs: BTreeSet<&str> = theirs.iter().map(String::as_str).collect();
        let ours: BTreeSet<&str> = class.words().collect();
        assert_eq!(ours, theirs, "{}: class {name}", cf.display());
    }
    names.len()
}

/// A mailer as sendmail's printmailer() shows it (`=M`), from our model;
/// U= is left out (sendmail shows the uid it looked up).
fn mailer_line(c: &Config, m: &Mailer) -> String {
    let rulesets = |p: &Option<RulesetPair>| {
        let name = |r: &str| match r.parse::<u32>() {
            Ok(n) => c
                .rulesets
                .get(&n)
                .and_then(|rs| rs.name.clone())
                .unwrap_or_else(|| r.to_string()),
            Err(_) => r.to_string(),
        };
        match p {
            Some(p) => {
                let e = name(&p.envelope);
                let h = p.header.as_deref().map_or_else(|| e.clone(), name);
                format!("{e}/{h}")
            }
            None => {
                let zero = name("0");
                format!("{zero}/{zero}")
            }
        }
    };
    let mut flags: Vec<char> = m.flags.chars().collect();
    flags.sort();
    let flags: String = flags.into_iter().collect();
    let eol = m.eol.replace('\r', "\\r").replace('\n', "\\n");
    let charset = m
        .charset
        .as_ref()
        .map(|c| format!(" C={c}"))
        .unwrap_or_default();
    let types = m.types.as_ref().map_or_else(
        || "<undefined>/<undefined>/<undefined>".to_string(),
        |t| format!("{}/{}/{}", t.mta, t.address, t.diagnostic),
    );
    let argv: Vec<String> = m.argv.iter().map(|a| a.to_string()).collect();
    format!(
        "P={} S={} R={} M={} F={flags} L={} E={eol}{charset} T={types} r={} A={}",
        m.path,
        rulesets(&m.sender_rulesets),
        rulesets(&m.recipient_rulesets),
        m.max_size.unwrap_or(0),
        m.line_limit.unwrap_or(0),
        m.max_recipients.unwrap_or(0),
        argv.join(" ")
    )
}

fn compare_mailers(cf: &Path, tool: &Path) -> usize {
    let config = load(cf).config;
    let answers = ask_sendmail(tool, cf, "=M\n");
    let mut compared = 0;
    for line in &answers[0] {
        // mailer 3 (local): P=... U=-1:-1 F=...
        let Some((head, rest)) = line.split_once("): ") else {
            continue;
        };
        let name = head.rsplit('(').next().unwrap_or("");
        // Mailers keep sendmail's numbering: the built-in ones first.
        let number: usize = head
            .trim_start_matches("mailer ")
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("mailer number");
        assert_eq!(
            config.mailers.get(number).map(|m| m.name.as_str()),
            Some(name),
            "{}: mailer number {number}",
            cf.display()
        );
        let m = config
            .mailer(name)
            .unwrap_or_else(|| panic!("{}: sendmail has mailer {name}, mtad not", cf.display()));
        let theirs: String = rest
            .split(' ')
            .filter(|w| !w.starts_with("U="))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            mailer_line(&config, m),
            theirs,
            "{}: mailer {name}",
            cf.display()
        );
        compared += 1;
    }
    assert_eq!(
        compared,
        config.mailers.len(),
        "{}: every mailer",
        cf.display()
    );
    compared
}

/// Macros defined by D lines with plain values (a value with macros in it
/// is printed by sendmail in its internal form).
fn compare_macros(cf: &Path, tool: &Path) -> usize {
    let config = load(cf).config;
    let plain: Vec<_> = config
        .macros
        .iter()
        .filter(|(_, m)| m.value.is_plain())
        .collect();
    let input: String = plain.iter().map(|(n, _)| format!("${n}\n")).collect();
    let answers = ask_sendmail(tool, cf, &input);
    for ((name, def), theirs) in plain.iter().zip(&answers) {
        let ours = def.value.to_string();
        let theirs = theirs.first().map_or("", String::as_str);
        // An empty macro (DS) prints as nothing at all.
        assert_eq!(ours, theirs, "{}: macro {name}", cf.display());
    }
    plain.len()
}

fn oracle_configs() -> Vec<PathBuf> {
    let mut configs: Vec<PathBuf> = generated_configs().to_vec();
    match shared_fixtures() {
        Some(dir) => {
            configs.push(dir.join("debian-like.cf"));
            configs.push(dir.join("hardened.cf"));
        }
        None => skip(
            "../shared/fixtures/sendmail-cf is missing: compared without debian-like.cf and hardened.cf",
        ),
    }
    configs.push(workspace().join("etc/sendmail.cf"));
    configs
}

/// Runs one comparison over every oracle config; `at_least` guards against
/// a comparison that silently compares nothing.
fn check_all(what: &str, at_least: usize, compare: fn(&Path, &Path) -> usize) {
    let Some(tool) = sm_bt() else { return };
    let total: usize = oracle_configs().iter().map(|cf| compare(cf, &tool)).sum();
    assert!(total > at_least, "compared only {total} {what}");
    eprintln!("{total} {what} compared with sendmail's own reading");
}

#[test]
fn every_rule_tokenizes_as_in_sendmail() {
    check_all("rules", 3000, compare_rules);
}

#[test]
fn every_mailer_reads_as_in_sendmail() {
    check_all("mailers", 100, compare_mailers);
}

#[test]
fn every_macro_holds_what_sendmail_holds() {
    check_all("macros", 30, compare_macros);
}

#[test]
fn every_class_holds_what_sendmail_holds() {
    check_all("classes", 50, compare_classes);
}
