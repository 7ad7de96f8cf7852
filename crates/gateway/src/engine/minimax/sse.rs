//! Splits an upstream byte stream into `data:` event payloads, with a bound on line length.

use bytes::{Buf, BytesMut};

/// Accumulates bytes and yields complete lines' `data:` payloads.
pub struct SseLines {
    buffer: BytesMut,
    max_line: usize,
}

/// One parsed line.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// The JSON after `data:`, or a bare JSON object line (some errors come without `data:`).
    Payload(Vec<u8>),
    /// Anything else (blank separators, comments, `[DONE]`).
    Ignored,
}

impl SseLines {
    /// A splitter refusing lines longer than `max_line` bytes.
    pub fn new(max_line: usize) -> SseLines {
        SseLines {
            buffer: BytesMut::new(),
            max_line,
        }
    }

    /// Adds bytes from the network.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buffer.extend_from_slice(chunk);
    }

    /// The next complete line, `Ok(None)` when more bytes are needed, or an error when a line
    /// exceeds the bound.
    pub fn next_line(&mut self) -> Result<Option<Line>, String> {
        let Some(end) = self.buffer.iter().position(|b| *b == b'\n') else {
            if self.buffer.len() > self.max_line {
                return Err(format!("event line longer than {} bytes", self.max_line));
            }
            return Ok(None);
        };
        let line = self.buffer.split_to(end);
        self.buffer.advance(1);
        if self.buffer.is_empty() {
            // Let the allocation go between chunks: a stream waits far longer for its next
            // chunk than it takes to read one, and thousands of streams wait at once.
            self.buffer = BytesMut::new();
        }
        Ok(Some(classify(&line)))
    }

    /// What is left after the stream ended (a last line without a newline).
    pub fn finish(&mut self) -> Option<Line> {
        if self.buffer.is_empty() {
            return None;
        }
        let rest = self.buffer.split();
        Some(classify(&rest))
    }
}

fn classify(raw: &[u8]) -> Line {
    let line = raw.strip_suffix(b"\r").unwrap_or(raw);
    let payload = match line.strip_prefix(b"data:") {
        Some(p) => p.strip_prefix(b" ").unwrap_or(p),
        None if line.first() == Some(&b'{') => line,
        None => return Line::Ignored,
    };
    if payload.first() == Some(&b'{') {
        Line::Payload(payload.to_vec())
    } else {
        Line::Ignored
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn splits_events_across_chunks() {
        let mut s = SseLines::new(1024);
        s.push(b"data: {\"a\":");
        assert_eq!(s.next_line().unwrap(), None);
        s.push(b"1}\n\ndata: [DONE]\n\n{\"b\":2}");
        assert_eq!(
            s.next_line().unwrap(),
            Some(Line::Payload(b"{\"a\":1}".to_vec()))
        );
        assert_eq!(s.next_line().unwrap(), Some(Line::Ignored));
        assert_eq!(s.next_line().unwrap(), Some(Line::Ignored));
        assert_eq!(s.next_line().unwrap(), Some(Line::Ignored));
        assert_eq!(s.next_line().unwrap(), None);
        assert_eq!(s.finish(), Some(Line::Payload(b"{\"b\":2}".to_vec())));
    }

    #[test]
    fn refuses_overlong_lines() {
        let mut s = SseLines::new(8);
        s.push(b"data: 0123456789");
        assert!(s.next_line().is_err());
    }
}
