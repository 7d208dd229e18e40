//! H, P, E and K lines: headers, precedences, environment and maps.

use super::*;

impl Loader<'_> {
    pub(super) fn header(&mut self, pair: Pair<'_, Rule>) {
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

    pub(super) fn precedence(&mut self, pair: Pair<'_, Rule>) {
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

    pub(super) fn env_def(&mut self, pair: Pair<'_, Rule>) {
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

    pub(super) fn map_decl(&mut self, pair: Pair<'_, Rule>) {
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
