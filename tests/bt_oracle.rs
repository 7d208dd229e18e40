//! A differential test of `mtad -bt` against the real sendmail 8.17 in
//! address test mode: many test-mode lines, made by a seeded generator from
//! what each config holds (its rulesets, mailers, maps, classes and
//! macros), are given to both, each transcript is split into one answer per
//! command (at sendmail's "> " prompt), and the answers are compared byte
//! for byte.
//!
//! Every mismatch (the input line, sendmail's answer, mtad's) goes to
//! `target/bt-oracle/mismatches.txt`; the share of identical answers is
//! printed per config and overall, and must be at least 99 %.
//!
//! Configs: the shared fixtures, the generated tests/mc/*.mc, and three
//! made here from .mc text (virtusertable, genericstable, mailertable,
//! domaintable; masquerading with a LOCAL_RULE_0; access_db, delay_checks,
//! dnsbl) with maps built by the real makemap.
//!
//! Needs root (private namespaces) and the reference sendmail that
//! ../shared/tools/install-sendmail-ref unpacks under /opt/ref; without
//! them the test says SKIPPED (and fails under `CI=true`).
//!
//! `BT_ORACLE_SEED` changes the seed, `BT_ORACLE_LINES` scales the number
//! of lines per config (percent, default 100).

use mtad_e2e::{bin, config_from_mc, generated_configs, shared_fixtures, skip, workspace};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

#[path = "bt_oracle/config_info.rs"]
mod config_info;
#[path = "bt_oracle/corpus.rs"]
mod corpus;
#[path = "bt_oracle/generate.rs"]
mod generate;

use config_info::scan;
use generate::{generate, seed_of};

/// Where the extra configs and their maps go: beside the report when no
/// directory above it is group- or world-writable (sendmail refuses maps
/// there as unsafe, whatever the sticky bit says), else a private
/// directory under /var/lib (a checkout under /tmp, as CI's may be).
fn safe_extra_dir(out_dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let beside = out_dir.join("extra");
    let unsafe_above = out_dir
        .ancestors()
        .any(|d| std::fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o022 != 0));
    if !unsafe_above {
        return beside;
    }
    let dir = PathBuf::from(format!("/var/lib/mtad-bt-oracle-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a private map directory");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    dir
}

// ---------------------------------------------------------------------------
// Running both, and splitting a transcript into answers.

fn run(program: &Path, pre: &[&Path], cf: &Path, input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(program)
        .args(pre)
        .arg(cf)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    let mut all = out.stdout;
    all.extend(out.stderr);
    all
}

/// Splits at the prompts: a "> " at the start of a line (repeated for a
/// command that printed nothing). Answer 0 is what came before the first
/// prompt (the banner and load warnings).
fn split(out: &[u8]) -> Vec<Vec<u8>> {
    let mut answers: Vec<Vec<u8>> = vec![Vec::new()];
    let mut at_start = true;
    let mut i = 0;
    while i < out.len() {
        if at_start && out[i..].starts_with(b"> ") {
            answers.push(Vec::new());
            i += 2;
            continue;
        }
        if at_start && &out[i..] == b">" {
            answers.push(Vec::new());
            break;
        }
        let b = out[i];
        answers.last_mut().unwrap().push(b);
        at_start = b == b'\n';
        i += 1;
    }
    answers
}

fn is_state(line: &[u8]) -> bool {
    line.starts_with(b".") || line.starts_with(b"/tryflags")
}

struct Sides<'a> {
    sm_bt: &'a Path,
    mtad_bt: &'a Path,
    mtad: &'a Path,
}

impl Sides<'_> {
    fn sendmail(&self, cf: &Path, input: &[u8]) -> Vec<u8> {
        run(self.sm_bt, &[], cf, input)
    }
    fn mtad(&self, cf: &Path, input: &[u8]) -> Vec<u8> {
        run(self.mtad_bt, &[self.mtad], cf, input)
    }
}

