//! Where a recipient goes for delivery: mailer, host and user, sendmail's
//! `$#mailer $@host $:user` triple.
//!
//! This reads the config's data directly, in the order the stock rulesets
//! consult it: our own names (class w) mean the `local` mailer; then the
//! mailertable (exact domain, then `.parent` entries up the tree, then
//! `.`); then the smart host (`DS`, `[mailer:]host`, mailer `relay` by
//! default); else the domain itself through `esmtp`. The percent hack and
//! bang paths of a local address are undone first (`u%h@local` and
//! `h!u@local` go to `u@h`), as sendmail does for mail it accepted; RCPT
//! has already refused them from clients that may not relay.
//!
//! A later issue lets the config's rulesets decide instead; this module's
//! one entry point, [`Router::route`], is what it replaces.

use cfparser::Config;
use cfparser::model::TextMap;
use std::collections::HashSet;
use thiserror::Error;

/// sendmail's triple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// An M line's name (`local`, `esmtp`, `relay`, `error`, …).
    pub mailer: String,
    /// The host to connect to (`[host]`: no MX lookup); for `error`, the
    /// enhanced status code.
    pub host: Option<String>,
    /// The recipient as that mailer takes it: the local user, the whole
    /// address for SMTP mailers, the message for `error`.
    pub user: String,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RouteError {
    #[error("mailer {0} is not defined in the configuration")]
    NoMailer(String),
    #[error("too many % or ! hops in {0}")]
    TooManyHops(String),
    #[error("mailertable entry for {domain} is malformed: {value}")]
    BadEntry { domain: String, value: String },
}

pub struct Router {
    local_domains: HashSet<String>,
    mailertable: Option<TextMap>,
    /// `DS`: (mailer, host).
    smart_host: Option<(String, String)>,
    mailers: HashSet<String>,
}

impl Router {
    pub fn from_config(config: &Config, host_name: &str) -> Router {
        let mailers: HashSet<String> = config.mailers.iter().map(|m| m.name.clone()).collect();
        let default_relay = if mailers.contains("relay") {
            "relay"
        } else {
            "esmtp"
        };
        let smart_host = config
            .macro_value("S")
            .map(|t| t.expand(&|_| None).trim().to_string())
            .filter(|s| !s.is_empty())
            .map(|s| match split_mailer(&s) {
                Some((m, h)) => (m.to_string(), h.to_string()),
                None => (default_relay.to_string(), s),
            });
        Router {
            local_domains: crate::policy::local_domains(config, host_name),
            mailertable: config
                .maps
                .get("mailertable")
                .and_then(|m| m.load_source().ok()),
            smart_host,
            mailers,
        }
    }

    /// The one entry point: an envelope recipient (`user`, `user@domain`)
    /// to its triple.
    pub fn route(&self, recipient: &str) -> Result<Destination, RouteError> {
        let mut addr = recipient.to_string();
        for _ in 0..10 {
            let (local, domain) = match addr.rsplit_once('@') {
                Some((l, d)) => (
                    l.to_string(),
                    Some(d.trim_end_matches('.').to_ascii_lowercase()),
                ),
                None => (addr.clone(), None),
            };
            let is_local = domain
                .as_deref()
                .is_none_or(|d| self.local_domains.contains(d));
            if !is_local {
                let domain = domain.unwrap_or_default();
                return self.remote(&format!("{local}@{domain}"), &domain);
            }
            if !local.starts_with('"') {
                if let Some((user, host)) = local.rsplit_once('%') {
                    addr = format!("{user}@{host}");
                    continue;
                }
                if let Some((host, user)) = local.split_once('!') {
                    addr = format!("{user}@{host}");
                    continue;
                }
            }
            return self.destination("local", None, local);
        }
        Err(RouteError::TooManyHops(recipient.to_string()))
    }

    fn remote(&self, address: &str, domain: &str) -> Result<Destination, RouteError> {
        if let Some((key, value)) = self.mailertable_entry(domain) {
            let Some((mailer, rest)) = split_mailer(value) else {
                return Err(RouteError::BadEntry {
                    domain: key,
                    value: value.to_string(),
                });
            };
            return match mailer {
                "error" => {
                    let (status, text) = match rest.split_once(':') {
                        Some((s, t)) if s.contains('.') => (s.to_string(), t.to_string()),
                        _ => ("5.0.0".to_string(), rest.to_string()),
                    };
                    self.destination("error", Some(status), text)
                }
                "local" => {
                    let user = if rest.is_empty() {
                        address.rsplit_once('@').map_or(address, |(l, _)| l)
                    } else {
                        rest
                    };
                    self.destination("local", None, user.to_string())
                }
                _ => {
                    let host = if rest.is_empty() { domain } else { rest };
                    self.destination(mailer, Some(host.to_string()), address.to_string())
                }
            };
        }
        if let Some((mailer, host)) = &self.smart_host {
            return self.destination(mailer, Some(host.clone()), address.to_string());
        }
        self.destination("esmtp", Some(domain.to_string()), address.to_string())
    }

    /// The mailertable entry for a domain: the domain itself, then
    /// `.parent` for each parent, then `.`.
    fn mailertable_entry(&self, domain: &str) -> Option<(String, &str)> {
        let table = self.mailertable.as_ref()?;
        if let Some(v) = table.get(domain) {
            return Some((domain.to_string(), v));
        }
        let mut rest = domain;
        while let Some((_, parent)) = rest.split_once('.') {
            let key = format!(".{parent}");
            if let Some(v) = table.get(&key) {
                return Some((key, v));
            }
            rest = parent;
        }
        table.get(".").map(|v| (".".to_string(), v))
    }

