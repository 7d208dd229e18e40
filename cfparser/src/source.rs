//! The config file as text, and its logical lines.
//!
//! A sendmail.cf is bytes. Each byte becomes the char with the same number
//! (Latin-1), which is lossless, lets pest parse it, and keeps one char per
//! byte so that columns are byte columns. Bytes 0x80-0xFF take two bytes in
//! the Rust string, so offsets are mapped back to file offsets where needed.

use crate::diag::Location;
use std::path::{Path, PathBuf};

/// The text of one config file and how to find a line and column in it.
#[derive(Debug)]
pub struct Source {
    pub path: PathBuf,
    /// The file, one char per byte.
    pub text: String,
    /// Byte offset (in the file) where each physical line starts.
    line_starts: Vec<usize>,
    /// For each byte of `text`, its offset in the file; `None` when the file
    /// is plain ASCII and the two are the same.
    file_offsets: Option<Vec<u32>>,
    /// The raw bytes, for showing lines in diagnostics.
    bytes: Vec<u8>,
}

impl Source {
    pub fn new(path: &Path, bytes: Vec<u8>) -> Source {
        let text: String = if bytes.is_ascii() {
            // The common case: a plain copy, no per-byte conversion.
            String::from_utf8(bytes.clone()).unwrap_or_default()
        } else {
            bytes.iter().map(|&b| b as char).collect()
        };
        let file_offsets = if text.len() == bytes.len() {
            None
        } else {
            let mut map = Vec::with_capacity(text.len());
            for (i, &b) in bytes.iter().enumerate() {
                map.push(i as u32);
                if b >= 0x80 {
                    map.push(i as u32);
                }
            }
            Some(map)
        };
        let mut line_starts = vec![0];
        line_starts.extend(
            bytes
                .iter()
                .enumerate()
                .filter(|&(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Source {
            path: path.to_path_buf(),
            text,
            line_starts,
            file_offsets,
            bytes,
        }
    }

    /// The file offset of a byte offset into `text`.
    pub fn file_offset(&self, text_offset: usize) -> usize {
        match &self.file_offsets {
            None => text_offset,
            Some(map) => match map.get(text_offset) {
                Some(&o) => o as usize,
                None => self.bytes.len(),
            },
        }
    }

    /// The location of the start of a 1-based line.
    pub fn line_location(&self, line: usize) -> Location {
        let index = line.saturating_sub(1).min(self.line_starts.len() - 1);
        self.location(self.line_starts[index])
    }

    /// The 1-based line a file offset is on.
    pub fn line_of(&self, file_offset: usize) -> usize {
        match self.line_starts.binary_search(&file_offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }

    /// The location of a file offset: line, byte column and the line itself.
    pub fn location(&self, file_offset: usize) -> Location {
        let index = self.line_of(file_offset) - 1;
        let start = self.line_starts[index];
        let end = self.bytes[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.bytes.len(), |p| start + p);
        let raw = &self.bytes[start..end];
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        Location {
            file: self.path.clone(),
            line: index + 1,
            column: file_offset - start + 1,
            source_line: raw.iter().map(|&b| b as char).collect(),
        }
    }
}

/// One logical line: a physical line with its continuation lines, after
/// the clean-up sendmail does before it looks at a line (trailing `#`
/// comments and trailing white space removed, `\#` turned into `#`).
#[derive(Debug)]
pub struct LogicalLine {
    pub text: String,
    /// For each byte of `text`, its offset in the file's `text`; `None`
    /// when nothing was removed, so byte `i` is at `start + i`.
    offsets: Option<Vec<u32>>,
    start: usize,
    /// Where the line ends in the file's `text`, for errors at its end.
    end: usize,
}

impl LogicalLine {
    /// Builds a logical line from the span `start..end` of the file's text.
    /// `strip_comments` is false for configs older than level 3, where `#`
    /// inside a line is not a comment (sendmail's rule).
    pub fn new(source: &str, start: usize, end: usize, strip_comments: bool) -> LogicalLine {
        let raw = &source[start..end];
        // Most lines have nothing to remove but trailing white space.
        if !raw.contains(['#', '\\', '\r']) {
            let text = raw.trim_end_matches(|c: char| c.is_ascii_whitespace());
            return LogicalLine {
                text: text.to_string(),
                offsets: None,
                start,
                end,
            };
        }
        let mut text = String::with_capacity(raw.len());
        let mut offsets: Vec<u32> = Vec::with_capacity(raw.len());
        let mut chars = raw.char_indices().peekable();
        let push = |text: &mut String, offsets: &mut Vec<u32>, c: char, at: usize| {
            text.push(c);
            for _ in 0..c.len_utf8() {
                offsets.push((start + at) as u32);
            }
        };
        while let Some((i, c)) = chars.next() {
            match c {
                '\r' if matches!(chars.peek(), Some((_, '\n'))) => {}
                '$' => {
                    push(&mut text, &mut offsets, c, i);
                    // `$#` and `$$#` are not comments; whatever follows a
                    // `$` belongs to it.
                    if let Some(&(j, d)) = chars.peek()
                        && d != '\n'
                    {
                        push(&mut text, &mut offsets, d, j);
                        chars.next();
                    }
                }
                '\\' if strip_comments && matches!(chars.peek(), Some((_, '#'))) => {
                    let (j, d) = chars.next().unwrap_or((i, '#'));
                    push(&mut text, &mut offsets, d, j);
                }
                '#' if strip_comments && i > 0 => {
                    // Drop the comment and the white space before it, up to
                    // the end of this physical line; a continuation goes on.
                    while text.ends_with([' ', '\t']) {
                        text.pop();
                        offsets.pop();
                    }
                    while let Some(&(_, d)) = chars.peek() {
                        if d == '\n' {
                            break;
                        }
                        chars.next();
                    }
                }
                _ => push(&mut text, &mut offsets, c, i),
            }
        }
        while text.ends_with(|c: char| c.is_ascii_whitespace()) {
            text.pop();
            offsets.pop();
        }
        LogicalLine {
            text,
            offsets: Some(offsets),
            start,
            end,
        }
    }

    /// The offset in the file's text of byte `pos` of this line.
    pub fn text_offset(&self, pos: usize) -> usize {
        let Some(offsets) = &self.offsets else {
            return (self.start + pos).min(self.end);
        };
        match offsets.get(pos) {
            Some(&o) => o as usize,
            None => match offsets.last() {
                Some(&o) => (o as usize + 1).min(self.end),
                None => self.end,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logical(s: &str) -> LogicalLine {
        LogicalLine::new(s, 0, s.len(), true)
    }

    #[test]
    fn strips_trailing_comment_and_space() {
        let l = logical("O LogLevel=9   # how much to log");
        assert_eq!(l.text, "O LogLevel=9");
    }

    #[test]
    fn keeps_dollar_hash_and_escaped_hash() {
        assert_eq!(logical("R$*\t$#error").text, "R$*\t$#error");
        assert_eq!(
            logical("Fw/etc/x %[^\\#]").text,
            "Fw/etc/x %[^#]",
            "\\# is a literal #"
        );
    }

    #[test]
    fn comment_ends_at_continuation() {
        let l = logical("Mlocal, P=/bin/x, # the path\n\tA=x $u");
        assert_eq!(l.text, "Mlocal, P=/bin/x,\n\tA=x $u");
    }

    #[test]
    fn maps_offsets_back() {
        let s = "O X=1 # c\n\tY";
        let l = logical(s);
        assert_eq!(l.text, "O X=1\n\tY");
        assert_eq!(l.text_offset(5), 9);
        assert_eq!(l.text_offset(7), 11);
    }

    #[test]
    fn location_of_latin1_bytes() {
        let src = Source::new(Path::new("t.cf"), b"DA\xe9\nDB x".to_vec());
        assert_eq!(src.text.len(), 9);
        let off = src.file_offset(src.text.find("DB").unwrap());
        let loc = src.location(off);
        assert_eq!((loc.line, loc.column), (2, 1));
        assert_eq!(src.location(2).source_line, "DA\u{e9}");
    }
}