/// The answers of both to each line of `lines`, asked after `state` (the
/// state lines, .D, .C and /tryflags, of the lines before): (sendmail's,
/// mtad's). When a transcript does not split into one answer per line (a
/// line longer than sendmail's buffer is read as two, say), the lines are
/// asked in halves until the line is alone; its answer is then all that
/// follows the state lines' prompts, up to the last prompt.
fn answers(
    sides: &Sides,
    cf: &Path,
    state: &[Vec<u8>],
    lines: &[Vec<u8>],
    desyncs: &mut usize,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    // /expand prints its answer without a newline, so the prompt after it
    // is not at the start of a line: such a line is asked alone.
    let alone = |l: &Vec<u8>| l.starts_with(b"/expand");
    if let Some(i) = lines.iter().position(alone)
        && lines.len() > 1
    {
        let mut got = Vec::new();
        let mut st = state.to_vec();
        for part in [&lines[..i], &lines[i..=i], &lines[i + 1..]] {
            if !part.is_empty() {
                got.extend(answers(sides, cf, &st, part, desyncs));
                st.extend(part.iter().filter(|l| is_state(l)).cloned());
            }
        }
        return got;
    }
    let input: Vec<u8> = state
        .iter()
        .chain(lines)
        .flat_map(|l| [l.as_slice(), b"\n"].concat())
        .collect();
    let sm = split(&sides.sendmail(cf, &input));
    let mt = split(&sides.mtad(cf, &input));
    let (k, n) = (state.len(), lines.len());
    if sm.len() == k + n + 2 && mt.len() == k + n + 2 && !lines.iter().any(alone) {
        return (k + 1..=k + n)
            .map(|i| (sm[i].clone(), mt[i].clone()))
            .collect();
    }
    if n == 1 {
        *desyncs += 1;
        let tail = |parts: &[Vec<u8>]| -> Vec<u8> {
            // up to the last prompt, if it is at the start of a line
            let end = if parts.len() > k + 2 {
                parts.len() - 1
            } else {
                parts.len()
            };
            let mut t = Vec::new();
            for (i, p) in parts.iter().enumerate().take(end).skip(k + 1) {
                if i > k + 1 {
                    t.extend(b"> ");
                }
                t.extend(p);
            }
            t
        };
        return vec![(tail(&sm), tail(&mt))];
    }
    let mid = n / 2;
    let mut got = answers(sides, cf, state, &lines[..mid], desyncs);
    let mut state2 = state.to_vec();
    state2.extend(lines[..mid].iter().filter(|l| is_state(l)).cloned());
    got.extend(answers(sides, cf, &state2, &lines[mid..], desyncs));
    got
}

// ---------------------------------------------------------------------------
// The report.

fn escape(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        match c {
            b'\n' | b'\t' | 0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02X}")),
        }
    }
    s
}

fn indent(b: &[u8]) -> String {
    let text = escape(b);
    if text.is_empty() {
        return "    (nothing)\n".into();
    }
    let mut s = String::new();
    for l in text.split_inclusive('\n') {
        s.push_str("    | ");
        s.push_str(l);
    }
    if !s.ends_with('\n') {
        s.push_str("\u{23CE}(no newline)\n");
    }
    s
}

fn first_diff(a: &[u8], b: &[u8]) -> String {
    let la: Vec<&[u8]> = a.split(|&c| c == b'\n').collect();
    let lb: Vec<&[u8]> = b.split(|&c| c == b'\n').collect();
    for i in 0..la.len().max(lb.len()) {
        let x = la.get(i).copied();
        let y = lb.get(i).copied();
        if x != y {
            return format!(
                "  first difference, line {}:\n    sendmail: {}\n    mtad:     {}\n",
                i + 1,
                x.map_or("(none)".into(), escape),
                y.map_or("(none)".into(), escape)
            );
        }
    }
    String::new()
}

fn kind(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(line);
    let w = s.split([' ', '\t']).next().unwrap_or("");
    if w.starts_with(".D") {
        ".D".into()
    } else if w.starts_with(".C") {
        ".C".into()
    } else if w.starts_with("$=") {
        "$=X".into()
    } else if w.starts_with('$') {
        "$x".into()
    } else if w.starts_with("=S") {
        "=S".into()
    } else if w.starts_with('/') {
        w.chars().take(16).collect()
    } else if w.is_empty() {
        "(blank)".into()
    } else if ["check_mail", "check_rcpt", "check_relay"].contains(&w) {
        w.into()
    } else if w.starts_with(['=', '?', '-', '#', '.']) {
        w.chars().take(2).collect()
    } else {
        "RULESETS address".into()
    }
}

