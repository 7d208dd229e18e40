//! The delivery agent: the one process that keeps root, so that mailboxes
//! are written as their owners while the process that reads the network
//! never runs as root.
//!
//! The daemon starts it (a re-exec of mtad with `--delivery-agent`) before
//! it drops privileges and talks to it over a socketpair on the agent's
//! stdin. The agent takes only the typed requests below; where mail goes
//! (the spool directory) comes from its own reading of the config, never
//! from the request, and a user name must be a passwd entry. It exits when
//! the daemon closes the socket. (Postfix's local(8) plays this part.)

mod serve;
mod wire;

pub use serve::serve;

use std::os::unix::net::UnixStream;
use std::sync::Mutex;
use wire::Encoder;

/// What the daemon may ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Append to the mbox of a local user (a passwd name; `user+detail`
    /// is `user`, the detail going to the local mailer's program as $h).
    Mailbox { user: String, message: Message },
    /// Append to a file an alias or .forward names (`/path`), in mbox
    /// form, or deliver into a Maildir (`/path/`), as `user` (empty:
    /// DefaultUser, the agent's own reading of it; never root).
    File {
        path: String,
        user: String,
        message: Message,
    },
    /// Run a command an alias names (`|command`) through the config's
    /// prog mailer, as `user` (empty: DefaultUser), the message on stdin.
    /// `sender` and `recipient` reach it in the environment only.
    Program {
        command: String,
        user: String,
        sender: String,
        recipient: String,
        message: Message,
    },
    /// The text of a local user's .forward, where ForwardPath (the
    /// agent's own reading) says, if one is there and safe. `detail` is the
    /// `+detail` of the address, for `$h`.
    Forward { user: String, detail: String },
}

/// The message a request delivers, as the mbox writer takes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub sender: String,
    /// ctime(3) form of the arrival.
    pub date: String,
    pub prepend: Vec<u8>,
    pub headers: Vec<u8>,
    pub body: Vec<u8>,
}

impl Message {
    fn encode(&self, e: Encoder) -> Encoder {
        e.str(&self.sender)
            .str(&self.date)
            .bytes(&self.prepend)
            .bytes(&self.headers)
            .bytes(&self.body)
    }

    fn decode(d: &mut wire::Decoder) -> std::io::Result<Message> {
        Ok(Message {
            sender: d.str()?,
            date: d.str()?,
            prepend: d.bytes()?,
            headers: d.bytes()?,
            body: d.bytes()?,
        })
    }
}

/// The agent's answer, in the three kinds sysexits maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Delivered(String),
    /// EX_TEMPFAIL and friends: try again later.
    Retry(String),
    /// A permanent failure: the recipient bounces.
    Bounce(String),
    /// For [`Request::Forward`]: the file's path and text.
    Found(String, String),
    /// For [`Request::Forward`]: no usable .forward; why others were
    /// ignored, if any were.
    NotFound(String),
}

const MAILBOX: u8 = 1;
const FILE: u8 = 2;
const PROGRAM: u8 = 3;
const FORWARD: u8 = 4;
const FOUND: u8 = 4;
const NOT_FOUND: u8 = 5;
const DELIVERED: u8 = 1;
const RETRY: u8 = 2;
const BOUNCE: u8 = 3;

impl Request {
    fn encode(&self) -> Encoder {
        match self {
            Request::Mailbox { user, message } => {
                message.encode(Encoder::default().tag(MAILBOX).str(user))
            }
            Request::File {
                path,
                user,
                message,
            } => message.encode(Encoder::default().tag(FILE).str(path).str(user)),
            Request::Program {
                command,
                user,
                sender,
                recipient,
                message,
            } => message.encode(
                Encoder::default()
                    .tag(PROGRAM)
                    .str(command)
                    .str(user)
                    .str(sender)
                    .str(recipient),
            ),
            Request::Forward { user, detail } => {
                Encoder::default().tag(FORWARD).str(user).str(detail)
            }
        }
    }

    fn decode(mut d: wire::Decoder) -> std::io::Result<Request> {
        let r = match d.tag()? {
            MAILBOX => Request::Mailbox {
                user: d.str()?,
                message: Message::decode(&mut d)?,
            },
            FILE => Request::File {
                path: d.str()?,
                user: d.str()?,
                message: Message::decode(&mut d)?,
            },
            FORWARD => Request::Forward {
                user: d.str()?,
                detail: d.str()?,
            },
            PROGRAM => Request::Program {
                command: d.str()?,
                user: d.str()?,
                sender: d.str()?,
                recipient: d.str()?,
                message: Message::decode(&mut d)?,
            },
            t => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("unknown request {t}"),
                ));
            }
        };
        d.finish()?;
        Ok(r)
    }
}

impl Reply {
    fn encode(&self) -> Encoder {
        match self {
            Reply::Delivered(t) => Encoder::default().tag(DELIVERED).str(t),
            Reply::Retry(t) => Encoder::default().tag(RETRY).str(t),
            Reply::Bounce(t) => Encoder::default().tag(BOUNCE).str(t),
            Reply::Found(path, text) => Encoder::default().tag(FOUND).str(path).str(text),
            Reply::NotFound(t) => Encoder::default().tag(NOT_FOUND).str(t),
        }
    }

