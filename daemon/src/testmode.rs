//! `mtad -bt`: sendmail's address test mode on the config's own rules.
//! The engine and the command interpreter are in the `rules` crate; this
//! file gives them the host: its identity (`$j`, `$w`, `$m`, `$=w` with
//! the interface addresses, as sendmail builds them) and name lookups in
//! sendmail's order: the service switch's `hosts` methods, `files`
//! (HostsFile) and `dns` (hickory-resolver).

use cfparser::Config;
use hickory_resolver::proto::rr::RData;
use rules::env::{Answer, Macros, Resolver};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Runs test mode on stdin and stdout.
pub fn run(config: &Config, path: &Path, verbose: bool, debug: &[String]) -> ExitCode {
    let (mut engine, map_problems) = rules::Engine::new(config);
    crate::say_map_problems(path, &map_problems);
    let mut macros = Macros::with_metasymbols();
    // D lines as sendmail keeps them: `$x` in a value is the macro byte.
    for (name, def) in &config.macros {
        let text = rules::compile::latin1(&def.value.to_string());
        let value = rules::expand::translate_dollars(&text);
        macros.set(&rules::compile::latin1(&name.0), &value);
    }
    // $v is the version of what runs: mtad's, not sendmail's.
    macros.set(b"v", crate::macros::VERSION.as_bytes());
    let host = crate::identity::host_name();
    let node = nix::sys::utsname::uname()
        .ok()
        .and_then(|u| u.nodename().to_str().map(str::to_string))
        .unwrap_or_else(|| host.clone());
    let user = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map_or_else(|| nix::unistd::getuid().to_string(), |u| u.name);
    rules::builtin::install(
        &mut engine,
        &mut macros,
        &rules::builtin::Host {
            canonical: host,
            node,
            interfaces: interface_names(),
            user,
        },
    );
    let resolver = HostResolver::new(config);
    let mut tm = rules::testmode::TestMode::new(engine, macros, &resolver);
    tm.verbose = verbose;
    for d in debug {
        let _ = tm.line(format!("-d{d}").as_bytes(), &mut std::io::sink());
    }
    let mut input = std::io::BufReader::with_capacity(1 << 16, std::io::stdin());
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 18, stdout.lock());
    let r = tm.run(&mut input, &mut out);
    let _ = out.flush();
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mtad: -bt: {e}");
            ExitCode::from(74)
        }
    }
}

/// `[addr]` for each IPv4 address of each interface that is up, as
/// sendmail's load_if_names() finds them on Linux (SIOCGIFCONF: IPv4 only).
fn interface_names() -> Vec<String> {
    let mut names = Vec::new();
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return names;
    };
    for ifa in addrs {
        if !ifa.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP) {
            continue;
        }
        if let Some(v4) = ifa.address.as_ref().and_then(|a| a.as_sockaddr_in()) {
            let ip = v4.ip();
            if ip.is_unspecified() || ip.is_broadcast() {
                continue;
            }
            let n = format!("[{ip}]");
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    names
}

/// Name lookups in sendmail's order for `hosts` in the service switch.
pub struct HostResolver {
    methods: Vec<String>,
    hosts_file: PathBuf,
    domain: Option<String>,
    dns: Option<(tokio::runtime::Runtime, hickory_resolver::TokioResolver)>,
    /// The system's resolver for `[addr]`, made when first needed.
    system: std::sync::OnceLock<Option<(tokio::runtime::Runtime, hickory_resolver::TokioResolver)>>,
    config_for_dns: Config,
}

impl HostResolver {
    pub fn new(config: &Config) -> HostResolver {
        let methods = crate::dns::hosts_methods(config);
        let hosts_file = PathBuf::from(
            config
                .text("HostsFile")
                .unwrap_or_else(|| "/etc/hosts".into()),
        );
        let domain = config
            .macro_value("m")
            .map(|t| t.to_string())
            .filter(|d| !d.is_empty());
        let dns = if methods.iter().any(|m| m == "dns") {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()
                .and_then(|rt| {
                    let _g = rt.enter();
                    crate::dns::resolver(config).ok().map(|r| (rt, r))
                })
        } else {
            None
        };
        HostResolver {
            methods,
            hosts_file,
            domain,
            dns,
            system: std::sync::OnceLock::new(),
            config_for_dns: config.clone(),
        }
    }

