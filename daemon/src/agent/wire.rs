//! The agent's wire format: length-prefixed frames of typed fields.
//!
//! Hand-written rather than serde: the agent runs as root, so its decoder
//! should be small enough to read in one sitting, and message bodies go
//! through as bytes, not as JSON arrays of numbers.

use std::io::{Read, Write};

/// The largest frame either side accepts (a message is at most 256 MiB).
pub const MAX_FRAME: usize = 300 << 20;

#[derive(Default)]
pub struct Encoder(Vec<u8>);

impl Encoder {
    pub fn tag(mut self, t: u8) -> Self {
        self.0.push(t);
        self
    }

    pub fn bytes(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(&(b.len() as u32).to_be_bytes());
        self.0.extend_from_slice(b);
        self
    }

    pub fn str(self, s: &str) -> Self {
        self.bytes(s.as_bytes())
    }

    /// Writes the frame: its length, then its fields.
    pub fn send(self, w: &mut impl Write) -> std::io::Result<()> {
        w.write_all(&(self.0.len() as u32).to_be_bytes())?;
        w.write_all(&self.0)?;
        w.flush()
    }
}

/// Reads one frame; `None` at a clean end of stream.
pub fn receive(r: &mut impl Read) -> std::io::Result<Option<Decoder>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(bad("frame too large"));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)?;
    Ok(Some(Decoder { buf, pos: 0 }))
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

pub struct Decoder {
    buf: Vec<u8>,
    pos: usize,
}

impl Decoder {
    pub fn tag(&mut self) -> std::io::Result<u8> {
        let t = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| bad("frame ends early"))?;
        self.pos += 1;
        Ok(t)
    }

    pub fn bytes(&mut self) -> std::io::Result<Vec<u8>> {
        let end = self.pos + 4;
        let len = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| bad("frame ends early"))?;
        let len = u32::from_be_bytes(len.try_into().expect("four bytes")) as usize;
        let data = self
            .buf
            .get(end..end + len)
            .ok_or_else(|| bad("field longer than its frame"))?
            .to_vec();
        self.pos = end + len;
        Ok(data)
    }

    pub fn str(&mut self) -> std::io::Result<String> {
        String::from_utf8(self.bytes()?).map_err(|_| bad("text field is not UTF-8"))
    }

    /// Every field read: trailing bytes mean the two sides disagree.
    pub fn finish(self) -> std::io::Result<()> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(bad("trailing bytes in frame"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let mut out = Vec::new();
        Encoder::default()
            .tag(7)
            .str("bob")
            .bytes(b"\x00\xff body")
            .send(&mut out)
            .unwrap();
        let mut r = &out[..];
        let mut d = receive(&mut r).unwrap().unwrap();
        assert_eq!(d.tag().unwrap(), 7);
        assert_eq!(d.str().unwrap(), "bob");
        assert_eq!(d.bytes().unwrap(), b"\x00\xff body");
        d.finish().unwrap();
        assert!(receive(&mut r).unwrap().is_none());

        // A field claiming more than the frame holds.
        let mut evil = Vec::new();
        Encoder::default().tag(1).send(&mut evil).unwrap();
        evil[3] = 6;
        evil.extend_from_slice(&[0, 0, 0, 200, b'x']);
        let mut d = receive(&mut &evil[..]).unwrap().unwrap();
        d.tag().unwrap();
        assert!(d.bytes().is_err());
        // A frame too large is refused before anything is allocated.
        let huge = (MAX_FRAME as u32 + 1).to_be_bytes();
        assert!(receive(&mut &huge[..]).is_err());
    }
}
