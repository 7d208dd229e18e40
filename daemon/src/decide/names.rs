//! Host and DNS lookups for the rules (`$[ $]`, the host, bestmx and dns
//! maps), in sendmail's order: the service switch's `hosts` methods,
//! `files` (HostsFile) and `dns` (hickory-resolver with the configured
//! servers). `-bt` and the daemon ask the same [`HostResolver`], so they
//! agree. The engine is synchronous: a lookup that goes to the network
//! tells the daemon's runtime that its thread waits ([`blocking`]); one
//! answered by the hosts file (kept while the file is unchanged) does not.

use cfparser::Config;
use hickory_resolver::proto::rr::RData;
use rules::env::{Answer, Resolver};
use std::path::PathBuf;

/// Name lookups in sendmail's order for `hosts` in the service switch.
pub struct HostResolver {
    methods: Vec<String>,
    hosts_file: PathBuf,
    domain: Option<String>,
    dns: Option<(tokio::runtime::Runtime, hickory_resolver::TokioResolver)>,
    /// The system's resolver for `[addr]`, made when first needed.
    system: std::sync::OnceLock<Option<(tokio::runtime::Runtime, hickory_resolver::TokioResolver)>>,
    /// HostsFile and /etc/hosts as last read, by path; read again when
    /// their size or time changes.
    hosts_cache: std::sync::Mutex<Vec<CachedFile>>,
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
            hosts_cache: std::sync::Mutex::new(Vec::new()),
            config_for_dns: config.clone(),
        }
    }

    /// text_getcanonname(): the first dotted name of the HostsFile line
    /// that names the host (or the host with our domain).
    fn files_canonical(&self, name: &str) -> Answer<String> {
        let Some(text) = self.hosts_text(&self.hosts_file) else {
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
        match blocking(|| rt.block_on(r.lookup_ip(fqdn.as_str()))) {
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

/// The resolvers' own runtimes are shut down without waiting: the last
/// holder of the rules may be a session's task (after a reload, or at
/// shutdown), where a runtime may not be dropped the blocking way.
impl Drop for HostResolver {
    fn drop(&mut self) {
        if let Some((rt, r)) = self.dns.take() {
            drop(r);
            rt.shutdown_background();
        }
        if let Some(Some((rt, r))) = self.system.take() {
            drop(r);
            rt.shutdown_background();
        }
    }
}

/// A hosts file as read, with what says whether it changed since.
struct CachedFile {
    path: PathBuf,
    stamp: (u64, Option<std::time::SystemTime>),
    text: std::sync::Arc<str>,
}

impl HostResolver {
    /// The text of a hosts file, from the cache while the file's size and
    /// modification time stay the same (one stat per lookup, no read).
    fn hosts_text(&self, path: &std::path::Path) -> Option<std::sync::Arc<str>> {
        let meta = std::fs::metadata(path).ok()?;
        let stamp = (meta.len(), meta.modified().ok());
        let mut cache = self.hosts_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.iter().find(|c| c.path == path && c.stamp == stamp) {
            return Some(c.text.clone());
        }
        let text: std::sync::Arc<str> = std::fs::read_to_string(path).ok()?.into();
        cache.retain(|c| c.path != path);
        cache.push(CachedFile {
            path: path.to_path_buf(),
            stamp,
            text: text.clone(),
        });
        Some(text)
    }

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
        if let Some(text) = self.hosts_text(std::path::Path::new("/etc/hosts")) {
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
        match blocking(|| rt.block_on(r.reverse_lookup(want))) {
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
        match blocking(|| rt.block_on(r.mx_lookup(fqdn.as_str()))) {
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
        match blocking(|| rt.block_on(r.lookup(fqdn.as_str(), t))) {
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

/// Runs a lookup that waits on the network: inside the daemon's runtime,
/// tokio is told that this thread blocks (`block_in_place`), so that the
/// sessions on the same worker go on elsewhere; a single-threaded runtime
/// cannot wait on the resolver's own from its thread, so another thread
/// waits. Lookups answered from HostsFile never come here.
fn blocking<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        Ok(_) => std::thread::scope(|s| s.spawn(f).join())
            .unwrap_or_else(|p| std::panic::resume_unwind(p)),
        Err(_) => f(),
    }
}
