//! mtactl finds the daemon's socket, speaks the control protocol, and says
//! clearly (with its own exit status) when the daemon is not there.

use mtactl::protocol::{self, Request, Response, Status};
use mtad_e2e::{bin, text};
use std::io::BufReader;
use std::os::unix::net::UnixListener;
use std::process::Command;

fn mtactl(args: &[&str]) -> std::process::Output {
    Command::new(bin("mtactl")).args(args).output().unwrap()
}

#[test]
fn not_running_is_exit_3_naming_the_socket_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("mtad.sock");
    let cf = dir.path().join("t.cf");
    std::fs::write(
        &cf,
        format!(
            "V10\nO ControlSocketName={}\nMlocal, P=/bin/cat, A=cat\n",
            sock.display()
        ),
    )
    .unwrap();
    let out = mtactl(&["-C", cf.to_str().unwrap(), "status"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("mtad is not running"), "{stderr}");
    assert!(stderr.contains(sock.to_str().unwrap()), "{stderr}");
}

#[test]
fn an_unreadable_config_is_exit_6() {
    let out = mtactl(&["-C", "/nonexistent/sendmail.cf", "status"]);
    assert_eq!(out.status.code(), Some(6));
    assert!(
        text(&out)
            .1
            .contains("cannot read /nonexistent/sendmail.cf")
    );
}

#[test]
fn status_over_a_real_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("ctl.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(&stream);
        let mut writer = &stream;
        let hello: Request = protocol::read_message(&mut reader).unwrap();
        assert_eq!(
            hello,
            Request::Hello {
                version: protocol::VERSION
            }
        );
        protocol::write_message(
            &mut writer,
            &Response::Hello {
                version: protocol::VERSION,
            },
        )
        .unwrap();
        let req: Request = protocol::read_message(&mut reader).unwrap();
        assert_eq!(req, Request::Status);
        let status = Status {
            pid: 4242,
            version: "0.1.0".into(),
            uptime_secs: 61,
            listeners: vec!["127.0.0.1:2525".into()],
            config_file: "/etc/mail/sendmail.cf".into(),
            config_loaded_at: 1_700_000_000,
        };
        protocol::write_message(&mut writer, &Response::Status(status)).unwrap();
    });
    let out = mtactl(&["-S", sock.to_str().unwrap(), "status"]);
    server.join().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("pid:        4242"), "{stdout}");
    assert!(stdout.contains("listening:  127.0.0.1:2525"), "{stdout}");
}
