//! The listeners and the accept loop: one socket per DaemonPortOptions
//! line, a cap on concurrent sessions (MaxDaemonChildren) and on new
//! connections per second (ConnectionRateThrottle), one task per session.

use crate::policy::Policy;
use crate::queue::Queue;
use crate::settings::Settings;
use crate::smtp::session::Session;
use cfparser::Config;
use cfparser::options::PortOptions;
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, SockaddrStorage, sockopt};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// What every session shares: the config and what was derived from it,
/// and the parts that outlive a config (carried over by
/// [`Shared::rebuild`] on reload).
pub struct Shared {
    pub config: Arc<Config>,
    pub settings: Settings,
    /// The config's rules, for the SMTP checks (decide/ runs them).
    pub rules: Arc<crate::decide::Rules>,
    pub policy: Policy,
    /// Where recipients go (delivery).
    pub router: crate::route::Router,
    /// Set when a certificate is configured: STARTTLS is offered.
    pub tls: Option<crate::tls::Tls>,
    pub queue: Queue,
    /// For verifying clients' names, in the service switch's order;
    /// `None` if no resolver could be set up (then every client is
    /// `[address]`).
    pub names: Option<crate::dns::HostNames>,
    /// Wakes the queue runner (a message was queued, ETRN).
    pub wake: Arc<tokio::sync::Notify>,
    /// The runner's connection to the queue, for ETRN's "run now".
    pub work: Option<Arc<std::sync::Mutex<crate::queue::work::WorkDb>>>,
    /// Nodes ETRN asked for lately (domain, with subdomains, when): mail
    /// for mailers with flag % (dsmtp) goes only to those.
    pub etrn: Arc<std::sync::Mutex<Vec<(String, bool, std::time::Instant)>>>,
    /// Messages being delivered now (mailq's `*`).
    pub delivering: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// For `mtactl status`.
    pub started: std::time::Instant,
    pub listeners: Vec<String>,
    pub config_file: std::path::PathBuf,
    /// When the config in force was loaded, seconds since the epoch.
    pub loaded_at: i64,
    /// mailstats' counters.
    pub stats: Arc<crate::stats::Stats>,
}

impl Shared {
    /// The Shared for a newly loaded config, carrying over what outlives a
    /// config from `old`. The queue directory stays (it needs a restart).
    pub fn rebuild(old: &Shared, config: Arc<Config>) -> Result<Shared, String> {
        let (host, _) = crate::settings::host_name(&config);
        let mut settings = Settings::from_config(&config, &host);
        settings.queue_dir = old.settings.queue_dir.clone();
        let tls = crate::tls::acceptor(&config)?;
        let policy = Policy::from_config(&config, &host);
        for w in &policy.aliases.warnings {
            crate::log::warning(w);
        }
        let names = match crate::dns::HostNames::new(&config) {
            Ok(r) => Some(r),
            Err(e) => {
                crate::log::warning(&format!("{e}; keeping the resolver in use"));
                old.names.clone()
            }
        };
        Ok(Shared {
            rules: Arc::new(crate::decide::Rules::load(&config, &host)),
            router: crate::route::Router::from_config(&config, &host),
            config,
            settings,
            policy,
            tls,
            queue: old.queue.clone(),
            names,
            wake: old.wake.clone(),
            work: old.work.clone(),
            etrn: old.etrn.clone(),
            delivering: old.delivering.clone(),
            started: old.started,
            listeners: old.listeners.clone(),
            config_file: old.config_file.clone(),
            loaded_at: crate::clock::now(),
            stats: old.stats.clone(),
        })
    }
}

/// A listening socket's identity, for logs, macros and the queue.
#[derive(Debug, Clone)]
pub struct Listener {
    /// Name= (sendmail's default is "Daemon0", "Daemon1", ...).
    pub name: String,
    pub addr: SocketAddr,
    pub modifiers: String,
}

/// A socket bound but not yet served.
pub struct Bound {
    pub socket: std::net::TcpListener,
    pub info: Listener,
}

/// Binds every listener the config asks for. A listener with modifier O
/// (optional) that cannot be bound is skipped; any other failure is an
/// error naming the listener.
pub fn bind_all(config: &Config) -> Result<Vec<Bound>, String> {
    let mut ports = config.daemon_ports.clone();
    if ports.is_empty() {
        // sendmail's default: one listener on port 25, all IPv4 addresses.
        ports.push(PortOptions::default());
    }
    let mut bound = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let name = p
            .name()
            .map_or_else(|| format!("Daemon{i}"), str::to_string);
        match bind_one(p) {
            Ok(socket) => {
                let addr = socket
                    .local_addr()
                    .map_err(|e| format!("listener {name}: {e}"))?;
                bound.push(Bound {
                    socket,
                    info: Listener {
                        name,
                        addr,
                        modifiers: p.modifiers().to_string(),
                    },
                });
            }
            Err(e) if p.modifiers().contains('O') => {
                crate::log::info(9, &format!("optional listener {name} skipped: {e}"));
            }
            Err(e) => return Err(format!("listener {name}: {e}")),
        }
    }
    Ok(bound)
}

