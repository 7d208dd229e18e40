//! sendmail's rewriting engine: the rulesets of a sendmail.cf run as
//! sendmail 8.17 runs them, with its maps and its address test mode
//! (`-bt`).
//!
//! `cfparser` reads the file; this crate is how an address is rewritten
//! at run time. It is synchronous and knows nothing of sockets: host and
//! DNS lookups go through the [`env::Resolver`] its caller supplies, and
//! what it prints or reports goes to an [`env::Output`].
//!
//! ```no_run
//! # let config: cfparser::Config = unimplemented!();
//! let (engine, problems) = rules::Engine::new(&config);
//! let mut session = engine.session();
//! let mut macros = rules::env::Macros::default();
//! let mut out = rules::env::Collect::default();
//! let mut env = rules::env::Env::new(&mut macros, &mut out, &rules::env::NoResolver);
//! let (status, result) = session.run_text(&mut env, &["canonify", "parse"], b"user@example.com");
//! ```

pub mod address;
pub mod builtin;
pub mod check;
pub mod classes;
pub mod compile;
pub mod crack;
pub mod env;
pub mod expand;
pub mod maps;
pub mod meta;
pub mod prescan;
pub mod report;
pub mod rewrite;
pub mod symbols;
pub mod testmode;

pub use compile::Rules;
pub use maps::{MapProblem, Maps};

use env::Env;
use prescan::{MAXATOM, Table};
use rewrite::Call;
use symbols::{Scratch, Sym, Syms};

/// A compiled config: its rules and its maps.
#[derive(Debug)]
pub struct Engine {
    pub rules: Rules,
    pub maps: Maps,
    /// The mailers, for buildaddr and `/try`.
    pub config: cfparser::Config,
    /// Unique in the process (from 1), so that buffers kept from a session
    /// know whether their run-time tokens belong to this engine.
    id: u64,
}

/// The last engine number given.
static ENGINES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Engine {
    /// Compiles a loaded config. The problems are K lines whose class
    /// mtad does not have (their lookups fail temporarily).
    pub fn new(config: &cfparser::Config) -> (Engine, Vec<MapProblem>) {
        let (maps, problems) = Maps::from_config(config);
        (
            Engine {
                rules: Rules::compile(config),
                maps,
                config: config.clone(),
                id: ENGINES.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
            },
            problems,
        )
    }

    /// Reusable per-caller state (one per thread or session).
    pub fn session(&self) -> Session<'_> {
        self.session_with(Buffers::default())
    }

    /// A session on buffers a caller kept from an earlier one
    /// ([`Session::into_buffers`]), warm already.
    pub fn session_with(&self, mut buffers: Buffers) -> Session<'_> {
        // Run-time tokens are numbered after an engine's own, so those of
        // another engine (before a reload) mean nothing here.
        if buffers.engine != self.id {
            buffers.forget_tokens();
            buffers.engine = self.id;
        }
        Session {
            engine: self,
            bufs: buffers,
        }
    }
}

/// What a session reuses from call to call: the run-time symbol table,
/// token buffers, workspace vectors, byte buffers and scanned map values.
/// Run-time tokens and scans are kept from call to call (a client's
/// address, a map's `OK`, a macro's value come back call after call) until
/// there are more than [`KEPT_TOKENS`] of them.
#[derive(Default)]
pub struct Buffers {
    scratch: Scratch,
    tokens: prescan::Tokens,
    pool: Vec<Vec<Sym>>,
    bytes: Vec<Vec<u8>>,
    trace: Vec<u8>,
    /// The engine whose tokens these are (0: none yet).
    engine: u64,
    scanned: [rustc_hash::FxHashMap<Vec<u8>, Vec<Sym>>; 2],
}

/// Run-time tokens a session keeps before it starts over.
pub const KEPT_TOKENS: usize = 4096;

impl Buffers {
    fn forget_tokens(&mut self) {
        self.scratch.clear();
        self.scanned[0].clear();
        self.scanned[1].clear();
    }
}

/// One caller's state: the run-time symbol table and token buffers,
/// reused from call to call.
pub struct Session<'a> {
    pub engine: &'a Engine,
    bufs: Buffers,
}

impl<'a> Session<'a> {
    /// A call on this session's buffers.
    pub fn call<'s, 'e>(&'s mut self, env: &'s mut Env<'e>) -> Call<'s, 'e>
    where
        'a: 's,
    {
        let b = &mut self.bufs;
        if b.scratch.is_large() || b.scanned[0].len() + b.scanned[1].len() > KEPT_TOKENS {
            // Scans hold run-time tokens: they go with the table.
            b.forget_tokens();
        }
        Call {
            engine: self.engine,
            syms: Syms {
                base: &self.engine.rules.syms,
                local: &mut b.scratch,
            },
            env,
            tokens: &mut b.tokens,
            last_cut: false,
            pool: &mut b.pool,
            scanned: &mut b.scanned,
            trace_buf: &mut b.trace,
            bytes: &mut b.bytes,
        }
    }

    /// Tokenizes `text` as the internal table does and runs the rulesets
    /// named in order on it; the last status that was not OK (or OK) and
    /// the result as text joined by cataddr.
    pub fn run_text(
        &mut self,
        env: &mut Env<'_>,
        rulesets: &[&str],
        text: &[u8],
    ) -> (i32, Vec<u8>) {
        let engine = self.engine;
        let mut call = self.call(env);
        let Some(mut ws) = call.scan(text, Table::Internal, false) else {
            return (rewrite::EX_DATAERR, Vec::new());
        };
        let mut status = rewrite::EX_OK;
        for name in rulesets {
            let Some(rs) = engine.rules.find(name) else {
                return (rewrite::EX_CONFIG, Vec::new());
            };
            let s = call.rewrite(&mut ws, rs, 0, MAXATOM);
            if s != rewrite::EX_OK {
                status = s;
            }
        }
        let text = call.cataddr(&ws, 0, 4096, true);
        (status, text)
    }

    /// The buffers, to start a later session warm.
    pub fn into_buffers(self) -> Buffers {
        self.bufs
    }

    /// The workspace tokens as text, one entry per token.
    pub fn texts(call: &Call<'_, '_>, ws: &[Sym]) -> Vec<Vec<u8>> {
        ws.iter().map(|&s| call.syms.text(s).to_vec()).collect()
    }
}
