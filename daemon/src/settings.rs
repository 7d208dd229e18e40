//! What the SMTP server needs from the config, read once per load: limits,
//! timeouts, privacy flags, the greeting and the headers to add.

use crate::identity;
use cfparser::model::HeaderDef;
use cfparser::{Config, PrivacyFlags, Template};
use std::path::PathBuf;
use std::time::Duration;

/// sendmail's defaults where the config is silent.
const DEFAULT_GREETING: &str = "$j ESMTP mtad $v; $b";
const DEFAULT_MAX_HOPS: u64 = 25;
const DEFAULT_HEADERS_LENGTH: u64 = 32 * 1024;
const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(3600);
const DEFAULT_DATABLOCK_TIMEOUT: Duration = Duration::from_secs(3600);
/// The Received header sendmail's own configs use, for a config without
/// an `HReceived:` line.
const DEFAULT_RECEIVED: &str =
    "$?sfrom $s $.$?_($_)\n\t$.by $j (mtad/$v)$?r with $r$. id $i$?u\n\tfor $u$.; $b";

#[derive(Debug, Clone)]
pub struct Settings {
    /// `$j`: our fully qualified name.
    pub host_name: String,
    pub greeting: Template,
    /// MaxMessageSize; `None` when unlimited (unset or 0).
    pub max_message_size: Option<u64>,
    /// MaxRecipientsPerMessage; `None` when unlimited.
    pub max_recipients: Option<usize>,
    pub privacy: PrivacyFlags,
    /// Timeout.command: how long to wait for the next command.
    pub command_timeout: Duration,
    /// Timeout.datablock: how long to wait for more of the message.
    pub datablock_timeout: Duration,
    /// MaxHopCount: a message with more Received headers is looping.
    pub max_hops: u64,
    /// MaxHeadersLength: the bound on the header section.
    pub max_headers_length: u64,
    /// Mtad.GreetPause: wait before the greeting; a client that talks
    /// first is refused.
    pub greet_pause: Duration,
    /// MinFreeBlocks: refuse mail when the queue's filesystem has fewer.
    pub min_free_blocks: Option<u64>,
    pub queue_dir: PathBuf,
    /// The Received header's template.
    pub received: Template,
    /// The H lines to apply when a message lacks them (Date, From,
    /// Message-Id).
    pub add_when_missing: Vec<HeaderDef>,
    /// DeliveryMode interactive or background (the default): deliver as
    /// soon as a message is queued. queueonly and deferred leave it to
    /// the next queue run (`-q`, ETRN).
    pub deliver_at_once: bool,
}

impl Settings {
    /// The largest message taken: MaxMessageSize, or the hard ceiling
    /// when it sets no limit.
    pub fn size_limit(&self) -> u64 {
        self.max_message_size
            .unwrap_or(crate::smtp::data::HARD_CEILING)
    }

    pub fn from_config(config: &Config, host_name: &str) -> Settings {
        let template = |name: &str, default: &str| match config.option(name) {
            Some(cfparser::OptionValue::Str(s)) => parse_template(s),
            _ => parse_template(default),
        };
        let positive = |v: Option<u64>| v.filter(|&n| n > 0);
        let received = config
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("Received"))
            .map_or_else(|| parse_template(DEFAULT_RECEIVED), |h| h.value.clone());
        let add_when_missing = config
            .headers
            .iter()
            .filter(|h| {
                ["Date", "From", "Message-Id"]
                    .iter()
                    .any(|n| h.name.eq_ignore_ascii_case(n))
            })
            .cloned()
            .collect();
        Settings {
            deliver_at_once: !matches!(
                config.text("DeliveryMode").as_deref(),
                Some("queueonly" | "deferred")
            ),
            host_name: host_name.to_string(),
            greeting: template("SmtpGreetingMessage", DEFAULT_GREETING),
            max_message_size: positive(config.size("MaxMessageSize")),
            max_recipients: config
                .int("MaxRecipientsPerMessage")
                .filter(|&n| n > 0)
                .map(|n| n as usize),
            privacy: config.privacy(),
            command_timeout: config
                .duration("Timeout.command")
                .filter(|d| !d.is_zero())
                .unwrap_or(DEFAULT_COMMAND_TIMEOUT),
            datablock_timeout: config
                .duration("Timeout.datablock")
                .filter(|d| !d.is_zero())
                .unwrap_or(DEFAULT_DATABLOCK_TIMEOUT),
            max_hops: config
                .int("MaxHopCount")
                .filter(|&n| n > 0)
                .map_or(DEFAULT_MAX_HOPS, |n| n as u64),
            max_headers_length: positive(config.size("MaxHeadersLength"))
                .unwrap_or(DEFAULT_HEADERS_LENGTH),
            greet_pause: config.duration("Mtad.GreetPause").unwrap_or(Duration::ZERO),
            min_free_blocks: config
                .int("MinFreeBlocks")
                .filter(|&n| n > 0)
                .map(|n| n as u64),
            queue_dir: PathBuf::from(
                config
                    .text("QueueDirectory")
                    .unwrap_or_else(|| "/var/spool/mqueue".into()),
            ),
            received,
            add_when_missing,
        }
    }
}

/// A template from option text; the loader has already checked it, so a
/// failure here can only be a value given in code, taken as plain text.
fn parse_template(text: &str) -> Template {
    cfparser::template::parse(text).unwrap_or_else(|_| Template::text(text))
}

/// `$j` for this config: a `Dj` line wins; otherwise the host's name. A
/// name without a domain part still works, with a warning.
pub fn host_name(config: &Config) -> (String, Option<String>) {
    if let Some(j) = config
        .macros
        .get(&cfparser::MacroName::new("j"))
        .filter(|m| m.line > 0)
    {
        let env = crate::macros::MacroEnv::default();
        let name = env.expand(&j.value, config);
        if !name.is_empty() {
            return (name, None);
        }
    }
    let name = identity::host_name();
    let warning = (!name.contains('.')).then(|| {
        format!(
            "the host name `{name}` has no domain part; set `Dj` to the fully qualified name (using `{name}` meanwhile)"
        )
    });
    (name, warning)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_from_option_text() {
        let t = parse_template("$j ESMTP $?{client_addr}x$|y$.");
        assert_eq!(t.to_string(), "$j ESMTP $?{client_addr}x$|y$.");
    }

    #[test]
    fn defaults_where_the_config_is_silent() {
        let loaded = cfparser::load_bytes(
            std::path::Path::new("t.cf"),
            b"Mlocal, P=/bin/cat, A=cat $u\nO MaxMessageSize=0\n".to_vec(),
            &Default::default(),
        )
        .unwrap();
        let s = Settings::from_config(&loaded.config, "mail.example");
        assert_eq!(s.max_message_size, None, "0 means no limit");
        assert_eq!(s.max_hops, 25);
        assert_eq!(s.greeting.to_string(), DEFAULT_GREETING);
        assert!(s.received.to_string().contains("id $i"));
    }
}
