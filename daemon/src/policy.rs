//! Which domains are ours and which local users exist: what RCPT asks
//! after the rules (check_rcpt, in the config) have said the recipient may
//! be taken, and what VRFY and EXPN answer. Relaying and the access map are
//! the config's own rules now (decide/ runs them).

use crate::aliases::{Aliases, ExpandError, Expander, Target};
use cfparser::Config;
use std::collections::HashSet;

/// The decisions, ready for lookups.
#[derive(Debug, Default)]
pub struct Policy {
    /// Our names, lower case: class w, `$j`, `localhost`, and address
    /// literals of loopback.
    local_domains: HashSet<String>,
    /// The alias files, read once at start.
    pub aliases: Aliases,
    /// Local parts are folded to lower case (the local mailer has no `u`
    /// flag).
    fold_local: bool,
}

impl Policy {
    pub fn from_config(config: &Config, host_name: &str) -> Policy {
        let local_domains = local_domains(config, host_name);
        let fold_local = !config.mailer("local").is_some_and(|m| m.has_flag('u'));
        Policy {
            local_domains,
            aliases: Aliases::from_config(config),
            fold_local,
        }
    }

    pub fn is_local_domain(&self, domain: &str) -> bool {
        let d = domain.trim_end_matches('.').to_ascii_lowercase();
        self.local_domains.contains(&d)
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
}