    fn decode(mut d: wire::Decoder) -> std::io::Result<Reply> {
        let tag = d.tag()?;
        let text = d.str()?;
        let reply = match tag {
            DELIVERED => Reply::Delivered(text),
            RETRY => Reply::Retry(text),
            BOUNCE => Reply::Bounce(text),
            FOUND => Reply::Found(text, d.str()?),
            NOT_FOUND => Reply::NotFound(text),
            t => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("unknown reply {t}"),
                ));
            }
        };
        d.finish()?;
        Ok(reply)
    }
}

/// The daemon's side of the delivery agents: one process for mailboxes,
/// files and .forward lookups (quick, batched per mailbox), and
/// [`PROGRAM_AGENTS`] for programs, so that a slow program holds up
/// neither mailboxes nor other programs. Requests from any task go to a
/// pump thread per agent, which sends every request waiting as one
/// pipelined batch and hands each reply back to its caller.
pub struct Agent {
    workers: Vec<Worker>,
    /// The local mailer's own program delivers mailboxes (see
    /// `serve::external_local`): they go to the program agents too.
    external_local: bool,
}

struct Worker {
    tx: Mutex<std::sync::mpsc::Sender<Call>>,
    pid: u32,
    /// Requests sent and not yet answered.
    busy: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// Agents that run programs, besides the one for mailboxes.
pub const PROGRAM_AGENTS: usize = 2;

type Call = (Request, tokio::sync::oneshot::Sender<Reply>);

/// The most requests sent before their replies are read.
const MAX_PIPELINE: usize = 256;

impl Agent {
    /// Starts the agents: this same program with `--delivery-agent` and
    /// the config arguments this process was given (`-C`, `-O`), so that
    /// they read the same config. Called while still root. A detaching
    /// daemon (`-bd`) leaves its terminal, and so do the agents: their
    /// stderr is then /dev/null, or whoever waits for the terminal's
    /// output to end would wait for them too.
    pub fn spawn(detach: bool, config: &cfparser::Config) -> Result<Agent, String> {
        let mut workers = Vec::new();
        for n in 0..=PROGRAM_AGENTS {
            workers.push(spawn_one(detach, n)?);
        }
        Ok(Agent {
            workers,
            external_local: serve::external_local(config).is_some(),
        })
    }

    /// The agents' pids, mailbox agent first.
    pub fn pids(&self) -> Vec<u32> {
        self.workers.iter().map(|w| w.pid).collect()
    }

