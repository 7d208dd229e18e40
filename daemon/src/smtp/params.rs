//! The ESMTP parameters after a MAIL or RCPT path, read as sendmail's
//! srvrsmtp.c reads them: the keyword/value split of its parameter loop,
//! then mail_esmtp_args() and rcpt_esmtp_args() with their replies, word
//! for word (`501 5.5.2 SIZE requires a value`, `555 5.5.4 foo parameter
//! unrecognized` with the keyword as typed, ...). The order of the checks
//! is sendmail's, since the first failing one is the reply.

use super::clean;

/// One parameter: the keyword as typed, and the value after `=` (`None`
/// without `=`, `Some("")` for `KEY=`).
pub type Param = (String, Option<String>);

/// A refused parameter: the whole reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// Splits what follows a path into parameters, as sendmail's loop does: a
/// keyword is letters, digits and `-`; after `=` a value runs to a blank,
/// a control character or another `=`; whatever byte stops a keyword or a
/// value is dropped.
pub fn split(text: &str) -> Vec<Param> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut p = 0;
    loop {
        while p < b.len() && b[p].is_ascii_whitespace() {
            p += 1;
        }
        if p >= b.len() {
            return out;
        }
        let k = p;
        while p < b.len() && (b[p].is_ascii_alphanumeric() || b[p] == b'-') {
            p += 1;
        }
        let key = text[k..p].to_string();
        let mut value = None;
        if p < b.len() && b[p] == b'=' {
            p += 1;
            let v = p;
            while p < b.len() && b[p] != b' ' && !b[p].is_ascii_control() && b[p] != b'=' {
                p += 1;
            }
            value = Some(String::from_utf8_lossy(&b[v..p]).into_owned());
        }
        // The byte that ended the keyword or the value (sendmail writes a
        // NUL over it); a multi-byte character is skipped whole.
        if p < b.len() {
            p += text[p..].chars().next().map_or(1, char::len_utf8);
        }
        out.push((key, value));
    }
}

/// What the MAIL parameters asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mail {
    pub size: Option<u64>,
    /// `7BIT` or `8BITMIME`, upper-cased.
    pub body_type: Option<String>,
    /// `FULL` or `HDRS`, upper-cased.
    pub ret: Option<String>,
    pub envid: Option<String>,
}

/// mail_esmtp_args() over every parameter. `no_receipts` is PrivacyOptions
/// `noreceipts` (no DSN parameters).
pub fn mail(params: &[Param], no_receipts: bool) -> Result<Mail, Refused> {
    let mut m = Mail::default();
    for (key, value) in params {
        let v = value.as_deref();
        let k = key.to_ascii_lowercase();
        match k.as_str() {
            "size" => {
                let v = v.ok_or_else(|| requires("SIZE"))?;
                match strtol(v) {
                    None => {
                        return Err(Refused(
                            "552 5.2.3 Message size exceeds maximum value".into(),
                        ));
                    }
                    Some(n) if n < 0 => {
                        return Err(Refused("552 5.2.3 Message size invalid".into()));
                    }
                    Some(n) => m.size = Some(n as u64),
                }
            }
            "body" => {
                let v = v.ok_or_else(|| requires("BODY"))?;
                if v.eq_ignore_ascii_case("8bitmime") || v.eq_ignore_ascii_case("7bit") {
                    m.body_type = Some(v.to_ascii_uppercase());
                } else {
                    return Err(Refused(format!("501 5.5.4 Unknown BODY type {}", clean(v))));
                }
            }
            "envid" => {
                if no_receipts {
                    return Err(dsn_refused("ENVID"));
                }
                let v = v.ok_or_else(|| requires("ENVID"))?;
                if !xtext_ok(v) {
                    return Err(Refused(
                        "501 5.5.4 Syntax error in ENVID parameter value".into(),
                    ));
                }
                if m.envid.is_some() {
                    return Err(Refused("501 5.5.0 Duplicate ENVID parameter".into()));
                }
                m.envid = Some(v.to_string());
            }
            "ret" => {
                if no_receipts {
                    return Err(dsn_refused("RET"));
                }
                let v = v.ok_or_else(|| requires("RET"))?;
                if m.ret.is_some() {
                    return Err(Refused("501 5.5.0 Duplicate RET parameter".into()));
                }
                if v.eq_ignore_ascii_case("hdrs") || v.eq_ignore_ascii_case("full") {
                    m.ret = Some(v.to_ascii_uppercase());
                } else {
                    return Err(Refused(format!(
                        "501 5.5.2 Bad argument \"{}\" to RET",
                        clean(v)
                    )));
                }
            }
            _ => return Err(unrecognized(key)),
        }
    }
    Ok(m)
}

