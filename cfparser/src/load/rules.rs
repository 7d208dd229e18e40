//! S and R lines: rulesets and their rules.

use super::*;

impl Loader<'_> {
    pub(super) fn ruleset(&mut self, pair: Pair<'_, Rule>) {
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
    pub(super) fn free_number(&mut self) -> Option<u32> {
        while self.next_named > 0 {
            self.next_named -= 1;
            if !self.config.rulesets.contains_key(&self.next_named) {
                return Some(self.next_named);
            }
        }
        None
    }

    pub(super) fn rule(&mut self, pair: Pair<'_, Rule>) {
        let Some(n) = self.current_ruleset else {
            self.error(0, "rule before any ruleset: an S line must come first");
            return;
        };
        let operators = match &self.operators {
            Some(o) => o.clone(),
            None => {
                let o = self.operator_chars();
                self.operators = Some(o.clone());
                o
            }
        };
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
                    let lexemes = self.expand_when_read(&lexemes);
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
        // sendmail loads such rules with a complaint, and so does mtad:
        // a config that runs under sendmail keeps running. The engine
        // gives them sendmail's meaning (an empty left-hand side matches
        // an empty workspace, a metasymbol out of place is a literal, a
        // `$n` beyond the wildcards fails when the rule is used).
        if lhs.is_empty() {
            self.warning(
                1,
                "the left-hand side of the rule is empty: it matches only an empty address",
            );
        }
        if let Err(e) = ruleset::check(&lhs, &rhs) {
            self.warning(
                e.pos,
                format!(
                    "{} (sendmail loads the rule anyway; so does mtad)",
                    e.message
                ),
            );
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

    /// sendmail expands `$x` and decides `$?x … $| … $.` in an R line when
    /// it reads the line, with the macros defined at that moment (the
    /// host's identity, `${opMode}`, the D lines above): the value is
    /// tokenized with the rule, and an undefined macro expands to nothing.
    /// A `$|` outside a conditional stays: it is the check rulesets'
    /// separator.
    fn expand_when_read(&self, lexemes: &[Lexeme]) -> Vec<Lexeme> {
        let mut out: Vec<Lexeme> = Vec::with_capacity(lexemes.len());
        // One entry per open `$?`: whether its current branch is taken.
        let mut levels: Vec<bool> = Vec::new();
        for l in lexemes {
            let active = levels.iter().all(|&b| b);
            let lex = match &l.lex {
                Lex::CondIf(n) => {
                    let set = self.expand_macro_now(n).is_some_and(|v| !v.is_empty());
                    levels.push(set);
                    continue;
                }
                Lex::CondElse if !levels.is_empty() => {
                    if let Some(b) = levels.last_mut() {
                        *b = !*b;
                    }
                    continue;
                }
                Lex::CondEnd => {
                    levels.pop();
                    continue;
                }
                _ if !active => continue,
                Lex::Macro(n) => Lex::Text(self.expand_macro_now(n).unwrap_or_default()),
                other => other.clone(),
            };
            if let (
                Lex::Text(new),
                Some(Lexeme {
                    lex: Lex::Text(old),
                    ..
                }),
            ) = (&lex, out.last_mut())
            {
                old.push_str(new);
                continue;
            }
            out.push(Lexeme { lex, pos: l.pos });
        }
        out
    }

    /// The characters that separate tokens: OperatorChars, else `$o`
    /// (configs before level 7), else sendmail's default.
    pub(super) fn operator_chars(&self) -> String {
        if let Some(OptionValue::Str(s)) = self.config.option("OperatorChars") {
            return s.clone();
        }
        if let Some(m) = self.config.macros.get(&MacroName::new("o")) {
            return self.expand_now(&m.value);
        }
        ".:@[]".to_string()
    }
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
