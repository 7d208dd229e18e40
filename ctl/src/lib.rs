//! The control protocol between `mtactl` and the daemon.
//!
//! One request and one response per line, each a JSON object, over the
//! Unix socket named by ControlSocketName. The first request of a
//! connection says which protocol version the client speaks, so that a
//! newer mtactl talking to an older daemon gets a clear answer instead of a
//! misread one. Lines are capped before they are parsed: the daemon reads
//! this socket from any local user.

pub mod mailq;
pub mod protocol;
