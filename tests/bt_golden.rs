//! `mtad -bt` reproduces the golden transcripts of the real sendmail's
//! address test mode (../shared/fixtures/sendmail-cf/bt/NAME.in and
//! NAME.out) byte for byte: every trace line, every answer, every prompt.
//!
//! mtad runs as sm-bt runs sendmail (tests/tools/mtad-bt): in a private UTS
//! and network namespace with hostname mail.lab.example, the fixtures'
//! service switch and hosts file. That needs root, and the fixtures'
//! settings under /opt/ref/sendmail-etc and maps under /opt/ref/maps, which
//! ../shared/tools/install-sendmail-ref makes (tests/run runs it as root).

use mtad_e2e::{bin, shared_fixtures, skip, workspace};
use std::path::Path;
use std::process::{Command, Stdio};

fn mtad_bt(cf: &Path, input: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut child = Command::new(workspace().join("tests/tools/mtad-bt"))
        .arg(bin("mtad"))
        .arg(cf)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tests/tools/mtad-bt");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("mtad-bt output");
    let _ = writer.join();
    if out.status.code() == Some(77) {
        return None;
    }
    Some(out.stdout)
}

#[test]
fn golden_transcripts_reproduced() {
    let Some(fixtures) = shared_fixtures() else {
        skip("../shared/fixtures/sendmail-cf is missing");
        return;
    };
    if !Path::new("/opt/ref/sendmail-etc/service.switch").exists()
        || !Path::new("/opt/ref/maps/sendmail/access.db").exists()
    {
        skip(
            "the fixtures' settings and maps under /opt/ref (../shared/tools/install-sendmail-ref)",
        );
        return;
    }
    let mut compared = 0;
    let mut entries: Vec<_> = std::fs::read_dir(fixtures.join("bt"))
        .expect("bt directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "in"))
        .collect();
    entries.sort();
    for input in entries {
        let name = input.file_stem().unwrap().to_string_lossy().into_owned();
        let cf = fixtures.join(format!("{name}.cf"));
        let golden = std::fs::read(fixtures.join(format!("bt/{name}.out"))).expect("golden");
        let Some(ours) = mtad_bt(&cf, &std::fs::read(&input).expect("input")) else {
            skip("tests/tools/mtad-bt needs root for its namespace");
            return;
        };
        if ours != golden {
            let o = String::from_utf8_lossy(&ours);
            let g = String::from_utf8_lossy(&golden);
            let (n, (a, b)) = o
                .lines()
                .zip(g.lines())
                .enumerate()
                .find(|(_, (a, b))| a != b)
                .unwrap_or((o.lines().count().min(g.lines().count()), ("<end>", "<end>")));
            panic!(
                "{name}: mtad -bt differs from sendmail at line {}:\n  mtad:     {a}\n  sendmail: {b}\n({} lines against {})",
                n + 1,
                o.lines().count(),
                g.lines().count()
            );
        }
        compared += 1;
    }
    assert!(compared >= 7, "only {compared} golden transcripts found");
}
