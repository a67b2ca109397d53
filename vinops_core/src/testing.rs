//! Helpers shared by the crate's tests.

/// A tiny deterministic PRNG (xorshift64) for the tests that compare two implementations on many inputs.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
}

/// Calls `f` with every string of 0 to `max_len` bytes over `alphabet` (exhaustive small-input sweeps).
pub fn each_string(alphabet: &[u8], max_len: u32, mut f: impl FnMut(&[u8])) {
    let mut buf = Vec::new();
    for len in 0..=max_len {
        for mut code in 0..alphabet.len().pow(len) {
            buf.clear();
            for _ in 0..len {
                buf.push(alphabet[code % alphabet.len()]);
                code /= alphabet.len();
            }
            f(&buf);
        }
    }
}
