//! Options: which names exist, and what type each value has.

pub mod kind;
pub mod ports;
pub mod privacy;
pub mod table;
pub mod value;

pub use kind::{Kind, Unit};
pub use ports::{PortOptions, PortSide};
pub use privacy::PrivacyFlags;
pub use table::{OptionDef, TimeoutDef};
pub use value::{OptionValue, UserSpec, ValueError};

/// What an option name refers to.
#[derive(Debug, Clone, Copy)]
pub enum Known {
    /// A sendmail option or an `Mtad.*` option.
    Option(&'static OptionDef),
    /// One `Timeout.NAME` keyword.
    Timeout(&'static TimeoutDef),
}

impl Known {
    /// The canonical spelling, under which the value is stored:
    /// `MaxMessageSize`, `Timeout.queuereturn`.
    pub fn canonical(&self) -> String {
        match self {
            Known::Option(d) => d.name.to_string(),
            Known::Timeout(t) => format!("Timeout.{}", t.name),
        }
    }
}

/// Finds a long option by name, case-insensitively as sendmail does.
pub fn lookup(name: &str) -> Option<Known> {
    if let Some(rest) = strip_prefix_ci(name, "Timeout.") {
        return timeout(rest).map(Known::Timeout);
    }
    table::OPTIONS
        .iter()
        .chain(table::MTAD_OPTIONS.iter())
        .find(|d| d.name.eq_ignore_ascii_case(name))
        .map(Known::Option)
}

/// Finds an option by its legacy one-letter name (`OA/etc/aliases`).
pub fn lookup_short(c: char) -> Option<&'static OptionDef> {
    table::OPTIONS.iter().find(|d| d.short == Some(c))
}

/// Finds a `Timeout.NAME` keyword.
pub fn timeout(name: &str) -> Option<&'static TimeoutDef> {
    table::TIMEOUTS
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(name))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix) {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_options_every_way() {
        assert!(
            matches!(lookup("maxmessagesize"), Some(Known::Option(d)) if d.name == "MaxMessageSize")
        );
        assert!(
            matches!(lookup("Timeout.QueueReturn"), Some(Known::Timeout(t)) if t.name == "queuereturn")
        );
        assert!(lookup("Timeout.nosuch").is_none());
        assert!(matches!(
            lookup("Mtad.MailSpoolDirectory"),
            Some(Known::Option(_))
        ));
        assert_eq!(lookup_short('A').map(|d| d.name), Some("AliasFile"));
        assert!(lookup("NoSuchOption").is_none());
    }

    #[test]
    fn table_is_consistent() {
        let mut names: Vec<String> = table::OPTIONS
            .iter()
            .chain(table::MTAD_OPTIONS)
            .map(|d| d.name.to_ascii_lowercase())
            .collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "duplicate option names");
        let mut shorts: Vec<char> = table::OPTIONS.iter().filter_map(|d| d.short).collect();
        let n = shorts.len();
        shorts.sort();
        shorts.dedup();
        assert_eq!(shorts.len(), n, "duplicate one-letter names");
        for d in table::MTAD_OPTIONS {
            assert!(d.name.starts_with("Mtad."), "{}", d.name);
        }
        for d in table::OPTIONS {
            if let Kind::Enum(words) = d.kind {
                let mut firsts: Vec<char> = words.iter().filter_map(|w| w.chars().next()).collect();
                let n = firsts.len();
                firsts.sort();
                firsts.dedup();
                assert_eq!(
                    firsts.len(),
                    n,
                    "{}: enum words share a first letter",
                    d.name
                );
            }
        }
    }
}
