//! systemd: readiness notification (Type=notify) and socket activation.
//!
//! Both are a few lines of protocol, written here rather than with a
//! crate: `sd_notify` is one datagram of `KEY=VALUE` lines to
//! $NOTIFY_SOCKET (a path, or `@name` in the abstract namespace), and
//! socket activation hands the listening sockets over as file descriptors
//! 3, 4, … with LISTEN_FDS (how many), LISTEN_PID (for whom) and
//! LISTEN_FDNAMES (their names, which become the listeners' Name=).

use std::net::TcpListener;
use std::os::fd::FromRawFd;

/// Sends `state` (`READY=1`, `RELOADING=1`, `STOPPING=1`, …) to the
/// service manager, if there is one. Failures are ignored: without
/// systemd there is nobody to tell.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    let bytes = path.as_encoded_bytes();
    let sent = if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name)
            .and_then(|addr| sock.send_to_addr(state.as_bytes(), &addr))
    } else {
        sock.send_to(state.as_bytes(), &path)
    };
    if let Err(e) = sent {
        crate::log::warning(&format!("sd_notify {state}: {e}"));
    }
}

/// `RELOADING=1` must carry the monotonic clock (systemd 253+).
pub fn reloading() {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let usec = ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000;
    notify(&format!("RELOADING=1\nMONOTONIC_USEC={usec}"));
}

/// The listening sockets systemd passed, with their names; empty when
/// not socket-activated (or the variables are for another process). The
/// variables are removed, so that children (the delivery agents) do not
/// see them.
pub fn listeners() -> Result<Vec<(TcpListener, String)>, String> {
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    let count: usize = match std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        Some(n) if pid_ok => n,
        _ => return Ok(Vec::new()),
    };
    let names: Vec<String> = std::env::var("LISTEN_FDNAMES")
        .unwrap_or_default()
        .split(':')
        .map(String::from)
        .collect();
    // SAFETY: removing variables before any other thread exists (this runs
    // before the runtime and the writer thread are started).
    unsafe {
        std::env::remove_var("LISTEN_PID");
        std::env::remove_var("LISTEN_FDS");
        std::env::remove_var("LISTEN_FDNAMES");
    }
    let mut out = Vec::new();
    for i in 0..count {
        let fd = 3 + i as i32;
        let is_listening_tcp = nix::sys::socket::getsockopt(
            // SAFETY: systemd gave us this descriptor; it is borrowed only
            // for the check.
            &unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
            nix::sys::socket::sockopt::AcceptConn,
        )
        .unwrap_or(false);
        if !is_listening_tcp {
            return Err(format!(
                "socket activation: descriptor {fd} is not a listening socket"
            ));
        }
        // Not inherited by the agents.
        let _ = nix::fcntl::fcntl(
            // SAFETY: as above.
            unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        );
        // SAFETY: the descriptor is ours from here on.
        let listener = unsafe { TcpListener::from_raw_fd(fd) };
        // systemd hands over blocking sockets; the runtime needs them not.
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("socket activation: descriptor {fd}: {e}"))?;
        let name = names
            .get(i)
            .filter(|n| !n.is_empty() && *n != "unknown")
            .cloned()
            .unwrap_or_else(|| format!("Daemon{i}"));
        out.push((listener, name));
    }
    Ok(out)
}
