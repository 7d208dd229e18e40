//! Reading a sendmail.cf into a [`Config`], line by line, as sendmail's
//! readcf() does, and collecting every error and warning on the way.

use crate::diag::{Diagnostic, LoadErrors, Location};
use crate::grammar::{self, CfGrammar, Rule};
use crate::lex::{self, Lex, Lexeme, MacroName};
use crate::model::class::{self, ClassSource, Scanf};
use crate::model::equates::{Equate, FieldError};
use crate::model::map::{self, MapDecl};
use crate::model::ruleset::{self, MAX_RULESETS};
use crate::model::{
    Config, HeaderCondition, HeaderDef, MacroDef, Mailer, Milter, Origin, QueueGroup, Ruleset,
    SetOption, Version,
};
use crate::options::{self, Kind, Known, OptionValue, PortSide, Unit};
use crate::source::{LogicalLine, Source};
use crate::template::{Piece, Template};
use pest::Parser;
use pest::iterators::Pair;
use std::collections::BTreeMap;
use std::path::Path;

/// How to load: what the command line adds to the file.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// `-O Name=Value` settings, applied after the file is read, in order.
    /// As in sendmail, an option given here replaces whatever the file set
    /// for it (DaemonPortOptions included: the file's listeners are dropped).
    pub overrides: Vec<String>,
    /// Macros known before the file is read, as sendmail knows `$w`, `$j`,
    /// `$m` and `$k` from the host's name before it reads its config. C and K
    /// lines expand macros when they are read.
    pub predefined: Vec<(String, String)>,
    /// Read F-line files and run F-line programs (sendmail does both when
    /// it loads the config).
    pub read_class_sources: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            overrides: Vec::new(),
            predefined: Vec::new(),
            read_class_sources: true,
        }
    }
}

/// A config that loaded, and the warnings it loaded with.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Diagnostic>,
}

/// Reads and loads a config file.
pub fn load_file(path: &Path, opts: &LoadOptions) -> Result<Loaded, LoadErrors> {
    match std::fs::read(path) {
        Ok(bytes) => load_bytes(path, bytes, opts),
        Err(e) => Err(LoadErrors {
            diagnostics: vec![Diagnostic::error(
                None,
                format!("cannot read {}: {e}", path.display()),
            )],
        }),
    }
}

/// Loads a config from its bytes; `path` is used in messages and to
/// resolve nothing else.
pub fn load_bytes(path: &Path, bytes: Vec<u8>, opts: &LoadOptions) -> Result<Loaded, LoadErrors> {
    let source = Source::new(path, bytes);
    let mut loader = Loader::new(&source, opts);
    loader.run();
    loader.finish()
}

/// The letters that start a config line.
const LINE_TYPES: &str = "VDCFOHPTKMSREQX";

/// The vendor codes sendmail 8.17 accepts on a V line.
const VENDORS: &[&str] = &["Berkeley", "Sendmail", "Sun", "HP", "IBM", "SGI"];

struct Loader<'a> {
    source: &'a Source,
    opts: &'a LoadOptions,
    config: Config,
    diags: Vec<Diagnostic>,
    level: u32,
    current_ruleset: Option<u32>,
    ruleset_names: BTreeMap<String, u32>,
    next_named: u32,
    /// The line being read, for positions.
    line: Option<LogicalLine>,
    line_number: usize,
}

impl<'a> Loader<'a> {
    fn new(source: &'a Source, opts: &'a LoadOptions) -> Self {
        let mut config = Config {
            path: source.path.clone(),
            ..Config::default()
        };
        for (name, value) in &opts.predefined {
            config.macros.insert(
                MacroName::new(name),
                MacroDef {
                    value: Template::text(value),
                    line: 0,
                },
            );
        }
        Loader {
            source,
            opts,
            config,
            diags: Vec::new(),
            level: 0,
            current_ruleset: None,
            ruleset_names: BTreeMap::new(),
            next_named: MAX_RULESETS,
            line: None,
            line_number: 0,
        }
    }

