//! Classes (`$=X`) as the engine asks them: is this phrase a member? A
//! class holds lower-cased phrases, since sendmail's symbol table compares
//! class words without case. `$=X` listings come out in the order of
//! sendmail's symbol table (its hash buckets), as `-bt` prints them.

use crate::compile::latin1;
use cfparser::Config;
use rustc_hash::{FxHashMap, FxHashSet};

/// sendmail's STABSIZE and the type number of class symbols (ST_CLASS).
const STABSIZE: u32 = 2003;
const ST_CLASS: u32 = 1;

#[derive(Debug, Clone, Default)]
pub struct Classes {
    by_name: FxHashMap<Vec<u8>, usize>,
    names: Vec<Vec<u8>>,
    members: Vec<FxHashSet<Box<[u8]>>>,
    /// The longest member of each class, in bytes: a phrase longer than
    /// that can be in it no more, however far it grows.
    longest: Vec<usize>,
    /// Each word as first written into any class, and when: one symbol
    /// per word in sendmail, shared by all classes.
    spelling: FxHashMap<Box<[u8]>, (Vec<u8>, usize)>,
}

impl Classes {
    pub fn from_config(config: &Config) -> Classes {
        let mut c = Classes::default();
        for (name, class) in &config.classes {
            let i = c.index(&latin1(&name.0));
            for w in class.words() {
                c.add(i, &latin1(w));
            }
        }
        c
    }

    /// The index of a class, made (empty) if it does not exist yet.
    pub fn index(&mut self, name: &[u8]) -> usize {
        if let Some(&i) = self.by_name.get(name) {
            return i;
        }
        let i = self.names.len();
        self.names.push(name.to_vec());
        self.members.push(FxHashSet::default());
        self.longest.push(0);
        self.by_name.insert(name.to_vec(), i);
        i
    }

    pub fn find(&self, name: &[u8]) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    pub fn name(&self, i: usize) -> &[u8] {
        &self.names[i]
    }

    /// A class's name, if there is a class of that index.
    pub fn try_name(&self, i: usize) -> Option<&[u8]> {
        self.names.get(i).map(Vec::as_slice)
    }

    pub fn add(&mut self, class: usize, word: &[u8]) {
        let lower: Box<[u8]> = word.to_ascii_lowercase().into();
        let seq = self.spelling.len();
        self.spelling
            .entry(lower.clone())
            .or_insert_with(|| (word.to_vec(), seq));
        self.longest[class] = self.longest[class].max(lower.len());
        self.members[class].insert(lower);
    }

    /// The length of the longest member of a class.
    pub fn longest(&self, class: usize) -> usize {
        self.longest[class]
    }

    /// Whether `phrase` (already joined as cataddr joins tokens) is in the
    /// class.
    pub fn contains(&self, class: usize, phrase: &[u8]) -> bool {
        let set = &self.members[class];
        if set.is_empty() {
            return false;
        }
        if phrase.len() > self.longest[class] {
            return false;
        }
        if phrase.iter().any(u8::is_ascii_uppercase) {
            let mut buf = [0u8; 256];
            if phrase.len() <= buf.len() {
                let b = &mut buf[..phrase.len()];
                b.copy_from_slice(phrase);
                b.make_ascii_lowercase();
                return set.contains(&*b);
            }
            set.contains(phrase.to_ascii_lowercase().as_slice())
        } else {
            set.contains(phrase)
        }
    }

    /// The members, as sendmail's `$=X` lists them: in symbol-table order,
    /// each word as first written.
    pub fn listing(&self, class: usize) -> Vec<Vec<u8>> {
        let mut words: Vec<(u32, usize, &[u8])> = self.members[class]
            .iter()
            .map(|w| {
                let (spelled, seq) = &self.spelling[w];
                (stab_bucket(w), *seq, spelled.as_slice())
            })
            .collect();
        words.sort();
        words.into_iter().map(|(_, _, w)| w.to_vec()).collect()
    }
}

/// The bucket sendmail's stab() puts a class word in.
fn stab_bucket(word: &[u8]) -> u32 {
    let mut h = ST_CLASS;
    for &c in word {
        h = ((h << 1) ^ u32::from(c.to_ascii_lowercase())) % STABSIZE;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_give_sendmails_order() {
        assert_eq!(stab_bucket(b"mail.lab.example"), 715);
        assert_eq!(stab_bucket(b"lab.example"), 748);
        assert_eq!(stab_bucket(b"localhost"), 915);
        assert_eq!(stab_bucket(b"[127.0.0.1]"), 1299);
    }
}
