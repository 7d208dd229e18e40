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
use std::path::PathBuf;
use std::process::ExitCode;

/// Runs test mode on stdin and stdout.
pub fn run(config: &Config, verbose: bool, debug: &[String]) -> ExitCode {
    // Map problems were said when the config loaded (main.rs).
    let (mut engine, _) = rules::Engine::new(config);
    let mut macros = Macros::default();
    for (name, def) in &config.macros {
        let value = def.value.to_string();
        macros.set(
            &rules::compile::latin1(&name.0),
            &rules::compile::latin1(&value),
        );
    }
    // sendmail puts its own names in $=w before it reads the config: the
    // canonical host name ($j) and the node name (also $=k), then the
    // addresses of the interfaces.
    let host = crate::identity::host_name();
    let node = nix::sys::utsname::uname()
        .ok()
        .and_then(|u| u.nodename().to_str().map(str::to_string))
        .unwrap_or_else(|| host.clone());
    let w = engine.rules.classes.index(b"w");
    let k = engine.rules.classes.index(b"k");
    engine.rules.classes.add(w, host.as_bytes());
    engine.rules.classes.add(k, node.as_bytes());
    engine.rules.classes.add(w, node.as_bytes());
    for name in interface_names() {
        engine.rules.classes.add(w, name.as_bytes());
    }
    let resolver = HostResolver::new(config);
    let mut tm = rules::testmode::TestMode::new(engine, macros, &resolver);
    tm.verbose = verbose;
    for d in debug {
        let _ = tm.line(format!("-d{d}").as_bytes(), &mut std::io::sink());
    }
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
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

/// `[addr]` for each address of each interface that is up, as sendmail's
/// load_if_names() adds them to `$=w` (IPv6 loopback and link-local
/// addresses left out).
fn interface_names() -> Vec<String> {
    let mut names = Vec::new();
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return names;
    };
    for ifa in addrs {
        if !ifa.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP) {
            continue;
        }
        let Some(addr) = ifa.address else { continue };
        if let Some(v4) = addr.as_sockaddr_in() {
            let n = format!("[{}]", v4.ip());
            if !names.contains(&n) {
                names.push(n);
            }
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            let ip = v6.ip();
            if ip.is_loopback() || (ip.segments()[0] & 0xffc0) == 0xfe80 {
                continue;
            }
            let n = format!("[IPv6:{ip}]");
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
}

impl HostResolver {
    pub fn new(config: &Config) -> HostResolver {
        let switch = config
            .text("ServiceSwitchFile")
            .unwrap_or_else(|| "/etc/mail/service.switch".into());
        let methods = switch_methods(&PathBuf::from(switch), "hosts")
            .unwrap_or_else(|| vec!["dns".into(), "files".into()]);
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

    fn address_name(&self, addr: &str) -> Answer<String> {
        let want: Option<std::net::IpAddr> =
            addr.strip_prefix("IPv6:").unwrap_or(addr).parse().ok();
        let Some(want) = want else {
            return Answer::NotFound;
        };
        if let Ok(text) = std::fs::read_to_string(&self.hosts_file) {
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
        if let Some((rt, r)) = &self.dns {
            return match rt.block_on(r.reverse_lookup(want)) {
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
                Err(e) if e.is_no_records_found() || e.is_nx_domain() => Answer::NotFound,
                Err(_) => Answer::TryAgain,
            };
        }
        Answer::NotFound
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

    fn query(&self, name: &str, rtype: &str) -> Answer<Vec<String>> {
        let Some((rt, r)) = &self.dns else {
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
