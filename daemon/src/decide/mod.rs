//! The daemon's decisions by the config's own rules, in one place: the
//! only caller of the ruleset engine (`rules`). What SMTP asks (the check
//! rulesets at connect, MAIL and RCPT, with the macros sendmail defines at
//! each point) is in [`smtp`]; what a recipient's address means is
//! parseaddr()'s. `-bt` builds its engine here too, so that it and the
//! daemon see the same classes, macros and name lookups.
//!
//! sendmail's own code paths are followed: parseaddr.c (parseaddr,
//! rscheck), srvrsmtp.c (when each check runs and what it gets), conf.c
//! (validate_connection).

pub mod names;
pub mod smtp;

use cfparser::Config;
use rules::env::Macros;

pub use names::HostResolver;

/// A config's rules, ready to run: the engine (with the host's names in
/// class w), the macros every run starts from, and the name lookups.
pub struct Rules {
    pub engine: rules::Engine,
    /// The D lines and the host's own macros (`$j`, `$w`, `$m`, `$k`,
    /// `$v`), as sendmail holds them before a session adds its own (each
    /// session's lie over these, shared).
    pub macros: std::sync::Arc<Macros>,
    pub resolver: HostResolver,
    /// Problems of K lines (their lookups fail temporarily).
    pub map_problems: Vec<rules::MapProblem>,
    /// The engine's working buffers, lent to one call at a time: warm,
    /// and held by no idle session.
    buffers: std::sync::Mutex<Vec<rules::Buffers>>,
}

/// Buffers kept for reuse, at most (about one per call running at once).
const KEPT_BUFFERS: usize = 64;

impl Rules {
    /// Compiles `config` for this host; `host_name` is `$j` when the
    /// config has no Dj (the daemon's settings decide it).
    pub fn load(config: &Config, host_name: &str) -> Rules {
        let (mut engine, map_problems) = rules::Engine::new(config);
        let mut macros = Macros::with_metasymbols();
        // D lines as sendmail keeps them: `$x` in a value is the macro byte.
        for (name, def) in &config.macros {
            let text = rules::compile::latin1(&def.value.to_string());
            let value = rules::expand::translate_dollars(&text);
            macros.set(&rules::compile::latin1(&name.0), &value);
        }
        // $v is the version of what runs: mtad's, not sendmail's.
        macros.set(b"v", crate::macros::VERSION.as_bytes());
        let node = nix::sys::utsname::uname()
            .ok()
            .and_then(|u| u.nodename().to_str().map(str::to_string))
            .unwrap_or_else(|| host_name.to_string());
        let user = nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map_or_else(|| nix::unistd::getuid().to_string(), |u| u.name);
        rules::builtin::install(
            &mut engine,
            &mut macros,
            &rules::builtin::Host {
                canonical: host_name.to_string(),
                node,
                interfaces: interface_names(),
                user,
            },
        );
        Rules {
            engine,
            macros: std::sync::Arc::new(macros),
            resolver: HostResolver::new(config),
            map_problems,
            buffers: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Buffers for one call of the engine (warm ones when there are).
    pub fn take_buffers(&self) -> rules::Buffers {
        let mut kept = self.buffers.lock().unwrap_or_else(|p| p.into_inner());
        kept.pop().unwrap_or_default()
    }

    /// Buffers back after a call.
    pub fn give_buffers(&self, b: rules::Buffers) {
        let mut kept = self.buffers.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() < KEPT_BUFFERS {
            kept.push(b);
        }
    }

    /// Whether the config has a ruleset of this name.
    pub fn has(&self, name: &str) -> bool {
        self.engine.rules.find(name).is_some()
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
