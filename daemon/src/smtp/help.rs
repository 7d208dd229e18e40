//! HELP from the config's HelpFile, as sendmail's help() answers it: the
//! lines whose first word starts with the topic (`smtp` without one), each
//! as a `214-2.0.0` line, then `214 2.0.0 End of HELP info`; `504 5.3.0
//! HELP topic "x" unknown` when none matches; `502 5.3.0 ... HELP not
//! implemented` without a readable file. A file of `#vers 2` or later has
//! its `$x` macros expanded.

use std::path::Path;

/// The reply lines for `HELP topic`. `expand` gives a line's macros their
/// values; `version` is mtad's, which the 502 reply and an old file's
/// first line name where sendmail names its own.
pub fn reply(
    help_file: Option<&Path>,
    topic: &str,
    expand: &dyn Fn(&str) -> String,
    version: &str,
) -> Vec<String> {
    let Some(text) = help_file.and_then(|p| std::fs::read(p).ok()) else {
        return vec![format!("502 5.3.0 mtad {version} -- HELP not implemented")];
    };
    let (topic, mut noinfo) = if topic.is_empty() {
        ("smtp".to_string(), false)
    } else {
        (topic.to_ascii_lowercase(), true)
    };
    let mut vers: Option<i32> = None;
    let mut first = true;
    let mut out = Vec::new();
    for raw in text.split(|&c| c == b'\n') {
        let line = String::from_utf8_lossy(raw);
        if let Some(rest) = line.strip_prefix('#') {
            if vers.is_none()
                && let Some(v) = rest.strip_prefix("vers\t")
            {
                vers = v.split_whitespace().next().and_then(|n| n.parse().ok());
            }
            continue;
        }
        if !line.starts_with(topic.as_str()) {
            continue;
        }
        let old = vers.is_none_or(|v| v < 2);
        if first {
            first = false;
            if old && !noinfo {
                out.push(format!("214-2.0.0 This is mtad version {version}"));
            }
        }
        let body = match line.find([' ', '\t']) {
            Some(i) => &line[i + 1..],
            None => "",
        };
        let body = body.trim_end_matches(['\r', '\n']);
        let body = if old { body.to_string() } else { expand(body) };
        out.push(format!("214-2.0.0 {body}"));
        noinfo = false;
    }
    if noinfo {
        let shown: String = topic.chars().take(10).collect();
        out.push(format!("504 5.3.0 HELP topic \"{shown}\" unknown"));
    } else {
        out.push("214 2.0.0 End of HELP info".to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn topics_from_the_file() {
        let f = file("#vers\t2\nsmtp\tThis is $v\nsmtp\tTopics:\nmail\tMAIL FROM: <sender>\n");
        let ex = |s: &str| s.replace("$v", "X.Y");
        let r = |t: &str| reply(Some(f.path()), t, &ex, "1.0");
        assert_eq!(
            r(""),
            [
                "214-2.0.0 This is X.Y",
                "214-2.0.0 Topics:",
                "214 2.0.0 End of HELP info"
            ]
        );
        assert_eq!(
            r("MAIL"),
            [
                "214-2.0.0 MAIL FROM: <sender>",
                "214 2.0.0 End of HELP info"
            ]
        );
        assert_eq!(
            r("nosuchtopic"),
            ["504 5.3.0 HELP topic \"nosuchtopi\" unknown"]
        );
        assert_eq!(
            reply(None, "", &ex, "1.0"),
            ["502 5.3.0 mtad 1.0 -- HELP not implemented"]
        );
        let old = file("smtp\tHello $v\n");
        assert_eq!(
            reply(Some(old.path()), "", &ex, "1.0"),
            [
                "214-2.0.0 This is mtad version 1.0",
                "214-2.0.0 Hello $v",
                "214 2.0.0 End of HELP info"
            ]
        );
    }
}
