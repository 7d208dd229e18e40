//! M, Q and X lines: mailers, queue groups and milters.

use super::*;

impl Loader<'_> {
    /// The name and the `K=value` fields of an M, Q or X line.
    pub(super) fn equates(&mut self, pair: Pair<'_, Rule>) -> Option<(String, usize, Vec<Equate>)> {
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

    pub(super) fn mailer(&mut self, pair: Pair<'_, Rule>) {
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

    pub(super) fn queue_group(&mut self, pair: Pair<'_, Rule>) {
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

    pub(super) fn milter(&mut self, pair: Pair<'_, Rule>) {
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
