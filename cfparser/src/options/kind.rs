//! How each option's value is read: the type sendmail gives it, made strict.
//!
//! sendmail converts option values with `atoi`, `atobool` and `convtime`, all of
//! which turn garbage into 0 or false without a word (`O MaxMessageSize=abc`
//! means "no limit" to sendmail). mtad reads the same syntax but refuses what
//! is not a value of the option's kind, so a typo cannot silently open a hole.

/// The unit a bare number is taken in, for a duration option (sendmail's
/// `convtime(val, unit)` default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    Seconds,
    Minutes,
    Hours,
    Days,
}

impl Unit {
    pub fn seconds(self) -> u64 {
        match self {
            Unit::Seconds => 1,
            Unit::Minutes => 60,
            Unit::Hours => 3600,
            Unit::Days => 86400,
        }
    }

    pub fn letter(self) -> char {
        match self {
            Unit::Seconds => 's',
            Unit::Minutes => 'm',
            Unit::Hours => 'h',
            Unit::Days => 'd',
        }
    }
}

/// The type of an option's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `True`/`False` (any prefix of true, false, yes, no, any case); an
    /// empty value means true, as in sendmail.
    Bool,
    /// A signed decimal integer (counts, levels, load averages).
    Int,
    /// A byte count: decimal digits, optionally followed by `k`, `m` or `g`
    /// (an mtad extension; sendmail would read `10m` as 10).
    Size,
    /// A time: `5d4h`, `30m`, `90s`, `1w`, or a bare number in the given unit.
    Duration(Unit),
    /// Free text, often with macros (`$j`) expanded when it is used.
    Str,
    /// A file or directory path (or a list of them where sendmail allows).
    Path,
    /// A single character (BlankSub).
    Char,
    /// An octal file mode such as `0600`.
    Mode,
    /// One of a fixed set of words; as in sendmail only the first letter is
    /// significant, and the value is stored as the full word.
    Enum(&'static [&'static str]),
    /// A list of words separated by commas and/or white space.
    List,
    /// `user`, `user:group`, `uid` or `uid:gid` (DefaultUser, RunAsUser).
    UserSpec,
    /// PrivacyOptions: a set of flags.
    Privacy,
    /// DaemonPortOptions / ClientPortOptions: one `key=value,…` list per line.
    PortOptions,
    /// The bare `Timeout` option (legacy `Or`): `name=duration,…`.
    Timeouts,
    /// `N` or `N/M` (MaxMimeHeaderLength; MinFreeBlocks, where M is a
    /// maximum message size).
    IntPair,
    /// Accepted for old configs and ignored by sendmail 8.17 itself.
    Obsolete,
}
