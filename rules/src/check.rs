//! rscheck(): a check ruleset (`check_relay`, `check_mail`, `check_rcpt`,
//! a header check…) run on one string or two joined by `$|`, its result
//! read as sendmail 8.17 reads it (parseaddr.c, rscheck()):
//!
//! * no such ruleset, an input prescan cannot read, or a result that is not
//!   `$#error` or `$#discard` (compared case-sensitively: `$#OK`, `RELAY`,
//!   anything else) accepts;
//! * `$#discard` accepts the command and drops the whole message;
//! * `$#error $@ quarantine $: reason` accepts and holds the message;
//! * any other `$#error` is refused with the reply buildaddr() makes of it,
//!   said through the environment's output as a user error whose address
//!   is `to` (so `550 5.7.1 <a@b>... Relaying denied`).
//!
//! The status rewrite() returns does not count, only the workspace.

use crate::address::Flags;
use crate::meta;
use crate::prescan::{MAXATOM, Table};
use crate::rewrite::{Call, EX_UNAVAILABLE};

/// How the input is tokenized (sendmail's RSF_ flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckFlags {
    /// RSF_RMCOMM: comments are removed (IntTokenTab); without it `(` and
    /// `)` are tokens and bad syntax is not complained about (TokTypeNoC),
    /// as for header checks.
    pub remove_comments: bool,
    /// RSF_UNSTRUCTURED: a header value, not an address: the rules' own
    /// complaints are not said.
    pub unstructured: bool,
}

impl CheckFlags {
    /// check_relay, check_mail, check_rcpt, tls_client…: RSF_RMCOMM.
    pub const ADDRESS: CheckFlags = CheckFlags {
        remove_comments: true,
        unstructured: false,
    };
    /// check_eoh, check_eom, header checks: RSF_UNSTRUCTURED alone.
    pub const UNSTRUCTURED: CheckFlags = CheckFlags {
        remove_comments: false,
        unstructured: true,
    };
}

/// What a check ruleset decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// Refused: the reply was said (a user error); `status` is the exit
    /// status the `$#error` means.
    Reject {
        status: i32,
    },
    /// `$#discard`: accepted, and the message is dropped.
    Discard,
    /// `$#error $@ quarantine $: reason`: accepted, and the message is
    /// held with this reason.
    Quarantine(Vec<u8>),
}

impl Call<'_, '_> {
    /// Runs check ruleset `name` on `p1` (and `p2` after `$|`), as
    /// rscheck() does; `to` is the address a refusal names (empty: none,
    /// as for check_relay).
    pub fn rscheck(
        &mut self,
        name: &str,
        p1: &[u8],
        p2: Option<&[u8]>,
        flags: CheckFlags,
        to: &[u8],
    ) -> Verdict {
        let Some(rs) = self.engine.rules.find(name) else {
            return Verdict::Accept;
        };
        let input = joined(p1, p2);
        let was = self.env.quiet;
        self.env.quiet = true;
        let (table, ignore) = if flags.remove_comments {
            (Table::Internal, false)
        } else {
            (Table::NoComments, true)
        };
        let scanned = self.scan(&input, table, ignore);
        self.env.quiet = was;
        let Some(mut ws) = scanned.filter(|w| !w.is_empty()) else {
            return Verdict::Accept;
        };
        if flags.unstructured {
            self.env.quiet = true;
        }
        self.rewrite(&mut ws, rs, 0, MAXATOM);
        self.env.quiet = was;
        // The first tokens of the result, as text.
        let head: Vec<&[u8]> = ws.iter().take(5).map(|&s| self.syms.text(s)).collect();
        let head: Vec<Vec<u8>> = head.into_iter().map(<[u8]>::to_vec).collect();
        let text = |_: &Self, i: usize| -> &[u8] { head.get(i).map_or(&[][..], Vec::as_slice) };
        if text(self, 0) != [meta::CANONNET] {
            return Verdict::Accept;
        }
        match text(self, 1) {
            b"discard" => Verdict::Discard,
            b"error" => {
                if text(self, 2) == [meta::CANONHOST] && text(self, 3) == b"quarantine" {
                    let reason = if text(self, 4) != [meta::CANONUSER] || ws.len() < 6 {
                        name.as_bytes().to_vec()
                    } else {
                        self.cataddr(&ws[5..], b' ', 2 * 8192, true)
                    };
                    return Verdict::Quarantine(reason);
                }
                let a = self.build_address(&ws, Flags::default(), to);
                let status = if a.status == 0 {
                    EX_UNAVAILABLE
                } else {
                    a.status
                };
                Verdict::Reject { status }
            }
            _ => Verdict::Accept,
        }
    }
}

impl Call<'_, '_> {
    /// rscap(): ruleset `name` run on `p1` (and `p2` after `$|`) for a
    /// value rather than a verdict (`greet_pause`, `srv_features`): the
    /// resulting workspace as text, or None when the ruleset is not
    /// defined or the input cannot be read. Complaints are not said.
    pub fn rscap(&mut self, name: &str, p1: &[u8], p2: Option<&[u8]>) -> Option<Vec<Vec<u8>>> {
        let rs = self.engine.rules.find(name)?;
        let input = joined(p1, p2);
        let was = self.env.quiet;
        self.env.quiet = true;
        let scanned = self.scan(&input, Table::Internal, false);
        let out = scanned.map(|mut ws| {
            self.rewrite(&mut ws, rs, 0, MAXATOM);
            ws.iter().map(|&s| self.syms.text(s).to_vec()).collect()
        });
        self.env.quiet = was;
        out
    }
}

