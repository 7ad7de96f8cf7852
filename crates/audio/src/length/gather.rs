//! Byte plumbing shared by the counters: gather the few bytes a parser must see whole even
//! when a chunk boundary splits them, and pass over the rest without copying.

/// Bytes gathered at the current position of a stream.
#[derive(Debug, Default)]
pub(super) struct Gather {
    held: Vec<u8>,
}

impl Gather {
    /// Moves bytes from the front of `chunk` until `want` are held; whether they are.
    pub(super) fn fill(&mut self, chunk: &mut &[u8], want: usize) -> bool {
        let missing = want.saturating_sub(self.held.len());
        let (taken, rest) = chunk.split_at(missing.min(chunk.len()));
        self.held.extend_from_slice(taken);
        *chunk = rest;
        self.held.len() >= want
    }

    /// The bytes held.
    pub(super) fn held(&self) -> &[u8] {
        &self.held
    }

    /// Forgets the bytes held: they have been parsed.
    pub(super) fn clear(&mut self) {
        self.held.clear();
    }

    /// Forgets the first byte held: no header starts there, so the next byte is tried.
    pub(super) fn slide(&mut self) {
        if !self.held.is_empty() {
            self.held.remove(0);
        }
    }
}

/// Passes over up to `left` bytes at the front of `chunk`; returns how many it passed.
pub(super) fn pass(left: &mut u64, chunk: &mut &[u8]) -> u64 {
    let n = usize::try_from(*left)
        .unwrap_or(usize::MAX)
        .min(chunk.len());
    *chunk = &chunk[n..];
    *left -= n as u64;
    n as u64
}
