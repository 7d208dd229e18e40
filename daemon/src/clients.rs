//! Who is connected, for the rules: sendmail gives check_relay
//! `{client_rate}` (connections from the client's address within
//! ConnectionRateWindowSize, this one included), `{client_connections}`
//! (its sessions open now, this one included) and `{total_rate}` (all
//! connections within the window), which FEATURE(ratecontrol) and
//! FEATURE(conncontrol) compare with the access map's ClientRate: and
//! ClientConn: entries.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// sendmail's default ConnectionRateWindowSize.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

/// The counts one connection arrives with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub rate: usize,
    pub connections: usize,
    pub total_rate: usize,
}

/// The counts of every client address.
pub struct Clients {
    window: Duration,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_addr: HashMap<IpAddr, Entry>,
    total: VecDeque<Instant>,
    /// The map's size after the last sweep of idle entries.
    swept: usize,
}

#[derive(Default)]
struct Entry {
    open: usize,
    recent: VecDeque<Instant>,
}

/// A connection being counted: its session is open until this is dropped.
pub struct Arrival {
    pub counts: Counts,
    clients: Arc<Clients>,
    ip: IpAddr,
}

impl Drop for Arrival {
    fn drop(&mut self) {
        let mut inner = self.clients.lock();
        if let Some(e) = inner.by_addr.get_mut(&self.ip) {
            e.open = e.open.saturating_sub(1);
        }
    }
}

impl Clients {
    pub fn new(window: Duration) -> Arc<Clients> {
        Arc::new(Clients {
            window: if window.is_zero() {
                DEFAULT_WINDOW
            } else {
                window
            },
            inner: Mutex::new(Inner::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection from `ip` now.
    pub fn arrive(self: &Arc<Self>, ip: IpAddr) -> Arrival {
        self.arrive_at(ip, Instant::now())
    }

    fn arrive_at(self: &Arc<Self>, ip: IpAddr, now: Instant) -> Arrival {
        let window = self.window;
        let expired = |t: &Instant| now.duration_since(*t) >= window;
        let mut inner = self.lock();
        while inner.total.front().is_some_and(expired) {
            inner.total.pop_front();
        }
        inner.total.push_back(now);
        let total_rate = inner.total.len();
        // Entries of clients gone quiet go, now and then, so that the map
        // holds about the clients of one window.
        if inner.by_addr.len() > 2 * inner.swept.max(512) {
            inner
                .by_addr
                .retain(|_, e| e.open > 0 || e.recent.back().is_some_and(|t| !expired(t)));
            inner.swept = inner.by_addr.len();
        }
        let e = inner.by_addr.entry(ip).or_default();
        while e.recent.front().is_some_and(expired) {
            e.recent.pop_front();
        }
        e.recent.push_back(now);
        e.open += 1;
        let counts = Counts {
            rate: e.recent.len(),
            connections: e.open,
            total_rate,
        };
        drop(inner);
        Arrival {
            counts,
            clients: self.clone(),
            ip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_within_the_window_and_open_sessions() {
        let c = Clients::new(Duration::from_secs(60));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        let first = c.arrive_at(a, t0);
        assert_eq!(
            first.counts,
            Counts {
                rate: 1,
                connections: 1,
                total_rate: 1
            }
        );
        let second = c.arrive_at(a, t0 + Duration::from_secs(1));
        assert_eq!((second.counts.rate, second.counts.connections), (2, 2));
        drop(first);
        let other = c.arrive_at(b, t0 + Duration::from_secs(2));
        assert_eq!((other.counts.rate, other.counts.total_rate), (1, 3));
        // A minute after the first: it has left the window, the second
        // session is still open.
        let third = c.arrive_at(a, t0 + Duration::from_secs(60));
        assert_eq!((third.counts.rate, third.counts.connections), (2, 2));
        assert_eq!(third.counts.total_rate, 3);
    }
}
