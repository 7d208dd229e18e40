//! Q lines: queue groups (op.txt 5.10).

use super::equates::{Equate, FieldError};
use crate::options::Unit;
use std::time::Duration;

/// A queue group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueGroup {
    pub name: String,
    /// P=: the queue directory (may end in `*` for several).
    pub path: Option<String>,
    /// F=: flags (`f`: fork for each queue run item).
    pub flags: String,
    /// N=: nice increment for its queue runs.
    pub nice: Option<i64>,
    /// I=: how often the queue is run.
    pub interval: Option<Duration>,
    /// R=: how many queue runners at once.
    pub runners: Option<u64>,
    /// r=: the most recipients per envelope.
    pub recipients: Option<u64>,
    /// J=: the most jobs per queue run.
    pub jobs: Option<u64>,
    pub line: usize,
}

impl QueueGroup {
    pub(crate) fn build(
        name: String,
        equates: &[Equate],
        line: usize,
    ) -> Result<QueueGroup, FieldError> {
        let mut q = QueueGroup {
            name,
            path: None,
            flags: String::new(),
            nice: None,
            interval: None,
            runners: None,
            recipients: None,
            jobs: None,
            line,
        };
        for e in equates {
            match e.key {
                'P' => q.path = Some(e.plain()?),
                'F' => q.flags = e.plain()?,
                'N' => q.nice = Some(e.signed()?),
                'I' => q.interval = Some(e.duration(Unit::Minutes)?),
                'R' => q.runners = Some(e.number()?),
                'r' => q.recipients = Some(e.number()?),
                'J' => q.jobs = Some(e.number()?),
                _ => {
                    return Err(e.unknown(
                        "queue group",
                        "one of Path, Flags, Nice, Interval, Runners, recipients, Jobs",
                    ));
                }
            }
        }
        Ok(q)
    }
}
