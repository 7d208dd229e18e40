//! The control socket (ControlSocketName, sendmail's own option; default
//! /run/mtad/mtad.sock) that `mtactl` talks to: one JSON request and one
//! JSON response per line (`mtactl::protocol`).
//!
//! The socket is mode 0666: who may do what is decided from the peer's
//! credentials (SO_PEERCRED), not from file modes. Root and the user mtad
//! runs as may do everything; any other local user may only list the
//! queue, and not even that when PrivacyOptions has restrictmailq (as
//! sendmail's mailq).

use crate::server::Shared;
use mtactl::protocol::{self, ErrorCode, QueueAction, Request, Response, Status};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// The socket's path from the config.
pub fn socket_path(config: &cfparser::Config) -> PathBuf {
    config
        .text("ControlSocketName")
        .filter(|s| !s.is_empty())
        .map_or_else(|| PathBuf::from(protocol::DEFAULT_SOCKET), PathBuf::from)
}

/// Binds the control socket (while still root: /run/mtad may need it). A
/// socket file left by an mtad that is gone is replaced; one that answers
/// belongs to a running mtad, and then this one refuses to start. The
/// directory and socket are given to the run user, so that it can remove
/// and bind them again.
pub fn bind(
    path: &Path,
    owner: Option<(nix::unistd::Uid, nix::unistd::Gid)>,
) -> Result<std::os::unix::net::UnixListener, String> {
    let shown = path.display();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::create_dir_all(dir).map_err(|e| format!("ControlSocketName {shown}: {e}"))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("ControlSocketName {shown}: {e}"))?;
        if let Some((uid, gid)) = owner {
            nix::unistd::chown(dir, Some(uid), Some(gid))
                .map_err(|e| format!("ControlSocketName {shown}: {e}"))?;
        }
    }
    if std::fs::symlink_metadata(path).is_ok() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(format!(
                "ControlSocketName {shown}: another mtad answers there; is one running already?"
            ));
        }
        std::fs::remove_file(path).map_err(|e| format!("ControlSocketName {shown}: {e}"))?;
    }
    let listener = std::os::unix::net::UnixListener::bind(path)
        .map_err(|e| format!("ControlSocketName {shown}: {e}"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
        .map_err(|e| format!("ControlSocketName {shown}: {e}"))?;
    if let Some((uid, gid)) = owner {
        nix::unistd::chown(path, Some(uid), Some(gid))
            .map_err(|e| format!("ControlSocketName {shown}: {e}"))?;
    }
    Ok(listener)
}

/// Serves the socket until the process ends.
pub async fn serve(listener: std::os::unix::net::UnixListener, live: Arc<crate::live::Live>) {
    if let Err(e) = listener.set_nonblocking(true) {
        crate::log::info(9, &format!("control socket: {e}"));
        return;
    }
    let listener = match tokio::net::UnixListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            crate::log::info(9, &format!("control socket: {e}"));
            return;
        }
    };
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let live = live.clone();
        tokio::spawn(async move {
            let uid = match stream.peer_cred() {
                Ok(c) => c.uid(),
                Err(_) => return,
            };
            let _ = session(stream, uid, live).await;
        });
    }
}

/// What a peer may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rights {
    All,
    ListQueue,
    Nothing,
}

fn rights(uid: u32, shared: &Shared) -> Rights {
    if uid == 0 || uid == nix::unistd::geteuid().as_raw() {
        Rights::All
    } else if shared.settings.privacy.has("restrictmailq") {
        Rights::Nothing
    } else {
        Rights::ListQueue
    }
}

async fn session(
    stream: tokio::net::UnixStream,
    uid: u32,
    live: Arc<crate::live::Live>,
) -> std::io::Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    loop {
        let mut line = Vec::new();
        let n = (&mut rd)
            .take(protocol::MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(());
        }
        let response = if n > protocol::MAX_LINE {
            error(ErrorCode::BadRequest, "request too long")
        } else {
            match serde_json::from_slice::<Request>(&line) {
                Ok(req) => answer(req, uid, &live).await,
                Err(e) => error(ErrorCode::BadRequest, &format!("bad request: {e}")),
            }
        };
        let mut out = serde_json::to_vec(&response).map_err(std::io::Error::other)?;
        out.push(b'\n');
        wr.write_all(&out).await?;
        if n > protocol::MAX_LINE {
            return Ok(());
        }
    }
}

fn error(code: ErrorCode, message: &str) -> Response {
    Response::Error {
        code,
        message: message.to_string(),
    }
}