struct Tally {
    total: usize,
    same: usize,
}

// ---------------------------------------------------------------------------
// Extra configs, made here.

const MAPS_DIR_TOKEN: &str = "@MAPS@";

fn extra_mcs() -> Vec<(&'static str, String)> {
    let head = "divert(0)dnl\n\
        VERSIONID(`mtad bt_oracle NAME.mc')dnl\n\
        define(`MAIL_SETTINGS_DIR', `/opt/ref/sendmail-etc/')dnl\n\
        OSTYPE(`linux')dnl\n\
        DOMAIN(`generic')dnl\n\
        define(`confDEF_USER_ID', `mail:mail')dnl\n";
    let tail = "MAILER(`local')dnl\nMAILER(`smtp')dnl\n";
    vec![
        (
            "oracle-tables",
            format!(
                "{head}FEATURE(`use_cw_file')dnl\n\
                 FEATURE(`virtusertable', `hash {m}/virtusertable')dnl\n\
                 VIRTUSER_DOMAIN(`virtual.example.org')dnl\n\
                 FEATURE(`genericstable', `hash {m}/genericstable')dnl\n\
                 GENERICS_DOMAIN(`lab.example mail.lab.example')dnl\n\
                 FEATURE(`mailertable', `hash {m}/mailertable')dnl\n\
                 FEATURE(`domaintable', `hash {m}/domaintable')dnl\n\
                 FEATURE(`always_add_domain')dnl\n\
                 {tail}",
                m = MAPS_DIR_TOKEN
            ),
        ),
        (
            "oracle-masq",
            format!(
                "{head}FEATURE(`use_cw_file')dnl\n\
                 MASQUERADE_AS(`masq.example')dnl\n\
                 MASQUERADE_DOMAIN(`lab.example')dnl\n\
                 MASQUERADE_EXCEPTION(`sub.lab.example')dnl\n\
                 EXPOSED_USER(`root')dnl\n\
                 FEATURE(`allmasquerade')dnl\n\
                 FEATURE(`masquerade_envelope')dnl\n\
                 FEATURE(`masquerade_entire_domain')dnl\n\
                 FEATURE(`genericstable', `hash {m}/genericstable')dnl\n\
                 LOCAL_RULE_0\n\
                 R$* < @ special . example . > $*\t$#local $: special-$1\n\
                 R$* < @ $* . special . example . > $*\t$#esmtp $@ [relay.example.net] $: $1 < @ $2 . special . example >\n\
                 LOCAL_RULE_3\n\
                 R$* < @ legacy . lab . example > $*\t$1 < @ lab . example > $2\n\
                 {tail}",
                m = MAPS_DIR_TOKEN
            ),
        ),
        (
            "oracle-antispam",
            format!(
                "{head}FEATURE(`use_cw_file')dnl\n\
                 FEATURE(`access_db', `hash -T<TMPF> {m}/access')dnl\n\
                 FEATURE(`delay_checks')dnl\n\
                 FEATURE(`dnsbl', `bl.example.org', `\"550 Rejected: \" $&{{client_addr}} \" listed\"')dnl\n\
                 FEATURE(`blocklist_recipients')dnl\n\
                 FEATURE(`relay_entire_domain')dnl\n\
                 FEATURE(`badmx')dnl\n\
                 RELAY_DOMAIN(`partner.example.org')dnl\n\
                 {tail}",
                m = MAPS_DIR_TOKEN
            ),
        ),
    ]
}

