//! X lines: mail filters (op.txt 5.11).

use super::equates::{Equate, FieldError};
use crate::options::{Unit, value};
use std::time::Duration;

/// A mail filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Milter {
    pub name: String,
    /// S=: `inet:8891@localhost`, `unix:/path`, `local:/path`, `inet6:...`
    pub socket: String,
    /// F=: `R` reject or `T` tempfail when the filter is unavailable.
    pub flags: String,
    /// T=: `C:10s;S:1m;R:1m;E:5m` as (letter, duration) pairs.
    pub timeouts: Vec<(char, Duration)>,
    pub line: usize,
}

impl Milter {
    /// `name_pos` places the error for a milter without a socket.
    pub(crate) fn build(
        name: String,
        equates: &[Equate],
        line: usize,
        name_pos: usize,
    ) -> Result<Milter, FieldError> {
        let mut m = Milter {
            name,
            socket: String::new(),
            flags: String::new(),
            timeouts: Vec::new(),
            line,
        };
        for e in equates {
            match e.key {
                'S' => m.socket = e.plain()?,
                'F' => m.flags = e.plain()?,
                'T' => m.timeouts = timeouts(e)?,
                _ => {
                    return Err(e.unknown("milter", "S= (socket), F= (flags) or T= (timeouts)"));
                }
            }
        }
        if m.socket.is_empty() {
            return Err(FieldError {
                pos: name_pos,
                message: format!("milter `{}` has no S= (socket)", m.name),
            });
        }
        Ok(m)
    }
}

/// `T=C:10s;S:1m;R:1m;E:5m` (seconds when no unit is given).
fn timeouts(e: &Equate) -> Result<Vec<(char, Duration)>, FieldError> {
    let v = e.plain()?;
    let mut out = Vec::new();
    for item in v.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((k, d)) = item.split_once(':') else {
            return Err(e.error(format!("T=: expected `letter:time`, found `{item}`")));
        };
        let k = k.trim();
        let letter = match k {
            "C" | "S" | "R" | "E" => k.chars().next().unwrap_or('C'),
            _ => {
                return Err(e.error(format!(
                    "T=: unknown milter timeout `{k}`: expected C (connect), S (send), R (read) or E (end of message)"
                )));
            }
        };
        let d = value::parse_duration(d, Unit::Seconds)
            .map_err(|x| e.error(format!("T=: {}", x.message)))?;
        out.push((letter, d));
    }
    Ok(out)
}
