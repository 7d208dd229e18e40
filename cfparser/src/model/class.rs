//! C and F lines: classes of words (op.txt 5.3), and reading file and
//! program classes with sendmail's scanf formats.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where the words of a class came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassSource {
    /// C lines, or T lines for class `t`.
    Inline { line: usize },
    /// `Fc/path [format]`, read when the config is loaded.
    File {
        path: String,
        format: String,
        optional: bool,
        line: usize,
    },
    /// `Fc|program`, run when the config is loaded.
    Program {
        command: String,
        optional: bool,
        line: usize,
    },
    /// `Fc[key]@mapclass:spec`: filled from a map when maps are opened.
    Map {
        key: String,
        spec: String,
        optional: bool,
        line: usize,
    },
}

/// One class: its words and where they came from.
///
/// As in sendmail, membership ignores ASCII case (`$=w` matches `Mail.Example`
/// for `mail.example`), and a word keeps the spelling it was first given:
/// `C{X}d D` holds one word, `d`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Class {
    /// Lower-cased word to the word as first written.
    words: BTreeMap<String, String>,
    pub sources: Vec<ClassSource>,
}

impl Class {
    pub fn contains(&self, word: &str) -> bool {
        self.words.contains_key(&word.to_ascii_lowercase())
    }

    pub fn insert(&mut self, word: &str) {
        self.words
            .entry(word.to_ascii_lowercase())
            .or_insert_with(|| word.to_string());
    }

    /// Adds the white-space separated words of `text`.
    pub fn add_words(&mut self, text: &str) {
        for w in text.split_ascii_whitespace() {
            self.insert(w);
        }
    }

    /// The words, as first written.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.words.values().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
}

impl<S: AsRef<str>> Extend<S> for Class {
    fn extend<I: IntoIterator<Item = S>>(&mut self, words: I) {
        for w in words {
            self.insert(w.as_ref());
        }
    }
}

/// How long a class program may run before it is killed.
pub const PROGRAM_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads the words of a file class. Each line goes through the scanf
/// format; what it yields is split into words.
pub fn read_file(path: &Path, format: &Scanf) -> std::io::Result<Vec<String>> {
    let bytes = std::fs::read(path)?;
    Ok(words_from(&bytes, format))
}

/// Runs a class program (argv split at white space, no shell, as sendmail
/// runs it) and takes the words of its output, one `%s` per line.
pub fn run_program(command: &str) -> Result<Vec<String>, String> {
    let argv: Vec<&str> = command.split_ascii_whitespace().collect();
    let Some((prog, args)) = argv.split_first() else {
        return Err("empty program".into());
    };
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .spawn()
        .map_err(|e| format!("cannot run {prog}: {e}"))?;
    let mut out = Vec::new();
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    // Read in a thread so that a program that never ends cannot hang the
    // load: it is killed after PROGRAM_TIMEOUT.
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.by_ref().take(16 << 20).read_to_end(&mut buf);
        buf
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s;
        }
        if start.elapsed() > PROGRAM_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{prog} did not finish within {}s",
                PROGRAM_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    out.extend(reader.join().unwrap_or_default());
    if !status.success() {
        return Err(format!("{prog} exited with {status}"));
    }
    Ok(words_from(&out, &Scanf::default()))
}

fn words_from(bytes: &[u8], format: &Scanf) -> Vec<String> {
    let text: String = bytes.iter().map(|&b| b as char).collect();
    let mut words = Vec::new();
    for line in text.lines() {
        // Lines starting with `#` are comments whatever the format, as in
        // sendmail's fileclass().
        if line.starts_with('#') {
            continue;
        }
        if let Some(m) = format.scan(line) {
            words.extend(m.split_ascii_whitespace().map(str::to_string));
        }
    }
    words
}

