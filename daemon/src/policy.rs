//! Who may relay, which domains are ours, which local users exist: the
//! decisions RCPT needs, taken from the config's data (class w, class R,
//! the access map, the alias files) as sendmail's stock rulesets take them.
//!
//! A recipient is relayed only when the client may relay (127.0.0.1 or ::1,
//! as in sendmail, or a `Connect:` RELAY entry of the access map) or its
//! domain is one we relay for (class R and its subdomains, or a `To:` RELAY
//! entry). Everything else outside our domains is "Relaying denied".

use crate::aliases::{Aliases, ExpandError, Expander, Target};
use cfparser::Config;
use cfparser::model::TextMap;
use std::collections::HashSet;
use std::net::IpAddr;

/// The decisions, ready for lookups.
#[derive(Debug, Default)]
pub struct Policy {
    /// Our names, lower case: class w, `$j`, `localhost`, and address
    /// literals of loopback.
    local_domains: HashSet<String>,
    /// Class R, lower case.
    relay_domains: Vec<String>,
    /// The access map's text source, if the config declares one.
    access: Option<TextMap>,
    /// The alias files, read once at start.
    pub aliases: Aliases,
    /// Local parts are folded to lower case (the local mailer has no `u`
    /// flag).
    fold_local: bool,
}

/// Where a recipient goes, as far as RCPT is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// One of our domains (or unqualified): `local` is the user part.
    Local { user: String },
    /// Another domain.
    Remote { domain: String },
}

impl Policy {
    pub fn from_config(config: &Config, host_name: &str) -> Policy {
        let local_domains = local_domains(config, host_name);
        let relay_domains = config
            .class("R")
            .map(|r| r.words().map(str::to_ascii_lowercase).collect())
            .unwrap_or_default();
        let access = config.maps.get("access").and_then(|m| m.load_source().ok());
        let fold_local = !config.mailer("local").is_some_and(|m| m.has_flag('u'));
        Policy {
            local_domains,
            relay_domains,
            access,
            aliases: Aliases::from_config(config),
            fold_local,
        }
    }

    /// Where a parsed recipient goes.
    pub fn route(&self, local: &str, domain: Option<&str>) -> Route {
        match domain {
            Some(d) if !self.is_local_domain(d) => Route::Remote {
                domain: d.trim_end_matches('.').to_ascii_lowercase(),
            },
            _ => Route::Local {
                user: if self.fold_local {
                    local.to_ascii_lowercase()
                } else {
                    local.to_string()
                },
            },
        }
    }

    pub fn is_local_domain(&self, domain: &str) -> bool {
        let d = domain.trim_end_matches('.').to_ascii_lowercase();
        self.local_domains.contains(&d)
    }

    /// 127.0.0.1 and ::1 may relay, as in sendmail (not the rest of
    /// 127.0.0.0/8); others if the access map says `Connect:ADDR RELAY`
    /// (or the old form without the tag), by address prefix.
    pub fn client_may_relay(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        if ip == IpAddr::from([127, 0, 0, 1]) || ip == IpAddr::V6(std::net::Ipv6Addr::LOCALHOST) {
            return true;
        }
        let Some(access) = &self.access else {
            return false;
        };
        address_keys(ip).iter().any(|key| {
            [format!("connect:{key}"), key.clone()].iter().any(|k| {
                access
                    .get(k)
                    .is_some_and(|v| v.eq_ignore_ascii_case("RELAY"))
            })
        })
    }

    /// A domain we relay for: class R or a subdomain of one, or a `To:`
    /// RELAY entry of the access map for it or a parent domain.
    pub fn relay_to(&self, domain: &str) -> bool {
        let d = domain.trim_end_matches('.').to_ascii_lowercase();
        if self
            .relay_domains
            .iter()
            .any(|r| d == *r || d.ends_with(&format!(".{r}")))
        {
            return true;
        }
        let Some(access) = &self.access else {
            return false;
        };
        let mut candidate = d.as_str();
        loop {
            if access
                .get(&format!("to:{candidate}"))
                .is_some_and(|v| v.eq_ignore_ascii_case("RELAY"))
            {
                return true;
            }
            match candidate.split_once('.') {
                Some((_, parent)) => candidate = parent,
                None => return false,
            }
        }
    }

    /// What a local user name expands to through the aliases.
    pub fn expand(&self, user: &str) -> Result<Vec<Target>, ExpandError> {
        let is_local = |d: &str| self.is_local_domain(d);
        Expander {
            aliases: &self.aliases,
            is_local_domain: &is_local,
            fold: self.fold_local,
        }
        .expand(user)
    }

    /// A local user exists if an alias names it or it is an account;
    /// `postmaster` always exists (RFC 5321 4.5.1). `user+detail` is
    /// `user`.
    pub fn local_user_exists(&self, user: &str) -> bool {
        let name = user.to_ascii_lowercase();
        if name == "postmaster" || self.aliases.contains(&name) {
            return true;
        }
        let base = user.split('+').next().unwrap_or(user);
        if base != user && self.aliases.contains(base) {
            return true;
        }
        if base.is_empty() || base.contains(['/', '|', ':', '"', '\\']) {
            return false;
        }
        matches!(nix::unistd::User::from_name(base), Ok(Some(_)))
    }
}

