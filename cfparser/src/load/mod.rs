//! Reading a sendmail.cf into a [`Config`], line by line, as sendmail's
//! readcf() does, and collecting every error and warning on the way.

mod classes;
mod declarations;
mod equates;
mod option_lines;
mod rules;

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
use crate::options::{self, Kind, Known, OptionValue, PortSide};
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
    /// The token separators for R lines, worked out again after each O or
    /// D line (OperatorChars, or `$o`).
    operators: Option<String>,
    /// The line being read, for positions.
    line: Option<LogicalLine>,
    line_number: usize,
}

impl<'a> Loader<'a> {
    fn new(source: &'a Source, opts: &'a LoadOptions) -> Self {
        let mut config = Config {
            path: source.path.clone(),
            mailers: crate::model::mailer::builtins(),
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
            operators: None,
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
        // As sendmail does once the config is read: the prog and *file*
        // mailers take one recipient at a time, whatever their F= says.
        for m in self.config.mailers.iter_mut() {
            if m.name == "prog" || m.name == "*file*" {
                m.flags.retain(|c| c != 'm');
            }
        }
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
                Rule::macro_def => {
                    self.operators = None;
                    self.macro_def(pair)
                }
                Rule::class_def => self.class_def(pair),
                Rule::trusted => self.trusted(pair),
                Rule::file_class => self.file_class(pair),
                Rule::option => {
                    self.operators = None;
                    self.option(pair)
                }
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
    /// A macro's value as it expands now, `None` when it is not defined.
    fn expand_macro_now(&self, name: &MacroName) -> Option<String> {
        expand_macro(&self.config.macros, name, 0)
    }

    fn expand_now(&self, t: &Template) -> String {
        let macros = &self.config.macros;
        let lookup = |m: &MacroName| expand_macro(macros, m, 0);
        t.expand(&lookup)
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