/// rscheck()'s and rscap()'s input: `p1`, or `p1 $| p2`.
fn joined(p1: &[u8], p2: Option<&[u8]>) -> Vec<u8> {
    let mut input = p1.to_vec();
    if let Some(p2) = p2 {
        input.push(meta::CONDELSE);
        input.extend_from_slice(p2);
    }
    input
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{Collect, Env, Macros, NoResolver};

    const CF: &str = "V10/Berkeley\n\
        O OperatorChars=.:%@!^/[]+\n\
        Mlocal, P=/bin/cat, F=l, A=cat\n\
        Scheck_rcpt\n\
        R<$* @ bad.example>\t$#error $@ 5.7.1 $: \"550 Relaying denied\"\n\
        R<$* @ go.away>\t$#error $: \"554 Go away\"\n\
        R<$* @ temp.example>\t$#error $@ 4.3.0 $: \"451 Try later\"\n\
        R<$* @ plain.example>\t$#error $: no code here\n\
        R<$* @ drop.example>\t$#discard $: x\n\
        R<$* @ hold.example>\t$#error $@ quarantine $: held for review\n\
        R<$* @ hold2.example>\t$#error $@ quarantine\n\
        R<$* @ upper.example>\t$#ERROR $: \"550 not an error\"\n\
        R<$* @ ok.example>\t$#OK\n\
        Scheck_relay\n\
        R$* $| 192.0.2.1\t$#error $@ 5.7.1 $: \"550 Access denied\"\n";

    fn engine() -> crate::Engine {
        let loaded = cfparser::load_bytes(
            std::path::Path::new("t.cf"),
            CF.as_bytes().to_vec(),
            &Default::default(),
        )
        .expect("config loads");
        crate::Engine::new(&loaded.config).0
    }

    fn check(e: &crate::Engine, name: &str, p1: &str, p2: Option<&str>) -> (Verdict, Vec<String>) {
        let mut s = e.session();
        let mut macros = Macros::with_metasymbols();
        let mut out = Collect::default();
        let mut env = Env::new(&mut macros, &mut out, &NoResolver);
        let v = s.call(&mut env).rscheck(
            name,
            p1.as_bytes(),
            p2.map(str::as_bytes),
            CheckFlags::ADDRESS,
            p1.as_bytes(),
        );
        let replies = out.messages.iter().map(|m| m.smtp_reply()).collect();
        (v, replies)
    }

    #[test]
    fn results_as_rscheck_reads_them() {
        let e = engine();
        let (v, r) = check(&e, "check_rcpt", "<u@bad.example>", None);
        assert!(matches!(v, Verdict::Reject { .. }));
        assert_eq!(r, ["550 5.7.1 <u@bad.example>... Relaying denied"]);
        // 554 does not show the address; the enhanced code from $@.
        let (_, r) = check(&e, "check_rcpt", "<u@go.away>", None);
        assert_eq!(r, ["554 5.0.0 Go away"]);
        let (v, r) = check(&e, "check_rcpt", "<u@temp.example>", None);
        assert_eq!(v, Verdict::Reject { status: 75 });
        assert_eq!(r, ["451 4.3.0 Try later"]);
        let (_, r) = check(&e, "check_rcpt", "<u@plain.example>", None);
        assert_eq!(r, ["553 5.3.0 <u@plain.example>... no code here"]);
        assert_eq!(
            check(&e, "check_rcpt", "<u@drop.example>", None).0,
            Verdict::Discard
        );
        assert_eq!(
            check(&e, "check_rcpt", "<u@hold.example>", None).0,
            Verdict::Quarantine(b"held for review".to_vec())
        );
        assert_eq!(
            check(&e, "check_rcpt", "<u@hold2.example>", None).0,
            Verdict::Quarantine(b"check_rcpt".to_vec())
        );
        // strcmp: `ERROR` is not the error mailer here.
        assert_eq!(
            check(&e, "check_rcpt", "<u@upper.example>", None).0,
            Verdict::Accept
        );
        assert_eq!(
            check(&e, "check_rcpt", "<u@ok.example>", None).0,
            Verdict::Accept
        );
        assert_eq!(
            check(&e, "check_mail", "<u@bad.example>", None).0,
            Verdict::Accept
        );
        // No tokens: nothing to refuse.
        assert_eq!(check(&e, "check_rcpt", "", None).0, Verdict::Accept);
    }

    #[test]
    fn two_strings_joined_by_condelse() {
        let e = engine();
        let mut s = e.session();
        let mut macros = Macros::with_metasymbols();
        let mut out = Collect::default();
        let mut env = Env::new(&mut macros, &mut out, &NoResolver);
        let v = s.call(&mut env).rscheck(
            "check_relay",
            b"host.example",
            Some(b"192.0.2.1"),
            CheckFlags::ADDRESS,
            b"",
        );
        assert!(matches!(v, Verdict::Reject { .. }));
        assert_eq!(out.messages[0].smtp_reply(), "550 5.7.1 Access denied");
    }
}
