//! The classes and macros sendmail defines itself (main.c), around its
//! reading of the config: the host's names in `$=w` and `$=k` before, and
//! after it `$=m`, the interface addresses, `$j` in `$=w`, the MIME classes
//! and `$_`. The host's facts come from the caller; what sendmail derives
//! from them is here, once, for the daemon and `-bt` alike.

use crate::Engine;
use crate::env::Macros;

/// What the host says about itself.
#[derive(Debug, Clone, Default)]
pub struct Host {
    /// The canonical host name (sendmail's first `$j`).
    pub canonical: String,
    /// The kernel's node name (`uname -n`, `$k`).
    pub node: String,
    /// `[a.b.c.d]` for each IPv4 address of an interface that is up, as
    /// sendmail's load_if_names() finds them on Linux (SIOCGIFCONF gives
    /// IPv4 addresses only).
    pub interfaces: Vec<String>,
    /// The login name of whoever runs the program, for `$_`.
    pub user: String,
}

/// `(name, value)` for the macros sendmail knows before it reads the
/// config, as C and K lines expand them when they are read: $w (the host
/// name up to the first dot), $m (the rest, when there is one), $j (the
/// full name), $k (the node name), $n (initmacros()' null sender) and
/// `${opMode}` (`t` for `-bt`, `d` for a daemon, `i` otherwise).
pub fn predefined_macros(name: &str, op_mode: &str) -> Vec<(String, String)> {
    let (short, domain) = name.split_once('.').unwrap_or((name, ""));
    let mut macros = vec![
        ("w".to_string(), short.to_string()),
        ("j".to_string(), name.to_string()),
        ("k".to_string(), name.to_string()),
    ];
    if !domain.is_empty() {
        macros.push(("m".to_string(), domain.to_string()));
    }
    macros.push(("n".to_string(), "MAILER-DAEMON".to_string()));
    macros.push(("opMode".to_string(), op_mode.to_string()));
    macros
}

/// Fills in what sendmail adds to the classes and macros of a loaded
/// config. `macros` holds the config's D lines already.
pub fn install(engine: &mut Engine, macros: &mut Macros, host: &Host) {
    let classes = &mut engine.rules.classes;
    let w = classes.index(b"w");
    let k = classes.index(b"k");
    // Before the config: the canonical name and the node name.
    classes.add(w, host.canonical.as_bytes());
    classes.add(k, host.node.as_bytes());
    classes.add(w, host.node.as_bytes());
    // After it: $=m from $m as the config left it.
    if let Some(m) = macros
        .get(b"m")
        .filter(|m| !m.is_empty())
        .map(<[u8]>::to_vec)
    {
        let mi = classes.index(b"m");
        classes.add(mi, &m);
    }
    let probe = engine
        .config
        .text("DontProbeInterfaces")
        .map(|v| v.to_ascii_lowercase());
    let none = matches!(probe.as_deref(), Some("true" | "t" | "yes" | "y" | "on"));
    if !none {
        for name in &host.interfaces {
            classes.add(w, name.as_bytes());
        }
    }
    // MyHostName: $j as the config left it is always one of ours.
    let j = macros
        .get(b"j")
        .filter(|j| !j.is_empty())
        .map_or_else(|| b"localhost".to_vec(), <[u8]>::to_vec);
    classes.add(w, &j);
    for (class, words) in [
        (&b"n"[..], &[&b"multipart/signed"[..]][..]),
        (b"s", &[b"rfc822"]),
        (b"e", &[b"7bit", b"8bit", b"binary"]),
        (
            b"checkMIMEFieldHeaders",
            &[b"content-disposition", b"content-type"],
        ),
        (b"checkMIMETextHeaders", &[b"content-description"]),
        (
            b"checkMIMEHeaders",
            &[
                b"content-disposition",
                b"content-id",
                b"content-transfer-encoding",
                b"content-type",
                b"mime-version",
            ],
        ),
        (
            b"persistentMacros",
            &[b"r", b"s", b"_", b"{if_addr}", b"{daemon_flags}"],
        ),
    ] {
        let c = classes.index(class);
        for word in words {
            classes.add(c, word);
        }
    }
    // DirectSubmissionModifiers: the flags of a submission from the
    // command line, as getmodifiers() spells them (upper-case doubled).
    if let Some(v) = engine.config.text("DirectSubmissionModifiers") {
        let mut flags = Vec::new();
        for c in v.bytes().filter(|c| c.is_ascii_graphic()) {
            if !flags.is_empty() {
                flags.push(b' ');
            }
            flags.push(c);
            if c.is_ascii_uppercase() {
                flags.push(c);
            }
        }
        macros.set(b"daemon_flags", &flags);
    }
    // getauthinfo() on a terminal or pipe: the user at localhost.
    let mut auth = host.user.as_bytes().to_vec();
    auth.extend_from_slice(b"@localhost");
    macros.set(b"_", &auth);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macros_of_a_qualified_name() {
        let m = predefined_macros("mail.lab.example", "d");
        assert!(m.contains(&("w".into(), "mail".into())));
        assert!(m.contains(&("m".into(), "lab.example".into())));
        assert!(m.contains(&("j".into(), "mail.lab.example".into())));
    }

    #[test]
    fn a_bare_name_has_no_domain_macro() {
        let m = predefined_macros("box", "d");
        assert!(m.contains(&("w".into(), "box".into())));
        assert!(!m.iter().any(|(k, _)| k == "m"));
    }
}