    // ------------------------------------------------------------ positions

    fn location(&self, pos: usize) -> Option<Location> {
        let line = self.line.as_ref()?;
        let text_offset = line.text_offset(pos);
        Some(self.source.location(self.source.file_offset(text_offset)))
    }

    fn error(&mut self, pos: usize, message: impl Into<String>) {
        let loc = self.location(pos);
        self.diags.push(Diagnostic::error(loc, message));
    }

    fn warning(&mut self, pos: usize, message: impl Into<String>) {
        let loc = self.location(pos);
        self.diags.push(Diagnostic::warning(loc, message));
    }

    // ------------------------------------------------------------ the file

    fn run(&mut self) {
        let text = self.source.text.as_str();
        let file = match CfGrammar::parse(Rule::file, text) {
            Ok(mut pairs) => pairs.next(),
            Err(e) => {
                let (pos, message) = grammar::explain(&e);
                let loc = self.source.location(self.source.file_offset(pos));
                self.diags.push(Diagnostic::error(Some(loc), message));
                None
            }
        };
        let Some(file) = file else { return };
        for pair in file.into_inner() {
            if pair.as_rule() != Rule::logical {
                continue;
            }
            let span = pair.as_span();
            let logical = LogicalLine::new(text, span.start(), span.end(), self.level >= 3);
            self.line_number = self.source.line_of(self.source.file_offset(span.start()));
            self.line = Some(logical);
            self.read_line();
        }
        self.line = None;
        self.check_references();
        self.apply_overrides();
    }

    fn read_line(&mut self) {
        let Some(line) = self.line.as_ref() else {
            return;
        };
        let text = line.text.clone();
        if text.is_empty() {
            return;
        }
        if let Some(nul) = text.find('\0') {
            self.error(
                nul,
                "NUL byte in the line (sendmail would silently cut the line here)",
            );
            return;
        }
        let first = text.chars().next().unwrap_or(' ');
        if first == ' ' || first == '\t' {
            self.error(
                0,
                "this line starts with white space, so it continues a line, but there is no line before it to continue",
            );
            return;
        }
        if !LINE_TYPES.contains(first) {
            self.error(
                0,
                format!(
                    "unknown line type `{first}`: expected a line starting with one of V D C F O H P T K M S R E Q X, or `#` for a comment"
                ),
            );
            return;
        }
        let pairs = match CfGrammar::parse(Rule::line, &text) {
            Ok(p) => p,
            Err(e) => {
                let (pos, message) = grammar::explain(&e);
                self.error(pos, message);
                return;
            }
        };
        for pair in pairs {
            match pair.as_rule() {
                Rule::version => self.version(pair),
                Rule::macro_def => self.macro_def(pair),
                Rule::class_def => self.class_def(pair),
                Rule::trusted => self.trusted(pair),
                Rule::file_class => self.file_class(pair),
                Rule::option => self.option(pair),
                Rule::header => self.header(pair),
                Rule::precedence => self.precedence(pair),
                Rule::map_decl => self.map_decl(pair),
                Rule::mailer => self.mailer(pair),
                Rule::queue_group => self.queue_group(pair),
                Rule::milter => self.milter(pair),
                Rule::ruleset => self.ruleset(pair),
                Rule::rule => self.rule(pair),
                Rule::env_def => self.env_def(pair),
                _ => {}
            }
        }
    }

    // ------------------------------------------------------------ helpers

    /// The lexemes of a template-like pair; a bad `$` is reported.
    fn lexemes(&mut self, pair: Pair<'_, Rule>) -> Option<Vec<Lexeme>> {
        match lex::lexemes(pair.into_inner()) {
            Ok(l) => Some(l),
            Err(bad) => {
                self.error(
                    bad.pos,
                    "`$` must be followed by a macro name or a metasymbol (write `$$` for a literal dollar)",
                );
                None
            }
        }
    }

