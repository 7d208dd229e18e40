//! The typed model of a loaded sendmail.cf.

pub mod class;
pub mod equates;
pub mod mailer;
pub mod map;
pub mod milter;
pub mod queue_group;
pub mod ruleset;

use crate::lex::MacroName;
use crate::options::{self, OptionValue, PortOptions, PrivacyFlags};
use crate::template::Template;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub use class::{Class, ClassSource};
pub use mailer::Mailer;
pub use map::{MapDecl, TextMap};
pub use milter::Milter;
pub use queue_group::QueueGroup;
pub use ruleset::{Rule, Ruleset, Token};

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A line of the config file.
    File { line: usize },
    /// `-O Name=Value` on the command line.
    CommandLine,
}

/// An option as set: its typed value and the text it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetOption {
    pub value: OptionValue,
    pub raw: String,
    pub origin: Origin,
}

/// `V10/Berkeley`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub level: u32,
    pub vendor: Option<String>,
}

/// A D line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroDef {
    pub value: Template,
    pub line: usize,
}

/// What an H line is conditional on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderCondition {
    /// `?FM?`: added only for mailers with one of these flags.
    MailerFlags(String),
    /// `?${macro}?`: added only when the macro is set.
    Macro(MacroName),
}

/// An H line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderDef {
    pub name: String,
    pub condition: Option<HeaderCondition>,
    pub value: Template,
    pub line: usize,
}

/// The whole config, as mtad uses it.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub path: PathBuf,
    pub version: Option<Version>,
    pub macros: BTreeMap<MacroName, MacroDef>,
    pub classes: BTreeMap<MacroName, Class>,
    /// Options by canonical name (`MaxMessageSize`, `Timeout.queuewarn`).
    /// DaemonPortOptions and ClientPortOptions are in their own lists.
    pub options: BTreeMap<String, SetOption>,
    /// One entry per DaemonPortOptions line: one listening socket each.
    pub daemon_ports: Vec<PortOptions>,
    /// One entry per ClientPortOptions line (per address family).
    pub client_ports: Vec<PortOptions>,
    pub mailers: Vec<Mailer>,
    /// Rulesets by number.
    pub rulesets: BTreeMap<u32, Ruleset>,
    pub maps: BTreeMap<String, MapDecl>,
    pub headers: Vec<HeaderDef>,
    pub precedences: Vec<(String, i32)>,
    /// E lines: environment for delivery agents; `None` passes the
    /// daemon's own value through.
    pub environment: Vec<(String, Option<String>)>,
    pub queue_groups: Vec<QueueGroup>,
    pub milters: Vec<Milter>,
    /// The options `-O` set, by canonical name, in the order given: they
    /// replaced what the file said.
    pub overridden: Vec<String>,
}

impl Config {
    /// An option's value, by any spelling of its name.
    pub fn option(&self, name: &str) -> Option<&OptionValue> {
        let key = options::lookup(name).map_or_else(|| name.to_string(), |k| k.canonical());
        self.options.get(&key).map(|s| &s.value)
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.option(name)? {
            OptionValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        match self.option(name)? {
            OptionValue::Int(n) => Some(*n),
            OptionValue::IntPair(n, _) => Some(*n),
            _ => None,
        }
    }

    pub fn size(&self, name: &str) -> Option<u64> {
        match self.option(name)? {
            OptionValue::Size(n) => Some(*n),
            _ => None,
        }
    }

    pub fn duration(&self, name: &str) -> Option<Duration> {
        match self.option(name)? {
            OptionValue::Duration(d) => Some(*d),
            _ => None,
        }
    }

    /// A textual option (Str, Path, Enum, Char), as written.
    pub fn text(&self, name: &str) -> Option<String> {
        match self.option(name)? {
            OptionValue::Str(s) | OptionValue::Path(s) => Some(s.clone()),
            OptionValue::Enum(w) => Some(w.to_string()),
            other => Some(other.to_string()),
        }
    }

    /// PrivacyOptions, empty (`public`) when not set.
    pub fn privacy(&self) -> PrivacyFlags {
        match self.option("PrivacyOptions") {
            Some(OptionValue::Privacy(p)) => *p,
            _ => PrivacyFlags::empty(),
        }
    }

    pub fn mailer(&self, name: &str) -> Option<&Mailer> {
        self.mailers.iter().find(|m| m.name == name)
    }

    pub fn class(&self, name: &str) -> Option<&Class> {
        self.classes.get(&MacroName::new(name))
    }

    pub fn macro_value(&self, name: &str) -> Option<&Template> {
        self.macros.get(&MacroName::new(name)).map(|m| &m.value)
    }

    /// A ruleset by number or name.
    pub fn ruleset(&self, name: &str) -> Option<&Ruleset> {
        if let Ok(n) = name.parse::<u32>() {
            return self.rulesets.get(&n);
        }
        self.rulesets
            .values()
            .find(|r| r.name.as_deref() == Some(name))
    }

    /// The number of rules in all rulesets.
    pub fn rule_count(&self) -> usize {
        self.rulesets.values().map(|r| r.rules.len()).sum()
    }
}
