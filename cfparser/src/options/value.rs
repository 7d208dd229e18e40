//! Reading an option's value by its kind, strictly.

use super::kind::{Kind, Unit};
use super::ports::{PortOptions, PortSide};
use super::privacy::PrivacyFlags;
use std::fmt;
use std::time::Duration;

/// What is wrong with a value, at a byte offset into the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    pub offset: usize,
    pub message: String,
}

impl ValueError {
    pub fn at(offset: usize, message: impl Into<String>) -> ValueError {
        ValueError {
            offset,
            message: message.into(),
        }
    }
}

/// `user`, `user:group`, `uid` or `uid:gid`, as written; names are looked
/// up when they are used, not when the config is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    pub user: String,
    pub group: Option<String>,
}

/// A typed option value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionValue {
    Bool(bool),
    Int(i64),
    Size(u64),
    Duration(Duration),
    /// Text, kept as written (macros are expanded where it is used).
    Str(String),
    Path(String),
    Char(char),
    Mode(u32),
    /// The full word of an enumerated option (`background`).
    Enum(&'static str),
    List(Vec<String>),
    User(UserSpec),
    Privacy(PrivacyFlags),
    Ports(PortOptions),
    /// The bare `Timeout` option: `(name, value)` pairs (a duration, or a
    /// count for resolver.retry), each stored as its own `Timeout.name`.
    Timeouts(Vec<(String, OptionValue)>),
    /// A count such as resolver.retry.
    Count(u64),
    IntPair(i64, Option<i64>),
    Obsolete(String),
}

impl fmt::Display for OptionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionValue::Bool(b) => write!(f, "{}", if *b { "True" } else { "False" }),
            OptionValue::Int(n) => write!(f, "{n}"),
            OptionValue::Size(n) | OptionValue::Count(n) => write!(f, "{n}"),
            OptionValue::Duration(d) => f.write_str(&format_duration(*d)),
            OptionValue::Str(s) | OptionValue::Path(s) | OptionValue::Obsolete(s) => f.write_str(s),
            OptionValue::Char(c) => write!(f, "{c}"),
            OptionValue::Mode(m) => write!(f, "{m:04o}"),
            OptionValue::Enum(w) => f.write_str(w),
            OptionValue::List(l) => f.write_str(&l.join(",")),
            OptionValue::User(u) => match &u.group {
                Some(g) => write!(f, "{}:{g}", u.user),
                None => f.write_str(&u.user),
            },
            OptionValue::Privacy(p) => write!(f, "{p}"),
            OptionValue::Ports(p) => {
                let items: Vec<String> = p.pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                f.write_str(&items.join(", "))
            }
            OptionValue::Timeouts(t) => {
                let items: Vec<String> = t.iter().map(|(k, v)| format!("{k}={v}")).collect();
                f.write_str(&items.join(","))
            }
            OptionValue::IntPair(a, b) => match b {
                Some(b) => write!(f, "{a}/{b}"),
                None => write!(f, "{a}"),
            },
        }
    }
}

/// A duration the way sendmail writes one: `5d4h`, `30m`, `0s`.
pub fn format_duration(d: Duration) -> String {
    let mut s = d.as_secs();
    if s == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, secs) in [
        ('w', 604_800),
        ('d', 86_400),
        ('h', 3_600),
        ('m', 60),
        ('s', 1),
    ] {
        if s >= secs {
            out.push_str(&format!("{}{unit}", s / secs));
            s %= secs;
        }
    }
    out
}

