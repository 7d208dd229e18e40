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

/// The date as RFC 5322 writes it, in local time: `Thu, 26 Nov 2026
/// 12:17:08 +0100` (sendmail's `$b`, and Date: headers).
pub fn rfc5322_date(secs: i64) -> String {
    let t = secs as libc::time_t;
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r writes only into `tm`.
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return "Thu, 01 Jan 1970 00:00:00 +0000".into();
    }
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let off = tm.tm_gmtoff / 60;
    let sign = if off < 0 { '-' } else { '+' };
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} {sign}{:02}{:02}",
        DAYS[tm.tm_wday.rem_euclid(7) as usize],
        tm.tm_mday,
        MONTHS[tm.tm_mon.rem_euclid(12) as usize],
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        off.abs() / 60,
        off.abs() % 60
    )
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_looks_like_rfc5322() {
        let d = rfc5322_date(1_795_695_428);
        // Weekday, day month year hh:mm:ss zone.
        let parts: Vec<&str> = d.split(' ').collect();
        assert_eq!(parts.len(), 6, "{d}");
        assert!(parts[0].ends_with(','));
        assert_eq!(parts[3], "2026");
        assert!(parts[5].starts_with('+') || parts[5].starts_with('-'));
    }

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