    /// text_getcanonname(): the first dotted name of the HostsFile line
    /// that names the host (or the host with our domain).
    fn files_canonical(&self, name: &str) -> Answer<String> {
        let Ok(text) = std::fs::read_to_string(&self.hosts_file) else {
            return Answer::NotFound;
        };
        let mut n = name.to_string();
        if n.ends_with('.') {
            n.pop();
        }
        let short = match (&self.domain, n.split_once('.')) {
            (Some(d), Some((s, rest))) if rest.eq_ignore_ascii_case(d) => Some(s.to_string()),
            _ => None,
        };
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_ascii_whitespace();
            let _addr = words.next();
            let mut canon = String::new();
            let mut found = false;
            for w in words {
                if canon.is_empty() || (!canon.contains('.') && w.contains('.')) {
                    canon = w.to_string();
                }
                if w.eq_ignore_ascii_case(&n)
                    || short.as_deref().is_some_and(|s| w.eq_ignore_ascii_case(s))
                {
                    found = true;
                }
            }
            if found {
                if !canon.contains('.')
                    && let Some(d) = &self.domain
                {
                    canon = format!("{canon}.{d}");
                }
                return Answer::Found(canon);
            }
        }
        Answer::NotFound
    }

    fn dns_canonical(&self, name: &str) -> Answer<String> {
        let Some((rt, r)) = &self.dns else {
            return Answer::NotFound;
        };
        let fqdn = if name.ends_with('.') {
            name.to_string()
        } else {
            format!("{name}.")
        };
        match rt.block_on(r.lookup_ip(fqdn.as_str())) {
            Ok(l) => {
                let n = l
                    .as_lookup()
                    .answers()
                    .first()
                    .map(|rec| rec.name.to_ascii());
                Answer::Found(n.unwrap_or(fqdn).trim_end_matches('.').to_string())
            }
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Answer::NotFound,
            Err(_) => Answer::TryAgain,
        }
    }
}

impl HostResolver {
    /// The system's resolver, for address lookups (made at first use).
    fn system_resolver(
        &self,
    ) -> Option<&(tokio::runtime::Runtime, hickory_resolver::TokioResolver)> {
        self.system
            .get_or_init(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                let r = {
                    let _g = rt.enter();
                    crate::dns::resolver(&self.config_for_dns).ok()?
                };
                Some((rt, r))
            })
            .as_ref()
    }
}

/// inet_addr(): `a.b.c.d`, and the short forms `a.b.c` (c a 16-bit
/// number), `a.b` and `a`, each part decimal, `0x` hex or `0` octal.
fn inet_addr(s: &str) -> Option<std::net::IpAddr> {
    let parts: Vec<u32> = s
        .split('.')
        .map(|p| {
            if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
                u32::from_str_radix(h, 16).ok()
            } else if p.len() > 1 && p.starts_with('0') {
                u32::from_str_radix(&p[1..], 8).ok()
            } else {
                p.parse().ok()
            }
        })
        .collect::<Option<Vec<u32>>>()?;
    let v: u32 = match parts.as_slice() {
        [a] => *a,
        [a, b] if *a < 256 && *b < (1 << 24) => (a << 24) | b,
        [a, b, c] if *a < 256 && *b < 256 && *c < (1 << 16) => (a << 24) | (b << 16) | c,
        [a, b, c, d] if [a, b, c, d].iter().all(|x| **x < 256) => {
            (a << 24) | (b << 16) | (c << 8) | d
        }
        _ => return None,
    };
    Some(std::net::IpAddr::V4(std::net::Ipv4Addr::from(v)))
}