/// What the RCPT parameters asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rcpt {
    /// `NEVER`, or a comma-separated list of SUCCESS, FAILURE, DELAY, as
    /// the client wrote it, upper-cased.
    pub notify: Option<String>,
    pub orcpt: Option<String>,
}

/// rcpt_esmtp_args() over every parameter.
pub fn rcpt(params: &[Param], no_receipts: bool) -> Result<Rcpt, Refused> {
    let mut r = Rcpt::default();
    for (key, value) in params {
        let v = value.as_deref();
        match key.to_ascii_lowercase().as_str() {
            "notify" => {
                if no_receipts {
                    return Err(dsn_refused("NOTIFY"));
                }
                let v = v.ok_or_else(|| requires("NOTIFY"))?;
                if !v.eq_ignore_ascii_case("never") {
                    for item in v.split(',') {
                        if !["success", "failure", "delay"]
                            .iter()
                            .any(|w| item.eq_ignore_ascii_case(w))
                        {
                            return Err(Refused(format!(
                                "501 5.5.4 Bad argument \"{}\"  to NOTIFY",
                                clean(item)
                            )));
                        }
                    }
                }
                r.notify = Some(v.to_ascii_uppercase());
            }
            "orcpt" => {
                if no_receipts {
                    return Err(dsn_refused("ORCPT"));
                }
                let v = v.ok_or_else(|| requires("ORCPT"))?;
                if !v.contains(';') || !xtext_ok(v) {
                    return Err(Refused(
                        "501 5.5.4 Syntax error in ORCPT parameter value".into(),
                    ));
                }
                if r.orcpt.is_some() {
                    return Err(Refused("501 5.5.0 Duplicate ORCPT parameter".into()));
                }
                r.orcpt = Some(v.to_string());
            }
            _ => return Err(unrecognized(key)),
        }
    }
    Ok(r)
}

fn requires(what: &str) -> Refused {
    Refused(format!("501 5.5.2 {what} requires a value"))
}

fn unrecognized(key: &str) -> Refused {
    Refused(format!("555 5.5.4 {} parameter unrecognized", clean(key)))
}

/// PrivacyOptions `noreceipts`: a DSN parameter refused.
fn dsn_refused(what: &str) -> Refused {
    Refused(format!(
        "504 5.7.0 Sorry, {what} not supported, we do not allow DSN"
    ))
}

/// strtol(s, NULL, 10) as sendmail uses it for SIZE: leading blanks, a
/// sign, then digits; no digits is 0; `None` when out of range (LONG_MAX
/// with ERANGE; LONG_MIN is negative and refused as such by the caller).
fn strtol(s: &str) -> Option<i64> {
    let b = s
        .trim_start_matches(|c: char| c.is_ascii_whitespace())
        .as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let mut n: i64 = 0;
    for &d in digits.iter().take_while(|d| d.is_ascii_digit()) {
        let d = i64::from(d - b'0');
        n = match n.checked_mul(10).and_then(|n| n.checked_add(d)) {
            Some(n) => n,
            None => return if neg { Some(i64::MIN) } else { None },
        };
    }
    Some(if neg { -n } else { n })
}

