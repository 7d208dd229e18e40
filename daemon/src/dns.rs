//! The client's name, verified as sendmail verifies it: the address is
//! reverse-resolved, the name found is forward-resolved, and the name is
//! trusted only if it leads back to the address. Otherwise the Received
//! header says "(may be forged)".
//!
//! Both lookups go through the service switch's `hosts` methods in order
//! (ServiceSwitchFile, e.g. `hosts files dns`): `files` is HostsFile,
//! `dns` hickory-resolver with the configured servers. hickory answers
//! localhost, 127/8 and ::1 itself (RFC 6761) and has no switch to stop
//! it, so with `Mtad.Nameservers` set those questions are sent to the
//! servers directly ([`ask_servers`]): a test can name a client at
//! 127.0.0.2, and a site's own server has the last word.
//!
//! The lookups start when the client connects and run beside the session;
//! the greeting never waits for them. Their answer is awaited, within a
//! bound, only where it is used (the HELO reply and the Received header).

use cfparser::Config;
use cfparser::options::OptionValue;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use rules::env::Answer;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
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

/// Mtad.Nameservers, when set.
fn configured_servers(config: &Config) -> Result<Option<Vec<SocketAddr>>, String> {
    match config.option("Mtad.Nameservers") {
        Some(OptionValue::List(l)) if !l.is_empty() => l
            .iter()
            .map(|s| parse_server(s))
            .collect::<Result<_, _>>()
            .map(Some),
        _ => Ok(None),
    }
}

/// The resolver mtad uses: Mtad.Nameservers if set (and then only those,
/// no hosts file), else the system's /etc/resolv.conf and /etc/hosts.
pub fn resolver(config: &Config) -> Result<TokioResolver, String> {
    resolver_with(config, true)
}

