//! Delivery to other hosts through the SMTP client: for one destination
//! (mailer and host, as routing named them) and a group of recipients,
//! find the hosts, try them in order, and give every recipient its
//! outcome.
//!
//! Three things are kept between deliveries, in memory:
//! - idle connections (sendmail's connection cache: ConnectionCacheSize
//!   per host, closed after ConnectionCacheTimeout), so that a run of
//!   messages to one host pays for one connection and one TLS handshake;
//! - a bound on deliveries in flight per destination
//!   (Mtad.DestinationConcurrency), so one slow site cannot take every
//!   delivery slot and a receiver is not flooded;
//! - host status (sendmail's HostStatusDirectory idea): an address that
//!   just refused a connection is not tried again by every message for
//!   Timeout.hoststatus; those messages are deferred at once with the
//!   reason the host gave.

use super::mx::{self, MxError};
use super::smtp::{ConnectError, Connection, Envelope, Timeouts, Verdict};
use crate::queue::work::Outcome;
use hickory_resolver::TokioResolver;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Deliveries in flight to one destination, when the config is silent.
const DEFAULT_DESTINATION_CONCURRENCY: usize = 20;
/// Recipients in one transaction when the mailer sets no r= (RFC 5321
/// §4.5.3.1.8: a server must take at least 100).
const DEFAULT_MAX_RECIPIENTS: usize = 100;

/// One host's last result, for `mtactl hosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostStatus {
    /// The host's name as the MX list (or route) gave it.
    pub name: String,
    pub addr: SocketAddr,
    /// Seconds since the epoch.
    pub when: i64,
    pub ok: bool,
    pub text: String,
}

/// What a delivery to one destination needs to know about the message.
pub struct Job<'a> {
    pub mailer: &'a cfparser::model::Mailer,
    /// As routed: a domain, or `[host]`.
    pub host: &'a str,
    /// Every recipient at this destination; sent r= at a time.
    pub envelope: Envelope<'a>,
    /// The message after DATA, dot-stuffed ([`super::smtp::wire_form`]).
    pub wire: &'a [u8],
}

pub struct Remote {
    resolver: Option<TokioResolver>,
    tls: tokio_rustls::TlsConnector,
    helo: String,
    timeouts: Arc<Timeouts>,
    cache: Mutex<HashMap<SocketAddr, Vec<(Connection, Instant)>>>,
    cache_size: usize,
    cache_timeout: Duration,
    destinations: Mutex<HashMap<String, Arc<Semaphore>>>,
    per_destination: usize,
    status: Mutex<HashMap<SocketAddr, (Instant, HostStatus)>>,
    status_timeout: Duration,
    changed: Mutex<Vec<HostStatus>>,
    stats: Option<Arc<crate::stats::Stats>>,
}

impl Remote {
    pub fn from_config(
        config: &cfparser::Config,
        resolver: Option<TokioResolver>,
        helo: &str,
    ) -> Remote {
        let per_destination = config
            .int("Mtad.DestinationConcurrency")
            .filter(|&n| n > 0)
            .map_or(DEFAULT_DESTINATION_CONCURRENCY, |n| n as usize);
        Remote {
            resolver,
            tls: super::smtp::tls_connector(),
            helo: helo.to_string(),
            timeouts: Arc::new(Timeouts::from_config(config)),
            cache: Mutex::new(HashMap::new()),
            // sendmail's default is 2 connections in all; per host and at
            // least the destination concurrency here, or parallel
            // deliveries to one host would close each other's connections.
            cache_size: config
                .int("ConnectionCacheSize")
                .filter(|&n| n > 0)
                .map_or(2, |n| n as usize)
                .max(per_destination),
            cache_timeout: config
                .duration("ConnectionCacheTimeout")
                .filter(|d| !d.is_zero())
                .unwrap_or(Duration::from_secs(300)),
            destinations: Mutex::new(HashMap::new()),
            per_destination,
            status: Mutex::new(HashMap::new()),
            status_timeout: config
                .duration("Timeout.hoststatus")
                .unwrap_or(Duration::from_secs(30 * 60)),
            changed: Mutex::new(Vec::new()),
            stats: None,
        }
    }