    fn template(&mut self, pair: Pair<'_, Rule>) -> Option<Template> {
        let lexemes = self.lexemes(pair)?;
        match Template::build(&lexemes) {
            Ok(t) => Some(t),
            Err(e) => {
                self.error(e.pos, e.message);
                None
            }
        }
    }

    fn field_error(&mut self, e: FieldError) {
        self.error(e.pos, e.message);
    }

    /// Expands macros now, as sendmail's expand() does for C and K lines.
    fn expand_now(&self, t: &Template) -> String {
        let macros = &self.config.macros;
        let lookup = |m: &MacroName| expand_macro(macros, m, 0);
        t.expand(&lookup)
    }

    // ------------------------------------------------------------ V D C T F

    fn version(&mut self, pair: Pair<'_, Rule>) {
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

    fn macro_def(&mut self, pair: Pair<'_, Rule>) {
        let mut inner = pair.into_inner();
        let (Some(name), Some(value)) = (inner.next(), inner.next()) else {
            return;
        };
        let name = lex::macro_name(name);
        let Some(value) = self.template(value) else {
            return;
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

    fn class_def(&mut self, pair: Pair<'_, Rule>) {
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
        class.words.extend(words);
        class.sources.push(ClassSource::Inline { line });
    }

    /// The words of a C line: macros expanded now, `$=X` adds class X.
    fn class_words(&self, lexemes: &[Lexeme]) -> Vec<String> {
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
                        words.extend(class.words.iter().cloned());
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

    fn trusted(&mut self, pair: Pair<'_, Rule>) {
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

    fn file_class(&mut self, pair: Pair<'_, Rule>) {
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
        class.words.extend(words);
        class.sources.push(source);
    }

    fn read_class_source(&mut self, source: &ClassSource) -> Vec<String> {
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

    // ------------------------------------------------------------ O

    fn option(&mut self, pair: Pair<'_, Rule>) {
        let Some(form) = pair.into_inner().next() else {
            return;
        };
        match form.as_rule() {
            Rule::long_option => {
                let mut name = None;
                let mut value: Option<Pair<'_, Rule>> = None;
                for p in form.into_inner() {
                    match p.as_rule() {
                        Rule::option_name => {
                            name = Some((p.as_str().to_string(), p.as_span().start()))
                        }
                        Rule::option_value => value = Some(p),
                        _ => {}
                    }
                }
                let Some((name, name_pos)) = name else { return };
                self.set_long_option(&name, name_pos, value);
            }
            Rule::short_option => {
                let mut inner = form.into_inner();
                let (Some(letter), value) = (inner.next(), inner.next()) else {
                    return;
                };
                let c = letter.as_str().chars().next().unwrap_or(' ');
                let pos = letter.as_span().start();
                match options::lookup_short(c) {
                    Some(def) => self.set_option(Known::Option(def), pos, value),
                    None => self.warning(
                        pos,
                        format!(
                            "readcf: unknown option name 0x{:02x} (`{c}`), ignored",
                            c as u32
                        ),
                    ),
                }
            }
            _ => {}
        }
    }

    fn set_long_option(&mut self, name: &str, name_pos: usize, value: Option<Pair<'_, Rule>>) {
        match options::lookup(name) {
            Some(known) => self.set_option(known, name_pos, value),
            None => self.warning(
                name_pos,
                format!("readcf: unknown option name {name}, ignored"),
            ),
        }
    }

    fn set_option(&mut self, known: Known, name_pos: usize, value: Option<Pair<'_, Rule>>) {
        let (raw, value_pos) = match &value {
            Some(v) => (v.as_str().to_string(), v.as_span().start()),
            None => (String::new(), name_pos),
        };
        // A value with macros must have balanced conditionals even where
        // the macros are expanded later.
        if let Some(v) = value
            && self.template(v).is_none()
        {
            return;
        }
        let origin = Origin::File {
            line: self.line_number,
        };
        if let Err((offset, message)) = apply_option(&mut self.config, known, &raw, origin) {
            self.error(value_pos + offset, message);
        }
    }

    // ------------------------------------------------------------ H P E

    fn header(&mut self, pair: Pair<'_, Rule>) {
        let mut condition = None;
        let mut name = String::new();
        let mut value = Template::default();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::header_cond => {
                    if let Some(c) = p.into_inner().next() {
                        condition = Some(match c.as_rule() {
                            Rule::header_macro => HeaderCondition::Macro(
                                c.into_inner()
                                    .next()
                                    .map(lex::macro_name)
                                    .unwrap_or_else(|| MacroName::new("")),
                            ),
                            _ => HeaderCondition::MailerFlags(c.as_str().to_string()),
                        });
                    }
                }
                Rule::header_name => name = p.as_str().to_string(),
                Rule::header_value => {
                    let Some(t) = self.template(p) else { return };
                    value = trim_start(t);
                }
                _ => {}
            }
        }
        self.config.headers.push(HeaderDef {
            name,
            condition,
            value,
            line: self.line_number,
        });
    }

    fn precedence(&mut self, pair: Pair<'_, Rule>) {
        let mut name = String::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::prec_name => name = p.as_str().to_string(),
                Rule::prec_value => match options::value::parse_int(p.as_str()) {
                    Ok(n) if i32::try_from(n).is_ok() => {
                        self.config
                            .precedences
                            .retain(|(k, _)| !k.eq_ignore_ascii_case(&name));
                        self.config.precedences.push((name.clone(), n as i32));
                    }
                    Ok(_) => self.error(p.as_span().start(), "precedence value is out of range"),
                    Err(e) => self.error(p.as_span().start() + e.offset, e.message),
                },
                _ => {}
            }
        }
    }

    fn env_def(&mut self, pair: Pair<'_, Rule>) {
        let mut name = String::new();
        let mut value = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::env_name => name = p.as_str().to_string(),
                Rule::env_value => value = Some(p.as_str().to_string()),
                _ => {}
            }
        }
        self.config.environment.retain(|(k, _)| *k != name);
        self.config.environment.push((name, value));
    }