fn bind_one(p: &PortOptions) -> Result<std::net::TcpListener, String> {
    let family = p.family().to_ascii_lowercase();
    let port = port_number(p.get("Port").unwrap_or("smtp"))?;
    let ip: IpAddr = match (family.as_str(), p.get("Addr")) {
        ("inet", None) => Ipv4Addr::UNSPECIFIED.into(),
        ("inet6", None) => Ipv6Addr::UNSPECIFIED.into(),
        ("inet" | "inet6", Some(a)) => a
            .parse()
            .map_err(|_| format!("Addr={a} is not an IP address"))?,
        (other, _) => {
            return Err(format!(
                "Family={other} is not supported (inet and inet6 are)"
            ));
        }
    };
    if (family == "inet") != ip.is_ipv4() {
        return Err(format!("Addr={ip} does not match Family={family}"));
    }
    let addr = SocketAddr::new(ip, port);
    let af = if ip.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket::socket(af, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| format!("socket: {e}"))?;
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true).map_err(|e| format!("SO_REUSEADDR: {e}"))?;
    if af == AddressFamily::Inet6 {
        // An inet6 listener is IPv6 only, so that it can sit beside an
        // inet one on the same port, as sendmail's Family=inet6 lines do.
        socket::setsockopt(&fd, sockopt::Ipv6V6Only, &true)
            .map_err(|e| format!("IPV6_V6ONLY: {e}"))?;
    }
    socket::bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrStorage::from(addr),
    )
    .map_err(|e| format!("cannot bind {addr}: {e}"))?;
    let backlog = p
        .get("Listen")
        .and_then(|l| l.parse::<i32>().ok())
        .unwrap_or(128);
    socket::listen(
        &fd,
        socket::Backlog::new(backlog).unwrap_or(socket::Backlog::MAXCONN),
    )
    .map_err(|e| format!("listen on {addr}: {e}"))?;
    // SAFETY: the descriptor is a listening TCP socket we own.
    let std_listener = unsafe { std::net::TcpListener::from_raw_fd(fd.into_raw_fd()) };
    std_listener
        .set_nonblocking(true)
        .map_err(|e| format!("{addr}: {e}"))?;
    Ok(std_listener)
}

/// A port number or a service name (/etc/services, then the well-known
/// mail ports, for a machine without netbase).
fn port_number(port: &str) -> Result<u16, String> {
    if let Ok(n) = port.parse::<u16>() {
        return Ok(n);
    }
    if let Ok(services) = std::fs::read_to_string("/etc/services") {
        for line in services.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let (Some(name), Some(spec)) = (words.next(), words.next()) else {
                continue;
            };
            let aliases: Vec<&str> = words.collect();
            if (name == port || aliases.contains(&port))
                && spec.ends_with("/tcp")
                && let Ok(n) = spec.trim_end_matches("/tcp").parse()
            {
                return Ok(n);
            }
        }
    }
    match port {
        "smtp" => Ok(25),
        "submission" => Ok(587),
        "smtps" | "submissions" => Ok(465),
        _ => Err(format!("unknown service `{port}`")),
    }
}