    /// Counts outgoing connections in these (mailstats' `C` line).
    pub fn counting(mut self, stats: Arc<crate::stats::Stats>) -> Remote {
        self.stats = Some(stats);
        self
    }

    /// Delivers `job`; one outcome per recipient, in order.
    pub async fn deliver(&self, job: Job<'_>) -> Vec<Outcome> {
        let key = format!("{}:{}", job.mailer.name, job.host.to_ascii_lowercase());
        let limit = lock(&self.destinations)
            .entry(key)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_destination)))
            .clone();
        let Ok(_permit) = limit.acquire().await else {
            return temp_all(&job, "4.3.0 shutting down");
        };
        let Some(resolver) = &self.resolver else {
            return temp_all(&job, "4.4.3 no DNS resolver is configured");
        };
        let hosts = match mx::hosts(resolver, job.host, &self.helo).await {
            Ok(h) => h,
            Err(e @ MxError::Temporary(..)) => return temp_all(&job, &e.to_string()),
            Err(e) => {
                return vec![Outcome::Failed(e.to_string()); job.envelope.recipients.len()];
            }
        };
        let port = port(job.mailer);
        let max = job
            .mailer
            .max_recipients
            .filter(|&n| n > 0)
            .map_or(DEFAULT_MAX_RECIPIENTS, |n| n as usize);
        let mut outcomes = Vec::with_capacity(job.envelope.recipients.len());
        for chunk in job.envelope.recipients.chunks(max) {
            let env = Envelope {
                recipients: chunk.to_vec(),
                ..job.envelope.clone()
            };
            outcomes.extend(
                self.one_transaction(&hosts, port, &env, job.wire, job.mailer)
                    .await,
            );
        }
        outcomes
    }

    /// Tries the hosts in order until one takes the transaction.
    async fn one_transaction(
        &self,
        hosts: &[mx::Host],
        port: u16,
        env: &Envelope<'_>,
        wire: &[u8],
        mailer: &cfparser::model::Mailer,
    ) -> Vec<Outcome> {
        let mut last: Option<String> = None;
        let mut permanent = true;
        for host in hosts {
            for ip in &host.addrs {
                let addr = SocketAddr::new(*ip, port);
                if let Some(conn) = self.cached(addr) {
                    let mut conn = conn;
                    let (verdicts, reusable) = conn.send(env, wire).await;
                    if reusable || verdicts.iter().any(|v| !matches!(v, Verdict::Temp(_))) {
                        let dsn = conn.ext.dsn;
                        self.finish(conn, reusable, mailer).await;
                        return outcomes(verdicts, dsn);
                    }
                    // The cached connection had gone stale: a fresh one.
                }
                if let Some(down) = self.known_down(addr) {
                    last = Some(down);
                    permanent = false;
                    continue;
                }
                let tls = Some(&self.tls);
                let opened = match Connection::open(
                    addr,
                    &host.name,
                    &self.helo,
                    tls,
                    self.timeouts.clone(),
                )
                .await
                {
                    Err(ConnectError::Tls(why)) => {
                        // Opportunistic TLS: a failed handshake is no
                        // reason not to deliver; the message goes in the
                        // clear, as sendmail's and Postfix's clients do.
                        crate::log::error(&format!(
                            "STARTTLS=client, relay={} [{ip}], failed: {why}; trying without",
                            host.name
                        ));
                        Connection::open(addr, &host.name, &self.helo, None, self.timeouts.clone())
                            .await
                    }
                    other => other,
                };
                let mut conn = match opened {
                    Ok(c) => c,
                    Err(e) => {
                        let text = format!("{} [{ip}]: {e}", host.name);
                        permanent &= e.is_permanent();
                        self.note(&host.name, addr, false, &e.to_string());
                        last = Some(text);
                        continue;
                    }
                };
                if let Some(s) = &self.stats {
                    s.connection_out();
                }
                let (verdicts, reusable) = conn.send(env, wire).await;
                let said = verdicts.first().map(|v| match v {
                    Verdict::Sent(t) | Verdict::Temp(t) | Verdict::Perm(t) => t.clone(),
                });
                self.note(&host.name, addr, true, &said.unwrap_or_default());
                let dsn = conn.ext.dsn;
                self.finish(conn, reusable, mailer).await;
                return outcomes(verdicts, dsn);
            }
        }
        let why = last.unwrap_or_else(|| "no host to try".into());
        let text = if permanent {
            format!("5.4.4 every host refused the mail: {why}")
        } else {
            format!("4.4.1 {why}")
        };
        // A host that answers 5xx to the greeting refuses everything
        // from us; still, the next run may find another MX host, so only
        // a refusal by every host is final.
        let o = if permanent {
            Outcome::Failed(text)
        } else {
            Outcome::Deferred(text)
        };
        vec![o; env.recipients.len()]
    }

    fn cached(&self, addr: SocketAddr) -> Option<Connection> {
        let mut cache = lock(&self.cache);
        let list = cache.get_mut(&addr)?;
        while let Some((conn, since)) = list.pop() {
            if since.elapsed() < self.cache_timeout {
                return Some(conn);
            }
        }
        None
    }

    /// Puts a connection back in the cache, or ends it.
    async fn finish(&self, conn: Connection, reusable: bool, mailer: &cfparser::model::Mailer) {
        let spent = mailer
            .max_messages
            .is_some_and(|m| m > 0 && conn.messages >= m);
        if reusable && !spent {
            let mut cache = lock(&self.cache);
            let list = cache.entry(conn.addr).or_default();
            if list.len() < self.cache_size {
                list.push((conn, Instant::now()));
                return;
            }
        }
        if reusable {
            conn.quit().await;
        }
    }

    /// Closes cached connections idle for longer than
    /// ConnectionCacheTimeout. Called every few seconds by the runner.
    pub async fn expire(&self) {
        let stale: Vec<Connection> = {
            let mut cache = lock(&self.cache);
            let mut out = Vec::new();
            for list in cache.values_mut() {
                let (keep, old): (Vec<_>, Vec<_>) = std::mem::take(list)
                    .into_iter()
                    .partition(|(_, since)| since.elapsed() < self.cache_timeout);
                *list = keep;
                out.extend(old.into_iter().map(|(c, _)| c));
            }
            cache.retain(|_, l| !l.is_empty());
            out
        };
        for c in stale {
            c.quit().await;
        }
    }

    fn note(&self, name: &str, addr: SocketAddr, ok: bool, text: &str) {
        let status = HostStatus {
            name: name.to_string(),
            addr,
            when: crate::clock::now(),
            ok,
            text: text.to_string(),
        };
        lock(&self.changed).push(status.clone());
        lock(&self.status).insert(addr, (Instant::now(), status));
    }

    /// Host statuses noted since the last call, for the queue's `hosts`
    /// table (what `mtad -bh` shows).
    pub fn take_changes(&self) -> Vec<HostStatus> {
        std::mem::take(&mut *lock(&self.changed))
    }

    /// The reason `addr` failed, if it did within Timeout.hoststatus.
    fn known_down(&self, addr: SocketAddr) -> Option<String> {
        let status = lock(&self.status);
        let (at, s) = status.get(&addr)?;
        (!s.ok && at.elapsed() < self.status_timeout)
            .then(|| format!("{} (host status, retried after Timeout.hoststatus)", s.text))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn temp_all(job: &Job<'_>, text: &str) -> Vec<Outcome> {
    vec![Outcome::Deferred(text.to_string()); job.envelope.recipients.len()]
}

/// The verdicts as outcomes. A delivery to a host that does not take
/// DSN parameters says so ([`super::dsn::RELAYED`]): NOTIFY=SUCCESS then
/// gets a "relayed" report from us (RFC 3461 §6.2.2), since the next hop
/// cannot send one.
fn outcomes(verdicts: Vec<Verdict>, dsn: bool) -> Vec<Outcome> {
    verdicts
        .into_iter()
        .map(|v| match v {
            Verdict::Sent(t) if dsn => Outcome::Delivered(t),
            Verdict::Sent(t) => Outcome::Delivered(format!("{t}{}", super::dsn::RELAYED)),
            Verdict::Temp(t) => Outcome::Deferred(t),
            Verdict::Perm(t) => Outcome::Failed(t),
        })
        .collect()
}

/// The port from the mailer's `A=TCP $h PORT`, else 25.
pub fn port(mailer: &cfparser::model::Mailer) -> u16 {
    mailer
        .argv
        .get(2)
        .and_then(|t| t.to_string().trim().parse().ok())
        .unwrap_or(25)
}

/// Whether routing to this mailer means the SMTP client: P=[IPC] or
/// P=[TCP] with `A=TCP $h …`.
pub fn is_smtp(mailer: &cfparser::model::Mailer) -> bool {
    matches!(mailer.path.as_str(), "[IPC]" | "[TCP]")
        && mailer
            .argv
            .first()
            .is_some_and(|a| a.to_string().eq_ignore_ascii_case("TCP"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deliver::smtp::EnvelopeRecipient;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    /// A receiver that takes its time over each message and counts how
    /// many connections it has at once.
    async fn slow_receiver(now: Arc<AtomicUsize>, most: Arc<AtomicUsize>) -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (s, _) = l.accept().await.unwrap();
                let (now, most) = (now.clone(), most.clone());
                tokio::spawn(async move {
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(n, Ordering::SeqCst);
                    let mut s = BufReader::new(s);
                    let _ = s.write_all(b"220 slow\r\n").await;
                    let mut data = false;
                    loop {
                        let mut line = String::new();
                        if s.read_line(&mut line).await.unwrap_or(0) == 0 {
                            break;
                        }
                        let reply: &[u8] = if data {
                            if line != ".\r\n" {
                                continue;
                            }
                            data = false;
                            tokio::time::sleep(Duration::from_millis(150)).await;
                            b"250 ok\r\n"
                        } else if line.starts_with("EHLO") {
                            b"250 slow\r\n"
                        } else if line.starts_with("DATA") {
                            data = true;
                            b"354 go\r\n"
                        } else if line.starts_with("QUIT") {
                            let _ = s.write_all(b"221 bye\r\n").await;
                            break;
                        } else {
                            b"250 ok\r\n"
                        };
                        let _ = s.write_all(reply).await;
                    }
                    now.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        port
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_than_the_destination_limit_at_once() {
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let port = slow_receiver(now, most.clone()).await;
        let cf = format!(
            "Mlocal, P=/bin/cat, A=cat $u\nMrelay, P=[IPC], F=mXDFM, A=TCP $h {port}\n\
             O Mtad.DestinationConcurrency=2\nO Mtad.Nameservers=127.0.0.1:9\n"
        );
        let loaded = cfparser::load_bytes(
            std::path::Path::new("t.cf"),
            cf.into_bytes(),
            &Default::default(),
        )
        .unwrap();
        let config = loaded.config;
        let resolver = crate::dns::resolver(&config).unwrap();
        let remote = Arc::new(Remote::from_config(&config, Some(resolver), "me.example"));
        let mailer = Arc::new(config.mailer("relay").unwrap().clone());
        let wire = Arc::new(super::super::smtp::wire_form(
            b"Subject: x\r\n",
            b"x\r\n",
            None,
        ));
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..8 {
            let (remote, mailer, wire) = (remote.clone(), mailer.clone(), wire.clone());
            tasks.spawn(async move {
                let rcpt = format!("u{n}@far.example");
                remote
                    .deliver(Job {
                        mailer: &mailer,
                        host: "[127.0.0.1]",
                        envelope: Envelope {
                            sender: "a@example.org",
                            recipients: vec![EnvelopeRecipient {
                                address: &rcpt,
                                notify: None,
                                orcpt: None,
                            }],
                            size: 20,
                            eight_bit: false,
                            ret: None,
                            envid: None,
                        },
                        wire: &wire,
                    })
                    .await
            });
        }
        while let Some(r) = tasks.join_next().await {
            let outcomes = r.unwrap();
            assert!(
                matches!(&outcomes[0], Outcome::Delivered(t) if t.starts_with("250")),
                "{outcomes:?}"
            );
        }
        let most = most.load(Ordering::SeqCst);
        assert!((1..=2).contains(&most), "{most} connections at once");
    }
}
