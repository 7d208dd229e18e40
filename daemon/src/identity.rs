//! Who this host is: the macros sendmail knows before it reads its config
//! ($w, $m, $j, $k), from the host's name. C and K lines expand macros when
//! they are read, so these must be known first.
//!
//! No DNS here: a name without a domain part gives `$j` = `$w`. Working out
//! a fully qualified `$j` (and warning when there is none) belongs to the
//! daemon's start-up.

/// The host's name as the kernel has it.
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// `(name, value)` for $w (the name up to the first dot), $m (the rest),
/// $j (the full name) and $k (the node name), as sendmail defines them
/// from `name` before it reads the config.
pub fn predefined_macros(name: &str) -> Vec<(String, String)> {
    let (short, domain) = match name.split_once('.') {
        Some((s, d)) => (s, d),
        None => (name, ""),
    };
    let mut macros = vec![
        ("w".to_string(), short.to_string()),
        ("j".to_string(), name.to_string()),
        ("k".to_string(), name.to_string()),
    ];
    if !domain.is_empty() {
        macros.push(("m".to_string(), domain.to_string()));
    }
    // sendmail's initmacros(): the null sender's name, known to R lines.
    macros.push(("n".to_string(), "MAILER-DAEMON".to_string()));
    macros
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macros_of_a_qualified_name() {
        let m = predefined_macros("mail.lab.example");
        assert!(m.contains(&("w".into(), "mail".into())));
        assert!(m.contains(&("m".into(), "lab.example".into())));
        assert!(m.contains(&("j".into(), "mail.lab.example".into())));
    }

    #[test]
    fn a_bare_name_has_no_domain_macro() {
        let m = predefined_macros("box");
        assert!(m.contains(&("w".into(), "box".into())));
        assert!(!m.iter().any(|(k, _)| k == "m"));
        assert!(!host_name().is_empty());
    }
}
