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

/// The daemon's end of the socket to a running agent. Requests from any
/// task go to one pump thread, which sends every request waiting as one
/// pipelined batch and hands each reply back to its caller.
pub struct Agent {
    tx: Mutex<std::sync::mpsc::Sender<Call>>,
    pub pid: u32,
}

type Call = (Request, tokio::sync::oneshot::Sender<Reply>);

/// The most requests sent before their replies are read.
const MAX_PIPELINE: usize = 256;

impl Agent {
    /// Starts the agent: this same program with `--delivery-agent` and the
    /// config arguments this process was given (`-C`, `-O`), so that it
    /// reads the same config. Called while still root. A detaching
    /// daemon (`-bd`) leaves its terminal, and so does the agent: its
    /// stderr is then /dev/null, or whoever waits for the terminal's
    /// output to end would wait for the agent too.
    pub fn spawn(detach: bool) -> Result<Agent, String> {
        let (ours, theirs) =
            UnixStream::pair().map_err(|e| format!("delivery agent socket: {e}"))?;
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
        let child = std::process::Command::new(exe)
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
        let (tx, rx) = std::sync::mpsc::channel::<Call>();
        std::thread::Builder::new()
            .name("agent-pump".into())
            .spawn(move || pump(ours, rx))
            .map_err(|e| format!("delivery agent: {e}"))?;
        Ok(Agent {
            tx: Mutex::new(tx),
            pid: child.id(),
        })
    }

    /// Queues a request; the reply comes on the receiver. A broken agent
    /// answers with a temporary failure: the mail stays queued.
    pub fn submit(&self, request: Request) -> tokio::sync::oneshot::Receiver<Reply> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let tx = match self.tx.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Err(std::sync::mpsc::SendError((_, reply))) = tx.send((request, reply)) {
            let _ = reply.send(Reply::Retry(
                "451 4.3.0 delivery agent: it has stopped".into(),
            ));
        }
        rx
    }
}

/// Sends the waiting requests, reads their replies in order, answers the
/// callers. After an error the connection's state is unknown: every later
/// request fails (temporarily) with that error.
fn pump(mut conn: UnixStream, rx: std::sync::mpsc::Receiver<Call>) {
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
            let _ = reply.send(answer);
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