/// The part of scanf(3) that class formats use: literal characters, white
/// space, `%s`, `%[set]`, `%[^set]`, field widths, `%*` to skip a field and
/// `%%`. The first stored conversion is the result, as sendmail passes one
/// buffer to sscanf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanf {
    items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Space,
    Literal(char),
    Conv {
        store: bool,
        width: Option<usize>,
        set: Set,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Set {
    NonSpace,
    Chars {
        negated: bool,
        chars: Vec<(char, char)>,
    },
}

impl Set {
    fn matches(&self, c: char) -> bool {
        match self {
            Set::NonSpace => !c.is_ascii_whitespace(),
            Set::Chars { negated, chars } => {
                let inside = chars.iter().any(|&(a, b)| a <= c && c <= b);
                inside != *negated
            }
        }
    }
}

impl Default for Scanf {
    fn default() -> Self {
        Scanf {
            items: vec![Item::Conv {
                store: true,
                width: None,
                set: Set::NonSpace,
            }],
        }
    }
}

impl Scanf {
    /// Parses a format; the error is a byte offset into it and a message.
    pub fn parse(format: &str) -> Result<Scanf, (usize, String)> {
        let chars: Vec<(usize, char)> = format.char_indices().collect();
        let mut items = Vec::new();
        let mut i = 0;
        let mut stored = 0;
        while i < chars.len() {
            let (at, c) = chars[i];
            i += 1;
            if c.is_ascii_whitespace() {
                if items.last() != Some(&Item::Space) {
                    items.push(Item::Space);
                }
                continue;
            }
            if c != '%' {
                items.push(Item::Literal(c));
                continue;
            }
            if chars.get(i).map(|x| x.1) == Some('%') {
                items.push(Item::Literal('%'));
                i += 1;
                continue;
            }
            let store = if chars.get(i).map(|x| x.1) == Some('*') {
                i += 1;
                false
            } else {
                true
            };
            let mut width = None;
            while let Some(&(_, d)) = chars.get(i) {
                let Some(v) = d.to_digit(10) else { break };
                width = Some(width.unwrap_or(0) * 10 + v as usize);
                i += 1;
            }
            let set = match chars.get(i).map(|x| x.1) {
                Some('s') => {
                    i += 1;
                    Set::NonSpace
                }
                Some('[') => {
                    i += 1;
                    let negated = chars.get(i).map(|x| x.1) == Some('^');
                    if negated {
                        i += 1;
                    }
                    let mut set = Vec::new();
                    let mut first = true;
                    loop {
                        let Some(&(_, d)) = chars.get(i) else {
                            return Err((
                                at,
                                "unterminated `%[` in scanf format: expected `]` (a `#` starts a comment; write `\\#` for a literal #)"
                                    .into(),
                            ));
                        };
                        i += 1;
                        if d == ']' && !first {
                            break;
                        }
                        first = false;
                        let is_range = chars.get(i).map(|x| x.1) == Some('-')
                            && chars.get(i + 1).is_some_and(|x| x.1 != ']');
                        if is_range {
                            let hi = chars[i + 1].1;
                            set.push((d, hi));
                            i += 2;
                        } else {
                            set.push((d, d));
                        }
                    }
                    Set::Chars {
                        negated,
                        chars: set,
                    }
                }
                other => {
                    let found = other.map_or("the end".to_string(), |c| format!("`%{c}`"));
                    return Err((
                        at,
                        format!(
                            "unsupported scanf conversion {found}: a class format takes %s or %[...]"
                        ),
                    ));
                }
            };
            if store {
                stored += 1;
            }
            items.push(Item::Conv { store, width, set });
        }
        if stored == 0 {
            return Err((
                0,
                "the scanf format stores nothing: it needs one %s or %[...]".into(),
            ));
        }
        Ok(Scanf { items })
    }

    /// Applies the format to one line; the first stored field, if the line
    /// matches up to it.
    pub fn scan(&self, line: &str) -> Option<String> {
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        for item in &self.items {
            match item {
                Item::Space => {
                    while chars.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
                        i += 1;
                    }
                }
                Item::Literal(c) => {
                    if chars.get(i) != Some(c) {
                        return None;
                    }
                    i += 1;
                }
                Item::Conv { store, width, set } => {
                    if *set == Set::NonSpace {
                        while chars.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
                            i += 1;
                        }
                    }
                    let start = i;
                    let limit = width.unwrap_or(usize::MAX);
                    while i < chars.len() && i - start < limit && set.matches(chars[i]) {
                        i += 1;
                    }
                    if i == start {
                        return None;
                    }
                    if *store {
                        return Some(chars[start..i].iter().collect());
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sendmail_class_formats() {
        let f = Scanf::parse("%[^#]").unwrap();
        assert_eq!(
            f.scan("lab.example # our domain").as_deref(),
            Some("lab.example ")
        );
        assert_eq!(f.scan("# only a comment"), None);
        let f = Scanf::parse("%[^:]").unwrap();
        assert_eq!(f.scan("root:x:0:0").as_deref(), Some("root"));
        let f = Scanf::default();
        assert_eq!(f.scan("  first second").as_deref(), Some("first"));
        let f = Scanf::parse("%*s %s").unwrap();
        assert_eq!(f.scan("127.0.0.1 localhost").as_deref(), Some("localhost"));
        let f = Scanf::parse("%[a-z]").unwrap();
        assert_eq!(f.scan("abc1").as_deref(), Some("abc"));
        let f = Scanf::parse("%3s").unwrap();
        assert_eq!(f.scan("abcdef").as_deref(), Some("abc"));
    }

    #[test]
    fn refuses_what_sscanf_would_misuse() {
        assert!(Scanf::parse("%d").is_err());
        assert!(Scanf::parse("%[^#").is_err());
        assert!(Scanf::parse("abc").is_err());
        assert!(Scanf::parse("%").is_err());
    }

    #[test]
    fn words_of_a_file() {
        let words = words_from(
            b"lab.example\n# comment\nlocalhost.localdomain other # x\n",
            &Scanf::parse("%[^#]").unwrap(),
        );
        assert_eq!(words, vec!["lab.example", "localhost.localdomain", "other"]);
        let words = words_from(b"# relay-domains\npartner.example\n", &Scanf::default());
        assert_eq!(
            words,
            vec!["partner.example"],
            "# lines are skipped even with %s"
        );
    }

    #[test]
    fn program_classes_run_without_a_shell() {
        let words = run_program("/bin/echo a b;c").unwrap();
        assert_eq!(
            words,
            vec!["a"],
            "only %s of each line, and `;` is not a shell"
        );
        assert!(run_program("/nonexistent/prog").is_err());
        assert!(run_program("/bin/false").is_err());
    }
}