async fn answer(req: Request, uid: u32, live: &Arc<crate::live::Live>) -> Response {
    let shared = &live.current();
    let rights = rights(uid, shared);
    let allowed = match &req {
        Request::Hello { .. } => true,
        Request::Queue => rights != Rights::Nothing,
        _ => rights == Rights::All,
    };
    if !allowed {
        return error(
            ErrorCode::PermissionDenied,
            &format!(
                "permission denied: uid {uid} may {}",
                if rights == Rights::ListQueue {
                    "only list the queue (mtactl queue)"
                } else {
                    "not use mtad's control socket (PrivacyOptions restrictmailq)"
                }
            ),
        );
    }
    match req {
        Request::Hello { version } if version == protocol::VERSION => Response::Hello {
            version: protocol::VERSION,
        },
        Request::Hello { version } => error(
            ErrorCode::BadVersion,
            &format!(
                "mtactl speaks protocol {version}, this mtad speaks {}",
                protocol::VERSION
            ),
        ),
        Request::Status => Response::Status(Status {
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            uptime_secs: shared.started.elapsed().as_secs(),
            listeners: shared.listeners.clone(),
            config_file: shared.config_file.display().to_string(),
            config_loaded_at: shared.loaded_at as u64,
        }),
        Request::Queue => {
            let delivering = shared
                .delivering
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            match with_db(shared, |db| db.list()).await {
                Ok(mut entries) => {
                    for e in &mut entries {
                        if delivering.contains(&e.queue_id) && e.queue_name != "hold" {
                            e.queue_name = "active".into();
                        }
                    }
                    Response::Queue {
                        directory: shared.settings.queue_dir.display().to_string(),
                        entries,
                    }
                }
                Err(e) => error(ErrorCode::Failed, &e),
            }
        }
        Request::QueueShow { id, body } => {
            let key = id.clone();
            match with_db(shared, move |db| db.show(&key, body)).await {
                Ok(Some(mut detail)) => {
                    let delivering = shared.delivering.lock().unwrap_or_else(|p| p.into_inner());
                    if delivering.contains(&detail.entry.queue_id)
                        && detail.entry.queue_name != "hold"
                    {
                        detail.entry.queue_name = "active".into();
                    }
                    drop(delivering);
                    Response::Message(Box::new(detail))
                }
                Ok(None) => error(
                    ErrorCode::NotFound,
                    &format!("no message {id} in the queue"),
                ),
                Err(e) => error(ErrorCode::Failed, &e),
            }
        }
        Request::Stats { reset } => {
            if reset {
                shared.stats.reset();
            }
            let (since, mailers, cin, cout, crej) = shared.stats.snapshot();
            let delivering = shared
                .delivering
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let entries = with_db(shared, |db| db.list()).await.unwrap_or_default();
            let mut queue: Vec<(String, u64)> = ["incoming", "active", "deferred", "hold"]
                .iter()
                .map(|s| (s.to_string(), 0))
                .collect();
            for e in &entries {
                let state = if delivering.contains(&e.queue_id) && e.queue_name != "hold" {
                    "active"
                } else {
                    e.queue_name.as_str()
                };
                if let Some(slot) = queue.iter_mut().find(|(n, _)| n == state) {
                    slot.1 += 1;
                }
            }
            let (rules_nanos, rules_messages) = shared.stats.rules_nanos();
            Response::Stats(protocol::StatsReport {
                rules_nanos,
                rules_messages,
                since,
                mailers,
                connections_in: cin,
                connections_out: cout,
                connections_rejected: crej,
                queue,
                sessions: live.sessions.load(std::sync::atomic::Ordering::SeqCst) as u64,
                uptime_secs: shared.started.elapsed().as_secs(),
            })
        }
        Request::Hosts => {
            let dir = shared.settings.queue_dir.clone();
            let rows = tokio::task::spawn_blocking(move || crate::queue::store::hosts(&dir)).await;
            match rows {
                Ok(Ok(rows)) => Response::Hosts {
                    hosts: rows
                        .into_iter()
                        .map(|r| protocol::HostEntry {
                            name: r.name,
                            addr: r.addr,
                            last: r.last,
                            ok: r.ok,
                            status: r.status,
                        })
                        .collect(),
                },
                Ok(Err(e)) => error(ErrorCode::Failed, &e.to_string()),
                Err(e) => error(ErrorCode::Failed, &e.to_string()),
            }
        }
        Request::Reload => {
            let l = live.clone();
            crate::systemd::reloading();
            let result = tokio::task::spawn_blocking(move || l.reload()).await;
            crate::systemd::notify("READY=1");
            match result {
                Ok(Ok(r)) => {
                    let text = describe_reload(&r);
                    crate::log::info(9, &format!("reload: {}", text.replace('\n', "; ")));
                    Response::Reloaded { report: text }
                }
                Ok(Err(errors)) => {
                    crate::log::error(&format!(
                        "reload refused; the old config stays in force:\n{errors}"
                    ));
                    error(
                        ErrorCode::ConfigError,
                        &format!("the config does not load; the old one stays in force:\n{errors}"),
                    )
                }
                Err(e) => error(ErrorCode::Failed, &e.to_string()),
            }
        }
        Request::QueueAction {
            action,
            ids,
            domain,
            all,
        } => {
            let result = with_db(shared, move |db| {
                db.act(action, &ids, domain.as_deref(), all)
            })
            .await;
            match result {
                Ok((count, missing)) => {
                    if matches!(action, QueueAction::Flush | QueueAction::Release) && count > 0 {
                        shared.wake.notify_one();
                    }
                    Response::Done { count, missing }
                }
                Err(e) => error(ErrorCode::Failed, &e),
            }
        }
    }
}

/// Runs `f` on the runner's queue connection, off the async threads.
async fn with_db<T: Send + 'static>(
    shared: &Arc<Shared>,
    f: impl FnOnce(&mut crate::queue::work::WorkDb) -> Result<T, crate::queue::store::QueueError>
    + Send
    + 'static,
) -> Result<T, String> {
    let Some(work) = shared.work.clone() else {
        return Err("the queue is not open".into());
    };
    tokio::task::spawn_blocking(move || {
        let mut db = work.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut db).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// A reload's report, a line each: what changed, what needs a restart.
pub fn describe_reload(r: &crate::live::Reloaded) -> String {
    let mut lines = Vec::new();
    if r.changed.is_empty() && r.needs_restart.is_empty() {
        lines.push("reloaded; nothing changed".to_string());
    } else {
        lines.push("reloaded".to_string());
    }
    for c in &r.changed {
        lines.push(format!("changed: {c}"));
    }
    for c in &r.needs_restart {
        lines.push(format!("needs a restart: {c}"));
    }
    lines.join("\n")
}