    fn destination(
        &self,
        mailer: &str,
        host: Option<String>,
        user: String,
    ) -> Result<Destination, RouteError> {
        if mailer != "error" && !self.mailers.contains(mailer) {
            return Err(RouteError::NoMailer(mailer.to_string()));
        }
        Ok(Destination {
            mailer: mailer.to_string(),
            host,
            user,
        })
    }
}

/// `mailer:rest`, when the part before the first colon is a mailer name
/// (not the inside of an `[IPv6:…]` literal).
fn split_mailer(s: &str) -> Option<(&str, &str)> {
    let (m, rest) = s.split_once(':')?;
    if m.is_empty() || m.contains(['[', ']', '.']) {
        return None;
    }
    Some((m.trim(), rest.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAILERS: &str = "Mlocal, P=/bin/cat, F=lsDFM, A=cat $u\n\
        Mesmtp, P=[IPC], F=mDFMuXa, A=TCP $h\n\
        Msmtp, P=[IPC], F=mDFMuX, A=TCP $h\n\
        Mrelay, P=[IPC], F=mDFMuXa8, A=TCP $h\n";

    fn router(extra: &str) -> (Router, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let table = dir.path().join("mailertable");
        std::fs::write(
            &table,
            "example.net\t\trelay:[relay.example.net]\n\
             .example.net\t\tesmtp:[relay.example.net]\n\
             partner.example.org\tsmtp:mx.partner.example.org\n\
             local.lab.example\tlocal:labuser\n\
             .blackhole.example\terror:5.1.2:550 Host unknown (mailertable)\n\
             nohost.example\tesmtp:\n\
             broken.example\tnocolon\n",
        )
        .unwrap();
        let cf = format!(
            "V10\nCwmail.lab.example lab.example\nKmailertable hash {}\n{MAILERS}{extra}",
            table.display()
        );
        let loaded = cfparser::load_bytes(
            std::path::Path::new("t.cf"),
            cf.into_bytes(),
            &Default::default(),
        )
        .unwrap();
        (Router::from_config(&loaded.config, "mail.lab.example"), dir)
    }

    fn dest(mailer: &str, host: Option<&str>, user: &str) -> Destination {
        Destination {
            mailer: mailer.into(),
            host: host.map(str::to_string),
            user: user.into(),
        }
    }

    #[test]
    fn local_names_mailertable_and_mx() {
        let (r, _d) = router("");
        assert_eq!(r.route("user").unwrap(), dest("local", None, "user"));
        assert_eq!(
            r.route("user@Mail.Lab.Example.").unwrap(),
            dest("local", None, "user")
        );
        assert_eq!(
            r.route("user@remote.example.com").unwrap(),
            dest(
                "esmtp",
                Some("remote.example.com"),
                "user@remote.example.com"
            )
        );
        assert_eq!(
            r.route("user@example.net").unwrap(),
            dest("relay", Some("[relay.example.net]"), "user@example.net")
        );
        assert_eq!(
            r.route("user@foo.example.net").unwrap(),
            dest("esmtp", Some("[relay.example.net]"), "user@foo.example.net")
        );
        assert_eq!(
            r.route("u@partner.example.org").unwrap(),
            dest(
                "smtp",
                Some("mx.partner.example.org"),
                "u@partner.example.org"
            )
        );
        assert_eq!(
            r.route("anyone@local.lab.example").unwrap(),
            dest("local", None, "labuser")
        );
        assert_eq!(
            r.route("user@x.blackhole.example").unwrap(),
            dest("error", Some("5.1.2"), "550 Host unknown (mailertable)")
        );
        assert_eq!(
            r.route("user@nohost.example").unwrap(),
            dest("esmtp", Some("nohost.example"), "user@nohost.example")
        );
        assert!(matches!(
            r.route("user@broken.example"),
            Err(RouteError::BadEntry { .. })
        ));
    }

    #[test]
    fn percent_hack_and_bang_paths_of_local_addresses() {
        let (r, _d) = router("");
        assert_eq!(
            r.route("user%other.example@mail.lab.example").unwrap(),
            dest("esmtp", Some("other.example"), "user@other.example")
        );
        assert_eq!(
            r.route("other.example!user").unwrap(),
            dest("esmtp", Some("other.example"), "user@other.example")
        );
        assert_eq!(
            r.route("user%lab.example").unwrap(),
            dest("local", None, "user")
        );
        assert_eq!(
            r.route("\"a%b\"@lab.example").unwrap(),
            dest("local", None, "\"a%b\"")
        );
        let deep: String = "u".to_string() + &"%lab.example".repeat(12);
        assert!(matches!(r.route(&deep), Err(RouteError::TooManyHops(_))));
    }

    #[test]
    fn smart_host_after_mailertable() {
        let (r, _d) = router("DSrelay.example.net\n");
        assert_eq!(
            r.route("user@remote.example.com").unwrap(),
            dest(
                "relay",
                Some("relay.example.net"),
                "user@remote.example.com"
            )
        );
        assert_eq!(r.route("user").unwrap(), dest("local", None, "user"));
        assert_eq!(
            r.route("u@partner.example.org").unwrap().mailer,
            "smtp",
            "the mailertable comes first"
        );
        let (r, _d) = router("DSesmtp:[10.0.0.1]\n");
        assert_eq!(
            r.route("user@remote.example.com").unwrap(),
            dest("esmtp", Some("[10.0.0.1]"), "user@remote.example.com")
        );
        let (r, _d) = router("DSdsmtp:hub.example\n");
        assert_eq!(
            r.route("user@remote.example.com"),
            Err(RouteError::NoMailer("dsmtp".into()))
        );
    }
}
