//! Who this host is: its name, from which `rules::builtin::predefined_macros`
//! makes the macros sendmail knows before it reads its config.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_has_a_name() {
        assert!(!host_name().is_empty());
    }
}
