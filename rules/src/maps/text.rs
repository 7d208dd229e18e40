//! `text` maps: a flat file read at every lookup, keys compared without
//! case, columns chosen by `-k` and `-v` (both 0 unless given: without
//! `-v` a text map returns the key column, as sendmail's does), split by
//! `-z` or white space.

use super::{Answer, Class, LookupCx, MapInfo};
use crate::rewrite::{EX_NOTFOUND, EX_OK, EX_UNAVAILABLE};

/// sendmail's MAXNAME: keys and columns are cut to it.
const MAXNAME: usize = 256;

pub struct Text;

fn column_number(c: &Option<Vec<u8>>) -> Result<usize, Vec<u8>> {
    match c {
        None => Ok(0),
        Some(v) if v.first().is_some_and(u8::is_ascii_digit) => Ok(v
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .fold(0usize, |n, d| {
                n.saturating_mul(10).saturating_add((d - b'0') as usize)
            })),
        Some(v) => Err(v.clone()),
    }
}

/// get_column(): column `col` of `line`, split at `delim` or (0) at white
/// space with runs of it skipped.
pub fn get_column(line: &[u8], col: usize, delim: u8) -> Option<Vec<u8>> {
    let is_delim = |c: u8| {
        if delim == 0 {
            matches!(c, b'\n' | b'\t' | b' ')
        } else {
            c == delim
        }
    };
    let is_space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    if line.is_empty() {
        return None;
    }
    if line[0] == delim && col == 0 {
        return None;
    }
    let mut begin = 0usize;
    if col == 0 && delim == 0 {
        while begin < line.len() && is_space(line[begin]) {
            begin += 1;
        }
    }
    for _ in 0..col {
        let next = line[begin..].iter().position(|&c| is_delim(c))?;
        begin += next + 1;
        if delim == 0 {
            while begin < line.len() && is_space(line[begin]) {
                begin += 1;
            }
        }
    }
    let end = line[begin..]
        .iter()
        .position(|&c| is_delim(c))
        .map_or(line.len(), |e| begin + e);
    let mut v = line[begin..end].to_vec();
    v.truncate(MAXNAME);
    Some(v)
}

impl Class for Text {
    fn open(&self, map: &MapInfo) -> Result<(), Option<String>> {
        let Some(file) = &map.file else {
            return Err(Some(format!(
                "text map \"{}\": file name required",
                map.name
            )));
        };
        if file.first() != Some(&b'/') {
            return Err(Some(format!(
                "text map \"{}\": file name must be fully qualified",
                map.name
            )));
        }
        if let Err(v) = column_number(&map.flags.key_col) {
            return Err(Some(format!(
                "text map \"{}\", file {}: -k should specify a number, not {}",
                map.name,
                String::from_utf8_lossy(file),
                String::from_utf8_lossy(&v)
            )));
        }
        if let Err(v) = column_number(&map.flags.val_col) {
            return Err(Some(format!(
                "text map \"{}\", file {}: -v should specify a number, not {}",
                map.name,
                String::from_utf8_lossy(file),
                String::from_utf8_lossy(&v)
            )));
        }
        if std::fs::metadata(crate::compile::latin1_path(file)).is_err() {
            return Err(None);
        }
        Ok(())
    }

    fn lookup(
        &self,
        map: &MapInfo,
        key: &[u8],
        _args: &[&[u8]],
        _cx: &mut LookupCx<'_, '_>,
    ) -> Answer {
        let mut search = key[..key.len().min(MAXNAME)].to_vec();
        if !map.flags.no_fold {
            search.make_ascii_lowercase();
        }
        let path = crate::compile::latin1_path(map.file.as_deref().unwrap_or_default());
        let Ok(bytes) = std::fs::read(path) else {
            return Answer::miss(EX_UNAVAILABLE);
        };
        let kc = column_number(&map.flags.key_col).unwrap_or(0);
        let vc = column_number(&map.flags.val_col).unwrap_or(0);
        for line in bytes.split(|&b| b == b'\n') {
            if line.first() == Some(&b'#') {
                continue;
            }
            let line = &line[..line.len().min(2047)];
            if get_column(line, kc, map.flags.col_delim)
                .is_some_and(|k| k.eq_ignore_ascii_case(&search))
            {
                return match get_column(line, vc, map.flags.col_delim) {
                    Some(v) => Answer {
                        value: Some(v),
                        status: EX_OK,
                    },
                    None => Answer::miss(EX_NOTFOUND),
                };
            }
        }
        Answer::miss(EX_NOTFOUND)
    }
}