    /// Queues a request; the reply comes on the receiver. A broken agent
    /// answers with a temporary failure: the mail stays queued.
    pub fn submit(&self, request: Request) -> tokio::sync::oneshot::Receiver<Reply> {
        use std::sync::atomic::Ordering;
        let runs_program = match &request {
            Request::Program { .. } => true,
            Request::Mailbox { .. } => self.external_local,
            Request::File { .. } | Request::Forward { .. } => false,
        };
        let worker = if runs_program && self.workers.len() > 1 {
            self.workers[1..]
                .iter()
                .min_by_key(|w| w.busy.load(Ordering::Relaxed))
                .unwrap_or(&self.workers[0])
        } else {
            &self.workers[0]
        };
        let (reply, rx) = tokio::sync::oneshot::channel();
        worker.busy.fetch_add(1, Ordering::Relaxed);
        let tx = match worker.tx.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Err(std::sync::mpsc::SendError((_, reply))) = tx.send((request, reply)) {
            worker.busy.fetch_sub(1, Ordering::Relaxed);
            let _ = reply.send(Reply::Retry(
                "451 4.3.0 delivery agent: it has stopped".into(),
            ));
        }
        rx
    }
}

fn spawn_one(detach: bool, n: usize) -> Result<Worker, String> {
    let (ours, theirs) = UnixStream::pair().map_err(|e| format!("delivery agent socket: {e}"))?;
    let exe = std::env::current_exe().map_err(|e| format!("delivery agent: {e}"))?;
    let mut args: Vec<String> = Vec::new();
    let mut given = std::env::args().skip(1);
    while let Some(a) = given.next() {
        match a.as_str() {
            "-b" => {
                given.next();
            }
            _ if a.starts_with("-b") => {}
            _ => args.push(a),
        }
    }
    use std::os::unix::process::CommandExt;
    let child = std::process::Command::new(exe)
        // Its own process group: a Ctrl-C at the terminal (SIGINT to the
        // foreground group) stops the daemon gracefully, which then ends
        // the agents, instead of killing them under it.
        .process_group(0)
        .arg("--delivery-agent")
        .args(&args)
        .stdin(std::process::Stdio::from(std::os::fd::OwnedFd::from(
            theirs,
        )))
        .stdout(std::process::Stdio::null())
        .stderr(if detach {
            std::process::Stdio::null()
        } else {
            std::process::Stdio::inherit()
        })
        .spawn()
        .map_err(|e| format!("cannot start the delivery agent: {e}"))?;
    let pid = child.id();
    let watched = ours
        .try_clone()
        .map_err(|e| format!("delivery agent socket: {e}"))?;
    std::thread::Builder::new()
        .name(format!("agent-watch-{n}"))
        .spawn(move || watch(watched, pid))
        .map_err(|e| format!("delivery agent: {e}"))?;
    let (tx, rx) = std::sync::mpsc::channel::<Call>();
    let busy = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = busy.clone();
    std::thread::Builder::new()
        .name(format!("agent-pump-{n}"))
        .spawn(move || pump(ours, rx, counter, pid))
        .map_err(|e| format!("delivery agent: {e}"))?;
    Ok(Worker {
        tx: Mutex::new(tx),
        pid,
        busy,
    })
}

/// Waits for the agent's end of the socket to close (the agent has died)
/// and then ends mtad, as [`pump`] explains; without this, a dead agent
/// would be noticed only at the next delivery.
fn watch(conn: UnixStream, pid: u32) {
    use std::os::fd::AsRawFd;
    loop {
        let mut fd = libc::pollfd {
            fd: conn.as_raw_fd(),
            events: libc::POLLRDHUP,
            revents: 0,
        };
        // SAFETY: one valid pollfd for an open descriptor this thread owns.
        let n = unsafe { libc::poll(&mut fd, 1, -1) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if fd.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0 {
            crate::log::info(
                9,
                &format!(
                    "the delivery agent (pid {pid}) has exited; exiting so that the supervisor restarts mtad (the queue keeps every message)"
                ),
            );
            std::process::exit(75);
        }
    }
}

/// Sends the waiting requests, reads their replies in order, answers the
/// callers.
///
/// An agent that has died cannot be started again: it runs as root, and
/// this process no longer is. So mtad exits (status 75, EX_TEMPFAIL) for
/// its supervisor (systemd's Restart=) to start it afresh: the queue is
/// durable, so what this costs is the SMTP sessions in progress, whose
/// clients retry, never a message.
fn pump(
    mut conn: UnixStream,
    rx: std::sync::mpsc::Receiver<Call>,
    busy: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    pid: u32,
) {
    let mut broken: Option<String> = None;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_PIPELINE {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        if broken.is_none() {
            for (req, _) in &batch {
                if let Err(e) = req.encode().send(&mut conn) {
                    broken = Some(e.to_string());
                    break;
                }
            }
        }
        for (_, reply) in batch {
            let answer = match &broken {
                Some(e) => Reply::Retry(format!("451 4.3.0 delivery agent: {e}")),
                None => match wire::receive(&mut conn).and_then(|frame| {
                    frame
                        .ok_or_else(|| std::io::Error::other("the delivery agent has exited"))
                        .and_then(Reply::decode)
                }) {
                    Ok(r) => r,
                    Err(e) => {
                        broken = Some(e.to_string());
                        Reply::Retry(format!("451 4.3.0 delivery agent: {e}"))
                    }
                },
            };
            busy.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            let _ = reply.send(answer);
        }
        if let Some(e) = &broken {
            crate::log::error(&format!(
                "the delivery agent (pid {pid}) has failed: {e}; exiting so that the supervisor restarts mtad (the queue keeps every message)"
            ));
            std::process::exit(75);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_round_trip() {
        let req = Request::Mailbox {
            user: "bob".into(),
            message: Message {
                sender: "".into(),
                date: "Thu Nov 26 12:17:08 2026".into(),
                prepend: b"Return-Path: <>\r\n".to_vec(),
                headers: b"Subject: x\r\n".to_vec(),
                body: vec![0, 255, b'\n'],
            },
        };
        let file = Request::File {
            path: "/var/log/copy".into(),
            user: "".into(),
            message: Message {
                sender: "a@b".into(),
                body: b"x".to_vec(),
                ..Message::default()
            },
        };
        let program = Request::Program {
            command: "/usr/bin/procmail -d bob".into(),
            user: "".into(),
            sender: "a@b".into(),
            recipient: "bob".into(),
            message: Message::default(),
        };
        let forward = Request::Forward {
            user: "bob".into(),
            detail: "lists".into(),
        };
        for req in [req, file, program, forward] {
            let mut buf = Vec::new();
            req.encode().send(&mut buf).unwrap();
            let back = Request::decode(wire::receive(&mut &buf[..]).unwrap().unwrap()).unwrap();
            assert_eq!(back, req);
        }
        for reply in [
            Reply::Delivered("250 ok".into()),
            Reply::Retry("451 later".into()),
            Reply::Bounce("550 no".into()),
            Reply::Found("/home/bob/.forward".into(), "bob@x\n".into()),
            Reply::NotFound("".into()),
        ] {
            let mut buf = Vec::new();
            reply.encode().send(&mut buf).unwrap();
            let back = Reply::decode(wire::receive(&mut &buf[..]).unwrap().unwrap()).unwrap();
            assert_eq!(back, reply);
        }
        let mut buf = Vec::new();
        Encoder::default().tag(99).send(&mut buf).unwrap();
        assert!(Request::decode(wire::receive(&mut &buf[..]).unwrap().unwrap()).is_err());
    }
}