/// [`resolver`]; without `hosts` never the system's /etc/hosts either (the
/// service switch's `files` reads HostsFile itself).
fn resolver_with(config: &Config, hosts: bool) -> Result<TokioResolver, String> {
    let servers = configured_servers(config)?;
    let mut builder = match &servers {
        Some(list) => {
            let mut configs = Vec::new();
            for &addr in list {
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
    if servers.is_some() || !hosts {
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

/// Host names in the service switch's order, for client names (and the
/// same answers as `mtad -bt` gives `$[ $]`).
#[derive(Clone)]
pub struct HostNames {
    /// The `hosts` methods of the service switch, in order.
    methods: Vec<String>,
    hosts_file: PathBuf,
    resolver: TokioResolver,
    /// Mtad.Nameservers: asked directly what hickory answers by itself.
    servers: Option<Vec<SocketAddr>>,
}

impl HostNames {
    /// From ServiceSwitchFile (sendmail's default `dns files` when the file
    /// does not say), HostsFile and the resolver settings.
    pub fn new(config: &Config) -> Result<HostNames, String> {
        Ok(HostNames {
            methods: hosts_methods(config),
            hosts_file: PathBuf::from(
                config
                    .text("HostsFile")
                    .unwrap_or_else(|| "/etc/hosts".into()),
            ),
            resolver: resolver_with(config, false)?,
            servers: configured_servers(config)?,
        })
    }

    /// Reverse, then forward: the verified name of `ip`.
    pub async fn verify(&self, ip: IpAddr) -> ClientName {
        let names = match self.reverse(ip).await {
            Answer::Found(n) if !n.is_empty() => n,
            Answer::TryAgain => return ClientName::unknown("TEMP"),
            _ => return ClientName::unknown("FAIL"),
        };
        // Any of the names that leads back counts, the first one named.
        // Only the client's own address family is asked for.
        for name in &names {
            if let Answer::Found(addrs) = self.addresses(name, ip.is_ipv6()).await
                && addrs.contains(&ip)
            {
                return ClientName {
                    name: Some(name.clone()),
                    verified: true,
                    resolve: "OK",
                };
            }
        }
        ClientName {
            name: names.first().cloned(),
            verified: false,
            resolve: "FORGED",
        }
    }

    /// The names of `ip`, from the first method that knows it.
    async fn reverse(&self, ip: IpAddr) -> Answer<Vec<String>> {
        self.by_switch(|text| hosts_names_of(text, ip), || self.dns_reverse(ip))
            .await
    }

    /// The addresses of `name` (IPv6 or IPv4), from the first method that
    /// knows it.
    async fn addresses(&self, name: &str, v6: bool) -> Answer<Vec<IpAddr>> {
        self.by_switch(
            |text| hosts_addresses_of(text, name, v6),
            || self.dns_addresses(name, v6),
        )
        .await
    }

    /// The switch's `hosts` methods in order, `files` reading HostsFile's
    /// text with `files`, `dns` asking `dns`: the first that finds
    /// something wins, and a temporary failure of any is the answer when
    /// none does.
    async fn by_switch<T, F>(
        &self,
        files: impl Fn(&str) -> Vec<T>,
        dns: impl Fn() -> F,
    ) -> Answer<Vec<T>>
    where
        F: std::future::Future<Output = Answer<Vec<T>>>,
    {
        let mut again = false;
        for m in &self.methods {
            let a = match m.as_str() {
                "files" => self.in_hosts_file(&files),
                "dns" => dns().await,
                _ => Answer::NotFound,
            };
            match a {
                Answer::Found(n) if !n.is_empty() => return Answer::Found(n),
                Answer::TryAgain => again = true,
                _ => {}
            }
        }
        if again {
            Answer::TryAgain
        } else {
            Answer::NotFound
        }
    }

    fn in_hosts_file<T>(&self, f: impl Fn(&str) -> Vec<T>) -> Answer<Vec<T>> {
        match std::fs::read_to_string(&self.hosts_file) {
            Ok(text) => Answer::Found(f(&text)),
            Err(_) => Answer::NotFound,
        }
    }

    async fn dns_reverse(&self, ip: IpAddr) -> Answer<Vec<String>> {
        if let Some(servers) = &self.servers
            && ip.is_loopback()
        {
            let name = hickory_proto::rr::Name::from(ip);
            return ask_servers(servers, &name.to_ascii(), RecordType::PTR)
                .await
                .map(|rs| rs.iter().filter_map(ptr_name).collect());
        }
        match self.resolver.reverse_lookup(ip).await {
            Ok(l) => Answer::Found(
                l.answers()
                    .iter()
                    .filter_map(|r| ptr_name(&r.data))
                    .collect(),
            ),
            Err(e) if e.is_nx_domain() || e.is_no_records_found() => Answer::NotFound,
            Err(_) => Answer::TryAgain,
        }
    }

    async fn dns_addresses(&self, name: &str, v6: bool) -> Answer<Vec<IpAddr>> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        let rtype = if v6 { RecordType::AAAA } else { RecordType::A };
        let special = {
            let n = fqdn.to_ascii_lowercase();
            n == "localhost." || n.ends_with(".localhost.")
        };
        if let Some(servers) = &self.servers
            && special
        {
            return ask_servers(servers, &fqdn, rtype)
                .await
                .map(|rs| rs.iter().filter_map(address).collect());
        }
        let found = match rtype {
            RecordType::AAAA => self
                .resolver
                .ipv6_lookup(fqdn)
                .await
                .map(|l| l.answers().to_vec()),
            _ => self
                .resolver
                .ipv4_lookup(fqdn)
                .await
                .map(|l| l.answers().to_vec()),
        };
        match found {
            Ok(records) => Answer::Found(records.iter().filter_map(|r| address(&r.data)).collect()),
            Err(e) if e.is_nx_domain() || e.is_no_records_found() => Answer::NotFound,
            Err(_) => Answer::TryAgain,
        }
    }
}

fn ptr_name(r: &RData) -> Option<String> {
    match r {
        RData::PTR(p) => {
            Some(p.0.to_ascii().trim_end_matches('.').to_string()).filter(|n| !n.is_empty())
        }
        _ => None,
    }
}

fn address(r: &RData) -> Option<IpAddr> {
    match r {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        RData::AAAA(a) => Some(IpAddr::V6(a.0)),
        _ => None,
    }
}

/// The `hosts` methods of the service switch file (`hosts files dns`),
/// or sendmail's default, `dns files`.
pub fn hosts_methods(config: &Config) -> Vec<String> {
    let switch = config
        .text("ServiceSwitchFile")
        .unwrap_or_else(|| "/etc/mail/service.switch".into());
    switch_methods(std::path::Path::new(&switch), "hosts")
        .unwrap_or_else(|| vec!["dns".into(), "files".into()])
}

/// The methods the service switch file gives a service (`hosts files
/// dns`), or None when the file cannot be read or does not name it.
pub fn switch_methods(path: &std::path::Path, service: &str) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(path).ok()?;
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_ascii_whitespace();
        let Some(first) = words.next() else { continue };
        if first.trim_end_matches(':') == service {
            return Some(words.map(str::to_string).collect());
        }
    }
    None
}

/// The names a hosts file gives `ip`, the first line's first (its
/// canonical name) first.
fn hosts_names_of(text: &str, ip: IpAddr) -> Vec<String> {
    let mut names = Vec::new();
    for line in text.lines() {
        let mut words = line
            .split('#')
            .next()
            .unwrap_or("")
            .split_ascii_whitespace();
        if words.next().and_then(|a| a.parse::<IpAddr>().ok()) == Some(ip) {
            names.extend(words.map(str::to_string));
        }
    }
    names
}

/// The addresses of one family a hosts file gives `name`.
fn hosts_addresses_of(text: &str, name: &str, v6: bool) -> Vec<IpAddr> {
    let name = name.trim_end_matches('.');
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words = line
            .split('#')
            .next()
            .unwrap_or("")
            .split_ascii_whitespace();
        let Some(addr) = words.next().and_then(|a| a.parse::<IpAddr>().ok()) else {
            continue;
        };
        if addr.is_ipv6() == v6 && words.any(|w| w.eq_ignore_ascii_case(name)) {
            out.push(addr);
        }
    }
    out
}

/// One question to the configured servers, over UDP, each tried twice
/// within a second: what hickory's resolver would answer by itself.
/// SERVFAIL or silence is a temporary failure, NXDOMAIN or no record of
/// the type none.
pub async fn ask_servers(
    servers: &[SocketAddr],
    name: &str,
    rtype: RecordType,
) -> Answer<Vec<RData>> {
    use hickory_proto::op::{Message, Query, ResponseCode};
    let Ok(qname) = hickory_proto::rr::Name::from_ascii(name) else {
        return Answer::NotFound;
    };
    let mut query = Message::query();
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(qname, rtype));
    let Ok(bytes) = query.to_vec() else {
        return Answer::NotFound;
    };
    for server in servers {
        let local: SocketAddr = if server.is_ipv6() {
            "[::]:0".parse().expect("address")
        } else {
            "0.0.0.0:0".parse().expect("address")
        };
        // Connected, so that a closed port's ICMP error ends the wait at
        // once, as it does for hickory.
        let Ok(sock) = tokio::net::UdpSocket::bind(local).await else {
            continue;
        };
        if sock.connect(server).await.is_err() {
            continue;
        }
        for _ in 0..2 {
            if sock.send(&bytes).await.is_err() {
                break;
            }
            let mut buf = [0u8; 4096];
            let n = match tokio::time::timeout(Duration::from_millis(1000), sock.recv(&mut buf))
                .await
            {
                Ok(Ok(n)) => n,
                Ok(Err(_)) => break,
                Err(_) => continue,
            };
            let Ok(m) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            if m.metadata.id != query.metadata.id {
                continue;
            }
            return match m.metadata.response_code {
                ResponseCode::NoError => {
                    Answer::Found(m.answers.iter().map(|r| r.data.clone()).collect())
                }
                ResponseCode::NXDomain => Answer::NotFound,
                _ => Answer::TryAgain,
            };
        }
    }
    Answer::TryAgain
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

    /// Records: PTR by IPv4 address, A by name (names without the final
    /// dot); addresses whose PTR query gets SERVFAIL.
    #[derive(Default, Clone)]
    pub struct Zone {
        pub ptr: HashMap<Ipv4Addr, String>,
        pub a: HashMap<String, Ipv4Addr>,
        pub servfail: Vec<Ipv4Addr>,
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
                let mut failed = false;
                for q in &query.queries {
                    reply.add_query(q.clone());
                    let name = q
                        .name()
                        .to_ascii()
                        .trim_end_matches('.')
                        .to_ascii_lowercase();
                    match q.query_type() {
                        RecordType::PTR => {
                            if reverse_name(&name).is_some_and(|ip| zone.servfail.contains(&ip)) {
                                failed = true;
                            } else if let Some(ip) = reverse_name(&name)
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
                if failed {
                    reply.metadata.response_code = ResponseCode::ServFail;
                } else if !found {
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

    /// Names from `methods`, the fake server at `port` as Mtad.Nameservers
    /// and `hosts` as HostsFile.
    fn names(port: u16, methods: &[&str], hosts: &std::path::Path) -> HostNames {
        HostNames {
            methods: methods.iter().map(|m| m.to_string()).collect(),
            hosts_file: hosts.to_path_buf(),
            resolver: test_resolver(port),
            servers: Some(vec![SocketAddr::from(([127, 0, 0, 1], port))]),
        }
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
        let r = names(
            fake_dns::start(zone),
            &["dns"],
            std::path::Path::new("/nonexistent"),
        );
        let verify = |ip: &str| r.verify(ip.parse().unwrap());
        let good = verify("192.0.2.10").await;
        assert_eq!(good.name.as_deref(), Some("good.example"));
        assert!(good.verified);
        assert_eq!(good.resolve, "OK");
        let liar = verify("192.0.2.11").await;
        assert_eq!(liar.name.as_deref(), Some("liar.example"));
        assert!(!liar.verified);
        assert_eq!(liar.resolve, "FORGED");
        assert_eq!(
            liar.describe("192.0.2.11".parse().unwrap()),
            "liar.example [192.0.2.11] (may be forged)"
        );
        let none = verify("192.0.2.12").await;
        assert_eq!(none, ClientName::unknown("FAIL"));
    }

    #[tokio::test]
    async fn a_dead_server_is_a_temporary_failure() {
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let r = names(port, &["dns"], std::path::Path::new("/nonexistent"));
        for ip in ["192.0.2.10", "127.0.0.2"] {
            let start = std::time::Instant::now();
            let n = r.verify(ip.parse().unwrap()).await;
            assert_eq!(n.resolve, "TEMP", "{ip}");
            assert!(start.elapsed() < BOUND);
        }
    }

    #[tokio::test]
    async fn a_closed_port_is_a_temporary_failure_at_once() {
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let start = std::time::Instant::now();
        let servers = [SocketAddr::from(([127, 0, 0, 1], port))];
        let a = ask_servers(&servers, "1.0.0.127.in-addr.arpa.", RecordType::PTR).await;
        assert_eq!(a, Answer::TryAgain);
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn servfail_is_temporary_and_loopback_goes_to_the_servers() {
        let mut zone = fake_dns::Zone::default();
        zone.servfail.push([192, 0, 2, 20].into());
        zone.ptr
            .insert([127, 0, 0, 2].into(), "outside.test".into());
        zone.a.insert("outside.test".into(), [127, 0, 0, 2].into());
        let r = names(
            fake_dns::start(zone),
            &["dns"],
            std::path::Path::new("/nonexistent"),
        );
        assert_eq!(
            r.verify("192.0.2.20".parse().unwrap()).await.resolve,
            "TEMP"
        );
        // Not hickory's own "localhost": the server's name for 127.0.0.2.
        let n = r.verify("127.0.0.2".parse().unwrap()).await;
        assert_eq!(n.name.as_deref(), Some("outside.test"));
        assert_eq!(n.resolve, "OK");
        // 127.0.0.1 is what the server says it is: nothing.
        assert_eq!(r.verify("127.0.0.1".parse().unwrap()).await.resolve, "FAIL");
    }

    #[tokio::test]
    async fn the_switch_order_decides() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = dir.path().join("hosts");
        std::fs::write(
            &hosts,
            "# test\n127.0.0.5 filed.example filed\n127.0.0.1 localhost\n",
        )
        .unwrap();
        let mut zone = fake_dns::Zone::default();
        zone.ptr.insert([127, 0, 0, 5].into(), "dns.example".into());
        zone.a.insert("dns.example".into(), [127, 0, 0, 5].into());
        let port = fake_dns::start(zone);
        let ip: IpAddr = "127.0.0.5".parse().unwrap();
        let files_first = names(port, &["files", "dns"], &hosts).verify(ip).await;
        assert_eq!(files_first.name.as_deref(), Some("filed.example"));
        assert!(files_first.verified);
        let dns_first = names(port, &["dns", "files"], &hosts).verify(ip).await;
        assert_eq!(dns_first.name.as_deref(), Some("dns.example"));
        let files_only = names(port, &["files"], &hosts);
        assert_eq!(
            files_only
                .verify("127.0.0.1".parse().unwrap())
                .await
                .name
                .as_deref(),
            Some("localhost")
        );
        assert_eq!(
            files_only
                .verify("127.0.0.9".parse().unwrap())
                .await
                .resolve,
            "FAIL"
        );
    }

    #[test]
    fn hosts_file_lines() {
        let text = "127.0.0.1\tlocalhost\n::1 localhost ip6-localhost\n192.0.2.1 a.example a # x\n#192.0.2.2 b\n";
        assert_eq!(
            hosts_names_of(text, "192.0.2.1".parse().unwrap()),
            ["a.example", "a"]
        );
        assert!(hosts_names_of(text, "192.0.2.2".parse().unwrap()).is_empty());
        assert_eq!(
            hosts_addresses_of(text, "LOCALHOST.", false),
            ["127.0.0.1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            hosts_addresses_of(text, "localhost", true),
            ["::1".parse::<IpAddr>().unwrap()]
        );
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
