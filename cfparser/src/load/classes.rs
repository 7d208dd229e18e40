//! V, D, C, T and F lines: the version, macros and classes.

use super::*;

impl Loader<'_> {
    pub(super) fn version(&mut self, pair: Pair<'_, Rule>) {
        let mut level = 0;
        let mut vendor = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::version_level => match p.as_str().parse::<u32>() {
                    Ok(n) => level = n,
                    Err(_) => {
                        self.error(p.as_span().start(), "version level is too large");
                        return;
                    }
                },
                Rule::vendor => {
                    if !VENDORS.contains(&p.as_str()) {
                        self.error(
                            p.as_span().start(),
                            format!(
                                "unknown vendor code `{}`: expected one of {}",
                                p.as_str(),
                                VENDORS.join(", ")
                            ),
                        );
                        return;
                    }
                    vendor = Some(p.as_str().to_string());
                }
                _ => {}
            }
        }
        self.level = level;
        self.config.version = Some(Version { level, vendor });
    }

    pub(super) fn macro_def(&mut self, pair: Pair<'_, Rule>) {
        let mut inner = pair.into_inner();
        let Some(name) = inner.next() else {
            return;
        };
        let name = lex::macro_name(name);
        // `DS` with nothing after the name defines S as empty, as in
        // sendmail (`$S` then prints an empty line, not "Undefined").
        let value = match inner.next() {
            Some(v) => match self.template(v) {
                Some(t) => t,
                None => return,
            },
            None => Template::text(""),
        };
        let value = munch(value);
        self.config.macros.insert(
            name,
            MacroDef {
                value,
                line: self.line_number,
            },
        );
    }

    pub(super) fn class_def(&mut self, pair: Pair<'_, Rule>) {
        let mut inner = pair.into_inner();
        let (Some(name), Some(value)) = (inner.next(), inner.next()) else {
            return;
        };
        let name = lex::macro_name(name);
        let Some(lexemes) = self.lexemes(value) else {
            return;
        };
        let words = self.class_words(&lexemes);
        let line = self.line_number;
        let class = self.config.classes.entry(name).or_default();
        class.extend(words);
        class.sources.push(ClassSource::Inline { line });
    }

    /// The words of a C line: macros expanded now, `$=X` adds class X.
    pub(super) fn class_words(&self, lexemes: &[Lexeme]) -> Vec<String> {
        let mut words = Vec::new();
        let mut current = String::new();
        let push_text = |text: &str, current: &mut String, words: &mut Vec<String>| {
            for c in text.chars() {
                if c.is_ascii_whitespace() {
                    if !current.is_empty() {
                        words.push(std::mem::take(current));
                    }
                } else {
                    current.push(c);
                }
            }
        };
        for l in lexemes {
            match &l.lex {
                Lex::Text(t) => push_text(t, &mut current, &mut words),
                Lex::Macro(m) => {
                    let v = expand_macro(&self.config.macros, m, 0).unwrap_or_default();
                    push_text(&v, &mut current, &mut words);
                }
                Lex::Class(c) => {
                    if !current.is_empty() {
                        words.push(std::mem::take(&mut current));
                    }
                    if let Some(class) = self.config.classes.get(c) {
                        words.extend(class.words().map(str::to_string));
                    }
                }
                other => {
                    let t = lexeme_text(other);
                    push_text(&t, &mut current, &mut words);
                }
            }
        }
        if !current.is_empty() {
            words.push(current);
        }
        words
    }

    pub(super) fn trusted(&mut self, pair: Pair<'_, Rule>) {
        let text = pair
            .into_inner()
            .next()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        let line = self.line_number;
        let class = self.config.classes.entry(MacroName::new("t")).or_default();
        class.add_words(&text);
        class.sources.push(ClassSource::Inline { line });
    }

    pub(super) fn file_class(&mut self, pair: Pair<'_, Rule>) {
        let line = self.line_number;
        let mut name = MacroName::new("");
        let mut optional = false;
        let mut source = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::macro_name => name = lex::macro_name(p),
                Rule::optional_flag => optional = true,
                Rule::class_program => {
                    // As in sendmail, the program is the first word; it runs
                    // without arguments, and its output is read with `%s`.
                    let text = p.as_str().trim_start_matches('|');
                    let command = text
                        .split_ascii_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    if text.trim() != command {
                        self.warning(
                            p.as_span().start() + 1 + command.len(),
                            "sendmail runs a class program without arguments: the text after its name is ignored",
                        );
                    }
                    source = Some(ClassSource::Program {
                        command,
                        optional,
                        line,
                    });
                }
                Rule::class_map => {
                    let text = p.as_str();
                    let (key, spec) = text.split_once('@').unwrap_or(("", text));
                    source = Some(ClassSource::Map {
                        key: key.to_string(),
                        spec: spec.to_string(),
                        optional,
                        line,
                    });
                }
                Rule::class_file => {
                    let mut path = String::new();
                    let mut format = ("%s".to_string(), 0usize);
                    for q in p.into_inner() {
                        match q.as_rule() {
                            Rule::file_name => path = q.as_str().trim_matches('"').to_string(),
                            Rule::scanf_format => {
                                format = (q.as_str().trim_end().to_string(), q.as_span().start())
                            }
                            _ => {}
                        }
                    }
                    if let Err((at, message)) = Scanf::parse(&format.0) {
                        self.error(format.1 + at, message);
                        return;
                    }
                    source = Some(ClassSource::File {
                        path,
                        format: format.0,
                        optional,
                        line,
                    });
                }
                _ => {}
            }
        }
        let Some(source) = source else { return };
        let words = if self.opts.read_class_sources {
            self.read_class_source(&source)
        } else {
            Vec::new()
        };
        let class = self.config.classes.entry(name).or_default();
        class.extend(words);
        class.sources.push(source);
    }

    pub(super) fn read_class_source(&mut self, source: &ClassSource) -> Vec<String> {
        match source {
            ClassSource::File {
                path,
                format,
                optional,
                ..
            } => {
                let scanf = Scanf::parse(format).unwrap_or_default();
                match class::read_file(Path::new(path), &scanf) {
                    Ok(words) => words,
                    Err(e) => {
                        if !optional {
                            self.warning(0, format!("fileclass: cannot open '{path}': {e}"));
                        }
                        Vec::new()
                    }
                }
            }
            ClassSource::Program {
                command, optional, ..
            } => match class::run_program(command) {
                Ok(words) => words,
                Err(e) => {
                    if !optional {
                        self.warning(0, format!("fileclass: cannot run '{command}': {e}"));
                    }
                    Vec::new()
                }
            },
            ClassSource::Map { .. } | ClassSource::Inline { .. } => Vec::new(),
        }
    }
}

