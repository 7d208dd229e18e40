//! The queue: IDs, the SQLite store, and the mailq listing.

pub mod id;
pub mod mailq;
pub mod store;

pub use store::{NewMessage, NewRecipient, Queue};
