//! `hash` and `btree` maps: the Berkeley DB file makemap wrote
//! (`FILE.db`), read by our own reader (the `bdb` crate), never the text
//! source beside it, since sendmail reads only the database. The file is
//! opened at the first lookup and again whenever its modification time
//! moves on, as sendmail does. A hash file is held as a [`bdb::Index`]
//! (one probe per lookup, the same answers as its pages); a btree file,
//! or a damaged hash file, is looked up page by page.

use super::{Answer, Class, LookupCx, MapInfo};
use crate::rewrite::{EX_OK, EX_TEMPFAIL};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

/// sendmail's MAXNAME: the longest key looked up.
const MAXNAME: usize = 256;

pub struct Db {
    class: &'static str,
    state: Mutex<State>,
}

/// An opened file, in the form lookups read.
enum Opened {
    Index(bdb::Index),
    Pages(bdb::Db),
}

impl Opened {
    fn new(db: bdb::Db) -> Opened {
        match bdb::Index::build(&db) {
            Some(index) => Opened::Index(index),
            None => Opened::Pages(db),
        }
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, bdb::Error> {
        match self {
            Opened::Index(index) => Ok(index.get(key).map(<[u8]>::to_vec)),
            Opened::Pages(db) => db.get(key),
        }
    }
}

struct State {
    db: Option<Opened>,
    mtime: Option<SystemTime>,
    /// When the file was last looked at: it is looked at again at most
    /// once a second, not at every lookup (a stat per lookup was most of
    /// a lookup's cost).
    checked: Option<std::time::Instant>,
    lookups: u32,
    /// MF_TRY0NULL / MF_TRY1NULL, narrowed by the first success.
    try_without: Option<bool>,
    try_with: Option<bool>,
}

impl Db {
    pub fn new(class: &str) -> Db {
        Db {
            class: if class == "btree" { "btree" } else { "hash" },
            state: Mutex::new(State {
                db: None,
                mtime: None,
                checked: None,
                lookups: 0,
                try_without: None,
                try_with: None,
            }),
        }
    }

    fn path(map: &MapInfo) -> PathBuf {
        let file = crate::compile::latin1_path(map.file.as_deref().unwrap_or_default());
        let s = file.to_string_lossy();
        if s.ends_with(".db") {
            file
        } else {
            PathBuf::from(format!("{s}.db"))
        }
    }

    fn open_file(&self, map: &MapInfo) -> Result<(Opened, Option<SystemTime>), Option<String>> {
        let path = Self::path(map);
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                let prob = if e.kind() == std::io::ErrorKind::NotFound {
                    "missing"
                } else {
                    "unsafe"
                };
                return Err(Some(format!(
                    "{} map \"{}\": {prob} map file {}: {}",
                    self.class,
                    map.name,
                    path.display(),
                    crate::report::strerror(&e)
                )));
            }
        };
        match bdb::Db::open(&path) {
            Ok(db) => Ok((Opened::new(db), meta.modified().ok())),
            Err(_) => Err(Some(format!(
                "Cannot open {} database {}",
                self.class,
                path.display()
            ))),
        }
    }
}

impl Class for Db {
    fn open(&self, map: &MapInfo) -> Result<(), Option<String>> {
        if map.file.is_none() {
            return Err(Some(format!(
                "No file name for {} map {}",
                self.class, map.name
            )));
        }
        let (db, mtime) = self.open_file(map)?;
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.db = Some(db);
        st.mtime = mtime;
        Ok(())
    }

    fn lookup(
        &self,
        map: &MapInfo,
        key: &[u8],
        _args: &[&[u8]],
        cx: &mut LookupCx<'_, '_>,
    ) -> Answer {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // Reopen when the file changed since it was opened.
        // The clock is read every 64th lookup; a second is the limit.
        st.lookups = st.lookups.wrapping_add(1);
        let due = st.checked.is_none()
            || (st.lookups.is_multiple_of(64)
                && st
                    .checked
                    .is_some_and(|t| t.elapsed() >= std::time::Duration::from_secs(1)));
        let changed = due && {
            st.checked = Some(std::time::Instant::now());
            let now = std::fs::metadata(Self::path(map))
                .ok()
                .and_then(|m| m.modified().ok());
            now.is_none() || now > st.mtime
        };
        if st.db.is_none() || changed {
            match self.open_file(map) {
                Ok((db, m)) => {
                    st.db = Some(db);
                    st.mtime = m;
                }
                Err(_) => {
                    drop(st);
                    if !map.flags.optional {
                        cx.env.say(crate::report::Message::new(
                            crate::report::Kind::System,
                            format!(
                                "Cannot reopen DB database {}",
                                String::from_utf8_lossy(map.file.as_deref().unwrap_or_default())
                            )
                            .as_bytes(),
                            None,
                        ));
                    }
                    return Answer::miss(EX_TEMPFAIL);
                }
            }
        }
        // The key as sendmail copies it: at most MAXNAME bytes, folded
        // unless -f, room for the NUL some maps store.
        let mut buf = [0u8; MAXNAME + 1];
        let len = key.len().min(MAXNAME);
        buf[..len].copy_from_slice(&key[..len]);
        if !map.flags.no_fold {
            buf[..len].make_ascii_lowercase();
        }
        let try_without = st.try_without.unwrap_or(map.flags.try_without_nul);
        let try_with = st.try_with.unwrap_or(map.flags.try_with_nul);
        let Some(db) = st.db.as_ref() else {
            return Answer::miss(EX_TEMPFAIL);
        };
        let mut found: Option<Vec<u8>> = None;
        let mut broken = false;
        if try_without {
            match db.get(&buf[..len]) {
                Ok(Some(v)) => found = Some(v),
                Ok(None) => {}
                Err(_) => broken = true,
            }
            if found.is_some() {
                st.try_with = Some(false);
            }
        }
        if found.is_none() && try_with {
            let db = st.db.as_ref().expect("opened above");
            match db.get(&buf[..len + 1]) {
                Ok(Some(v)) => found = Some(v),
                Ok(None) => {}
                Err(_) => broken = true,
            }
            if found.is_some() {
                st.try_without = Some(false);
            }
        }
        match found {
            Some(mut v) => {
                if let Some(nul) = v.iter().position(|&b| b == 0) {
                    v.truncate(nul);
                }
                Answer::found(v)
            }
            None if broken => Answer::miss(EX_TEMPFAIL),
            None => Answer::miss(EX_OK),
        }
    }
}
