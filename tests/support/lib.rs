//! What the end-to-end tests share: where the workspace is, the real
//! binaries, and the sendmail.cf files generated with sendmail's own m4.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The root of the workspace (this package lives in `tests/`).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The target directory cargo builds into (`target/debug` or the like),
/// found from this test binary's own path: target/<profile>/deps/test-x.
fn target_profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// The path of a real binary of the workspace (`mtad`, `mtactl`), built
/// once per test run so that `cargo test` alone always tests current code.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = target_profile_dir();
        let release = dir.file_name().is_some_and(|n| n == "release");
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.current_dir(workspace())
            .args(["build", "--quiet", "-p", "mtad", "-p", "mtactl"]);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "cargo build of the binaries failed");
    });
    let path = target_profile_dir().join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// Runs `mtad` with arguments; returns its output.
pub fn mtad(args: &[&str]) -> Output {
    Command::new(bin("mtad"))
        .args(args)
        .output()
        .expect("run mtad")
}

/// Where sendmail's m4 macro set is unpacked for the tests.
fn m4_dir() -> PathBuf {
    target_profile_dir()
        .parent()
        .expect("target dir")
        .join("test-deps/sendmail-m4")
}

/// The .mc files the tests generate configs from.
pub fn mc_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(workspace().join("tests/mc"))
        .expect("tests/mc")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "mc"))
        .collect();
    files.sort();
    files
}

/// Generates a real sendmail.cf from every tests/mc/*.mc with sendmail's
/// own m4 macros (Debian's sendmail-cf package, unpacked, never installed),
/// once per test binary. Returns the .cf paths.
pub fn generated_configs() -> &'static [PathBuf] {
    static CONFIGS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let tools = workspace().join("tests/tools");
        let m4 = m4_dir();
        let status = Command::new(tools.join("fetch-sendmail-m4"))
            .arg(&m4)
            .status()
            .expect("run fetch-sendmail-m4");
        assert!(status.success(), "fetch-sendmail-m4 failed");
        let out = target_profile_dir()
            .parent()
            .expect("target dir")
            .join("test-configs");
        std::fs::create_dir_all(&out).expect("create the config directory");
        let mcs = mc_files();
        let status = Command::new(tools.join("gen-cf"))
            .env("GEN_CF_QUIET", "1")
            .arg(&m4)
            .arg(&out)
            .args(&mcs)
            .status()
            .expect("run gen-cf");
        assert!(status.success(), "gen-cf failed");
        mcs.iter()
            .map(|mc| {
                let cf = out.join(mc.file_stem().expect("name")).with_extension("cf");
                assert!(cf.exists(), "{} was not generated", cf.display());
                cf
            })
            .collect()
    })
}

/// The config generated from tests/mc/NAME.mc.
pub fn generated(name: &str) -> PathBuf {
    generated_configs()
        .iter()
        .find(|p| p.file_stem().is_some_and(|s| s == name))
        .unwrap_or_else(|| panic!("no generated config {name}"))
        .clone()
}

/// ../shared/fixtures/sendmail-cf, where the team's shared fixtures are;
/// `None` on a machine without them.
pub fn shared_fixtures() -> Option<PathBuf> {
    let dir = workspace().join("../shared/fixtures/sendmail-cf");
    dir.is_dir().then_some(dir)
}

/// Loads a config with the library, as mtad does, panicking with every
/// diagnostic if it does not load.
pub fn load(path: &Path) -> cfparser::Loaded {
    match cfparser::load_file(path, &cfparser::LoadOptions::default()) {
        Ok(l) => l,
        Err(e) => panic!("{} did not load:\n{e}", path.display()),
    }
}

/// stdout and stderr of an output, as text.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