/// xtextok(): printable ASCII but `=`, and `+` only before two hex digits.
pub fn xtext_ok(v: &str) -> bool {
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
                {
                    return false;
                }
                i += 3;
            }
            c if (b'!'..=b'~').contains(&c) && c != b'=' => i += 1,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<Param> {
        split(s)
    }

    fn refused(r: Result<impl std::fmt::Debug, Refused>) -> String {
        r.unwrap_err().0
    }

    #[test]
    fn split_as_sendmail_splits() {
        assert_eq!(
            p(" SIZE=10 body=8BITMIME  FOO"),
            vec![
                ("SIZE".into(), Some("10".into())),
                ("body".into(), Some("8BITMIME".into())),
                ("FOO".into(), None)
            ]
        );
        assert_eq!(p("SIZE="), vec![("SIZE".into(), Some("".into()))]);
        assert_eq!(
            p("A=b=c"),
            vec![("A".into(), Some("b".into())), ("c".into(), None)]
        );
    }

    #[test]
    fn mail_parameters_as_the_real_sendmail_answers() {
        // Each reply below is what sendmail 8.17 answered (tests/smtp_oracle.rs).
        assert_eq!(mail(&p("SIZE=abc"), false).unwrap().size, Some(0));
        assert_eq!(mail(&p("SIZE=12x"), false).unwrap().size, Some(12));
        assert_eq!(mail(&p("SIZE="), false).unwrap().size, Some(0));
        assert_eq!(
            refused(mail(&p("SIZE"), false)),
            "501 5.5.2 SIZE requires a value"
        );
        assert_eq!(
            refused(mail(&p("SIZE=-1"), false)),
            "552 5.2.3 Message size invalid"
        );
        assert_eq!(
            refused(mail(&p("SIZE=99999999999999999999"), false)),
            "552 5.2.3 Message size exceeds maximum value"
        );
        assert_eq!(
            refused(mail(&p("BODY=9BIT"), false)),
            "501 5.5.4 Unknown BODY type 9BIT"
        );
        assert_eq!(
            refused(mail(&p("BODY"), false)),
            "501 5.5.2 BODY requires a value"
        );
        assert_eq!(
            refused(mail(&p("RET=ALL"), false)),
            "501 5.5.2 Bad argument \"ALL\" to RET"
        );
        assert_eq!(
            refused(mail(&p("RET"), false)),
            "501 5.5.2 RET requires a value"
        );
        assert_eq!(
            refused(mail(&p("ENVID"), false)),
            "501 5.5.2 ENVID requires a value"
        );
        assert_eq!(
            refused(mail(&p("ENVID=a+zz"), false)),
            "501 5.5.4 Syntax error in ENVID parameter value"
        );
        assert_eq!(
            refused(mail(&p("foo=bar"), false)),
            "555 5.5.4 foo parameter unrecognized"
        );
        assert_eq!(
            refused(mail(&p("RET=FULL RET=HDRS"), false)),
            "501 5.5.0 Duplicate RET parameter"
        );
        assert_eq!(
            refused(mail(&p("RET=FULL"), true)),
            "504 5.7.0 Sorry, RET not supported, we do not allow DSN"
        );
        let ok = mail(&p("BODY=7bit RET=hdrs ENVID=a+2Bb"), false).unwrap();
        assert_eq!(ok.body_type.as_deref(), Some("7BIT"));
        assert_eq!(ok.ret.as_deref(), Some("HDRS"));
        assert_eq!(ok.envid.as_deref(), Some("a+2Bb"));
    }

    #[test]
    fn rcpt_parameters_as_the_real_sendmail_answers() {
        assert_eq!(
            refused(rcpt(&p("NOTIFY=bogus"), false)),
            "501 5.5.4 Bad argument \"bogus\"  to NOTIFY"
        );
        assert_eq!(
            refused(rcpt(&p("NOTIFY=never,success"), false)),
            "501 5.5.4 Bad argument \"never\"  to NOTIFY"
        );
        assert_eq!(
            refused(rcpt(&p("NOTIFY"), false)),
            "501 5.5.2 NOTIFY requires a value"
        );
        assert_eq!(
            refused(rcpt(&p("ORCPT"), false)),
            "501 5.5.2 ORCPT requires a value"
        );
        assert_eq!(
            refused(rcpt(&p("ORCPT=bad"), false)),
            "501 5.5.4 Syntax error in ORCPT parameter value"
        );
        let ok = rcpt(&p("NOTIFY=success,Delay ORCPT=rfc822;a@b"), false).unwrap();
        assert_eq!(ok.notify.as_deref(), Some("SUCCESS,DELAY"));
        assert_eq!(ok.orcpt.as_deref(), Some("rfc822;a@b"));
    }

    #[test]
    fn xtext() {
        assert!(xtext_ok("a+2Bb"));
        assert!(!xtext_ok("a+2"));
        assert!(!xtext_ok("a=b"));
        assert!(!xtext_ok("a b"));
    }
}