/// The map sources: the shared fixture's, and a domaintable.
fn build_maps(dir: &Path, fixtures: &Path) -> Result<(), String> {
    let makemap = PathBuf::from("/opt/ref/sendmail/usr/sbin/makemap");
    if !makemap.exists() {
        return Err(format!("{} is missing", makemap.display()));
    }
    let mut sources: Vec<(String, Vec<u8>)> = Vec::new();
    for name in ["access", "genericstable", "mailertable", "virtusertable"] {
        let mut text =
            std::fs::read(fixtures.join("maps").join(name)).map_err(|e| format!("{name}: {e}"))?;
        if name == "access" {
            text.extend(
                b"Connect:10.1.2.3\t\tOK\nFrom:lab.example\t\tRELAY\nTo:remote.example.com\tREJECT\n\
                  Spam:friend@\t\tFRIEND\nblocked@\t\tREJECT\nTo:sales@\t\tERROR:550 no sales\n",
            );
        }
        sources.push((name.to_string(), text));
    }
    sources.push((
        "domaintable".into(),
        b"old.example.com\tnew.example.com\nlegacy.lab.example\tlab.example\nexample.com\texample.net\n".to_vec(),
    ));
    for (name, text) in sources {
        let path = dir.join(&name);
        let mut child = Command::new(&makemap)
            .args(["-C", "/dev/null", "hash"])
            .arg(&path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("makemap: {e}"))?;
        child.stdin.take().unwrap().write_all(&text).unwrap();
        let out = child.wait_with_output().unwrap();
        if !out.status.success() {
            return Err(format!(
                "makemap {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------

fn tools() -> Option<(PathBuf, PathBuf)> {
    let sm_bt = workspace().join("../shared/tools/sm-bt");
    let mtad_bt = workspace().join("tests/tools/mtad-bt");
    let sendmail = std::env::var_os("SM_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/ref/sendmail"))
        .join("usr/libexec/sendmail/sendmail");
    let mut missing = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        missing.push("root".to_string());
    }
    for p in [&sm_bt, &mtad_bt, &sendmail] {
        if !p.exists() {
            missing.push(p.display().to_string());
        }
    }
    if !missing.is_empty() {
        skip(&format!(
            "the -bt differential test needs {}",
            missing.join(", ")
        ));
        return None;
    }
    Some((sm_bt, mtad_bt))
}

fn target_dir() -> PathBuf {
    // target/<profile>/deps/bt_oracle-xxxx
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent()?.parent()?.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| workspace().join("target"))
}

#[test]
fn bt_answers_match_sendmail() {
    let Some((sm_bt, mtad_bt)) = tools() else {
        return;
    };
    let Some(fixtures) = shared_fixtures() else {
        skip("the shared fixtures (../shared/fixtures/sendmail-cf) are missing");
        return;
    };
    let started = Instant::now();
    let mtad = bin("mtad");
    let sides = Sides {
        sm_bt: &sm_bt,
        mtad_bt: &mtad_bt,
        mtad: &mtad,
    };
    let scale: usize = std::env::var("BT_ORACLE_LINES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);

    // The configs, with how many lines each gets.
    let mut configs: Vec<(String, PathBuf, usize)> = Vec::new();
    for name in [
        "generic",
        "debian-like",
        "hardened",
        "nullclient",
        "smarthost",
        "milter",
        "daemon-2525",
    ] {
        let cf = fixtures.join(format!("{name}.cf"));
        if cf.exists() {
            configs.push((format!("fixture/{name}"), cf, 400));
        }
    }
    for cf in generated_configs() {
        let name = cf.file_stem().unwrap().to_string_lossy().into_owned();
        configs.push((format!("mc/{name}"), cf.clone(), 140));
    }
    // The maps and configs made here stay beside the report, to replay by
    // hand (not in /tmp: sendmail refuses a map below a world-writable
    // directory).
    let out_dir = target_dir().join("bt-oracle");
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir).expect("create target/bt-oracle");
    let extra_dir = safe_extra_dir(&out_dir);
    std::fs::create_dir_all(&extra_dir).expect("create the extra configs' directory");
    match build_maps(&extra_dir, &fixtures) {
        Ok(()) => {
            for (name, mc) in extra_mcs() {
                let mc = mc
                    .replace(MAPS_DIR_TOKEN, &extra_dir.display().to_string())
                    .replace("NAME", name);
                let cf = config_from_mc(&extra_dir, name, &mc);
                configs.push((format!("extra/{name}"), cf, 350));
            }
        }
        Err(e) => skip(&format!("the extra configs need makemap: {e}")),
    }

    let mut report = String::new();
    let mut per_kind: BTreeMap<String, Tally> = BTreeMap::new();
    let mut per_config: Vec<(String, Tally, usize)> = Vec::new();
    let mut total = Tally { total: 0, same: 0 };
    let mut not_loaded = Vec::new();

    for (name, cf, n) in &configs {
        // It must load in sendmail to count.
        let banner = sides.sendmail(cf, b"");
        if !banner.windows(17).any(|w| w == b"ADDRESS TEST MODE") {
            not_loaded.push(format!(
                "{name}: {}",
                String::from_utf8_lossy(&banner).trim()
            ));
            continue;
        }
        // Saved beside the report, to replay by hand.
        let _ = std::fs::copy(cf, out_dir.join(format!("{}.cf", name.replace('/', "_"))));
        let info = scan(cf);
        let lines = generate(&info, seed_of(name), n * scale / 100);
        let mut input_file = Vec::new();
        for l in &lines {
            input_file.extend(l);
            input_file.push(b'\n');
        }
        std::fs::write(
            out_dir.join(format!("{}.in", name.replace('/', "_"))),
            &input_file,
        )
        .unwrap();

        let mut tally = Tally { total: 0, same: 0 };
        let mut desyncs = 0;
        for (c, chunk) in lines.chunks(250).enumerate() {
            // Each chunk starts afresh: the state lines (.D, .C, /tryflags)
            // of the chunks before it are given again.
            let prior: Vec<Vec<u8>> = lines[..c * 250]
                .iter()
                .filter(|l| is_state(l))
                .cloned()
                .collect();
            let got = answers(&sides, cf, &prior, chunk, &mut desyncs);
            for (i, (l, (s, m))) in chunk.iter().zip(&got).enumerate() {
                let k = per_kind
                    .entry(kind(l))
                    .or_insert(Tally { total: 0, same: 0 });
                k.total += 1;
                tally.total += 1;
                if s == m {
                    k.same += 1;
                    tally.same += 1;
                } else {
                    report.push_str(&format!(
                        "=== {name} line {} [{}]\n> {}\n  sendmail:\n{}  mtad:\n{}{}\n",
                        c * 250 + i + 1,
                        kind(l),
                        escape(l),
                        indent(s),
                        indent(m),
                        first_diff(s, m)
                    ));
                }
            }
        }
        total.total += tally.total;
        total.same += tally.same;
        per_config.push((name.clone(), tally, desyncs));
    }

    let share = |t: &Tally| {
        if t.total == 0 {
            100.0
        } else {
            100.0 * t.same as f64 / t.total as f64
        }
    };
    let mut summary = String::new();
    summary.push_str("per config (identical / answers):\n");
    for (name, t, d) in &per_config {
        summary.push_str(&format!(
            "  {name:28} {:5} / {:5}  {:6.2}%{}\n",
            t.same,
            t.total,
            share(t),
            if *d > 0 {
                format!("  ({d} line(s) asked alone)")
            } else {
                String::new()
            }
        ));
    }
    for n in &not_loaded {
        summary.push_str(&format!("  not loaded by sendmail, left out: {n}\n"));
    }
    summary.push_str("per command kind:\n");
    for (k, t) in &per_kind {
        summary.push_str(&format!(
            "  {k:28} {:5} / {:5}  {:6.2}%\n",
            t.same,
            t.total,
            share(t)
        ));
    }
    summary.push_str(&format!(
        "overall: {} / {} identical answers, {:.2}% ({:.1} s)\n",
        total.same,
        total.total,
        share(&total),
        started.elapsed().as_secs_f64()
    ));
    if !extra_dir.starts_with(&out_dir) {
        let _ = std::fs::remove_dir_all(&extra_dir);
    }
    let file = out_dir.join("mismatches.txt");
    std::fs::write(&file, format!("{summary}\n{report}")).expect("write the mismatches");
    eprintln!("{summary}mismatches: {}", file.display());
    assert!(total.total > 0, "no answers were compared");
    assert!(
        share(&total) >= 99.0,
        "only {:.2}% of the -bt answers are sendmail's (at least 99% wanted); see {}",
        share(&total),
        file.display()
    );
}
