//! sendmail.cf, read as sendmail 8.17 reads it, into a typed model.
//!
//! The syntax is a pest grammar (`sendmail.pest`); the loader walks the
//! file line by line as sendmail's readcf() does and builds a [`Config`].
//! Where sendmail silently misreads a line (a number that is not one, a NUL
//! byte, an unterminated `$?`), mtad refuses it with an error that names
//! `file:line:column`, shows the line and says what was expected. Where
//! sendmail warns and goes on (an unknown option, a missing class file),
//! mtad warns the same way and the config still loads.
//!
//! ```no_run
//! let loaded = cfparser::load_file(
//!     std::path::Path::new("/etc/mail/sendmail.cf"),
//!     &cfparser::LoadOptions::default(),
//! )?;
//! for w in &loaded.warnings {
//!     eprintln!("{w}");
//! }
//! println!("{:?}", loaded.config.size("MaxMessageSize"));
//! # Ok::<(), cfparser::LoadErrors>(())
//! ```

pub mod diag;
pub mod grammar;
pub mod lex;
mod load;
pub mod model;
pub mod options;
mod source;
pub mod template;

pub use diag::{Diagnostic, LoadErrors, Location, Severity};
pub use lex::{MacroName, Meta};
pub use load::{LoadOptions, Loaded, load_bytes, load_file};
pub use model::Config;
pub use options::{OptionValue, PrivacyFlags};
pub use template::Template;
