//! The queue runner: takes due messages from the queue, delivers them,
//! and records each recipient's outcome (with any DSN it causes) before
//! anything else happens.
//!
//! It wakes when a session has queued a message (DeliveryMode background
//! or interactive), when ETRN asks for a run, and every `-q` interval, as
//! sendmail's queue runs do (without `-q`, nothing is retried: sendmail's
//! rule too). Messages are delivered in parallel, up to MaxQueueChildren
//! at once (default 32); one message is never worked on twice at once.
//!
//! For each recipient, routing names a mailer: `local` goes through the
//! aliases to mailboxes, files and programs (written by the delivery
//! agent, as their owners); SMTP mailers go to the SMTP client, grouped by
//! destination so that one transaction carries all recipients at a host;
//! `error` fails the recipient with the text the route gave.

use crate::agent::{Agent, Message, Reply, Request};
use crate::aliases::{ExpandError, Member, Target};
use crate::deliver::dsn::{self, Action, Entry};
use crate::deliver::remote::{self, Remote};
use crate::deliver::smtp::{self, EnvelopeRecipient};
use crate::queue::store::HostRow;
use crate::queue::work::{Attempt, Child, Expansion, Outcome, PendingRecipient, Work, WorkDb};
use crate::server::Shared;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// With `Mtad.RetryBackoff`: the first retry comes after this; each later
/// one waits twice as long, up to [`MAX_BACKOFF`]. Without it, as in
/// sendmail, every queue run retries what MinQueueAge allows.
const FIRST_BACKOFF: i64 = 5 * 60;
const MAX_BACKOFF: i64 = 4 * 3600;

/// How long an ETRN lets F=% mailers deliver to its node.
const ETRN_WINDOW: Duration = Duration::from_secs(300);
/// How many .forward files deep forwarding is followed.
const MAX_FORWARD_DEPTH: usize = 5;

/// Messages taken per look at the queue.
const BATCH: usize = 200;
/// The most messages one delivery task takes on (when more are due than
/// there are tasks).
const MAX_PER_TASK: usize = 8;
/// Deliveries at once when MaxQueueChildren does not say.
const DEFAULT_PARALLEL: usize = 32;
/// sendmail's defaults for Timeout.queuewarn and Timeout.queuereturn.
const DEFAULT_QUEUEWARN: Duration = Duration::from_secs(4 * 3600);
const DEFAULT_QUEUERETURN: Duration = Duration::from_secs(5 * 86400);

pub struct Runner {
    /// The config in force; taken afresh for each piece of work, so a
    /// reload applies to the next delivery.
    live: Arc<crate::live::Live>,
    pub db: Arc<Mutex<WorkDb>>,
    pub agent: Arc<Agent>,
    pub remote: Remote,
    /// `-q`: how often to look for retries that came due.
    pub interval: Option<Duration>,
    slots: Arc<tokio::sync::Semaphore>,
    /// MaxQueueChildren: delivery tasks at once.
    parallel: usize,
}

/// One way a recipient is delivered; a recipient an alias expands has
/// several.
#[derive(Debug, Clone)]
enum Leg {
    Mailbox(String),
    /// A file or (ending in `/`) a Maildir; `run_as` as for programs.
    File {
        path: String,
        run_as: String,
    },
    /// `run_as`: a user name, or empty for DefaultUser.
    Program {
        command: String,
        run_as: String,
    },
    Smtp {
        mailer: String,
        host: String,
        address: String,
    },
    Done(Outcome),
}

impl Runner {
    pub fn new(
        live: Arc<crate::live::Live>,
        db: Arc<Mutex<WorkDb>>,
        agent: Agent,
        remote: Remote,
        interval: Option<Duration>,
    ) -> Runner {
        let config = live.current().config.clone();
        let parallel = config
            .int("MaxQueueChildren")
            .filter(|&n| n > 0)
            .map_or(DEFAULT_PARALLEL, |n| n as usize);
        Runner {
            live,
            db,
            agent: Arc::new(agent),
            remote,
            interval,
            slots: Arc::new(tokio::sync::Semaphore::new(parallel)),
            parallel,
        }
    }