    // ------------------------------------------------------------ K

    fn map_decl(&mut self, pair: Pair<'_, Rule>) {
        let mut name = String::new();
        let mut class = String::new();
        let mut args = String::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::map_name => name = p.as_str().to_string(),
                Rule::map_class => {
                    class = p.as_str().to_string();
                    if !map::CLASSES.contains(&class.as_str()) {
                        self.error(
                            p.as_span().start(),
                            format!(
                                "unknown map class `{class}`: expected one of {}",
                                map::CLASSES.join(", ")
                            ),
                        );
                        return;
                    }
                }
                Rule::map_args => {
                    let Some(t) = self.template(p) else { return };
                    args = self.expand_now(&t);
                }
                _ => {}
            }
        }
        let decl = MapDecl::new(&name, &class, &args, self.line_number);
        self.config.maps.insert(name, decl);
    }

    // ------------------------------------------------------------ M Q X

    /// The name and the `K=value` fields of an M, Q or X line.
    fn equates(&mut self, pair: Pair<'_, Rule>) -> Option<(String, usize, Vec<Equate>)> {
        let list = pair.into_inner().next()?;
        let mut name = None;
        let mut equates = Vec::new();
        for p in list.into_inner() {
            match p.as_rule() {
                Rule::entity_name => name = Some((p.as_str().to_string(), p.as_span().start())),
                Rule::equate => {
                    let mut key = None;
                    let mut value = None;
                    for q in p.into_inner() {
                        match q.as_rule() {
                            Rule::equate_key => {
                                key = Some((q.as_str().to_string(), q.as_span().start()))
                            }
                            Rule::equate_value => value = Some(q),
                            _ => {}
                        }
                    }
                    let (Some((key, key_pos)), Some(value)) = (key, value) else {
                        continue;
                    };
                    let pos = value.as_span().start();
                    let lexemes = self.lexemes(value)?;
                    equates.push(Equate {
                        key: key.chars().next().unwrap_or(' '),
                        key_written: key,
                        lexemes,
                        pos,
                        key_pos,
                    });
                }
                _ => {}
            }
        }
        let (name, pos) = name?;
        Some((name, pos, equates))
    }

    fn mailer(&mut self, pair: Pair<'_, Rule>) {
        let Some((name, pos, equates)) = self.equates(pair) else {
            return;
        };
        match Mailer::build(&name, &equates, self.line_number, pos) {
            Ok(m) => {
                if let Some(old) = self.config.mailers.iter_mut().find(|x| x.name == m.name) {
                    *old = m;
                } else {
                    self.config.mailers.push(m);
                }
            }
            Err(e) => self.field_error(e),
        }
    }

    fn queue_group(&mut self, pair: Pair<'_, Rule>) {
        let Some((name, _, equates)) = self.equates(pair) else {
            return;
        };
        let mut q = QueueGroup {
            name,
            path: None,
            flags: String::new(),
            nice: None,
            interval: None,
            runners: None,
            recipients: None,
            jobs: None,
            line: self.line_number,
        };
        for e in &equates {
            let r: Result<(), FieldError> = (|| {
                match e.key {
                    'P' => q.path = Some(e.plain()?),
                    'F' => q.flags = e.plain()?,
                    'N' => q.nice = Some(e.signed()?),
                    'I' => q.interval = Some(e.duration(Unit::Minutes)?),
                    'R' => q.runners = Some(e.number()?),
                    'r' => q.recipients = Some(e.number()?),
                    'J' => q.jobs = Some(e.number()?),
                    _ => {
                        return Err(FieldError {
                            pos: e.key_pos,
                            message: format!(
                                "unknown queue group field `{}`: expected one of Path, Flags, Nice, Interval, Runners, recipients, Jobs",
                                e.key_written
                            ),
                        });
                    }
                }
                Ok(())
            })();
            if let Err(err) = r {
                self.field_error(err);
                return;
            }
        }
        self.config.queue_groups.retain(|x| x.name != q.name);
        self.config.queue_groups.push(q);
    }

    fn milter(&mut self, pair: Pair<'_, Rule>) {
        let Some((name, pos, equates)) = self.equates(pair) else {
            return;
        };
        let mut m = Milter {
            name,
            socket: String::new(),
            flags: String::new(),
            timeouts: Vec::new(),
            line: self.line_number,
        };
        for e in &equates {
            let r: Result<(), FieldError> = (|| {
                match e.key {
                    'S' => m.socket = e.plain()?,
                    'F' => m.flags = e.plain()?,
                    'T' => m.timeouts = milter_timeouts(e)?,
                    _ => {
                        return Err(FieldError {
                            pos: e.key_pos,
                            message: format!(
                                "unknown milter field `{}`: expected S= (socket), F= (flags) or T= (timeouts)",
                                e.key_written
                            ),
                        });
                    }
                }
                Ok(())
            })();
            if let Err(err) = r {
                self.field_error(err);
                return;
            }
        }
        if m.socket.is_empty() {
            self.error(pos, format!("milter `{}` has no S= (socket)", m.name));
            return;
        }
        self.config.milters.retain(|x| x.name != m.name);
        self.config.milters.push(m);
    }

    // ------------------------------------------------------------ S R

    fn ruleset(&mut self, pair: Pair<'_, Rule>) {
        let mut name: Option<String> = None;
        let mut number: Option<(u32, usize)> = None;
        let start = pair.as_span().start();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ruleset_name => name = Some(p.as_str().to_string()),
                Rule::ruleset_number => {
                    let pos = p.as_span().start();
                    match p.as_str().parse::<u32>() {
                        Ok(n) if n < MAX_RULESETS => number = Some((n, pos)),
                        _ => {
                            self.error(
                                pos,
                                format!(
                                    "ruleset number {} is out of range 0-{}",
                                    p.as_str(),
                                    MAX_RULESETS - 1
                                ),
                            );
                            return;
                        }
                    }
                }
                _ => {}
            }
        }
        let n = match (&name, number) {
            (None, Some((n, _))) => n,
            (Some(name), Some((n, pos))) => {
                if let Some(&old) = self.ruleset_names.get(name)
                    && old != n
                {
                    self.error(
                        pos,
                        format!("ruleset {name} is already numbered {old}, it cannot also be {n}"),
                    );
                    return;
                }
                if let Some(other) = self.config.rulesets.get(&n).and_then(|r| r.name.clone())
                    && other != *name
                {
                    self.error(
                        pos,
                        format!("ruleset number {n} already belongs to {other}"),
                    );
                    return;
                }
                self.ruleset_names.insert(name.clone(), n);
                n
            }
            (Some(name), None) => match self.ruleset_names.get(name) {
                Some(&n) => n,
                None => {
                    let Some(n) = self.free_number() else {
                        self.error(start, "too many rulesets: no ruleset number is left");
                        return;
                    };
                    self.ruleset_names.insert(name.clone(), n);
                    n
                }
            },
            (None, None) => return,
        };
        let line = self.line_number;
        if let Some(rs) = self.config.rulesets.get(&n)
            && !rs.rules.is_empty()
        {
            let shown = name.clone().unwrap_or_else(|| n.to_string());
            self.warning(start, format!("Ruleset {shown} has multiple definitions"));
        }
        let rs = self.config.rulesets.entry(n).or_insert_with(|| Ruleset {
            number: n,
            name: None,
            rules: Vec::new(),
            line,
        });
        if rs.name.is_none() {
            rs.name = name;
        }
        self.current_ruleset = Some(n);
    }

    /// Named rulesets without a number get the highest free one, as in
    /// sendmail.
    fn free_number(&mut self) -> Option<u32> {
        while self.next_named > 0 {
            self.next_named -= 1;
            if !self.config.rulesets.contains_key(&self.next_named) {
                return Some(self.next_named);
            }
        }
        None
    }

    fn rule(&mut self, pair: Pair<'_, Rule>) {
        let Some(n) = self.current_ruleset else {
            self.error(0, "rule before any ruleset: an S line must come first");
            return;
        };
        let operators = self.operator_chars();
        let mut lhs = Vec::new();
        let mut rhs = Vec::new();
        let mut comment = String::new();
        for p in pair.into_inner() {
            let side = p.as_rule();
            match side {
                Rule::rule_lhs | Rule::rule_rhs => {
                    let end = p.as_span().end();
                    let Some(lexemes) = self.lexemes(p) else {
                        return;
                    };
                    if let Err(e) = check_conditionals(&lexemes, end) {
                        self.error(e.0, e.1);
                        return;
                    }
                    let tokens = ruleset::tokenize(&lexemes, &operators);
                    if side == Rule::rule_lhs {
                        lhs = tokens;
                    } else {
                        rhs = tokens;
                    }
                }
                Rule::rule_comment => comment = p.as_str().trim().to_string(),
                _ => {}
            }
        }
        if lhs.is_empty() {
            self.error(1, "the left-hand side of the rule is empty");
            return;
        }
        if let Err(e) = ruleset::check(&lhs, &rhs) {
            self.error(e.pos, e.message);
            return;
        }
        let line = self.line_number;
        if let Some(rs) = self.config.rulesets.get_mut(&n) {
            rs.rules.push(crate::model::Rule {
                lhs: lhs.into_iter().map(|(t, _)| t).collect(),
                rhs: rhs.into_iter().map(|(t, _)| t).collect(),
                comment,
                line,
            });
        }
    }

    /// The characters that separate tokens: OperatorChars, else `$o`
    /// (configs before level 7), else sendmail's default.
    fn operator_chars(&self) -> String {
        if let Some(OptionValue::Str(s)) = self.config.option("OperatorChars") {
            return s.clone();
        }
        if let Some(m) = self.config.macros.get(&MacroName::new("o")) {
            return self.expand_now(&m.value);
        }
        ".:@[]".to_string()
    }

    // ------------------------------------------------------------ the end

    /// Checks that need the whole file: mailers name rulesets that exist,
    /// and there is a local mailer.
    fn check_references(&mut self) {
        let mut problems = Vec::new();
        for m in &self.config.mailers {
            for pair in [&m.sender_rulesets, &m.recipient_rulesets]
                .into_iter()
                .flatten()
            {
                for rs in std::iter::once(&pair.envelope).chain(pair.header.iter()) {
                    // A number names a ruleset even when it has no rules
                    // (an empty ruleset leaves the address alone); a name
                    // must have been defined by an S line.
                    if rs.parse::<u32>().is_ok_and(|n| n < MAX_RULESETS)
                        || self.config.ruleset(rs).is_some()
                    {
                        continue;
                    }
                    problems.push((
                        m.line,
                        format!("mailer {} uses ruleset {rs}, which is not defined", m.name),
                    ));
                }
            }
        }
        if self.config.mailer("local").is_none() {
            problems.push((
                0,
                "no local mailer is defined (an `Mlocal` line is required)".to_string(),
            ));
        }
        for (line, message) in problems {
            let loc = (line > 0).then(|| self.source.line_location(line));
            self.diags.push(Diagnostic::error(loc, message));
        }
    }

    /// `-O Name=Value`: each replaces what the file set for that option.
    fn apply_overrides(&mut self) {
        for o in &self.opts.overrides {
            let (name, value) = match o.split_once('=') {
                Some((n, v)) => (n.trim(), v),
                None => (o.trim(), ""),
            };
            let Some(known) = options::lookup(name) else {
                self.diags.push(Diagnostic::warning(
                    None,
                    format!("-O {o}: unknown option name {name}, ignored"),
                ));
                continue;
            };
            let canonical = known.canonical();
            if !self.config.overridden.contains(&canonical) {
                self.config.overridden.push(canonical.clone());
                match canonical.as_str() {
                    "DaemonPortOptions" => self.config.daemon_ports.clear(),
                    "ClientPortOptions" => self.config.client_ports.clear(),
                    _ => {
                        self.config.options.remove(&canonical);
                    }
                }
            }
            if let Err((_, message)) =
                apply_option(&mut self.config, known, value, Origin::CommandLine)
            {
                self.diags
                    .push(Diagnostic::error(None, format!("-O {o}: {message}")));
            }
        }
    }

    fn finish(self) -> Result<Loaded, LoadErrors> {
        if self.diags.iter().any(Diagnostic::is_error) {
            Err(LoadErrors {
                diagnostics: self.diags,
            })
        } else {
            Ok(Loaded {
                config: self.config,
                warnings: self.diags,
            })
        }
    }
}

