//! O lines and `-O` overrides: options read by their kind.

use super::*;

impl Loader<'_> {
    pub(super) fn option(&mut self, pair: Pair<'_, Rule>) {
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

    pub(super) fn set_long_option(
        &mut self,
        name: &str,
        name_pos: usize,
        value: Option<Pair<'_, Rule>>,
    ) {
        match options::lookup(name) {
            Some(known) => self.set_option(known, name_pos, value),
            None => self.warning(
                name_pos,
                format!("readcf: unknown option name {name}, ignored"),
            ),
        }
    }

    pub(super) fn set_option(
        &mut self,
        known: Known,
        name_pos: usize,
        value: Option<Pair<'_, Rule>>,
    ) {
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

    /// `-O Name=Value`: each replaces what the file set for that option.
    pub(super) fn apply_overrides(&mut self) {
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
