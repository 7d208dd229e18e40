//! Broken configs get an error at the right file:line:column, with the
//! line shown and a caret under the place, and mtad --check exits 1.
//!
//! Each tests/broken/*.cf starts with one `# expect: LINE:COLUMN TEXT` line
//! per error it must produce; TEXT is the start of the message.

use mtad_e2e::{mtad, text, workspace};

struct Expect {
    line: usize,
    column: usize,
    text: String,
}

fn expectations(cf: &str) -> Vec<Expect> {
    cf.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(|e| {
            let (pos, text) = e.split_once(' ').expect("`# expect: L:C text`");
            let (line, column) = pos.split_once(':').expect("L:C");
            Expect {
                line: line.parse().expect("line"),
                column: column.parse().expect("column"),
                text: text.to_string(),
            }
        })
        .collect()
}

#[test]
fn each_broken_config_is_refused_at_its_place() {
    let dir = workspace().join("tests/broken");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cf"))
        .collect();
    files.sort();
    assert!(files.len() >= 29, "the broken set shrank: {}", files.len());
    for path in files {
        let source = std::fs::read_to_string(&path).unwrap();
        let expected = expectations(&source);
        assert!(
            !expected.is_empty(),
            "{} has no `# expect:` line",
            path.display()
        );
        let shown = path.to_str().unwrap();
        let out = mtad(&["-C", shown, "--check"]);
        let (stdout, stderr) = text(&out);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{shown} must not load:\n{stderr}"
        );
        assert_eq!(
            stdout, "",
            "{shown}: no summary for a config that does not load"
        );
        for e in &expected {
            let head = format!("{shown}:{}:{}: error: {}", e.line, e.column, e.text);
            assert!(
                stderr.contains(&head),
                "{shown}: expected\n  {head}\nin\n{stderr}"
            );
            // The offending line is shown, and a caret sits under the column.
            let physical = source.lines().nth(e.line - 1).unwrap();
            let number = e.line.to_string();
            let shown_line = format!("{number} | {physical}");
            assert!(
                stderr.contains(&shown_line),
                "{shown}: no snippet `{shown_line}`:\n{stderr}"
            );
            let caret = stderr
                .lines()
                .skip_while(|l| *l != shown_line)
                .nth(1)
                .expect("a caret line after the snippet");
            let pad = " ".repeat(number.len());
            let under: String = physical
                .chars()
                .take(e.column - 1)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            assert_eq!(
                caret,
                format!("{pad} | {under}^"),
                "{shown}: caret misplaced"
            );
        }
        let located = stderr.lines().filter(|l| l.contains(": error: ")).count();
        assert_eq!(
            located,
            expected.len(),
            "{shown}: unexpected errors:\n{stderr}"
        );
        assert!(stderr.contains("the config was not loaded"), "{stderr}");
    }
}

/// Rules sendmail loads with a complaint (a metasymbol out of place, a
/// `$n` beyond the wildcards, an unclosed lookup) load under mtad too,
/// with a warning at their file:line:column: a config that runs under
/// sendmail keeps running. Each tests/warned/*.cf names its warnings with
/// `# warns: LINE:COLUMN TEXT` lines.
#[test]
fn rules_sendmail_loads_with_a_warning_still_load() {
    let dir = workspace().join("tests/warned");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cf"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "the warned set shrank: {}", files.len());
    for path in files {
        let source = std::fs::read_to_string(&path).unwrap();
        let shown = path.to_str().unwrap();
        let out = mtad(&["-C", shown, "--check"]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{shown} must load:\n{stderr}");
        let all = format!("{stdout}{stderr}");
        let mut n = 0;
        for w in source.lines().filter_map(|l| l.strip_prefix("# warns: ")) {
            let (pos, text) = w.split_once(' ').expect("`# warns: L:C text`");
            let head = format!("{shown}:{pos}: warning: {text}");
            assert!(
                all.contains(&head),
                "{shown}: expected\n  {head}\nin\n{all}"
            );
            n += 1;
        }
        assert!(n > 0, "{shown} has no `# warns:` line");
        assert!(stdout.contains("rulesets:"), "{shown}: a summary: {stdout}");
    }
}
