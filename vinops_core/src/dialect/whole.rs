//! The strict pass's fast path: a record whose fields are each either plain (no `"` in it) or quoted
//! without `""`, split with whole-block bit masks instead of field by field. It answers only for such a
//! record ended by a line break within the input; anything else (a `""`, a stray or unclosed quote, no
//! line break yet, a `\r` that ends the input) is left to the general pass, which decides as before.
//! So where it answers it must agree with [`super::strict`] exactly (the tests compare them).

use super::{block_masks_with, Fields, Masks, Scan};

/// Bit `k` is set when an odd number of bits of `x` at positions ≤ `k` are set: with `x` the quotes, the
/// quoted bytes, opening quote included and closing quote excluded.
#[inline(always)]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// The record at `input[0..]` split into `out` (cleared first), or None when the general pass must decide.
pub(super) fn scan(input: &[u8], out: &mut Fields) -> Option<Scan> {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above; the answer is cached).
        return unsafe { scan_avx2(input, out) };
    }
    scan_with(input, out, super::masks64)
}

/// [`scan`] compiled for AVX2, so the mask computation is inlined into the loop instead of being a call
/// per block.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn scan_avx2(input: &[u8], out: &mut Fields) -> Option<Scan> {
    scan_with(input, out, |block| super::masks64_avx2(block))
}

#[inline(always)]
fn scan_with(input: &[u8], out: &mut Fields, masks64: impl Fn(&[u8; 64]) -> Masks + Copy) -> Option<Scan> {
    out.clear();
    let n = input.len();
    // Carried from one block to the next: all ones when the block starts inside quotes; bit 0 set when
    // the byte before the block ends a field (or the record starts there); bit 0 set when the block
    // before ended on a closing quote, so this block's first byte must end its field.
    let mut inside = 0u64;
    let mut after_delim = 1u64;
    let mut after_close = 0u64;
    let mut high = 0u64;
    let mut inner_breaks = 0u64;
    let mut field = 0usize;
    let mut base = 0usize;
    while base < n {
        let m = block_masks_with(input, base, masks64);
        high |= m.high;
        let quoted = prefix_xor(m.quotes) ^ inside;
        let delims = (m.commas | m.breaks) & !quoted;
        let ends = m.breaks & !quoted;
        // Only the bytes up to the record's line break count.
        let upto = if ends == 0 { u64::MAX } else { u64::MAX >> (63 - ends.trailing_zeros()) };
        let opens = m.quotes & quoted & upto;
        let closes = m.quotes & !quoted & upto;
        inner_breaks |= m.breaks & quoted & upto;
        // An opening quote must start a field, a closing one must be followed by the field's end.
        if opens & !((delims << 1) | after_delim) != 0 || after_close & !delims != 0 {
            return None;
        }
        if closes & !(delims >> 1) & (u64::MAX >> 1) != 0 {
            return None;
        }
        let mut d = delims & upto;
        while d != 0 {
            let p = base + d.trailing_zeros() as usize;
            d &= d - 1;
            // A field that starts with a quote ends with the closing one, just before `p` (checked above).
            if input[field] == b'"' {
                out.push_span(field + 1, p - 1);
            } else {
                out.push_span(field, p);
            }
            field = p + 1;
        }
        if ends != 0 {
            let p = base + ends.trailing_zeros() as usize;
            let end = match (input[p], input.get(p + 1)) {
                (b'\r', Some(b'\n')) => p + 2,
                (b'\r', None) => return None,
                _ => p + 1,
            };
            out.ascii = high == 0;
            out.one_line = inner_breaks == 0;
            return Some(Scan::Complete { end, irregular: false });
        }
        inside = ((quoted as i64) >> 63) as u64;
        after_delim = delims >> 63;
        after_close = closes >> 63;
        base += 64;
    }
    None
}
