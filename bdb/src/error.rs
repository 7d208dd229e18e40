//! The one error type of the crate.
//!
//! Three cases because callers act differently on each: an I/O error is the
//! file system's problem (retry, permissions), `NotADatabase` means the file
//! is something this reader does not handle at all (wrong format, encrypted,
//! a Berkeley DB feature makemap never uses), and `Corrupt` means it claims to
//! be a map but its insides do not add up. A hostile or damaged file must end
//! in one of these, never in a panic.

use std::fmt;

/// Why a map file could not be opened or read.
#[derive(Debug)]
pub enum Error {
    /// Reading the file failed.
    Io(std::io::Error),
    /// The file is not a Berkeley DB hash or btree database this reader
    /// supports (bad magic, unknown version, encryption, checksums, ...).
    NotADatabase(String),
    /// The file looks like a database but a page, an offset or a chain in it
    /// is inconsistent.
    Corrupt(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::NotADatabase(why) => write!(f, "not a supported Berkeley DB file: {why}"),
            Error::Corrupt(why) => write!(f, "corrupt Berkeley DB file: {why}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

/// Shorthand for the `Corrupt` case, used at every failed consistency check.
pub(crate) fn corrupt<T>(why: impl Into<String>) -> Result<T, Error> {
    Err(Error::Corrupt(why.into()))
}
