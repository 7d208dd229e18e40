//! PrivacyOptions: which SMTP status queries and command-line inquiries
//! are allowed (op.txt 4.15 and 5.6).

use std::fmt;

/// The set of privacy flags in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct PrivacyFlags(u32);

/// Every flag by name, as sendmail spells it. `public` is the empty set and
/// `goaway` a pseudo-flag; both are handled in [`PrivacyFlags::parse_word`].
pub const FLAGS: &[(&str, u32)] = &[
    ("needmailhelo", 1 << 0),
    ("needexpnhelo", 1 << 1),
    ("needvrfyhelo", 1 << 2),
    ("noexpn", 1 << 3),
    ("novrfy", 1 << 4),
    ("noetrn", 1 << 5),
    ("noverb", 1 << 6),
    ("restrictmailq", 1 << 7),
    ("restrictqrun", 1 << 8),
    ("restrictexpand", 1 << 9),
    ("noreceipts", 1 << 10),
    ("nobodyreturn", 1 << 11),
    ("authwarnings", 1 << 12),
    ("noactualrecipient", 1 << 13),
];

fn bit(name: &str) -> u32 {
    FLAGS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(0, |(_, b)| *b)
}

/// Every flag except those op.txt says goaway leaves out: noreceipts,
/// restrictmailq, restrictqrun, restrictexpand, noetrn and nobodyreturn.
fn goaway() -> u32 {
    let excluded = [
        "noreceipts",
        "restrictmailq",
        "restrictqrun",
        "restrictexpand",
        "noetrn",
        "nobodyreturn",
    ];
    FLAGS
        .iter()
        .filter(|(n, _)| !excluded.contains(n))
        .fold(0, |acc, (_, b)| acc | b)
}

impl PrivacyFlags {
    pub fn empty() -> PrivacyFlags {
        PrivacyFlags(0)
    }

    /// The flags one word of the option stands for (case-insensitive, as in
    /// sendmail), or `None` for an unknown word.
    pub fn parse_word(word: &str) -> Option<PrivacyFlags> {
        let w = word.to_ascii_lowercase();
        match w.as_str() {
            "public" => Some(PrivacyFlags(0)),
            "goaway" => Some(PrivacyFlags(goaway())),
            _ => {
                let b = bit(&w);
                // noexpn implies noverb (op.txt).
                let extra = if w == "noexpn" { bit("noverb") } else { 0 };
                (b != 0).then_some(PrivacyFlags(b | extra))
            }
        }
    }

    pub fn union(self, other: PrivacyFlags) -> PrivacyFlags {
        PrivacyFlags(self.0 | other.0)
    }

    /// Whether a flag, by its sendmail name, is set.
    pub fn has(self, name: &str) -> bool {
        let b = bit(name);
        b != 0 && self.0 & b == b
    }

    /// The names of the flags that are set.
    pub fn names(self) -> Vec<&'static str> {
        FLAGS
            .iter()
            .filter(|(_, b)| self.0 & b != 0)
            .map(|(n, _)| *n)
            .collect()
    }
}

impl fmt::Display for PrivacyFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.names();
        if names.is_empty() {
            f.write_str("public")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goaway_expands_to_its_members() {
        let g = PrivacyFlags::parse_word("goaway").unwrap();
        for f in [
            "needmailhelo",
            "needexpnhelo",
            "needvrfyhelo",
            "noexpn",
            "novrfy",
            "noverb",
            "authwarnings",
            "noactualrecipient",
        ] {
            assert!(g.has(f), "goaway lacks {f}");
        }
        for f in [
            "noreceipts",
            "restrictmailq",
            "restrictqrun",
            "restrictexpand",
            "noetrn",
            "nobodyreturn",
        ] {
            assert!(!g.has(f), "goaway must not set {f}");
        }
    }

    #[test]
    fn noexpn_implies_noverb_and_case_is_ignored() {
        let f = PrivacyFlags::parse_word("NoExpn").unwrap();
        assert!(f.has("noexpn") && f.has("noverb"));
        assert!(PrivacyFlags::parse_word("nosuchflag").is_none());
        assert_eq!(
            PrivacyFlags::parse_word("public"),
            Some(PrivacyFlags::empty())
        );
    }
}
