//! The queue: IDs, the SQLite store, the mailq listing, and what the
//! queue runner reads and records.

pub mod id;
pub mod mailq;
pub mod store;
pub mod work;

pub use store::{NewMessage, NewRecipient, Queue};
