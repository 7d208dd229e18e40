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
        // The variables cargo sets for this test (CARGO_MANIFEST_DIR and
        // the like) must not reach the inner build: build scripts watch
        // some of them, and every test binary would rebuild the world.
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if (k.starts_with("CARGO_") && k != "CARGO_HOME" && k != "CARGO_TARGET_DIR")
                || k == "OUT_DIR"
            {
                cmd.env_remove(&key);
            }
        }
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

/// A test that cannot run on this machine: what it needs (a tool, root,
/// the shared fixtures, the reference sendmail) is missing. Under
/// `CI=true` that fails the test with `why`: tests/run installs or fetches
/// all of it there, and a test must never pass having checked nothing.
/// Elsewhere it says `SKIPPED: why` on stderr and the caller goes without
/// (returns, or leaves that part out).
#[track_caller]
pub fn skip(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true, and this test cannot run: {why}");
    }
    eprintln!("SKIPPED: {why}");
}

/// ../shared/fixtures/sendmail-cf (or `$SM_FIXTURES`, as for the shared
/// tools), where the team's shared fixtures are; `None` on a machine
/// without them.
pub fn shared_fixtures() -> Option<PathBuf> {
    let dir = std::env::var_os("SM_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("../shared/fixtures/sendmail-cf"));
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

/// Loads a config as `mtad -bt` does on the host sm-bt makes for the
/// real sendmail (mail.lab.example): R lines expand `$j`, `$w`, `$m` and
/// `${opMode}` when they are read, so a comparison with sendmail's `=S`
/// needs the same identity.
pub fn load_as_test_mode(path: &Path) -> cfparser::Loaded {
    let opts = cfparser::LoadOptions {
        predefined: rules::builtin::predefined_macros("mail.lab.example", "t"),
        ..cfparser::LoadOptions::default()
    };
    match cfparser::load_file(path, &opts) {
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

/// A free TCP port on 127.0.0.1 (bound and released; good enough for
/// tests that start a daemon right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running `mtad -bD` on the shipped development config, on its own port
/// and queue, ended (by its PID) when dropped.
pub struct Daemon {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: std::process::Child,
    config: PathBuf,
    extra: Vec<String>,
}

impl Daemon {
    /// Starts mtad on etc/sendmail-dev.cf with `extra` -O options (an
    /// item starting with `-`, such as `-q2s`, is passed as it is).
    pub fn start(extra: &[&str]) -> Daemon {
        Daemon::start_with(&workspace().join("etc/sendmail-dev.cf"), extra)
    }

    pub fn start_with(config: &Path, extra: &[&str]) -> Daemon {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        // Started as root, mtad runs as the config's user, which must reach
        // the queue under this directory.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        Daemon::spawn(config, extra, dir, &[])
    }

    /// As [`Daemon::start_with`], with environment variables for mtad
    /// (NOTIFY_SOCKET, for instance).
    pub fn start_env(config: &Path, extra: &[&str], env: &[(&str, String)]) -> Daemon {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        Daemon::spawn(config, extra, dir, env)
    }

    /// A new daemon on the same directory (and so the same queue), after
    /// this one was killed.
    pub fn restart(mut self) -> Daemon {
        self.kill9();
        let config = self.config.clone();
        let extra = self.extra.clone();
        // Move the directory out of this Daemon without deleting it.
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        let refs: Vec<&str> = extra.iter().map(String::as_str).collect();
        Daemon::spawn(&config, &refs, dir, &[])
    }

    fn spawn(
        config: &Path,
        extra: &[&str],
        dir: tempfile::TempDir,
        env: &[(&str, String)],
    ) -> Daemon {
        let port = free_port();
        let mut cmd = Command::new(bin("mtad"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.current_dir(dir.path())
            .arg("-C")
            .arg(config)
            .arg("-bD")
            .arg("-O")
            .arg(format!(
                "DaemonPortOptions=Name=MTA,Port={port},Addr=127.0.0.1"
            ))
            .arg("-O")
            .arg(format!("QueueDirectory={}/queue", dir.path().display()))
            .arg("-O")
            .arg(format!("PidFile={}/mtad.pid", dir.path().display()))
            .arg("-O")
            .arg(format!(
                "ControlSocketName={}/mtad.sock",
                dir.path().display()
            ))
            // Messages stay queued for the tests that look at the queue;
            // the delivery tests ask for DeliveryMode=background.
            .arg("-O")
            .arg("DeliveryMode=queueonly")
            // No DNS query may leave the machine: a closed loopback port
            // (answers at once, with ICMP) unless a test names its own
            // server.
            .arg("-O")
            .arg("Mtad.Nameservers=127.0.0.1:9")
            // The rules' host lookups ($[ $], the resolve map behind
            // check_mail) and the clients' names come from a hosts file:
            // the test domains exist, loopback is localhost, nothing else
            // does. A test that needs DNS names its own switch.
            .arg("-O")
            .arg(format!("HostsFile={}", test_hosts(dir.path()).display()))
            .arg("-O")
            .arg(format!(
                "ServiceSwitchFile={}",
                test_switch(dir.path()).display()
            ))
            // The log mirrored to stderr (the tests read it), and syslog
            // lines sent to a socket in the test's directory, never the
            // machine's /dev/log (a test that reads them binds it).
            .arg("-O")
            .arg("Mtad.LogStderr=True")
            .arg("-O")
            .arg(format!(
                "Mtad.SyslogSocket={}/syslog.sock",
                dir.path().display()
            ));
        // `-q2s` and the like are arguments; the rest are -O options.
        for o in extra {
            if o.starts_with('-') {
                cmd.arg(o);
            } else {
                cmd.arg("-O").arg(o);
            }
        }
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap());
        let child = cmd.spawn().expect("start mtad");
        let daemon = Daemon {
            port,
            dir,
            child,
            config: config.to_path_buf(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "mtad did not start listening: {}",
                daemon.stderr()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // The port answers from the moment it is bound, a little before
        // the control socket is made: wait for that too, unless the test
        // put the socket elsewhere (or turned it off).
        let socket = daemon.dir.path().join("mtad.sock");
        if !extra.iter().any(|o| o.starts_with("ControlSocketName=")) {
            // Connect, not only look: after a restart the old socket's
            // file is still there until the new daemon replaces it.
            while std::os::unix::net::UnixStream::connect(&socket).is_err()
                && daemon.child_running()
            {
                assert!(
                    std::time::Instant::now() < deadline,
                    "mtad made no control socket: {}",
                    daemon.stderr()
                );
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        daemon
    }

    /// Whether the daemon's process is still there (it may have exited on
    /// purpose, in a test of a refusal).
    fn child_running(&self) -> bool {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), None).is_ok()
            && !std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
                .is_ok_and(|s| s.split(' ').nth(2) == Some("Z"))
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `within` for the daemon to exit on its own; its status.
    pub fn wait_exit(&mut self, within: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Polls `f` until it holds; after 30 s fails the test, naming `what`
    /// and showing the daemon's log.
    pub fn wait_until(&self, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !f() {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}: {}",
                self.stderr()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Waits for the queue to be empty (everything delivered or bounced).
    pub fn wait_empty(&self) {
        self.wait_until("an empty queue", || self.mailq().contains("is empty"));
    }

    /// Where the daemon sends its syslog lines (nothing listens unless a
    /// test binds it).
    pub fn syslog_socket(&self) -> PathBuf {
        self.dir.path().join("syslog.sock")
    }

    /// The control socket, for mtactl -S.
    pub fn control_socket(&self) -> PathBuf {
        self.dir.path().join("mtad.sock")
    }

    pub fn queue_dir(&self) -> PathBuf {
        self.dir.path().join("queue")
    }

    /// Sends SIGKILL and waits: the crash case.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `mtad -bp` on this daemon's queue.
    pub fn mailq(&self) -> String {
        self.report("-bp")
    }

    /// `mtad -bh` on this daemon's queue: the host status.
    pub fn hoststat(&self) -> String {
        self.report("-bh")
    }

    fn report(&self, mode: &str) -> String {
        let out = Command::new(bin("mtad"))
            .arg("-C")
            .arg(workspace().join("etc/sendmail-dev.cf"))
            .arg("-O")
            .arg(format!("QueueDirectory={}", self.queue_dir().display()))
            .arg(mode)
            .output()
            .expect("mtad -b");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a python3 script with arguments (tests drive real clients and
/// parsers through it: smtplib, sqlite3, mailbox) and returns its stdout;
/// a failing script fails the test with its stderr.
pub fn python(script: &str, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python3 failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A raw SMTP client for dialog tests: send bytes, read replies.
pub struct Client {
    stream: std::net::TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        Client::connect_from(port, "127.0.0.1")
    }

    /// Connects from a given local address (127.0.0.2 is on loopback too,
    /// and may not relay).
    pub fn connect_from(port: u16, local: &str) -> Client {
        let local: std::net::IpAddr = local.parse().unwrap();
        let stream = if local == std::net::IpAddr::from([127, 0, 0, 1]) {
            std::net::TcpStream::connect(("127.0.0.1", port)).unwrap()
        } else {
            use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, SockaddrIn};
            use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
            let fd = socket::socket(
                AddressFamily::Inet,
                SockType::Stream,
                SockFlag::SOCK_CLOEXEC,
                None,
            )
            .unwrap();
            let std::net::IpAddr::V4(v4) = local else {
                panic!("IPv4 only")
            };
            socket::bind(
                fd.as_raw_fd(),
                &SockaddrIn::from(std::net::SocketAddrV4::new(v4, 0)),
            )
            .unwrap();
            socket::connect(
                fd.as_raw_fd(),
                &SockaddrIn::from(std::net::SocketAddrV4::new([127, 0, 0, 1].into(), port)),
            )
            .unwrap();
            unsafe { std::net::TcpStream::from_raw_fd(fd.into_raw_fd()) }
        };
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.stream.write_all(bytes).unwrap();
    }

    /// Reads one whole reply (all its lines); "" if the server closed.
    pub fn reply(&mut self) -> String {
        use std::io::Read;
        let mut text = String::new();
        loop {
            while let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                let line = String::from_utf8_lossy(&line).into_owned();
                text.push_str(&line);
                if line.len() < 4 || line.as_bytes()[3] != b'-' {
                    return text;
                }
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return text,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Sends a command line and returns the reply.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// True if the server has closed the connection.
    pub fn closed(&mut self) -> bool {
        use std::io::Read;
        let mut b = [0u8; 1];
        matches!(self.stream.read(&mut b), Ok(0))
    }
}

/// Asserts that a reply starts with `code` (e.g. "250 2.1.5").
#[macro_export]
macro_rules! expect {
    ($reply:expr, $code:expr) => {{
        let r: String = $reply;
        assert!(
            r.starts_with($code),
            "expected `{}`, got `{}`",
            $code,
            r.trim_end()
        );
        r
    }};
}

/// The hosts file a test daemon names hosts by (see [`Daemon::start`]):
/// loopback, and the domains the tests send from, each on its own line so
/// that each is its own canonical name.
pub fn test_hosts(dir: &Path) -> PathBuf {
    let path = dir.join("test-hosts");
    if !path.exists() {
        std::fs::write(
            &path,
            "127.0.0.1\tlocalhost\n\
             192.0.2.10\texample.org\n\
             192.0.2.11\texample.net\n\
             192.0.2.12\texample.com\n\
             192.0.2.13\tclient.example\n",
        )
        .expect("write the test hosts file");
    }
    path
}

/// A service switch with `hosts files`: names from [`test_hosts`] only,
/// so that a name is found or not, never "try again" (a test that needs
/// DNS for them names its own switch).
pub fn test_switch(dir: &Path) -> PathBuf {
    let path = dir.join("test-service.switch");
    if !path.exists() {
        std::fs::write(&path, "hosts files\n").expect("write the test service switch");
    }
    path
}

/// Builds the hash map `path.db` from `text` with the real makemap (the
/// reference sendmail's, which tests/run unpacks), as a site would. None
/// (said as a skip) when it is not there.
pub fn makemap(path: &Path, text: &str) -> Option<()> {
    use std::io::Write;
    let makemap = Path::new("/opt/ref/sendmail/usr/sbin/makemap");
    if !makemap.exists() {
        skip("the reference makemap (../shared/tools/install-sendmail-ref) is not installed");
        return None;
    }
    let mut child = Command::new(makemap)
        .args(["-C", "/dev/null", "hash"])
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("run makemap");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "makemap {} failed",
        path.display()
    );
    // The daemon reads it as its RunAsUser.
    use std::os::unix::fs::PermissionsExt;
    let db = PathBuf::from(format!("{}.db", path.display()));
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    Some(())
}

/// A sendmail.cf generated now, with sendmail's own m4, from .mc text a
/// test writes (for values only known at run time, such as a port).
pub fn config_from_mc(dir: &Path, name: &str, mc: &str) -> PathBuf {
    generated_configs(); // fetches the m4 macro set once
    let mc_path = dir.join(format!("{name}.mc"));
    std::fs::write(&mc_path, mc).expect("write the .mc");
    let status = Command::new(workspace().join("tests/tools/gen-cf"))
        .env("GEN_CF_QUIET", "1")
        .arg(m4_dir())
        .arg(dir)
        .arg(&mc_path)
        .status()
        .expect("run gen-cf");
    assert!(status.success(), "gen-cf failed on {}", mc_path.display());
    dir.join(format!("{name}.cf"))
}

/// A config made now with sendmail's m4, as a test site's .mc would have
/// it: OSTYPE linux, DefaultUser mail:mail, the test's `lines` (defines
/// and features, each ending in a newline), the local and smtp mailers.
pub fn site_config(dir: &Path, name: &str, lines: &str) -> PathBuf {
    let mc = format!(
        "divert(0)dnl\n\
         VERSIONID(`mtad test {name}.mc')\n\
         OSTYPE(`linux')dnl\n\
         define(`confDEF_USER_ID', `mail:mail')dnl\n\
         {lines}\
         MAILER(`local')dnl\n\
         MAILER(`smtp')dnl\n"
    );
    config_from_mc(dir, name, &mc)
}

/// The files a running peer keeps: it is ended (by PID) when dropped.
pub struct Peer {
    child: std::process::Child,
    pub port: u16,
    log: PathBuf,
}

impl Peer {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for_port(port: u16, what: &str, log: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not start: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Postfix's smtp-sink on a loopback port, dumping each transaction it
/// accepts into `dump_dir` (one file each, envelope as X- headers, then
/// the message). `args` adds smtp-sink options (`-r rcpt`: 4xx to RCPT,
/// `-f rcpt`: 5xx). Unpacked from Debian's postfix package by
/// tests/tools/fetch-smtp-sink, never installed.
pub fn smtp_sink(port: u16, dump_dir: &Path, args: &[&str]) -> Peer {
    use std::os::unix::fs::PermissionsExt;
    let root = target_profile_dir()
        .parent()
        .expect("target dir")
        .join("test-deps/postfix");
    let status = Command::new(workspace().join("tests/tools/fetch-smtp-sink"))
        .arg(&root)
        .status()
        .expect("run fetch-smtp-sink");
    assert!(status.success(), "fetch-smtp-sink failed");
    std::fs::create_dir_all(dump_dir).unwrap();
    // smtp-sink run as root becomes nobody (-u): it must write here.
    std::fs::set_permissions(dump_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let log = dump_dir.with_extension("log");
    let mut cmd = Command::new(root.join("usr/sbin/smtp-sink"));
    cmd.env("LD_LIBRARY_PATH", root.join("usr/lib/postfix"));
    if nix::unistd::geteuid().is_root() {
        cmd.args(["-u", "nobody"]);
    }
    let child = cmd
        .args(args)
        .arg("-d")
        .arg(format!("{}/%s.", dump_dir.display()))
        .arg(format!("127.0.0.1:{port}"))
        .arg("64")
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::options().append(true).open(&log).unwrap())
        .spawn()
        .expect("start smtp-sink");
    let peer = Peer { child, port, log };
    wait_for_port(port, "smtp-sink", &peer.log);
    peer
}

/// The dnsmasq binary (Debian's dnsmasq-base, which tests/run installs as
/// root), if there is one.
pub fn dnsmasq_binary() -> Option<PathBuf> {
    ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// dnsmasq answering on 127.0.0.1:`port` (UDP and TCP) for the names in
/// `records` only (dnsmasq options such as `--mx-host=...`), authoritative
/// for `local_zone` (other names there are NXDOMAIN) and forwarding
/// nothing: no query leaves the machine.
pub fn dnsmasq(dir: &Path, port: u16, local_zone: &str, records: &[String]) -> Peer {
    let bin = dnsmasq_binary().expect("dnsmasq (dnsmasq-base) is not installed");
    let log = dir.join("dnsmasq.log");
    let mut cmd = Command::new(bin);
    cmd.arg("--keep-in-foreground")
        .arg("--conf-file=/dev/null")
        .arg("--no-resolv")
        .arg("--no-hosts")
        .arg("--no-poll")
        .arg("--bind-interfaces")
        .arg("--listen-address=127.0.0.1")
        .arg(format!("--port={port}"))
        .arg("--pid-file=")
        .arg("--log-facility=-")
        .arg("--log-queries")
        .arg(format!("--local=/{local_zone}/"));
    if nix::unistd::geteuid().is_root() {
        cmd.arg("--user=nobody").arg("--group=nogroup");
    }
    let child = cmd
        .args(records)
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::options().append(true).open(&log).unwrap())
        .spawn()
        .expect("start dnsmasq");
    let peer = Peer { child, port, log };
    wait_for_port(port, "dnsmasq", &peer.log);
    peer
}

/// The DSNs in a mailbox, as Python's email package reads them, one line
/// each: the content type, report-type, From, then for each recipient
/// `Action|Status|Final-Recipient`, and the returned part's content type.
pub fn dsns(mbox: &Path) -> Vec<String> {
    python(
        "import mailbox, sys\n\
         for m in mailbox.mbox(sys.argv[1]):\n\
         \x20   if m.get_content_type() != 'multipart/report':\n\
         \x20       continue\n\
         \x20   parts = m.get_payload()\n\
         \x20   status = [p for p in parts if p.get_content_type() == 'message/delivery-status'][0]\n\
         \x20   blocks = status.get_payload()\n\
         \x20   rcpts = ['%s|%s|%s' % (b['Action'], b['Status'], b['Final-Recipient']) for b in blocks[1:]]\n\
         \x20   print(m.get_content_type(), m.get_param('report-type'), m['From'], ' '.join(rcpts), parts[2].get_content_type())\n",
        &[mbox.as_os_str()],
    )
    .lines()
    .map(String::from)
    .collect()
}

/// The local account test mail goes to: mtadtest1 as root (tests/run
/// creates it), else whoever runs the tests.
pub fn local_user() -> String {
    if let Ok(Some(u)) = nix::unistd::User::from_name("mtadtest1") {
        return u.name;
    }
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .unwrap()
        .expect("the current user has a passwd entry")
        .name
}

/// A self-signed certificate for `localhost` and its key, as PEM files in
/// `dir`: (certificate path, key path).
pub fn certificate(dir: &Path) -> (String, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (cert.display().to_string(), key.display().to_string())
}

/// One message through a fresh SMTP session (EHLO, MAIL, RCPT, DATA),
/// every reply checked; the queue ID the 250 named. `text` is the header
/// section, a blank line and the body, CRLF line ends (the last line's
/// too), without the final dot.
pub fn submit(port: u16, from: &str, rcpt: &str, text: &str) -> String {
    let mut c = Client::connect(port);
    expect!(c.reply(), "220");
    expect!(c.cmd("EHLO client.example"), "250");
    expect!(c.cmd(&format!("MAIL FROM:<{from}>")), "250");
    expect!(c.cmd(&format!("RCPT TO:<{rcpt}>")), "250");
    expect!(c.cmd("DATA"), "354");
    let r = expect!(c.cmd(&format!("{text}.")), "250 2.0.0");
    expect!(c.cmd("QUIT"), "221");
    r.split_whitespace().nth(2).unwrap_or_default().to_string()
}

/// Polls `f` until it holds; after 30 s fails the test, naming `what`.
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A temporary directory the daemon's user can reach (0755), with a mail
/// spool in it anyone may write (`mail`, 1777): (the directory, the spool).
pub fn dir_with_spool() -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let spool = dir.path().join("mail");
    std::fs::create_dir(&spool).unwrap();
    std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o1777)).unwrap();
    (dir, spool)
}