/// Sets one option from its text. The error is an offset into `raw` and a
/// message.
fn apply_option(
    config: &mut Config,
    known: Known,
    raw: &str,
    origin: Origin,
) -> Result<(), (usize, String)> {
    let lead = raw.len() - raw.trim_start().len();
    let value_text = raw.trim_start();
    let shift = |e: options::ValueError| (lead + e.offset, e.message);
    match known {
        Known::Timeout(def) => {
            let value = options::value::parse_timeout(def, value_text).map_err(shift)?;
            config.options.insert(
                known.canonical(),
                SetOption {
                    value,
                    raw: raw.to_string(),
                    origin,
                },
            );
        }
        Known::Option(def) => {
            let side = match def.name {
                "ClientPortOptions" => Some(PortSide::Client),
                _ => Some(PortSide::Daemon),
            };
            let value = options::value::parse(def.kind, value_text, side).map_err(shift)?;
            match (def.name, value) {
                ("DaemonPortOptions", OptionValue::Ports(p)) => config.daemon_ports.push(p),
                ("ClientPortOptions", OptionValue::Ports(p)) => config.client_ports.push(p),
                (_, OptionValue::Timeouts(list)) => {
                    for (name, value) in list {
                        config.options.insert(
                            format!("Timeout.{name}"),
                            SetOption {
                                value,
                                raw: raw.to_string(),
                                origin: origin.clone(),
                            },
                        );
                    }
                }
                (name, value) => {
                    let value = accumulate(
                        config.options.get(name).map(|s| &s.value),
                        def.kind,
                        name,
                        value,
                    );
                    config.options.insert(
                        name.to_string(),
                        SetOption {
                            value,
                            raw: raw.to_string(),
                            origin,
                        },
                    );
                }
            }
        }
    }
    Ok(())
}

