//! Which hosts to connect to for a destination, in order (RFC 5321 §5):
//! the MX records, lowest preference first and in random order among
//! equals; the domain's own addresses when it has no MX (the implicit
//! MX); nothing at all for a null MX (RFC 7505), which bounces at once.
//! `[host]` skips the MX lookup, as in sendmail, and `[192.0.2.1]` or
//! `[IPv6:…]` names the address itself.

use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::RData;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;

/// The most MX hosts tried for one destination.
const MAX_HOSTS: usize = 10;

/// A host to try and its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub addrs: Vec<IpAddr>,
}

/// Why there is no host to try.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MxError {
    /// The domain says it takes no mail (RFC 7505).
    #[error("556 5.1.10 {0}: the domain does not accept mail (null MX)")]
    NullMx(String),
    /// The name does not exist, or has no address.
    #[error("550 5.1.2 {0}: host unknown (no such domain, or no address for it)")]
    Unknown(String),
    /// Our own name is among the MX hosts, at the best preference.
    #[error("554 5.3.5 MX list for {0} points back to {1}")]
    PointsBack(String, String),
    /// The lookup failed for now.
    #[error("451 4.4.3 {0}: host name lookup failure ({1})")]
    Temporary(String, String),
}

/// The hosts for `dest` as a route names it (`domain` or `[host]`).
/// `me` is our own name, so that an MX list naming us is not followed
/// back to ourselves.
pub async fn hosts(resolver: &TokioResolver, dest: &str, me: &str) -> Result<Vec<Host>, MxError> {
    if let Some(inner) = dest.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        let literal = inner.strip_prefix("IPv6:").unwrap_or(inner);
        if let Ok(ip) = literal.parse::<IpAddr>() {
            return Ok(vec![Host {
                name: inner.to_string(),
                addrs: vec![ip],
            }]);
        }
        return Ok(vec![addresses(resolver, inner, inner).await?]);
    }
    let domain = dest.trim_end_matches('.');
    let lookup = match resolver.mx_lookup(format!("{domain}.")).await {
        Ok(l) => l,
        Err(e) if e.is_no_records_found() && !e.is_nx_domain() => {
            return Ok(vec![addresses(resolver, domain, domain).await?]);
        }
        Err(e) if e.is_nx_domain() => return Err(MxError::Unknown(domain.to_string())),
        Err(e) => return Err(MxError::Temporary(domain.to_string(), e.to_string())),
    };
    let mut mx: Vec<(u16, String)> = lookup
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::MX(m) => Some((
                m.preference,
                m.exchange
                    .to_ascii()
                    .trim_end_matches('.')
                    .to_ascii_lowercase(),
            )),
            _ => None,
        })
        .collect();
    if mx.is_empty() {
        return Ok(vec![addresses(resolver, domain, domain).await?]);
    }
    if mx.iter().any(|(_, name)| name.is_empty()) {
        return Err(MxError::NullMx(domain.to_string()));
    }
    order(&mut mx, RandomState::new().hash_one(domain));
    // RFC 5321 §5.1: hosts at our own preference or worse are dropped, or
    // a backup MX would send the mail to itself.
    if let Some(pos) = mx.iter().position(|(_, n)| n.eq_ignore_ascii_case(me)) {
        let own = mx[pos].0;
        mx.retain(|(p, _)| *p < own);
        if mx.is_empty() {
            return Err(MxError::PointsBack(domain.to_string(), me.to_string()));
        }
    }
    let mut hosts = Vec::new();
    let mut last = None;
    for (_, name) in mx.into_iter().take(MAX_HOSTS) {
        match addresses(resolver, &name, domain).await {
            Ok(h) => hosts.push(h),
            Err(e) => last = Some(e),
        }
    }
    if hosts.is_empty() {
        // No MX host has an address: temporary, as a DNS problem at the
        // destination usually is.
        let why = last.map_or_else(String::new, |e| e.to_string());
        return Err(MxError::Temporary(
            domain.to_string(),
            format!("no MX host has an address: {why}"),
        ));
    }
    Ok(hosts)
}

/// Sorts by preference, shuffling hosts of equal preference with `seed`
/// so that load spreads over them.
fn order(mx: &mut [(u16, String)], seed: u64) {
    let state = RandomState::new();
    mx.sort_by_key(|(pref, name)| (*pref, state.hash_one((seed, name))));
}

/// A and AAAA records of `name` (IPv4 first).
async fn addresses(resolver: &TokioResolver, name: &str, domain: &str) -> Result<Host, MxError> {
    match resolver.lookup_ip(format!("{name}.")).await {
        Ok(found) => {
            let mut addrs: Vec<IpAddr> = found.iter().collect();
            addrs.sort_by_key(|a| a.is_ipv6());
            addrs.dedup();
            if addrs.is_empty() {
                return Err(MxError::Unknown(name.to_string()));
            }
            Ok(Host {
                name: name.to_string(),
                addrs,
            })
        }
        Err(e) if e.is_nx_domain() || e.is_no_records_found() => {
            Err(MxError::Unknown(name.to_string()))
        }
        Err(e) => Err(MxError::Temporary(domain.to_string(), e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_preference_first_and_equals_shuffled() {
        let mut seen_first = std::collections::HashSet::new();
        for seed in 0..64 {
            let mut mx = vec![
                (20, "c".to_string()),
                (10, "a".to_string()),
                (10, "b".to_string()),
                (30, "d".to_string()),
            ];
            order(&mut mx, seed);
            assert_eq!(mx[2].1, "c");
            assert_eq!(mx[3].1, "d");
            seen_first.insert(mx[0].1.clone());
        }
        assert_eq!(
            seen_first.len(),
            2,
            "both preference-10 hosts come first sometimes"
        );
    }
}
