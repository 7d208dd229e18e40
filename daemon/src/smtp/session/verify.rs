//! VRFY and EXPN, as sendmail's vrfy answers them: check_vrfy or
//! check_expn, parseaddr() of the argument, then printvrfyaddr()'s lines.

use super::*;
use tokio::io::{AsyncRead, AsyncWrite};

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    // ---------------------------------------------------------------- VRFY

    pub(super) async fn vrfy(&mut self, arg: &str, expn: bool) -> Next {
        let privacy = self.shared.settings.privacy;
        if expn {
            if privacy.has("noexpn") {
                self.log_refused("expn", arg).await;
                return self
                    .reply_continue("502 5.7.0 Sorry, we do not allow this operation")
                    .await;
            }
            if self.helo.is_none() && privacy.has("needexpnhelo") {
                return self
                    .bad("503 5.0.0 I demand that you introduce yourself first")
                    .await;
            }
        } else {
            if privacy.has("novrfy") {
                self.log_refused("vrfy", arg).await;
                return self
                    .reply_continue(
                        "252 2.5.2 Cannot VRFY user; try RCPT to attempt delivery (or try finger)",
                    )
                    .await;
            }
            if self.helo.is_none() && privacy.has("needvrfyhelo") {
                return self
                    .bad("503 5.0.0 I demand that you introduce yourself first")
                    .await;
            }
        }
        // sendmail's vrfy: check_vrfy or check_expn on the argument, then
        // parseaddr() of it as a recipient; VRFY expands no alias.
        let text = arg.trim_start();
        if text.is_empty() {
            return self.bad("501 5.5.2 Argument required").await;
        }
        let ruleset = if expn { "check_expn" } else { "check_vrfy" };
        if let Outcome::Reject { reply, log } = self.checks.verify(ruleset, text.as_bytes()) {
            log_check(None, &log);
            return self.bad(&reply).await;
        }
        let parsed = match self.checks.recipient(text.as_bytes()) {
            Ok(p) => p,
            Err(reply) => return self.bad(&reply).await,
        };
        self.checks.recipient_done();
        let a = parsed.address;
        let paddr = &text.as_bytes()[..parsed.end];
        let user = String::from_utf8_lossy(&a.user).into_owned();
        let mailer = self.shared.config.mailer(&a.mailer);
        if self.local_recipient(&a) {
            let policy = &self.shared.policy;
            if !policy.local_user_exists(&user) {
                let reply = rules::report::Message::new(
                    rules::report::Kind::User,
                    b"550 5.1.1 User unknown",
                    Some(paddr),
                )
                .smtp_reply();
                return self.bad(&reply).await;
            }
            if expn {
                return self
                    .expn(&user, &clean(&String::from_utf8_lossy(paddr)))
                    .await;
            }
            let line = self.vrfy_line(&user, policy.aliases.contains(&user.to_ascii_lowercase()));
            return self.reply_continue(&format!("250 2.1.5 {line}")).await;
        }
        // printvrfyaddr(): 252 for a VRFY unless the mailer has flag q.
        let code = if !expn && !mailer.is_some_and(|m| m.has_flag('q')) {
            252
        } else {
            250
        };
        let shown = if user.contains('@') {
            format!("<{user}>")
        } else {
            format!("<{user}@{}>", self.shared.settings.host_name)
        };
        self.reply_continue(&format!("{code} 2.1.5 {}", clean(&shown)))
            .await
    }

    /// printvrfyaddr() for a local name: an account with its full name
    /// (GECOS), as `Full Name <user@$j>`; an alias, or an account without
    /// one, as `<user@$j>`.
    fn vrfy_line(&self, user: &str, alias: bool) -> String {
        let j = &self.shared.settings.host_name;
        let account = (!alias)
            .then(|| nix::unistd::User::from_name(user).ok().flatten())
            .flatten();
        let line = match account {
            Some(u) => {
                let gecos = u.gecos.to_string_lossy().into_owned();
                match full_name(&gecos, &u.name) {
                    Some(f) => format!("{f} <{}@{j}>", u.name),
                    None => format!("<{}@{j}>", u.name),
                }
            }
            None => format!("<{user}@{j}>"),
        };
        clean(&line)
    }

    /// EXPN of a local name: every place its aliases lead to, one reply
    /// line each, as sendmail lists them (`Full Name <user@$j>` for local
    /// accounts).
    async fn expn(&mut self, user: &str, shown: &str) -> Next {
        let policy = &self.shared.policy;
        let targets = match policy.expand(user) {
            Ok(t) => t,
            Err(e) => {
                return self
                    .reply_continue(&format!("554 5.3.5 {shown}... {}", clean(&e.to_string())))
                    .await;
            }
        };
        let lines: Vec<String> = targets
            .iter()
            .map(|t| match t {
                Target::Local(u) | Target::Mailbox(u) => self.vrfy_line(u, false),
                Target::Remote(a) => clean(&format!("<{a}>")),
                Target::Program { command, .. } => clean(&format!("<\"|{command}\">")),
                Target::File { path, .. } => clean(&format!("<{}>", path.display())),
            })
            .collect();
        let last = lines.len().saturating_sub(1);
        for (i, line) in lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            self.reply(&format!("250{sep}2.1.5 {line}")).await;
        }
        Next::Continue
    }
}

/// sendmail's buildfname(): the full name in a GECOS field, up to the
/// first comma, `&` standing for the login name with a capital.
fn full_name(gecos: &str, login: &str) -> Option<String> {
    let field = gecos.split(',').next().unwrap_or("");
    let mut out = String::new();
    for c in field.chars() {
        if c == '&' {
            let mut l = login.chars();
            if let Some(first) = l.next() {
                out.extend(first.to_uppercase());
                out.push_str(l.as_str());
            }
        } else {
            out.push(c);
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_names_from_gecos() {
        assert_eq!(full_name("root", "root").as_deref(), Some("root"));
        assert_eq!(
            full_name("& Smith,Room 1,555", "bob").as_deref(),
            Some("Bob Smith")
        );
        assert_eq!(full_name(",,,", "x"), None);
        assert_eq!(full_name("", "x"), None);
    }
}
