//! Macro values at run time: what `$j`, `$b`, `$s`, `$i` … stand for when
//! a greeting or a header is expanded. Session and message values are laid
//! over the config's D lines, which are laid over the host's own names.

use cfparser::{Config, MacroName, Template};
use std::collections::HashMap;

/// mtad's version, for `$v`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Values set for one session or message, looked up before the config's.
#[derive(Debug, Default, Clone)]
pub struct MacroEnv {
    values: HashMap<String, String>,
}

impl MacroEnv {
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.values.insert(name.to_string(), value.into());
    }

    pub fn unset(&mut self, name: &str) {
        self.values.remove(name);
    }

    /// Expands `t` with these values, then the config's macros (each
    /// expanded in turn, to a bounded depth).
    pub fn expand(&self, t: &Template, config: &Config) -> String {
        let lookup = |m: &MacroName| self.value(m, config, 0);
        t.expand(&lookup)
    }

    fn value(&self, m: &MacroName, config: &Config, depth: usize) -> Option<String> {
        if let Some(v) = self.values.get(&m.0) {
            return Some(v.clone());
        }
        if depth > 8 {
            return None;
        }
        let def = config.macros.get(m)?;
        let lookup = |n: &MacroName| self.value(n, config, depth + 1);
        Some(def.value.expand(&lookup))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_values_over_config_macros() {
        let loaded = cfparser::load_bytes(
            std::path::Path::new("t.cf"),
            b"Mlocal, P=/bin/cat, A=cat $u\nDjmail.example\nDXhello $j\n".to_vec(),
            &Default::default(),
        )
        .unwrap();
        let mut env = MacroEnv::default();
        env.set("s", "client.example");
        let t = loaded.config.macro_value("X").unwrap().clone();
        assert_eq!(env.expand(&t, &loaded.config), "hello mail.example");
        let greeting = cfparser::Template {
            pieces: vec![
                cfparser::template::Piece::Macro(MacroName::new("j")),
                cfparser::template::Piece::Text(" ".into()),
                cfparser::template::Piece::Macro(MacroName::new("s")),
            ],
        };
        assert_eq!(
            env.expand(&greeting, &loaded.config),
            "mail.example client.example"
        );
    }
}