/// Our names, lower case: class w, `$j`, `localhost`, and the address
/// literals of loopback.
pub fn local_domains(config: &Config, host_name: &str) -> HashSet<String> {
    let mut names: HashSet<String> = config
        .class("w")
        .map(|w| w.words().map(str::to_ascii_lowercase).collect())
        .unwrap_or_default();
    names.insert(host_name.to_ascii_lowercase());
    names.insert("localhost".into());
    names.insert("[127.0.0.1]".into());
    names.insert("[ipv6:::1]".into());
    names
}

/// sendmail's access-map keys for an address: the whole address, then
/// shorter and shorter prefixes (`192.0.2.1`, `192.0.2`, `192.0`, `192`;
/// `IPv6:2001:db8::1` and its prefixes by group).
fn address_keys(ip: IpAddr) -> Vec<String> {
    let (full, sep) = match ip {
        IpAddr::V4(v4) => (v4.to_string(), '.'),
        IpAddr::V6(v6) => (format!("ipv6:{v6}"), ':'),
    };
    let mut keys = vec![full.clone()];
    let mut s = full.as_str();
    while let Some(i) = s.rfind(sep) {
        s = &s[..i];
        if s.is_empty() || s == "ipv6" {
            break;
        }
        keys.push(s.to_string());
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(extra: &str, dir: &std::path::Path) -> Policy {
        let aliases = dir.join("aliases");
        std::fs::write(
            &aliases,
            "# aliases\nMailer-Daemon: postmaster\nlist: a, b,\n  c\nwebmaster: root\n",
        )
        .unwrap();
        let access = dir.join("access");
        std::fs::write(
            &access,
            "Connect:192.0.2 RELAY\nTo:partner.example RELAY\n10.1.2.3 RELAY\n",
        )
        .unwrap();
        let cf = format!(
            "V10\nCwmail.lab.example lab.example\nCRrelay.example\nO AliasFile={}\nKaccess hash {}\nMlocal, P=/bin/cat, F=lsDFM, A=cat $u\n{extra}",
            aliases.display(),
            access.display()
        );
        let loaded = cfparser::load_bytes(
            std::path::Path::new("t.cf"),
            cf.into_bytes(),
            &Default::default(),
        )
        .unwrap();
        Policy::from_config(&loaded.config, "host.lab.example")
    }

    #[test]
    fn local_domains_and_routes() {
        let dir = tempfile::tempdir().unwrap();
        let p = policy("", dir.path());
        assert_eq!(
            p.route("Root", Some("MAIL.lab.example.")),
            Route::Local {
                user: "root".into()
            }
        );
        assert_eq!(p.route("u", None), Route::Local { user: "u".into() });
        assert_eq!(
            p.route("u", Some("[127.0.0.1]")),
            Route::Local { user: "u".into() }
        );
        assert_eq!(
            p.route("u", Some("host.lab.example")),
            Route::Local { user: "u".into() }
        );
        assert_eq!(
            p.route("u", Some("Other.Example")),
            Route::Remote {
                domain: "other.example".into()
            }
        );
    }

    #[test]
    fn who_may_relay() {
        let dir = tempfile::tempdir().unwrap();
        let p = policy("", dir.path());
        assert!(p.client_may_relay("127.0.0.1".parse().unwrap()));
        assert!(p.client_may_relay("::1".parse().unwrap()));
        assert!(
            !p.client_may_relay("127.0.0.2".parse().unwrap()),
            "not the rest of 127/8"
        );
        assert!(
            p.client_may_relay("192.0.2.77".parse().unwrap()),
            "Connect:192.0.2 prefix"
        );
        assert!(
            p.client_may_relay("10.1.2.3".parse().unwrap()),
            "old untagged form"
        );
        assert!(!p.client_may_relay("192.0.3.1".parse().unwrap()));
        assert!(p.relay_to("relay.example") && p.relay_to("sub.relay.example"));
        assert!(!p.relay_to("notrelay.example"));
        assert!(
            p.relay_to("mx.partner.example"),
            "To: entry covers subdomains"
        );
    }

    #[test]
    fn users_and_aliases() {
        let dir = tempfile::tempdir().unwrap();
        let p = policy("", dir.path());
        assert!(p.local_user_exists("postmaster"));
        assert!(p.local_user_exists("PostMaster"));
        assert!(p.local_user_exists("mailer-daemon"), "alias keys, any case");
        assert!(p.local_user_exists("list"));
        assert!(
            !p.local_user_exists("c"),
            "a continuation line is not a key"
        );
        assert!(p.local_user_exists("root"), "an account");
        assert!(p.local_user_exists("root+tag"), "user+detail");
        assert!(!p.local_user_exists("u%other.example"));
        assert!(!p.local_user_exists("no-such-user-xyz"));
    }

    #[test]
    fn access_keys_by_prefix() {
        assert_eq!(
            address_keys("192.0.2.1".parse().unwrap()),
            ["192.0.2.1", "192.0.2", "192.0", "192"]
        );
        let v6 = address_keys("2001:db8::1".parse().unwrap());
        assert_eq!(v6[0], "ipv6:2001:db8::1");
        assert!(v6.contains(&"ipv6:2001:db8".to_string()));
    }
}
