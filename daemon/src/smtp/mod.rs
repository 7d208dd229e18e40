//! The SMTP server side: reading lines, parsing commands and paths, the
//! session state machine and the DATA reader.

pub mod address;
pub mod command;
pub mod data;
pub mod help;
pub mod params;
pub mod reader;
pub mod session;

/// Client text shown in a reply: no control characters (a reply is one
/// line), at most 256 characters.
pub fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(256).collect()
}
