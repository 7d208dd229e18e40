//! Delivery: putting a queued message where a recipient's route says.
//!
//! Each file holds one way of delivering; they take typed requests and
//! return typed outcomes, so that the privileged helper that runs them
//! (mailboxes are written as their owners) accepts nothing else.

pub mod dsn;
pub mod forward;
pub mod maildir;
pub mod mbox;
pub mod mx;
pub mod program;
pub mod remote;
pub mod smtp;