/// Reads `raw` as a value of `kind`. `name` is for messages only.
pub fn parse(kind: Kind, raw: &str, side: Option<PortSide>) -> Result<OptionValue, ValueError> {
    let v = raw.trim_end();
    Ok(match kind {
        Kind::Bool => OptionValue::Bool(parse_bool(v)?),
        Kind::Int => OptionValue::Int(parse_int(v)?),
        Kind::Size => OptionValue::Size(parse_size(v)?),
        Kind::Duration(unit) => OptionValue::Duration(parse_duration(v, unit)?),
        Kind::Str => OptionValue::Str(raw.to_string()),
        // An empty path is allowed: `O ForwardPath` with no value turns
        // .forward files off, as in sendmail.
        Kind::Path => OptionValue::Path(v.to_string()),
        Kind::Char => {
            let mut chars = v.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => OptionValue::Char(c),
                _ => {
                    return Err(ValueError::at(
                        0,
                        format!("expected a single character, found `{v}`"),
                    ));
                }
            }
        }
        Kind::Mode => OptionValue::Mode(parse_mode(v)?),
        Kind::Enum(words) => OptionValue::Enum(parse_enum(v, words)?),
        Kind::List => OptionValue::List(split_list(v)),
        Kind::UserSpec => OptionValue::User(parse_user(v)?),
        Kind::Privacy => OptionValue::Privacy(parse_privacy(v)?),
        Kind::PortOptions => {
            OptionValue::Ports(PortOptions::parse(v, side.unwrap_or(PortSide::Daemon))?)
        }
        Kind::Timeouts => OptionValue::Timeouts(parse_timeout_list(v)?),
        Kind::IntPair => {
            let (a, b) = match v.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (v, None),
            };
            let first = parse_int(a)?;
            let second = match b {
                Some(b) => Some(
                    parse_int(b).map_err(|e| ValueError::at(a.len() + 1 + e.offset, e.message))?,
                ),
                None => None,
            };
            OptionValue::IntPair(first, second)
        }
        Kind::Obsolete => OptionValue::Obsolete(raw.to_string()),
    })
}

/// sendmail's atobool() takes anything starting with t or y as true and
/// everything else as false, so `O SuperSafe=ture` would mean false. mtad
/// takes prefixes of true/false/yes/no (any case) and refuses the rest. An
/// empty value means true, as in sendmail (`O SevenBitInput`).
pub fn parse_bool(v: &str) -> Result<bool, ValueError> {
    let l = v.trim().to_ascii_lowercase();
    if l.is_empty() {
        return Ok(true);
    }
    if "true".starts_with(&l) || "yes".starts_with(&l) {
        return Ok(true);
    }
    if "false".starts_with(&l) || "no".starts_with(&l) {
        return Ok(false);
    }
    Err(ValueError::at(
        0,
        format!("expected True or False, found `{v}`"),
    ))
}

pub fn parse_int(v: &str) -> Result<i64, ValueError> {
    let t = v.trim();
    let lead = v.len() - v.trim_start().len();
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::at(
            lead,
            format!("expected a number, found `{t}`"),
        ));
    }
    t.parse::<i64>()
        .map_err(|_| ValueError::at(lead, format!("number `{t}` is too large")))
}

/// Decimal digits with an optional `k`, `m` or `g` (powers of 1024).
pub fn parse_size(v: &str) -> Result<u64, ValueError> {
    let t = v.trim();
    let lead = v.len() - v.trim_start().len();
    let (digits, mult) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1u64 << 10),
        Some((i, 'm' | 'M')) => (&t[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        let at = lead
            + digits
                .bytes()
                .position(|b| !b.is_ascii_digit())
                .unwrap_or(0);
        return Err(ValueError::at(
            at,
            format!(
                "expected a size in bytes (digits, optionally followed by k, m or g), found `{t}`"
            ),
        ));
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| ValueError::at(lead, format!("size `{t}` is too large")))
}

/// sendmail's convtime(): numbers each followed by a unit (w, d, h, m, s),
/// summed; a number without a unit is in the option's default unit.
/// `now` is zero (Timeout.queuereturn=now).
pub fn parse_duration(v: &str, unit: Unit) -> Result<Duration, ValueError> {
    let t = v.trim();
    let lead = v.len() - v.trim_start().len();
    if t.eq_ignore_ascii_case("now") {
        return Ok(Duration::ZERO);
    }
    if t.is_empty() {
        return Err(ValueError::at(
            lead,
            "expected a time such as 30m or 5d4h, found nothing",
        ));
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for (i, c) in t.char_indices() {
        if let Some(d) = c.to_digit(10) {
            let n = number.unwrap_or(0);
            number = Some(
                n.checked_mul(10)
                    .and_then(|n| n.checked_add(u64::from(d)))
                    .ok_or_else(|| ValueError::at(lead + i, "time is too large"))?,
            );
            continue;
        }
        let secs = match c {
            'w' => 604_800,
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => {
                return Err(ValueError::at(
                    lead + i,
                    format!("`{c}` is not a time unit: expected w, d, h, m or s after a number"),
                ));
            }
        };
        let Some(n) = number.take() else {
            return Err(ValueError::at(
                lead + i,
                format!("expected a number before the unit `{c}`"),
            ));
        };
        total = n
            .checked_mul(secs)
            .and_then(|x| total.checked_add(x))
            .ok_or_else(|| ValueError::at(lead, "time is too large"))?;
    }
    if let Some(n) = number {
        total = n
            .checked_mul(unit.seconds())
            .and_then(|x| total.checked_add(x))
            .ok_or_else(|| ValueError::at(lead, "time is too large"))?;
    }
    Ok(Duration::from_secs(total))
}

fn parse_mode(v: &str) -> Result<u32, ValueError> {
    let t = v.trim();
    if t.is_empty() || t.len() > 5 || !t.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(ValueError::at(
            0,
            format!("expected an octal file mode such as 0600, found `{t}`"),
        ));
    }
    u32::from_str_radix(t, 8).map_err(|_| ValueError::at(0, "bad mode"))
}

