//! The SMTP server side: reading lines, parsing commands and paths, the
//! session state machine and the DATA reader.

pub mod address;
pub mod command;
pub mod data;
pub mod help;
pub mod params;
pub mod reader;
pub mod session;