    pub async fn run(self: Arc<Self>) {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                me.remote.expire().await;
                me.shared().stats.save();
                let changed: Vec<HostRow> = me
                    .remote
                    .take_changes()
                    .into_iter()
                    .map(|h| HostRow {
                        addr: h.addr.to_string(),
                        name: h.name,
                        last: h.when,
                        ok: h.ok,
                        status: h.text,
                    })
                    .collect();
                if !changed.is_empty()
                    && let Err(e) = me.shared().queue.save_hosts(changed).await
                {
                    crate::log::info(9, &format!("host status: {e}"));
                }
            }
        });
        // With -q, a queue run at start-up and then every interval, as
        // sendmail's: each retries every deferred message MinQueueAge
        // allows. Between runs, and without -q, a wake-up (a message
        // arriving, a DSN made, a flush) delivers what was never tried and
        // what an admin flushed, not the deferred ones.
        let wake = self.shared().wake.clone();
        let mut queue_run = self.interval.is_some();
        if !queue_run {
            wake.notified().await;
        }
        loop {
            if let Err(e) = self.pass(queue_run).await {
                crate::log::info(9, &format!("queue run: {e}"));
            }
            queue_run = match self.interval {
                Some(every) => tokio::select! {
                    _ = wake.notified() => false,
                    _ = tokio::time::sleep(every) => true,
                },
                None => {
                    wake.notified().await;
                    false
                }
            };
        }
    }

    /// One pass: every due message not already in flight gets a delivery
    /// task, at most MaxQueueChildren running at once. `queue_run`: the
    /// deferred messages are due too.
    async fn pass(self: &Arc<Self>, queue_run: bool) -> Result<(), String> {
        let mut started = HashSet::new();
        loop {
            let skip = lock(&self.shared().delivering).len();
            let db = self.db.clone();
            let due = tokio::task::spawn_blocking(move || {
                lock(&db).due(crate::clock::now(), BATCH + skip, queue_run)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
            if self.live.is_stopping() {
                return Ok(());
            }
            let fetched = due.len();
            let mut new = 0;
            let mut chunk: Vec<String> = Vec::new();
            let ids: Vec<String> = due
                .into_iter()
                .filter(|id| {
                    !started.contains(id) && lock(&self.shared().delivering).insert(id.clone())
                })
                .collect();
            let per_task = ids.len().div_ceil(self.parallel).clamp(1, MAX_PER_TASK);
            for id in ids {
                started.insert(id.clone());
                new += 1;
                chunk.push(id);
                if chunk.len() < per_task {
                    continue;
                }
                self.start(std::mem::take(&mut chunk)).await?;
            }
            if !chunk.is_empty() {
                self.start(chunk).await?;
            }
            if new == 0 || fetched < BATCH + skip {
                return Ok(());
            }
        }
    }

    fn shared(&self) -> Arc<Shared> {
        self.live.current()
    }

    /// A delivery task for some messages, when a slot is free.
    async fn start(self: &Arc<Self>, ids: Vec<String>) -> Result<(), String> {
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.deliver_some(&ids).await {
                crate::log::info(9, &format!("queue run for {}: {e}", ids.join(" ")));
            }
            let shared = me.shared();
            let mut in_flight = lock(&shared.delivering);
            for id in &ids {
                in_flight.remove(id);
            }
            drop(permit);
        });
        Ok(())
    }

    /// Delivers some messages one after another: one visit to the database
    /// to load them, one group commit for all their outcomes. Under load
    /// this halves the runner's thread hops and transactions per message.
    async fn deliver_some(self: &Arc<Self>, ids: &[String]) -> Result<(), String> {
        let db = self.db.clone();
        let keys = ids.to_vec();
        let works = tokio::task::spawn_blocking(move || lock(&db).load_many(&keys))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let mut attempts = Vec::with_capacity(works.len());
        for work in works {
            let id = work.id.clone();
            match self.attempt(work).await {
                Ok(Some(a)) => attempts.push((id, a)),
                Ok(None) => {}
                Err(e) => crate::log::info(9, &format!("{id}: {e}")),
            }
        }
        let reports: usize = attempts.iter().map(|(_, a)| a.reports.len()).sum();
        self.shared()
            .queue
            .record_many(attempts)
            .await
            .map_err(|e| e.to_string())?;
        if reports > 0 {
            self.shared().wake.notify_one();
        }
        Ok(())
    }

    /// One attempt at one message: what became of each recipient and the
    /// reports it causes, to be recorded by the caller. `None` if the
    /// message left the queue meanwhile.
    async fn attempt(self: &Arc<Self>, mut work: Work) -> Result<Option<Attempt>, String> {
        let id = work.id.clone();
        let id = id.as_str();
        let now = crate::clock::now();
        let started = std::time::Instant::now();

        // Alias expansions first, made durable before anything is
        // delivered: a retry then delivers only the targets still pending.
        let (expansions, unreadable) = self.expansions(&work).await;
        if !expansions.is_empty() {
            self.shared()
                .queue
                .expand(id, expansions)
                .await
                .map_err(|e| e.to_string())?;
            let db = self.db.clone();
            let key = id.to_string();
            match tokio::task::spawn_blocking(move || lock(&db).load(&key))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?
            {
                Some(w) => work = w,
                None => return Ok(None),
            }
        }

        // Each recipient's legs.
        let mut legs: Vec<(usize, Leg)> = Vec::new();
        for (pos, r) in work.recipients.iter().enumerate() {
            if let Some(o) = unreadable.get(&r.idx) {
                legs.push((pos, Leg::Done(o.clone())));
                continue;
            }
            for leg in self.plan(r) {
                legs.push((pos, leg));
            }
        }
        let mut results: Vec<Option<Outcome>> = vec![None; legs.len()];

        // Local legs, through the agent (one blocking thread).
        let message = Arc::new(self.local_message(&work));
        let local: Vec<(usize, Request)> = legs
            .iter()
            .enumerate()
            .filter_map(|(i, (pos, leg))| {
                let recipient = &work.recipients[*pos].address;
                let request = match leg {
                    Leg::Mailbox(user) => Request::Mailbox {
                        user: user.clone(),
                        message: (*message).clone(),
                    },
                    Leg::File { path, run_as } => Request::File {
                        path: path.clone(),
                        user: run_as.clone(),
                        message: (*message).clone(),
                    },
                    Leg::Program { command, run_as } => Request::Program {
                        command: command.clone(),
                        user: run_as.clone(),
                        sender: work.sender.clone(),
                        recipient: recipient.clone(),
                        message: (*message).clone(),
                    },
                    _ => return None,
                };
                Some((i, request))
            })
            .collect();
        // All of this message's requests go at once; the agent batches
        // them with other messages' (one lock and fsync per mailbox).
        let pending: Vec<(usize, _)> = local
            .into_iter()
            .map(|(i, req)| (i, self.agent.submit(req)))
            .collect();
        for (i, rx) in pending {
            let reply = rx
                .await
                .unwrap_or_else(|_| Reply::Retry("451 4.3.0 delivery agent: no reply".into()));
            results[i] = Some(match reply {
                Reply::Delivered(t) => Outcome::Delivered(t),
                Reply::Retry(t) => Outcome::Deferred(t),
                Reply::Bounce(t) => Outcome::Failed(t),
                Reply::Found(..) | Reply::NotFound(_) => {
                    Outcome::Deferred("451 4.3.0 delivery agent: unexpected reply".into())
                }
            });
        }

        // SMTP legs, one delivery per (mailer, host).
        let mut groups: Vec<((String, String), Vec<usize>)> = Vec::new();
        for (i, (_, leg)) in legs.iter().enumerate() {
            if let Leg::Smtp { mailer, host, .. } = leg {
                let key = (mailer.clone(), host.to_ascii_lowercase());
                match groups.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, members)) => members.push(i),
                    None => groups.push((key, vec![i])),
                }
            }
        }
        if !groups.is_empty() {
            // The wire form per line limit (L=), made once for the
            // mailers that share one.
            let mut wires: Vec<(Option<usize>, Vec<u8>)> = Vec::new();
            let config = self.shared().config.clone();
            let size = (work.headers.len() + 2 + work.body.len()) as u64;
            let eight_bit = work
                .body_type
                .as_deref()
                .is_some_and(|b| b.eq_ignore_ascii_case("8BITMIME"))
                || work
                    .body
                    .iter()
                    .chain(work.headers.iter())
                    .any(|b| *b >= 0x80);
            for ((mailer_name, host), members) in groups {
                let Some(mailer) = config.mailer(&mailer_name) else {
                    continue;
                };
                let limit = mailer.line_limit.map(|l| l as usize);
                if !wires.iter().any(|(l, _)| *l == limit) {
                    wires.push((limit, smtp::wire_form(&work.headers, &work.body, limit)));
                }
                let wire = &wires
                    .iter()
                    .find(|(l, _)| *l == limit)
                    .expect("made above")
                    .1;
                let recipients = members
                    .iter()
                    .map(|&i| {
                        let (pos, leg) = &legs[i];
                        let r = &work.recipients[*pos];
                        let Leg::Smtp { address, .. } = leg else {
                            unreachable!("grouped legs are SMTP legs")
                        };
                        EnvelopeRecipient {
                            address,
                            notify: r.notify.as_deref(),
                            orcpt: r.orcpt.as_deref(),
                        }
                    })
                    .collect();
                let outcomes = self
                    .remote
                    .deliver(remote::Job {
                        mailer,
                        host: &host,
                        envelope: smtp::Envelope {
                            sender: &work.sender,
                            recipients,
                            size,
                            eight_bit,
                            ret: work.ret.as_deref(),
                            envid: work.envid.as_deref(),
                        },
                        wire,
                    })
                    .await;
                for (&i, o) in members.iter().zip(outcomes) {
                    results[i] = Some(o);
                }
            }
        }
        for (i, (_, leg)) in legs.iter().enumerate() {
            if let Leg::Done(o) = leg {
                results[i] = Some(o.clone());
            }
        }

        // Per recipient: deferred if any leg is, else failed if any leg
        // is, else delivered.
        let mut outcomes: Vec<(u32, Outcome)> = Vec::new();
        for (pos, r) in work.recipients.iter().enumerate() {
            let mine: Vec<(&Leg, Outcome)> = legs
                .iter()
                .zip(&results)
                .filter(|((p, _), _)| *p == pos)
                .map(|((_, leg), o)| {
                    (
                        leg,
                        o.clone()
                            .unwrap_or_else(|| Outcome::Deferred("4.3.0 not attempted".into())),
                    )
                })
                .collect();
            let outcome = fold(mine.iter().map(|(_, o)| o.clone()).collect());
            let (_, queuereturn) = queue_timeouts(&self.shared().config);
            let outcome = match outcome {
                Outcome::Deferred(t) if now - work.arrival >= queuereturn.as_secs() as i64 => {
                    Outcome::Failed(format!(
                        "4.4.7 Message could not be delivered for {}: {t}",
                        describe_duration(queuereturn)
                    ))
                }
                o => o,
            };
            // Which mailer, and for SMTP which host, for the log and the
            // counters.
            let via: Option<(&str, Option<&str>)> = mine.iter().find_map(|(leg, _)| match leg {
                Leg::Smtp { mailer, host, .. } => Some((mailer.as_str(), Some(host.as_str()))),
                Leg::Mailbox(_) | Leg::File { .. } => Some(("local", None)),
                Leg::Program { .. } => Some(("prog", None)),
                Leg::Done(_) => None,
            });
            let ctladdr = r.alias.as_deref().map_or_else(String::new, |a| {
                format!(", ctladdr=<{}>", crate::log::esc(a))
            });
            let action = match &outcome {
                Outcome::Delivered(_) => Action::Delivered,
                Outcome::Deferred(_) => Action::Delayed,
                Outcome::Failed(_) => Action::Failed,
            };
            let text = match &outcome {
                Outcome::Delivered(t) | Outcome::Deferred(t) | Outcome::Failed(t) => t,
            };
            if let (Outcome::Delivered(_), Some((mailer, _))) = (&outcome, via) {
                self.shared()
                    .stats
                    .delivered(mailer, (work.headers.len() + 2 + work.body.len()) as u64);
            }
            // sendmail's delivery line: to, ctladdr, delay, xdelay, mailer,
            // pri, relay, dsn, stat.
            let mailer = via.map_or_else(String::new, |(m, _)| format!(", mailer={m}"));
            let relay = via
                .and_then(|(_, h)| h)
                .map_or_else(String::new, |h| format!(", relay={}", crate::log::esc(h)));
            crate::log::info(
                9,
                &format!(
                    "{id}: to=<{}>{ctladdr}, delay={}, xdelay={}{mailer}, pri={}{relay}, dsn={}, {}",
                    crate::log::esc(&r.address),
                    crate::log::delay(now - work.arrival),
                    crate::log::delay(started.elapsed().as_secs() as i64),
                    30_000 * (work.attempts as u64 + 1) + work.body.len() as u64,
                    dsn::status_of(text, action),
                    crate::log::esc(&describe(&outcome))
                ),
            );
            outcomes.push((r.idx, outcome));
        }

        let (reports, warned) = self.reports(&work, &outcomes, now);
        Ok(Some(Attempt {
            next_attempt: now + retry_wait(&self.shared().config, work.attempts),
            outcomes,
            warned,
            reports,
        }))
    }

    /// The message as local targets get it, built once per message.
    fn local_message(&self, work: &Work) -> Message {
        let prepend = if self
            .shared()
            .config
            .mailer("local")
            .is_some_and(|m| m.has_flag('P'))
        {
            format!("Return-Path: <{}>\r\n", work.sender).into_bytes()
        } else {
            Vec::new()
        };
        Message {
            sender: work.sender.clone(),
            date: crate::clock::ctime(work.arrival),
            prepend,
            headers: work.headers.clone(),
            body: work.body.clone(),
        }
    }

    /// The expansions to record for this attempt: each envelope recipient
    /// that is a local alias for anything other than itself, or a user
    /// with a .forward. Targets already among the message's recipients,
    /// or named twice, are left out (sendmail's duplicate suppression).
    /// Recipients whose .forward could not be read get a deferral instead.
    async fn expansions(&self, work: &Work) -> (Vec<Expansion>, HashMap<u32, Outcome>) {
        let mut seen: HashSet<String> = work
            .recipients
            .iter()
            .map(|r| r.address.to_ascii_lowercase())
            .collect();
        let mut out = Vec::new();
        let mut failed = HashMap::new();
        for r in work.recipients.iter().filter(|r| r.parent.is_none()) {
            let Ok(dest) = self.shared().router.route(&r.address) else {
                continue;
            };
            if dest.mailer != "local" {
                continue;
            }
            let Ok(targets) = self.shared().policy.expand(&dest.user) else {
                continue;
            };
            let children = match self.resolve_forwards(&dest.user, targets).await {
                Ok(c) => c,
                Err(e) => {
                    failed.insert(r.idx, Outcome::Deferred(e));
                    continue;
                }
            };
            let trivial = matches!(children.as_slice(),
                [c] if c.address.strip_prefix('\\').is_some_and(|u| u.eq_ignore_ascii_case(&dest.user)));
            if trivial || children.is_empty() {
                continue;
            }
            let children: Vec<Child> = children
                .into_iter()
                .filter(|c| seen.insert(c.address.to_ascii_lowercase()))
                .collect();
            out.push(Expansion {
                parent: r.idx,
                children,
            });
        }
        (out, failed)
    }

    /// An alias expansion's targets as queue recipients, each local user
    /// replaced by what their .forward says (followed through other users'
    /// .forward files up to [`MAX_FORWARD_DEPTH`] deep). `name` is the
    /// alias (or user) expanded.
    async fn resolve_forwards(
        &self,
        name: &str,
        targets: Vec<Target>,
    ) -> Result<Vec<Child>, String> {
        let mut out: Vec<Child> = Vec::new();
        let mut stack: Vec<(Target, usize, Option<String>)> = targets
            .into_iter()
            .rev()
            .map(|t| (t, 0, Some(name.to_string())))
            .collect();
        let mut visited = HashSet::new();
        while let Some((target, depth, alias)) = stack.pop() {
            let child = |address: String, run_as: Option<String>| Child {
                address,
                alias: alias.clone(),
                run_as,
            };
            match target {
                Target::Mailbox(u) => out.push(child(format!("\\{u}"), None)),
                Target::Remote(a) => out.push(child(a, None)),
                Target::Program { command, alias: a } => out.push(Child {
                    address: format!("|{command}"),
                    alias: Some(a),
                    run_as: None,
                }),
                Target::File { path, alias: a } => out.push(Child {
                    address: path.display().to_string(),
                    alias: Some(a),
                    run_as: None,
                }),
                Target::Local(user) => {
                    let (base, detail) = user.split_once('+').unwrap_or((&user, ""));
                    if depth >= MAX_FORWARD_DEPTH || !visited.insert(base.to_ascii_lowercase()) {
                        out.push(child(format!("\\{user}"), None));
                        continue;
                    }
                    let reply = self
                        .agent
                        .submit(Request::Forward {
                            user: base.to_string(),
                            detail: detail.to_string(),
                        })
                        .await
                        .unwrap_or_else(|_| {
                            Reply::Retry("451 4.3.0 delivery agent: no reply".into())
                        });
                    let text = match reply {
                        Reply::Found(path, text) => {
                            crate::log::info(9, &format!("forwarding {user} through {path}"));
                            text
                        }
                        Reply::NotFound(why) => {
                            if !why.is_empty() {
                                crate::log::warning(&why);
                            }
                            out.push(child(format!("\\{user}"), None));
                            continue;
                        }
                        Reply::Retry(t) | Reply::Bounce(t) => return Err(t),
                        Reply::Delivered(t) => {
                            return Err(format!("451 4.3.0 unexpected reply: {t}"));
                        }
                    };
                    let members = crate::deliver::forward::members(&text);
                    if members.is_empty() {
                        out.push(child(format!("\\{user}"), None));
                        continue;
                    }
                    let owner = Some(base.to_string());
                    for m in members.into_iter().rev() {
                        match m {
                            Member::NoAlias(u) => {
                                stack.push((Target::Mailbox(u), depth + 1, owner.clone()))
                            }
                            // Programs and files a .forward names run
                            // with its owner's rights.
                            Member::Program(c) => out.push(Child {
                                address: format!("|{c}"),
                                alias: owner.clone(),
                                run_as: owner.clone(),
                            }),
                            Member::File(p) => out.push(Child {
                                address: p.display().to_string(),
                                alias: owner.clone(),
                                run_as: owner.clone(),
                            }),
                            Member::Include(p) => {
                                crate::log::warning(&format!(
                                    "{user}'s .forward: :include:{} is not supported in .forward files; ignored",
                                    p.display()
                                ));
                            }
                            Member::Address(a) => {
                                let is_self = a
                                    .split('@')
                                    .next()
                                    .is_some_and(|l| l.eq_ignore_ascii_case(base))
                                    && matches!(self.shared().router.route(&a), Ok(d) if d.mailer == "local");
                                if is_self {
                                    stack.push((
                                        Target::Mailbox(user.clone()),
                                        depth + 1,
                                        owner.clone(),
                                    ));
                                    continue;
                                }
                                match self.shared().router.route(&a) {
                                    Ok(d) if d.mailer == "local" => {
                                        let more =
                                            self.shared().policy.expand(&d.user).map_err(|e| {
                                                format!("451 4.3.0 {user}'s .forward: {e}")
                                            })?;
                                        for t in more.into_iter().rev() {
                                            stack.push((t, depth + 1, owner.clone()));
                                        }
                                    }
                                    _ => out.push(child(a, None)),
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Where one recipient goes: an envelope recipient through routing and
    /// the aliases; an expansion's target by its form.
    fn plan(&self, r: &PendingRecipient) -> Vec<Leg> {
        if r.parent.is_some() {
            return vec![self.target_leg(&r.address, r.run_as.as_deref().unwrap_or(""))];
        }
        let address = r.address.as_str();
        let dest = match self.shared().router.route(address) {
            Ok(d) => d,
            Err(e) => return vec![Leg::Done(Outcome::Deferred(format!("4.3.5 {e}")))],
        };
        match dest.mailer.as_str() {
            "local" => {}
            "error" => return vec![error_leg(dest.host, &dest.user)],
            m => return vec![self.remote_leg(m, dest.host, &dest.user)],
        }
        let targets = match self.shared().policy.expand(&dest.user) {
            Ok(t) => t,
            Err(e @ (ExpandError::Loop(_) | ExpandError::TooDeep(_))) => {
                return vec![Leg::Done(Outcome::Failed(format!("554 5.4.6 {e}")))];
            }
            Err(e) => return vec![Leg::Done(Outcome::Deferred(format!("451 4.3.0 {e}")))],
        };
        // What is left after [`Runner::expansions`]: the user itself.
        targets
            .into_iter()
            .map(|t| match t {
                Target::Local(name) | Target::Mailbox(name) => Leg::Mailbox(name),
                other => Leg::Done(Outcome::Deferred(format!(
                    "451 4.3.0 the alias changed during delivery ({other:?}); trying again"
                ))),
            })
            .collect()
    }

    /// An expansion's target, by its form in the queue.
    fn target_leg(&self, address: &str, run_as: &str) -> Leg {
        if let Some(command) = address.strip_prefix('|') {
            return Leg::Program {
                command: command.to_string(),
                run_as: run_as.to_string(),
            };
        }
        if address.starts_with('/') {
            return Leg::File {
                path: address.to_string(),
                run_as: run_as.to_string(),
            };
        }
        if let Some(user) = address.strip_prefix('\\') {
            return Leg::Mailbox(user.to_string());
        }
        match self.shared().router.route(address) {
            Ok(d) if d.mailer == "local" => Leg::Mailbox(d.user),
            Ok(d) if d.mailer == "error" => error_leg(d.host, &d.user),
            Ok(d) => self.remote_leg(&d.mailer, d.host, &d.user),
            Err(e) => Leg::Done(Outcome::Deferred(format!("4.3.5 {e}"))),
        }
    }

    fn remote_leg(&self, mailer: &str, host: Option<String>, user: &str) -> Leg {
        match self.shared().config.mailer(mailer) {
            Some(m)
                if m.has_flag('%')
                    && !user
                        .rsplit_once('@')
                        .is_some_and(|(_, domain)| self.etrn_asked(domain))
                    && !host.as_deref().is_some_and(|h| self.etrn_asked(h)) =>
            {
                Leg::Done(Outcome::Deferred(format!(
                    "4.0.0 held for ETRN of {} (mailer {mailer} has flag %)",
                    user.rsplit_once('@').map_or(user, |(_, d)| d)
                )))
            }
            Some(m) if remote::is_smtp(m) => match host {
                Some(host) => Leg::Smtp {
                    mailer: mailer.to_string(),
                    host,
                    address: user.to_string(),
                },
                None => Leg::Done(Outcome::Failed(format!(
                    "554 5.3.5 mailer {mailer} needs a host and the route gave none"
                ))),
            },
            _ => Leg::Done(Outcome::Deferred(held(&format!("mailer {mailer}")))),
        }
    }

    /// Whether ETRN asked for `host` in the last few minutes (sendmail
    /// delivers F=% mailers only when a client asks for the node).
    fn etrn_asked(&self, host: &str) -> bool {
        let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
        let shared = self.shared();
        let mut asked = lock(&shared.etrn);
        asked.retain(|(_, _, at)| at.elapsed() < ETRN_WINDOW);
        asked.iter().any(|(d, subdomains, _)| {
            host == *d || (*subdomains && host.ends_with(&format!(".{d}")))
        })
    }

    /// The DSNs this attempt causes, and whether the delay warning goes
    /// out with it.
    fn reports(
        &self,
        work: &Work,
        outcomes: &[(u32, Outcome)],
        now: i64,
    ) -> (Vec<crate::queue::NewMessage>, bool) {
        let me = &self.shared().settings.host_name;
        let by_idx = |idx: u32| work.recipients.iter().find(|r| r.idx == idx);
        let entries = |action: Action| -> Vec<Entry> {
            outcomes
                .iter()
                .filter_map(|(idx, o)| {
                    let text = match (o, action) {
                        (Outcome::Failed(t), Action::Failed)
                        | (Outcome::Deferred(t), Action::Delayed)
                        | (Outcome::Delivered(t), Action::Delivered) => t,
                        _ => return None,
                    };
                    let r = by_idx(*idx)?;
                    let mut action = action;
                    if action == Action::Delivered && text.ends_with(dsn::RELAYED) {
                        // The next host takes no DSN: we report "relayed".
                        action = Action::Relayed;
                    } else if action == Action::Delivered
                        && !matches!(self.shared().router.route(&r.address), Ok(d) if d.mailer == "local")
                    {
                        // Relayed with NOTIFY passed on: the next host
                        // reports success, if asked.
                        return None;
                    }
                    dsn::wanted(r.notify.as_deref(), action).then(|| Entry {
                        address: r.address.clone(),
                        orcpt: r.orcpt.clone(),
                        action,
                        text: text.clone(),
                    })
                })
                .collect()
        };
        let mut reports = Vec::new();
        let failed = entries(Action::Failed);
        // Below zero precedence, a failure report returns the headers
        // only, even with RET=FULL (sendmail's P lines).
        let negative = precedence(&self.shared().config, &work.headers) < 0;
        let headers_only;
        let work = if negative && work.ret.is_some() {
            headers_only = Work {
                ret: None,
                ..work.clone()
            };
            &headers_only
        } else {
            work
        };
        // Failures of a list's members go to owner-LIST when there is
        // such an alias (sendmail's owner- convention), not to the sender.
        let mut owners: Vec<(String, Vec<Entry>)> = Vec::new();
        let mut to_sender = Vec::new();
        for e in failed {
            let owner = work
                .recipients
                .iter()
                .find(|r| r.address == e.address)
                .and_then(|r| r.alias.as_deref())
                .map(|list| format!("owner-{list}"))
                .filter(|o| self.shared().policy.aliases.contains(o));
            match owner {
                Some(o) => match owners.iter_mut().find(|(k, _)| *k == o) {
                    Some((_, list)) => list.push(e),
                    None => owners.push((o, vec![e])),
                },
                None => to_sender.push(e),
            }
        }
        for (owner, entries) in &owners {
            reports.push(dsn::report(work, entries, me, now, None, owner));
        }
        if !to_sender.is_empty() {
            if !work.sender.is_empty() {
                reports.push(dsn::report(work, &to_sender, me, now, None, &work.sender));
            } else if !to_sender.iter().any(|e| {
                // To postmaster, or to what postmaster expanded to.
                is_postmaster(&e.address)
                    || work
                        .recipients
                        .iter()
                        .find(|r| r.address == e.address)
                        .and_then(|r| r.alias.as_deref())
                        .is_some_and(is_postmaster)
            }) {
                // A report that cannot be delivered goes to postmaster,
                // once; if that fails too, it stops there.
                reports.push(dsn::report(work, &to_sender, me, now, None, "postmaster"));
            } else {
                crate::log::error(&format!(
                    "{}: a double bounce to postmaster failed; it is discarded",
                    work.id
                ));
            }
        }
        let mut warned = work.warned;
        let (queuewarn, queuereturn) = queue_timeouts(&self.shared().config);
        // Lists and bulk mail (a Precedence below zero) get no delay
        // warnings, as in sendmail.
        if !work.warned
            && !work.sender.is_empty()
            && now - work.arrival >= queuewarn.as_secs() as i64
            && !negative
        {
            let delayed = entries(Action::Delayed);
            if !delayed.is_empty() {
                let until = work.arrival + queuereturn.as_secs() as i64;
                reports.push(dsn::report(
                    work,
                    &delayed,
                    me,
                    now,
                    Some(until),
                    &work.sender,
                ));
                warned = true;
            }
        }
        if !work.sender.is_empty() {
            let delivered = entries(Action::Delivered);
            if !delivered.is_empty() {
                reports.push(dsn::report(work, &delivered, me, now, None, &work.sender));
            }
        }
        (reports, warned && !work.warned)
    }
}

/// The message's Precedence, by the config's P lines (0 when it has none
/// or the word is not listed).
fn precedence(config: &cfparser::Config, headers: &[u8]) -> i32 {
    let text = String::from_utf8_lossy(headers);
    let value = text.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("Precedence")
            .then(|| value.trim().to_ascii_lowercase())
    });
    value
        .and_then(|v| {
            config
                .precedences
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(&v))
                .map(|(_, n)| *n)
        })
        .unwrap_or(0)
}

/// The `error` mailer's verdict: `$@` is the status, `$:` the text.
fn error_leg(status: Option<String>, text: &str) -> Leg {
    let code = status.unwrap_or_else(|| "5.0.0".into());
    if code.starts_with('4') {
        Leg::Done(Outcome::Deferred(format!("451 {code} {text}")))
    } else {
        Leg::Done(Outcome::Failed(format!("550 {code} {text}")))
    }
}

fn is_postmaster(address: &str) -> bool {
    address
        .split('@')
        .next()
        .is_some_and(|l| l.eq_ignore_ascii_case("postmaster"))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One outcome for a recipient from its legs' outcomes.
fn fold(outcomes: Vec<Outcome>) -> Outcome {
    if let Some(d) = outcomes.iter().find(|o| matches!(o, Outcome::Deferred(_))) {
        return d.clone();
    }
    if let Some(f) = outcomes.iter().find(|o| matches!(o, Outcome::Failed(_))) {
        return f.clone();
    }
    let texts: Vec<String> = outcomes
        .into_iter()
        .filter_map(|o| match o {
            Outcome::Delivered(t) => Some(t),
            _ => None,
        })
        .collect();
    if texts.is_empty() {
        return Outcome::Failed("550 5.1.1 the alias expands to nothing".into());
    }
    Outcome::Delivered(texts.join("; "))
}

/// Why a target stays queued: its kind of delivery is not written yet.
fn held(what: &str) -> String {
    format!("4.3.0 {what} is not delivered by this version yet; held in the queue")
}

/// Timeout.queuewarn and Timeout.queuereturn (or QueueTimeout), with
/// sendmail's defaults; read at each attempt, so that a reload applies.
fn queue_timeouts(config: &cfparser::Config) -> (Duration, Duration) {
    let warn = config
        .duration("Timeout.queuewarn")
        .filter(|d| !d.is_zero())
        .unwrap_or(DEFAULT_QUEUEWARN);
    let give_up = config
        .duration("Timeout.queuereturn")
        .or_else(|| config.duration("QueueTimeout"))
        .filter(|d| !d.is_zero())
        .unwrap_or(DEFAULT_QUEUERETURN);
    (warn, give_up)
}

/// How long a deferred message waits before a queue run may try it again:
/// MinQueueAge (0 by default: the next run), or with `Mtad.RetryBackoff`
/// the doubling backoff if that is longer. Read at each attempt, so that a
/// reload applies to the next one.
fn retry_wait(config: &cfparser::Config, attempts: u32) -> i64 {
    let min_age = config
        .duration("MinQueueAge")
        .map_or(0, |d| d.as_secs() as i64);
    if config.bool("Mtad.RetryBackoff").unwrap_or(false) {
        backoff(attempts).max(min_age)
    } else {
        min_age
    }
}

/// The wait before attempt `attempts + 1`, with `Mtad.RetryBackoff`.
fn backoff(attempts: u32) -> i64 {
    FIRST_BACKOFF
        .saturating_mul(1i64 << attempts.min(20))
        .min(MAX_BACKOFF)
}

fn describe_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(86400) {
        format!("{} days", s / 86400)
    } else if s.is_multiple_of(3600) {
        format!("{} hours", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{} minutes", s / 60)
    } else {
        format!("{s} seconds")
    }
}

fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Delivered(t) => format!("stat=Sent ({t})"),
        Outcome::Deferred(t) => format!("stat=Deferred: {t}"),
        Outcome::Failed(t) => format!("stat=Failed: {t}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(0), 300);
        assert_eq!(backoff(1), 600);
        assert_eq!(backoff(5), 9600);
        assert_eq!(backoff(6), MAX_BACKOFF);
        assert_eq!(backoff(1000), MAX_BACKOFF);
    }

    #[test]
    fn precedence_from_the_header_and_p_lines() {
        let loaded = cfparser::load_bytes(
            std::path::Path::new("t.cf"),
            b"Mlocal, P=/bin/cat, A=cat $u\nPbulk=-60\nPlist=-30\nPfirst-class=0\n".to_vec(),
            &Default::default(),
        )
        .unwrap();
        let c = &loaded.config;
        assert_eq!(precedence(c, b"Subject: x\r\nPrecedence: Bulk\r\n"), -60);
        assert_eq!(precedence(c, b"precedence: list\r\n"), -30);
        assert_eq!(precedence(c, b"Precedence: unheard-of\r\n"), 0);
        assert_eq!(precedence(c, b"Subject: none\r\n"), 0);
    }

    #[test]
    fn a_recipient_is_deferred_if_any_leg_is() {
        let d = Outcome::Deferred("451".into());
        let f = Outcome::Failed("550".into());
        let ok = Outcome::Delivered("250".into());
        assert_eq!(fold(vec![ok.clone(), f.clone(), d.clone()]), d);
        assert_eq!(fold(vec![ok.clone(), f.clone()]), f);
        assert_eq!(
            fold(vec![ok.clone(), ok.clone()]),
            Outcome::Delivered("250; 250".into())
        );
        assert!(matches!(fold(vec![]), Outcome::Failed(_)));
        assert_eq!(describe_duration(Duration::from_secs(5 * 86400)), "5 days");
    }
}
