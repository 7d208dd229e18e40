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
            Ok((m, warnings)) => {
                for w in warnings {
                    self.warning(w.pos, w.message);
                }
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
        match QueueGroup::build(name, &equates, self.line_number) {
            Ok(q) => {
                self.config.queue_groups.retain(|x| x.name != q.name);
                self.config.queue_groups.push(q);
            }
            Err(e) => self.field_error(e),
        }
    }

    pub(super) fn milter(&mut self, pair: Pair<'_, Rule>) {
        let Some((name, pos, equates)) = self.equates(pair) else {
            return;
        };
        match Milter::build(name, &equates, self.line_number, pos) {
            Ok(m) => {
                self.config.milters.retain(|x| x.name != m.name);
                self.config.milters.push(m);
            }
            Err(e) => self.field_error(e),
        }
    }
}