impl Resolver for HostResolver {
    fn canonical_name(&self, name: &str) -> Answer<String> {
        let mut tempfail = false;
        for m in &self.methods {
            let a = match m.as_str() {
                "files" => self.files_canonical(name),
                "dns" => self.dns_canonical(name),
                _ => Answer::NotFound,
            };
            match a {
                Answer::Found(mut c) => {
                    if !c.contains('.')
                        && let Some(d) = &self.domain
                    {
                        c = format!("{c}.{d}");
                    }
                    return Answer::Found(c);
                }
                Answer::TryAgain => tempfail = true,
                Answer::NotFound => {}
            }
        }
        if tempfail {
            Answer::TryAgain
        } else {
            Answer::NotFound
        }
    }

    /// sendmail's `[addr]` lookup is gethostbyaddr(): the system's own
    /// hosts file and resolver, not HostsFile or the service switch. The
    /// text inside the brackets is taken as inet_addr() (short forms too)
    /// or anynet_pton() (with or without `IPv6:`) take it; what neither
    /// reads is not found, and a name server that does not answer is a
    /// temporary failure.
    fn address_name(&self, addr: &str) -> Answer<String> {
        let v6 = addr
            .strip_prefix("IPv6:")
            .or_else(|| addr.strip_prefix("ipv6:"))
            .unwrap_or(addr);
        let Some(want) = inet_addr(addr).or_else(|| {
            v6.parse::<std::net::Ipv6Addr>()
                .ok()
                .map(std::net::IpAddr::V6)
        }) else {
            return Answer::NotFound;
        };
        if let Ok(text) = std::fs::read_to_string("/etc/hosts") {
            for line in text.lines() {
                let line = line.split('#').next().unwrap_or("");
                let mut words = line.split_ascii_whitespace();
                if words
                    .next()
                    .and_then(|a| a.parse::<std::net::IpAddr>().ok())
                    == Some(want)
                    && let Some(n) = words.next()
                {
                    return Answer::Found(n.to_string());
                }
            }
        }
        let Some((rt, r)) = self.system_resolver() else {
            return Answer::TryAgain;
        };
        match rt.block_on(r.reverse_lookup(want)) {
            Ok(l) => {
                let names: Vec<String> = l
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::PTR(p) => Some(p.0.to_ascii()),
                        _ => None,
                    })
                    .collect();
                match names.first() {
                    Some(n) => Answer::Found(n.trim_end_matches('.').to_string()),
                    None => Answer::NotFound,
                }
            }
            Err(e) if e.is_nx_domain() => Answer::NotFound,
            Err(_) => Answer::TryAgain,
        }
    }

    fn mx_hosts(&self, name: &str) -> Answer<Vec<String>> {
        if name.starts_with('[') {
            return Answer::Found(vec![name.to_string()]);
        }
        let Some((rt, r)) = &self.dns else {
            return Answer::Found(Vec::new());
        };
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match rt.block_on(r.mx_lookup(fqdn.as_str())) {
            Ok(l) => {
                let mut mx: Vec<(u16, String)> = l
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::MX(m) => Some((
                            m.preference,
                            m.exchange.to_ascii().trim_end_matches('.').to_string(),
                        )),
                        _ => None,
                    })
                    .collect();
                mx.sort();
                Answer::Found(mx.into_iter().map(|(_, h)| h).collect())
            }
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => {
                Answer::Found(vec![name.to_string()])
            }
            Err(_) => Answer::TryAgain,
        }
    }

    /// `dns` maps ask the resolver whatever the service switch says.
    fn query(&self, name: &str, rtype: &str) -> Answer<Vec<String>> {
        let Some((rt, r)) = self.dns.as_ref().or_else(|| self.system_resolver()) else {
            return Answer::TryAgain;
        };
        let Ok(t) = rtype.parse::<hickory_resolver::proto::rr::RecordType>() else {
            return Answer::NotFound;
        };
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match rt.block_on(r.lookup(fqdn.as_str(), t)) {
            Ok(l) => Answer::Found(
                l.answers()
                    .iter()
                    .map(|rec| rec.data.to_string().trim_end_matches('.').to_string())
                    .collect(),
            ),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Answer::NotFound,
            Err(_) => Answer::TryAgain,
        }
    }
}
