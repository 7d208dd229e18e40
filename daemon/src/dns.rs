//! The client's name, verified as sendmail verifies it: the address is
//! reverse-resolved, the name found is forward-resolved, and the name is
//! trusted only if it leads back to the address. Otherwise the Received
//! header says "(may be forged)".
//!
//! The lookups start when the client connects and run beside the session;
//! the greeting never waits for them. Their answer is awaited, within a
//! bound, only where it is used (the HELO reply and the Received header).

use cfparser::Config;
use cfparser::options::OptionValue;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// How long the lookups for one client may take in all.
pub const BOUND: Duration = Duration::from_secs(5);

/// What is known of a client's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientName {
    /// The name from the reverse lookup, without the final dot.
    pub name: Option<String>,
    /// The name leads back to the address.
    pub verified: bool,
    /// sendmail's `${client_resolve}`: OK, FAIL (no name), FORGED, TEMP.
    pub resolve: &'static str,
}

impl ClientName {
    pub fn unknown(resolve: &'static str) -> ClientName {
        ClientName {
            name: None,
            verified: false,
            resolve,
        }
    }

    /// sendmail's `$_`: `name [addr]`, `name [addr] (may be forged)` or
    /// `[addr]`.
    pub fn describe(&self, ip: IpAddr) -> String {
        match (&self.name, self.verified) {
            (Some(n), true) => format!("{n} [{ip}]"),
            (Some(n), false) => format!("{n} [{ip}] (may be forged)"),
            (None, _) => format!("[{ip}]"),
        }
    }
}

/// The resolver mtad uses: Mtad.Nameservers if set (and then only those,
/// no hosts file), else the system's /etc/resolv.conf and /etc/hosts.
pub fn resolver(config: &Config) -> Result<TokioResolver, String> {
    let servers = match config.option("Mtad.Nameservers") {
        Some(OptionValue::List(l)) if !l.is_empty() => Some(l.clone()),
        _ => None,
    };
    let mut builder = match &servers {
        Some(list) => {
            let mut configs = Vec::new();
            for s in list {
                let addr = parse_server(s)?;
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                configs.push(NameServerConfig::new(addr.ip(), true, vec![udp, tcp]));
            }
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(configs),
                TokioRuntimeProvider::default(),
            )
        }
        None => TokioResolver::builder_tokio().map_err(|e| format!("resolver: {e}"))?,
    };
    let opts = builder.options_mut();
    opts.timeout = Duration::from_secs(2);
    opts.attempts = 2;
    if servers.is_some() {
        opts.use_hosts_file = ResolveHosts::Never;
    }
    builder.build().map_err(|e| format!("resolver: {e}"))
}

/// `IP:PORT`, `[IPv6]:PORT`, or an address alone (port 53).
fn parse_server(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    s.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("Mtad.Nameservers: `{s}` is not IP:PORT"))
}

/// Reverse, then forward: the verified name of `ip`.
pub async fn verify(resolver: &TokioResolver, ip: IpAddr) -> ClientName {
    let ptr = match resolver.reverse_lookup(ip).await {
        Ok(l) => l,
        Err(e) if e.is_nx_domain() || e.is_no_records_found() => {
            return ClientName::unknown("FAIL");
        }
        Err(_) => return ClientName::unknown("TEMP"),
    };
    let names: Vec<String> = ptr
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::PTR(p) => Some(p.0.to_ascii()),
            _ => None,
        })
        .map(|n| n.trim_end_matches('.').to_string())
        .filter(|n| !n.is_empty())
        .collect();
    let Some(first) = names.first().cloned() else {
        return ClientName::unknown("FAIL");
    };
    // Any of the names that leads back counts, the first one named. Only
    // the client's own address family is asked for: an IPv4 client needs
    // A records, and an AAAA query the hosts file cannot answer would go
    // to the network for nothing.
    for name in &names {
        if leads_back(resolver, name, ip).await {
            return ClientName {
                name: Some(name.clone()),
                verified: true,
                resolve: "OK",
            };
        }
    }
    ClientName {
        name: Some(first),
        verified: false,
        resolve: "FORGED",
    }
}

/// True if `name` has an address record for `ip`.
async fn leads_back(resolver: &TokioResolver, name: &str, ip: IpAddr) -> bool {
    let fqdn = format!("{name}.");
    let lookup = match ip {
        IpAddr::V4(_) => resolver.ipv4_lookup(fqdn).await,
        IpAddr::V6(_) => resolver.ipv6_lookup(fqdn).await,
    };
    let Ok(found) = lookup else { return false };
    found.answers().iter().any(|r| match &r.data {
        RData::A(a) => IpAddr::V4(a.0) == ip,
        RData::AAAA(a) => IpAddr::V6(a.0) == ip,
        _ => false,
    })
}

/// A tiny authoritative DNS server on a loopback UDP port, answering PTR
/// and A queries from a table (no traffic leaves 127.0.0.1).
#[cfg(test)]
mod fake_dns {
    use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
    use hickory_proto::rr::rdata::{A, PTR};
    use hickory_proto::rr::{Name, RData, Record, RecordType};
    use std::collections::HashMap;
    use std::net::{Ipv4Addr, UdpSocket};
    use std::str::FromStr;

