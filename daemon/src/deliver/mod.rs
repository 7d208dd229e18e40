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

/// Appends `part` with CRLF line ends made LF (what files, programs and
/// Maildirs get; SMTP keeps CRLF).
pub fn crlf_to_lf(out: &mut Vec<u8>, part: &[u8]) {
    let mut i = 0;
    while i < part.len() {
        if part[i] == b'\r' && part.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(part[i]);
        i += 1;
    }
}