fn lexeme_text(l: &Lex) -> String {
    match l {
        Lex::Text(t) => t.clone(),
        Lex::Meta(m) => m.written().to_string(),
        Lex::Replacement(n) => format!("${n}"),
        Lex::Class(n) => format!("$={n}"),
        Lex::NotClass(n) => format!("$~{n}"),
        Lex::Macro(n) => format!("${n}"),
        Lex::Deferred(n) => format!("$&{n}"),
        Lex::CondIf(n) => format!("$?{n}"),
        Lex::CondElse => "$|".into(),
        Lex::CondEnd => "$.".into(),
    }
}

/// sendmail's munchstring() on a D value: double quotes are dropped and
/// backslash escapes resolved (`\n`, `\r`, `\x` is `x`).
fn munch(t: Template) -> Template {
    let mut quoted = false;
    let pieces = t
        .pieces
        .into_iter()
        .map(|p| match p {
            Piece::Text(s) => {
                let mut out = String::with_capacity(s.len());
                let mut chars = s.chars();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => quoted = !quoted,
                        '\\' => match chars.next() {
                            Some('n') => out.push('\n'),
                            Some('r') => out.push('\r'),
                            Some('f') => out.push('\x0c'),
                            Some('b') => out.push('\x08'),
                            Some(x) => out.push(x),
                            None => {}
                        },
                        _ => out.push(c),
                    }
                }
                Piece::Text(out)
            }
            other => other,
        })
        .collect();
    Template { pieces }
}