/// As in sendmail only the first letter counts (`DeliveryMode=b` is
/// background). The true/false spellings map to the `true`/`false` words of
/// options such as SuperSafe, where sendmail falls back to atobool().
fn parse_enum(v: &str, words: &'static [&'static str]) -> Result<&'static str, ValueError> {
    let t = v.trim();
    let expected = || format!("expected one of {}, found `{t}`", words.join(", "));
    let Some(first) = t.chars().next() else {
        return Err(ValueError::at(0, expected()));
    };
    let first = first.to_ascii_lowercase();
    if let Some(w) = words.iter().find(|w| w.starts_with(first)) {
        // The second letter, if given, must agree with the word too:
        // `backgr` and `mimefy` are fine, `bogus` is not background.
        let given: Vec<char> = t.to_ascii_lowercase().chars().take(2).collect();
        let word: Vec<char> = w.chars().take(given.len()).collect();
        if given == word {
            return Ok(w);
        }
    }
    if words.contains(&"true")
        && words.contains(&"false")
        && let Ok(b) = parse_bool(t)
    {
        return Ok(if b { "true" } else { "false" });
    }
    Err(ValueError::at(0, expected()))
}

/// Words separated by commas and/or white space.
pub fn split_list(v: &str) -> Vec<String> {
    v.split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_user(v: &str) -> Result<UserSpec, ValueError> {
    let t = v.trim();
    let (user, group) = match t.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (t, None),
    };
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-$".contains(c))
    };
    if !ok(user) {
        return Err(ValueError::at(
            0,
            format!("expected user or user:group, found `{t}`"),
        ));
    }
    if let Some(g) = group
        && !ok(g)
    {
        return Err(ValueError::at(
            user.len() + 1,
            format!("expected a group name or number after `:`, found `{g}`"),
        ));
    }
    Ok(UserSpec {
        user: user.to_string(),
        group: group.map(str::to_string),
    })
}

fn parse_privacy(v: &str) -> Result<PrivacyFlags, ValueError> {
    let mut flags = PrivacyFlags::empty();
    for (at, word) in words_with_offsets(v) {
        match PrivacyFlags::parse_word(word) {
            Some(f) => flags = flags.union(f),
            None => {
                return Err(ValueError::at(at, format!("unknown privacy flag `{word}`")));
            }
        }
    }
    Ok(flags)
}

/// The legacy `O Timeout=queuewarn=4h,queuereturn=5d` list.
fn parse_timeout_list(v: &str) -> Result<Vec<(String, OptionValue)>, ValueError> {
    let mut out = Vec::new();
    for (at, word) in words_with_offsets(v) {
        let (name, value) = word
            .split_once('=')
            .ok_or_else(|| ValueError::at(at, format!("expected `name=time`, found `{word}`")))?;
        let def = super::timeout(name)
            .ok_or_else(|| ValueError::at(at, format!("unknown timeout `{name}`")))?;
        let parsed = parse_timeout(def, value)
            .map_err(|e| ValueError::at(at + name.len() + 1 + e.offset, e.message))?;
        out.push((def.name.to_string(), parsed));
    }
    Ok(out)
}

/// One `Timeout.NAME` value: a time in the timeout's unit, or a count.
pub fn parse_timeout(def: &super::TimeoutDef, value: &str) -> Result<OptionValue, ValueError> {
    match def.unit {
        Some(unit) => parse_duration(value, unit).map(OptionValue::Duration),
        None => {
            let n = parse_int(value)?;
            u64::try_from(n)
                .map(OptionValue::Count)
                .map_err(|_| ValueError::at(0, format!("expected a count, found `{value}`")))
        }
    }
}

