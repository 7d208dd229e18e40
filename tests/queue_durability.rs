//! Nothing acknowledged is ever lost: several senders in parallel, the
//! daemon killed with SIGKILL in the middle, restarted on the same queue,
//! and every queue ID that got a 250 is still there.

use mtad_e2e::{Client, Daemon, expect};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn kill_9_under_load_loses_no_acknowledged_message() {
    let mut d = Daemon::start(&[]);
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let port = d.port;
    let stop_at = Instant::now() + Duration::from_millis(1500);
    let senders: Vec<_> = (0..6)
        .map(|n| {
            let acked = acked.clone();
            std::thread::spawn(move || {
                // Send until the daemon goes away; keep every ID it gave.
                let mut c = Client::connect(port);
                if !c.reply().starts_with("220") {
                    return;
                }
                c.cmd("EHLO load.example");
                let mut i = 0;
                while Instant::now() < stop_at + Duration::from_secs(5) {
                    if !c
                        .cmd(&format!("MAIL FROM:<load{n}@example.org>"))
                        .starts_with("250")
                    {
                        return;
                    }
                    if !c.cmd("RCPT TO:<root@localhost>").starts_with("250") {
                        return;
                    }
                    if !c.cmd("DATA").starts_with("354") {
                        return;
                    }
                    let body = format!("{}\r\n", "x".repeat(76)).repeat(50);
                    let r = c.cmd(&format!("Subject: load {n} {i}\r\n\r\n{body}."));
                    if !r.starts_with("250 2.0.0 ") {
                        return;
                    }
                    let id = r.split(' ').nth(2).unwrap().to_string();
                    acked.lock().unwrap().push(id);
                    i += 1;
                }
            })
        })
        .collect();
    while Instant::now() < stop_at {
        std::thread::sleep(Duration::from_millis(20));
    }
    d.kill9();
    for s in senders {
        let _ = s.join();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 20,
        "too little load to prove anything: {}",
        acked.len()
    );
    // The listing reads the queue as it is after the crash.
    let q = d.mailq();
    for id in &acked {
        assert!(
            q.contains(id.as_str()),
            "acknowledged {id} is missing after kill -9"
        );
    }
    // And a new daemon on the same queue starts and takes mail.
    let d2 = d.restart();
    let mut c = Client::connect(d2.port);
    expect!(c.reply(), "220");
    expect!(c.cmd("EHLO after.example"), "250");
    let q = d2.mailq();
    for id in &acked {
        assert!(q.contains(id.as_str()), "{id} is missing after the restart");
    }
    eprintln!(
        "{} acknowledged messages, all queued after kill -9 and restart",
        acked.len()
    );
}