/// Options whose lines add up in sendmail rather than replace each other:
/// PrivacyOptions (flags are or-ed) and AliasFile (each line adds files).
fn accumulate(old: Option<&OptionValue>, kind: Kind, name: &str, new: OptionValue) -> OptionValue {
    match (old, new) {
        (Some(OptionValue::Privacy(a)), OptionValue::Privacy(b)) => {
            OptionValue::Privacy(a.union(b))
        }
        (old, OptionValue::Path(p)) if name == "AliasFile" && kind == Kind::Path => {
            let mut list: Vec<String> = match old {
                Some(OptionValue::List(l)) => l.clone(),
                _ => Vec::new(),
            };
            list.extend(
                p.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty()),
            );
            OptionValue::List(list)
        }
        (_, new) => new,
    }
}

/// `T=C:10s;S:1m;R:1m;E:5m` (seconds when no unit is given).
fn milter_timeouts(e: &Equate) -> Result<Vec<(char, std::time::Duration)>, FieldError> {
    let v = e.plain()?;
    let mut out = Vec::new();
    for item in v.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((k, d)) = item.split_once(':') else {
            return Err(e.error(format!("T=: expected `letter:time`, found `{item}`")));
        };
        let k = k.trim();
        let letter = match k {
            "C" | "S" | "R" | "E" => k.chars().next().unwrap_or('C'),
            _ => {
                return Err(e.error(format!(
                    "T=: unknown milter timeout `{k}`: expected C (connect), S (send), R (read) or E (end of message)"
                )));
            }
        };
        let d = options::value::parse_duration(d, Unit::Seconds)
            .map_err(|x| e.error(format!("T=: {}", x.message)))?;
        out.push((letter, d));
    }
    Ok(out)
}