/// Words separated by commas and/or white space, with their offsets.
fn words_with_offsets(v: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in v.char_indices() {
        let sep = c == ',' || c.is_ascii_whitespace();
        match (sep, start) {
            (true, Some(s)) => {
                out.push((s, &v[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &v[s..]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_sendmail_reads_them() {
        let d = |s, u| parse_duration(s, u).unwrap().as_secs();
        assert_eq!(d("5d4h", Unit::Minutes), 5 * 86400 + 4 * 3600);
        assert_eq!(d("90", Unit::Seconds), 90);
        assert_eq!(d("5", Unit::Days), 5 * 86400);
        assert_eq!(d("4", Unit::Hours), 4 * 3600);
        assert_eq!(d("1w", Unit::Minutes), 604_800);
        assert_eq!(d("2m30", Unit::Seconds), 150);
        assert_eq!(d("now", Unit::Days), 0);
        let e = parse_duration("5x", Unit::Minutes).unwrap_err();
        assert_eq!(e.offset, 1);
        assert!(parse_duration("", Unit::Minutes).is_err());
        assert!(parse_duration("h", Unit::Minutes).is_err());
        assert!(parse_duration("99999999999999999999", Unit::Days).is_err());
    }

    #[test]
    fn sizes_and_numbers_refuse_garbage() {
        assert_eq!(parse_size("10485760").unwrap(), 10_485_760);
        assert_eq!(parse_size("10m").unwrap(), 10 << 20);
        assert_eq!(parse_size("2K").unwrap(), 2048);
        assert!(parse_size("abc").is_err());
        assert!(parse_size("10 MB").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("-5").is_err());
        assert_eq!(parse_int("-100").unwrap(), -100);
        assert!(parse_int("9x").is_err());
        assert!(parse_int("").is_err());
    }

    #[test]
    fn booleans() {
        assert!(parse_bool("True").unwrap());
        assert!(parse_bool("").unwrap());
        assert!(parse_bool("y").unwrap());
        assert!(!parse_bool("FALSE").unwrap());
        assert!(!parse_bool("no").unwrap());
        assert!(parse_bool("on").is_err(), "sendmail reads `on` as false");
        assert!(parse_bool("1").is_err());
    }

    #[test]
    fn enums_by_first_letter() {
        const DM: &[&str] = &["interactive", "background", "queueonly", "deferred"];
        assert_eq!(parse_enum("background", DM).unwrap(), "background");
        assert_eq!(parse_enum("b", DM).unwrap(), "background");
        assert_eq!(parse_enum("Deferred", DM).unwrap(), "deferred");
        assert!(parse_enum("bogus", DM).is_err());
        assert_eq!(
            parse_enum("mimefy", &["mime", "pass", "strict"]).unwrap(),
            "mime"
        );
        assert!(parse_enum("x", DM).is_err());
        const SS: &[&str] = &["true", "false", "interactive", "postmilter"];
        assert_eq!(parse_enum("yes", SS).unwrap(), "true");
        assert_eq!(parse_enum("PostMilter", SS).unwrap(), "postmilter");
    }

    #[test]
    fn modes_users_and_lists() {
        assert_eq!(parse_mode("0640").unwrap(), 0o640);
        assert!(parse_mode("0988").is_err());
        let u = parse_user("mail:mail").unwrap();
        assert_eq!(
            (u.user.as_str(), u.group.as_deref()),
            ("mail", Some("mail"))
        );
        assert!(parse_user("mail:").is_err());
        assert_eq!(split_list("a, b  c,,d"), vec!["a", "b", "c", "d"]);
    }

    #[test]
    fn privacy_words_with_positions() {
        let p = parse_privacy("needmailhelo,noexpn, restrictqrun").unwrap();
        assert!(p.has("needmailhelo") && p.has("noverb") && p.has("restrictqrun"));
        let e = parse_privacy("novrfy,nosuch").unwrap_err();
        assert_eq!(e.offset, 7);
    }

    #[test]
    fn legacy_timeout_list() {
        let t = parse_timeout_list("queuewarn=4h,queuereturn=5,resolver.retry=3").unwrap();
        assert_eq!(
            t[0],
            (
                "queuewarn".to_string(),
                OptionValue::Duration(Duration::from_secs(4 * 3600))
            )
        );
        assert_eq!(
            t[1].1,
            OptionValue::Duration(Duration::from_secs(5 * 86400))
        );
        assert_eq!(t[2].1, OptionValue::Count(3));
        assert!(parse_timeout_list("bogus=1m").is_err());
    }

    #[test]
    fn formats_durations() {
        assert_eq!(
            format_duration(Duration::from_secs(5 * 86400 + 4 * 3600)),
            "5d4h"
        );
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
