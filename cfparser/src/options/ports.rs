//! DaemonPortOptions and ClientPortOptions: `key=value` lists, one per
//! option line (op.txt 5.6). As in sendmail, only the first character of a
//! key counts (`M=Ea` is `Modifiers=Ea`), case-sensitive.

use super::value::ValueError;

/// Which of the two options a list belongs to; they know different keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortSide {
    Daemon,
    Client,
}

/// The keys each side knows: first character, canonical name.
const DAEMON_KEYS: &[(char, &str)] = &[
    ('A', "Addr"),
    ('F', "Family"),
    ('I', "InputMailFilters"),
    ('L', "Listen"),
    ('M', "Modifiers"),
    ('N', "Name"),
    ('P', "Port"),
    ('S', "SndBufSize"),
    ('R', "RcvBufSize"),
    ('c', "children"),
    ('D', "DeliveryMode"),
    ('r', "refuseLA"),
    ('d', "delayLA"),
    ('q', "queueLA"),
];

const CLIENT_KEYS: &[(char, &str)] = &[
    ('A', "Addr"),
    ('F', "Family"),
    ('M', "Modifiers"),
    ('P', "Port"),
    ('S', "SndBufSize"),
    ('R', "RcvBufSize"),
];

const DAEMON_MODIFIERS: &str = "abcfsuACEOS";
const CLIENT_MODIFIERS: &str = "hAS";
const FAMILIES: &[&str] = &["inet", "inet6", "local", "unix", "iso", "ns", "x.25"];

/// One `DaemonPortOptions=` or `ClientPortOptions=` line, its keys under
/// their canonical names, in the order written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortOptions {
    pub pairs: Vec<(String, String)>,
}

impl PortOptions {
    /// The value of a key, by canonical name (`Port`, `Addr`, ...).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn name(&self) -> Option<&str> {
        self.get("Name")
    }

    /// The family, `inet` when none is given (sendmail's default).
    pub fn family(&self) -> &str {
        self.get("Family").unwrap_or("inet")
    }

    /// Modifier letters, empty when none.
    pub fn modifiers(&self) -> &str {
        self.get("Modifiers").unwrap_or("")
    }

    pub fn parse(raw: &str, side: PortSide) -> Result<PortOptions, ValueError> {
        let keys = match side {
            PortSide::Daemon => DAEMON_KEYS,
            PortSide::Client => CLIENT_KEYS,
        };
        let mut pairs = Vec::new();
        let mut offset = 0;
        for item in raw.split(',') {
            let here = offset;
            offset += item.len() + 1;
            let lead = item.len() - item.trim_start().len();
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let at = here + lead;
            let Some((key, value)) = item.split_once('=') else {
                return Err(ValueError::at(
                    at,
                    format!("expected `key=value`, found `{item}`"),
                ));
            };
            let key = key.trim();
            let value = value.trim();
            let first = key.chars().next().unwrap_or(' ');
            let Some(&(_, canonical)) = keys.iter().find(|(c, _)| *c == first) else {
                let known: Vec<&str> = keys.iter().map(|(_, n)| *n).collect();
                return Err(ValueError::at(
                    at,
                    format!("unknown key `{key}`: expected one of {}", known.join(", ")),
                ));
            };
            let value_at = at + item.find('=').map_or(0, |p| p + 1);
            check_value(canonical, value, side).map_err(|m| ValueError::at(value_at, m))?;
            pairs.push((canonical.to_string(), value.to_string()));
        }
        Ok(PortOptions { pairs })
    }
}

fn check_value(key: &str, value: &str, side: PortSide) -> Result<(), String> {
    match key {
        "Family" => {
            if FAMILIES.contains(&value.to_ascii_lowercase().as_str()) {
                Ok(())
            } else {
                Err(format!(
                    "unknown address family `{value}`: expected one of {}",
                    FAMILIES.join(", ")
                ))
            }
        }
        "Modifiers" => {
            let allowed = match side {
                PortSide::Daemon => DAEMON_MODIFIERS,
                PortSide::Client => CLIENT_MODIFIERS,
            };
            match value.chars().find(|c| !allowed.contains(*c)) {
                None => Ok(()),
                Some(c) => Err(format!(
                    "unknown modifier `{c}`: expected letters from `{allowed}`"
                )),
            }
        }
        "Port" => {
            if let Ok(n) = value.parse::<u32>() {
                if n <= 65535 {
                    return Ok(()); // 0: any port, as the kernel picks
                }
                return Err(format!("port {n} is out of range 0-65535"));
            }
            if !value.is_empty()
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                Ok(()) // a service name such as `smtp` or `submission`
            } else {
                Err(format!(
                    "expected a port number or service name, found `{value}`"
                ))
            }
        }
        "Listen" | "children" | "refuseLA" | "delayLA" | "queueLA" => value
            .parse::<u32>()
            .map(|_| ())
            .map_err(|_| format!("expected a number, found `{value}`")),
        "SndBufSize" | "RcvBufSize" => super::value::parse_size(value)
            .map(|_| ())
            .map_err(|e| e.message),
        "Addr" | "Name" | "InputMailFilters" if value.is_empty() => {
            Err(format!("`{key}` needs a value"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_daemon_line() {
        let p = PortOptions::parse(
            "Family=inet,  Name=MSP-v4, Port=submission, M=Ea, Addr=127.0.0.1",
            PortSide::Daemon,
        )
        .unwrap();
        assert_eq!(p.name(), Some("MSP-v4"));
        assert_eq!(p.get("Port"), Some("submission"));
        assert_eq!(p.modifiers(), "Ea");
        assert_eq!(p.get("Addr"), Some("127.0.0.1"));
        assert_eq!(p.family(), "inet");
    }

    #[test]
    fn refuses_bad_keys_and_values_with_offsets() {
        let e = PortOptions::parse("Port=2525, Xyz=1", PortSide::Daemon).unwrap_err();
        assert_eq!(e.offset, 11);
        let e = PortOptions::parse("Port=99999", PortSide::Daemon).unwrap_err();
        assert_eq!(e.offset, 5);
        assert!(PortOptions::parse("Port=0", PortSide::Client).is_ok());
        assert!(PortOptions::parse("Family=inet7", PortSide::Daemon).is_err());
        assert!(PortOptions::parse("M=h", PortSide::Daemon).is_err());
        assert!(PortOptions::parse("M=h", PortSide::Client).is_ok());
        assert!(PortOptions::parse("Port", PortSide::Client).is_err());
    }
}
