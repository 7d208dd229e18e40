//! Map classes through the engine's own lookup path (flags, `%n`, `-a`,
//! `-T`, statuses), on K lines of a real config text.

use rules::env::{Collect, Env, Macros, NoResolver};
use std::io::{Read, Write};
use std::path::Path;

fn engine(cf: &str) -> rules::Engine {
    let text = format!("V10/Berkeley\nMlocal, P=/bin/cat, F=l, A=cat\n{cf}\nS0\nR$*\t$@ $1\n");
    let loaded = cfparser::load_bytes(Path::new("test.cf"), text.into_bytes(), &Default::default())
        .expect("config loads");
    rules::Engine::new(&loaded.config).0
}

fn lookup(e: &rules::Engine, map: &str, key: &str, args: &[&str]) -> (Option<String>, i32) {
    let mut macros = Macros::default();
    let mut out = Collect::default();
    let mut env = Env::new(&mut macros, &mut out, &NoResolver);
    let i = e.maps.find(map.as_bytes()).expect("map declared");
    let mut k = key.as_bytes().to_vec();
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    let (v, st) = e.maps.lookup(i, &mut k, &a, &mut env);
    (v.map(|v| String::from_utf8_lossy(&v).into_owned()), st)
}

#[test]
fn text_maps_columns_and_case() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t");
    std::fs::write(
        &f,
        "# comment\nAlice alice@example.org x\nbob:bob@example.org\n",
    )
    .unwrap();
    let e = engine(&format!(
        "Kt text -v1 {0}\nKk text {0}\nKc text -z: -v1 {0}",
        f.display()
    ));
    assert_eq!(
        lookup(&e, "t", "ALICE", &[]),
        (Some("alice@example.org".into()), 0)
    );
    // Without -v a text map returns the key column, as sendmail's does.
    assert_eq!(lookup(&e, "k", "alice", &[]), (Some("Alice".into()), 0));
    assert_eq!(
        lookup(&e, "c", "bob", &[]),
        (Some("bob@example.org".into()), 0)
    );
    assert_eq!(lookup(&e, "t", "nobody", &[]), (None, 0));
}

#[test]
fn computed_classes() {
    let e = engine("Karith arith\nKdequote dequote\nKarpa arpa\nKnull null\nKmac macro");
    assert_eq!(
        lookup(&e, "arith", "+", &["2", "40"]).0.as_deref(),
        Some("42")
    );
    assert_eq!(
        lookup(&e, "arith", "l", &["2", "40"]).0.as_deref(),
        Some("TRUE")
    );
    assert_eq!(lookup(&e, "arith", "/", &["2", "0"]).0, None);
    assert_eq!(
        lookup(&e, "dequote", "\"a.b\"", &[]).0.as_deref(),
        Some("a.b")
    );
    assert_eq!(lookup(&e, "dequote", "plain", &[]).0, None);
    assert_eq!(lookup(&e, "dequote", "\"a b\"", &[]).0, None);
    assert_eq!(
        lookup(&e, "arpa", "192.0.2.1", &[]).0.as_deref(),
        Some("1.2.0.192")
    );
    assert_eq!(lookup(&e, "null", "x", &[]).0, None);
    assert_eq!(lookup(&e, "mac", "{x}", &["v"]).0.as_deref(), Some(""));
}

#[test]
fn regex_with_substrings_and_append() {
    let e = engine("Kre regex -s1 -a.FOUND ^([a-z]+)@example\\.org$\nKneg regex -n ^x");
    assert_eq!(
        lookup(&e, "re", "Bob@Example.ORG", &[]).0.as_deref(),
        Some("Bob.FOUND")
    );
    assert_eq!(lookup(&e, "re", "bob@other", &[]).0, None);
    assert_eq!(lookup(&e, "neg", "abc", &[]).0.as_deref(), Some(""));
    assert_eq!(lookup(&e, "neg", "xyz", &[]).0, None);
}

#[test]
fn sequence_and_values_with_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    std::fs::write(&a, "one first:%1\n").unwrap();
    std::fs::write(&b, "two second%%\n").unwrap();
    let e = engine(&format!(
        "Ka text -v1 {}\nKb text -v1 {}\nKseq sequence a b",
        a.display(),
        b.display()
    ));
    assert_eq!(
        lookup(&e, "seq", "one", &["arg"]).0.as_deref(),
        Some("first:arg")
    );
    assert_eq!(lookup(&e, "seq", "two", &[]).0.as_deref(), Some("second%"));
    assert_eq!(lookup(&e, "seq", "three", &[]), (None, 0));
}

#[test]
fn missing_files_tempfail_unless_optional() {
    let e = engine(
        "Kgone hash /nonexistent/mtad-test/access\nKopt hash -o /nonexistent/mtad-test/x\nKtmp hash -T<TMP> /nonexistent/mtad-test/y\nKldap ldap -k uid=%0",
    );
    assert_eq!(lookup(&e, "gone", "x", &[]), (None, 75));
    assert_eq!(lookup(&e, "opt", "x", &[]), (None, 0));
    assert_eq!(lookup(&e, "tmp", "key", &[]), (Some("key<TMP>".into()), 75));
    // A class mtad does not have fails temporarily, never as "not found".
    assert_eq!(lookup(&e, "ldap", "x", &[]), (None, 75));
}

#[test]
fn program_maps_run_without_a_shell() {
    let e = engine("Kp program /bin/echo found:");
    assert_eq!(
        lookup(&e, "p", "a;b $(x)", &[]).0.as_deref(),
        Some("found: a;b $(x)")
    );
}

#[test]
fn socket_maps_speak_netstrings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 256];
            let n = s.read(&mut buf).unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            let reply = if req.contains("known") {
                "8:OK value,"
            } else {
                "8:NOTFOUND,"
            };
            s.write_all(reply.as_bytes()).unwrap();
        }
    });
    let e = engine(&format!("Ks socket unix:{}", path.display()));
    assert_eq!(lookup(&e, "s", "known", &[]).0.as_deref(), Some("value"));
    assert_eq!(lookup(&e, "s", "other", &[]).0, None);
    server.join().unwrap();
}

#[test]
fn hash_maps_read_what_makemap_wrote() {
    let db = Path::new("/opt/ref/maps/sendmail/access.db");
    if !db.exists() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true and the reference maps under /opt/ref are missing");
        }
        eprintln!("SKIPPED: /opt/ref/maps/sendmail (../shared/tools/install-sendmail-ref)");
        return;
    }
    let e = engine("Kaccess hash -T<TMPF> /opt/ref/maps/sendmail/access");
    assert_eq!(
        lookup(&e, "access", "Connect:127.0.0.1", &[]).0.as_deref(),
        Some("RELAY")
    );
    assert_eq!(lookup(&e, "access", "connect:192.0.2.254", &[]).0, None);
}
