//! The queue: IDs, the SQLite store, the mailq listing, and what the
//! queue runner reads and records.

pub mod id;
pub mod mailq;
pub mod store;
// Landed before the queue runner that uses it (issue 4); tested here.
#[cfg_attr(not(test), allow(dead_code))]
pub mod work;

pub use store::{NewMessage, NewRecipient, Queue};