    /// Records: PTR by IPv4 address, A by name (names without the final dot).
    #[derive(Default, Clone)]
    pub struct Zone {
        pub ptr: HashMap<Ipv4Addr, String>,
        pub a: HashMap<String, Ipv4Addr>,
    }

    /// Starts the server; returns its port. It runs for the life of the test
    /// process.
    pub fn start(zone: Zone) -> u16 {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind fake DNS");
        let port = sock.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    return;
                };
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let mut reply = Message::response(query.metadata.id, OpCode::Query);
                reply.metadata.message_type = MessageType::Response;
                reply.metadata.authoritative = true;
                let mut found = false;
                for q in &query.queries {
                    reply.add_query(q.clone());
                    let name = q
                        .name()
                        .to_ascii()
                        .trim_end_matches('.')
                        .to_ascii_lowercase();
                    match q.query_type() {
                        RecordType::PTR => {
                            if let Some(ip) = reverse_name(&name)
                                && let Some(host) = zone.ptr.get(&ip)
                            {
                                let target = Name::from_str(&format!("{host}.")).unwrap();
                                reply.add_answer(Record::from_rdata(
                                    q.name().clone(),
                                    60,
                                    RData::PTR(PTR(target)),
                                ));
                                found = true;
                            }
                        }
                        RecordType::A => {
                            if let Some(ip) = zone.a.get(&name) {
                                reply.add_answer(Record::from_rdata(
                                    q.name().clone(),
                                    60,
                                    RData::A(A(*ip)),
                                ));
                                found = true;
                            }
                        }
                        _ => {}
                    }
                }
                if !found {
                    reply.metadata.response_code = ResponseCode::NXDomain;
                }
                if let Ok(bytes) = reply.to_vec() {
                    let _ = sock.send_to(&bytes, from);
                }
            }
        });
        port
    }

    /// `1.0.0.127.in-addr.arpa` to 127.0.0.1.
    fn reverse_name(name: &str) -> Option<Ipv4Addr> {
        let rest = name.strip_suffix(".in-addr.arpa")?;
        let mut octets: Vec<u8> = rest
            .split('.')
            .map(|o| o.parse().ok())
            .collect::<Option<_>>()?;
        if octets.len() != 4 {
            return None;
        }
        octets.reverse();
        Some(Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_resolver(port: u16) -> TokioResolver {
        let mut udp = ConnectionConfig::udp();
        udp.port = port;
        let ns = NameServerConfig::new(IpAddr::from([127, 0, 0, 1]), true, vec![udp]);
        let mut b = TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(vec![ns]),
            TokioRuntimeProvider::default(),
        );
        let o = b.options_mut();
        o.timeout = Duration::from_millis(300);
        o.attempts = 1;
        o.use_hosts_file = ResolveHosts::Never;
        o.cache_size = 0;
        b.build().unwrap()
    }

    #[tokio::test]
    async fn verified_forged_and_unknown() {
        let mut zone = fake_dns::Zone::default();
        zone.ptr
            .insert([192, 0, 2, 10].into(), "good.example".into());
        zone.a.insert("good.example".into(), [192, 0, 2, 10].into());
        zone.ptr
            .insert([192, 0, 2, 11].into(), "liar.example".into());
        zone.a.insert("liar.example".into(), [192, 0, 2, 66].into());
        let r = test_resolver(fake_dns::start(zone));
        let good = verify(&r, "192.0.2.10".parse().unwrap()).await;
        assert_eq!(good.name.as_deref(), Some("good.example"));
        assert!(good.verified);
        assert_eq!(good.resolve, "OK");
        let liar = verify(&r, "192.0.2.11".parse().unwrap()).await;
        assert_eq!(liar.name.as_deref(), Some("liar.example"));
        assert!(!liar.verified);
        assert_eq!(liar.resolve, "FORGED");
        assert_eq!(
            liar.describe("192.0.2.11".parse().unwrap()),
            "liar.example [192.0.2.11] (may be forged)"
        );
        let none = verify(&r, "192.0.2.12".parse().unwrap()).await;
        assert_eq!(none, ClientName::unknown("FAIL"));
    }

    #[tokio::test]
    async fn a_dead_server_is_a_temporary_failure() {
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let r = test_resolver(silent.local_addr().unwrap().port());
        let start = std::time::Instant::now();
        let n = verify(&r, "192.0.2.10".parse().unwrap()).await;
        assert_eq!(n.resolve, "TEMP");
        assert!(start.elapsed() < BOUND);
    }

    #[test]
    fn describes_as_sendmail() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let ok = ClientName {
            name: Some("mx.example".into()),
            verified: true,
            resolve: "OK",
        };
        assert_eq!(ok.describe(ip), "mx.example [192.0.2.1]");
        let forged = ClientName {
            verified: false,
            ..ok
        };
        assert_eq!(
            forged.describe(ip),
            "mx.example [192.0.2.1] (may be forged)"
        );
        assert_eq!(ClientName::unknown("FAIL").describe(ip), "[192.0.2.1]");
    }

    #[test]
    fn server_addresses() {
        assert_eq!(parse_server("127.0.0.1:5353").unwrap().port(), 5353);
        assert_eq!(parse_server("[::1]:53").unwrap().port(), 53);
        assert_eq!(parse_server("192.0.2.53").unwrap().port(), 53);
        assert!(parse_server("dns.example").is_err());
    }
}