/// Serves the bound sockets until a stop is asked for (SIGTERM): then the
/// listeners close and the sessions in progress go on to their end.
pub async fn serve(bound: Vec<Bound>, live: Arc<crate::live::Live>) {
    let first = live.current();
    let children = first
        .config
        .int("MaxDaemonChildren")
        .filter(|&n| n > 0)
        .map(|n| n as usize);
    let limit = Arc::new(Semaphore::new(children.unwrap_or(Semaphore::MAX_PERMITS)));
    let throttle = first
        .config
        .int("ConnectionRateThrottle")
        .filter(|&n| n > 0)
        .map(|n| n as u32);
    let window = first
        .config
        .duration("ConnectionRateWindowSize")
        .unwrap_or(crate::clients::DEFAULT_WINDOW);
    drop(first);
    let rate = Arc::new(tokio::sync::Mutex::new(RateWindow::default()));
    let clients = crate::clients::Clients::new(window);
    let mut tasks = Vec::new();
    for b in bound {
        let listener = match tokio::net::TcpListener::from_std(b.socket) {
            Ok(l) => l,
            Err(e) => {
                crate::log::info(9, &format!("listener {}: {e}", b.info.name));
                continue;
            }
        };
        let info = Arc::new(b.info);
        let live = live.clone();
        let limit = limit.clone();
        let rate = rate.clone();
        let clients = clients.clone();
        let mut stopping = live.stopping.subscribe();
        tasks.push(tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = stopping.wait_for(|s| *s) => return,
                };
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // EMFILE and friends: wait, do not spin.
                        crate::log::info(9, &format!("accept on {}: {e}", info.name));
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if let Some(max) = throttle {
                    let wait = rate.lock().await.admit(max);
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                }
                let _ = stream.set_nodelay(true);
                // The config in force now, kept by this session to its end.
                let shared = live.current();
                shared.stats.connection_in();
                let info = info.clone();
                match limit.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let guard = live.session();
                        let arrival = clients.arrive(peer.ip());
                        tokio::spawn(async move {
                            session(stream, peer, info, shared, arrival.counts).await;
                            drop(arrival);
                            drop(permit);
                            drop(guard);
                        });
                    }
                    Err(_) => {
                        shared.stats.connection_rejected();
                        tokio::spawn(async move { refuse_busy(stream, &shared).await });
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// One connection: a plain session, and after STARTTLS a second one over
/// TLS, which starts over from scratch.
async fn session(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    info: Arc<Listener>,
    shared: Arc<Shared>,
    counts: crate::clients::Counts,
) {
    let (r, w) = stream.into_split();
    let Some((r, w)) = Session::new(r, w, peer, info.clone(), shared.clone(), None, counts)
        .run()
        .await
    else {
        return;
    };
    let (Ok(stream), Some(tls_setup)) = (r.reunite(w), shared.tls.clone()) else {
        return;
    };
    let wait = shared
        .config
        .duration("Timeout.starttls")
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(3600));
    let tls = match tokio::time::timeout(wait, tls_setup.acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        // A failed handshake ends the connection; there is nothing to
        // answer over a broken TLS layer.
        _ => return,
    };
    let (version, cipher, bits) = crate::tls::describe(tls.get_ref().1);
    let negotiated = crate::smtp::session::TlsInfo {
        version,
        cipher,
        bits,
        verify: tls_setup.verify(tls.get_ref().1),
    };
    let (r, w) = tokio::io::split(tls);
    let _ = Session::new(r, w, peer, info, shared, Some(negotiated), counts)
        .run()
        .await;
}

/// MaxDaemonChildren reached: say so and close, rather than leave the
/// client waiting on a connection nobody will serve.
async fn refuse_busy(mut stream: tokio::net::TcpStream, shared: &Shared) {
    use tokio::io::AsyncWriteExt;
    let line = format!(
        "421 4.3.2 {} Too many concurrent SMTP connections; please try again later\r\n",
        shared.settings.host_name
    );
    let _ = stream.write_all(line.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// ConnectionRateThrottle: at most N new connections a second; the rest
/// wait for the next second, as sendmail delays them.
#[derive(Default)]
struct RateWindow {
    start: Option<Instant>,
    count: u32,
}

impl RateWindow {
    fn admit(&mut self, max: u32) -> Duration {
        let now = Instant::now();
        match self.start {
            Some(s) if now.duration_since(s) < Duration::from_secs(1) => {
                self.count += 1;
                if self.count > max {
                    let wait = Duration::from_secs(1) - now.duration_since(s);
                    self.start = Some(s + Duration::from_secs(1));
                    self.count = 1;
                    wait
                } else {
                    Duration::ZERO
                }
            }
            _ => {
                self.start = Some(now);
                self.count = 1;
                Duration::ZERO
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names() {
        assert_eq!(port_number("2525").unwrap(), 2525);
        assert_eq!(port_number("smtp").unwrap(), 25);
        assert_eq!(port_number("submission").unwrap(), 587);
        assert!(port_number("no-such-service").is_err());
    }

    #[test]
    fn rate_window_delays_the_excess() {
        let mut w = RateWindow::default();
        assert!(w.admit(2).is_zero());
        assert!(w.admit(2).is_zero());
        assert!(!w.admit(2).is_zero(), "the third in the same second waits");
    }

    #[test]
    fn binds_what_the_options_say() {
        let p = PortOptions::parse(
            "Name=T, Port=0, Addr=127.0.0.1",
            cfparser::options::PortSide::Daemon,
        )
        .unwrap();
        let l = bind_one(&p).unwrap();
        assert!(l.local_addr().unwrap().ip().is_loopback());
        let bad =
            PortOptions::parse("Port=0, Addr=::1", cfparser::options::PortSide::Daemon).unwrap();
        assert!(bind_one(&bad).is_err(), "Family defaults to inet");
        let v6 = PortOptions::parse(
            "Family=inet6, Port=0, Addr=::1",
            cfparser::options::PortSide::Daemon,
        )
        .unwrap();
        if let Ok(l) = bind_one(&v6) {
            assert!(l.local_addr().unwrap().is_ipv6());
        }
    }
}