/// An unterminated `$?` in a rule is refused; `$|` alone is a token there.
fn check_conditionals(lexemes: &[Lexeme], end: usize) -> Result<(), (usize, String)> {
    let mut open: Vec<(usize, &MacroName)> = Vec::new();
    for l in lexemes {
        match &l.lex {
            Lex::CondIf(n) => open.push((l.pos, n)),
            Lex::CondEnd if open.pop().is_none() => {
                return Err((l.pos, "`$.` without a `$?` conditional to end".into()));
            }
            _ => {}
        }
    }
    match open.first() {
        Some((pos, n)) => Err((
            (*pos).min(end),
            format!("unterminated `$?{n}` conditional: expected `$.` before the end of the field"),
        )),
        None => Ok(()),
    }
}

/// A macro's value with the macros in it expanded, recursively, as
/// sendmail's expand() does (with a depth limit against `Dx$x` loops).
fn expand_macro(
    macros: &BTreeMap<MacroName, MacroDef>,
    name: &MacroName,
    depth: usize,
) -> Option<String> {
    let def = macros.get(name)?;
    if depth > 10 {
        return None;
    }
    let lookup = |m: &MacroName| expand_macro(macros, m, depth + 1);
    Some(def.value.expand(&lookup))
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

/// A header value starts after the white space that follows the colon.
fn trim_start(mut t: Template) -> Template {
    if let Some(Piece::Text(first)) = t.pieces.first_mut() {
        let trimmed = first.trim_start().to_string();
        if trimmed.is_empty() {
            t.pieces.remove(0);
        } else {
            *first = trimmed;
        }
    }
    t
}
