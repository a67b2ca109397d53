//! Column buffers for [`crate::batch`]: plain `Vec`s and validity bitmaps, appended to without
//! per-value dispatch and handed to Arrow without a copy when a batch is finished.
//!
//! A batch's buffers are sized from the previous batch (text bytes per row), so a long file grows
//! them once, not by doubling in every batch.

use std::sync::Arc;

use arrow_array::types::{Date32Type, Float64Type, Int16Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{ArrayRef, BooleanArray, Int16Array, ListArray, PrimitiveArray, StringArray};
use arrow_buffer::{ArrowNativeType, BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field};

use crate::schema::{Kind, COLUMNS};

/// A growable bitmap (LSB first, as Arrow lays bits out): whole words in `words`, the word being filled
/// in `cur`. Every bitmap of a batch has one bit per row, so the row's position in the word (`shift`)
/// is computed once per row by [`Columns`], which also moves all bitmaps to their next word together.
#[derive(Default)]
struct Bits {
    words: Vec<u64>,
    cur: u64,
    /// Set when the bitmap is taken out of its column.
    len: usize,
}

impl Bits {
    fn with_capacity(bits: usize) -> Self {
        Bits { words: Vec::with_capacity(bits.div_ceil(64)), cur: 0, len: 0 }
    }

    /// Sets the bit of the current row (`shift` = row % 64; the bit is clear before).
    #[inline(always)]
    fn set(&mut self, bit: bool, shift: u32) {
        self.cur |= u64::from(bit) << shift;
    }

    /// After the 64th row of the current word.
    #[inline]
    fn next_word(&mut self) {
        self.words.push(self.cur);
        self.cur = 0;
    }

    /// The bitmap of `len` rows; the column starts again with room for `rows`.
    fn take(&mut self, rows: usize, len: usize) -> Bits {
        let mut bits = std::mem::replace(self, Bits::with_capacity(rows));
        bits.len = len;
        bits
    }

    fn into_boolean_buffer(mut self) -> BooleanBuffer {
        if self.len % 64 != 0 {
            self.words.push(self.cur);
        }
        let words: Vec<u64> = self.words.into_iter().map(u64::to_le).collect();
        BooleanBuffer::new(Buffer::from_vec(words), 0, self.len)
    }

    /// The validity buffer of a column, None when every value is valid (as Arrow's builders do).
    fn into_nulls(self) -> Option<NullBuffer> {
        Some(NullBuffer::new(self.into_boolean_buffer())).filter(|n| n.null_count() > 0)
    }
}

/// Rows staged before they are copied to the batch's buffers (see [`Columns`]): as many as a bitmap
/// word holds, so a row's place in the stage is its `shift`.
const STAGE: usize = 64;

/// A column of fixed-width values.
pub struct Prim<T> {
    values: Vec<T>,
    /// The rows of the current stage, row `k` at `stage[k]` (a fixed array: a push is one store).
    stage: [T; STAGE],
    valid: Bits,
}

impl<T: ArrowNativeType> Prim<T> {
    fn with_capacity(rows: usize) -> Self {
        Prim { values: Vec::with_capacity(rows), stage: [T::default(); STAGE], valid: Bits::with_capacity(rows) }
    }

    #[inline(always)]
    pub fn push(&mut self, value: Option<T>, shift: u32) {
        self.stage[shift as usize % STAGE] = value.unwrap_or_default();
        self.valid.set(value.is_some(), shift);
    }

    /// Moves the first `n` staged rows to the batch buffer.
    fn flush(&mut self, n: usize) {
        self.values.extend_from_slice(&self.stage[..n]);
    }

    fn take(&mut self, rows: usize, len: usize) -> (ScalarBuffer<T>, Option<NullBuffer>) {
        let values = std::mem::replace(&mut self.values, Vec::with_capacity(rows));
        (ScalarBuffer::from(values), self.valid.take(rows, len).into_nulls())
    }
}

/// A Boolean column.
pub struct Flags {
    values: Bits,
    valid: Bits,
}

impl Flags {
    #[inline(always)]
    pub fn push(&mut self, value: Option<bool>, shift: u32) {
        self.values.set(value.unwrap_or(false), shift);
        self.valid.set(value.is_some(), shift);
    }
}

/// A Utf8 column.
pub struct Texts {
    offsets: Vec<i32>,
    data: Vec<u8>,
    valid: Bits,
    /// Where each row of the current stage ends in `data` (row `k` at `stage_ends[k]`).
    stage_ends: [i32; STAGE],
}

impl Texts {
    fn with_capacity(rows: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Texts {
            offsets,
            data: Vec::with_capacity(bytes),
            valid: Bits::with_capacity(rows),
            stage_ends: [0; STAGE],
        }
    }

    #[inline(always)]
    pub fn push(&mut self, value: Option<&str>, shift: u32) {
        if let Some(s) = value {
            append_short(&mut self.data, s.as_bytes());
        }
        self.stage_ends[shift as usize % STAGE] = offset(self.data.len());
        self.valid.set(value.is_some(), shift);
    }

    /// Moves the first `n` staged rows to the batch buffers.
    fn flush(&mut self, n: usize) {
        self.offsets.extend_from_slice(&self.stage_ends[..n]);
    }
}

/// `out.extend_from_slice(bytes)`, with values up to 32 bytes (nearly all) copied inline by two
/// overlapping loads and stores (three single bytes below 4) instead of a call to `memcpy`.
#[inline(always)]
fn append_short(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = bytes.len();
    if !(1..=32).contains(&n) {
        out.extend_from_slice(bytes);
        return;
    }
    out.reserve(n);
    let len = out.len();
    // SAFETY: `reserve` made room for `n` more bytes after `len`; each branch reads and writes only words
    // of at most `n` bytes at offsets 0 and `n - width` (or single bytes at 0, n/2 and n - 1), all inside
    // `bytes` and the room, which together cover every byte; the first `len + n` bytes are then
    // initialized once `set_len` runs.
    unsafe {
        let src = bytes.as_ptr();
        let dst = out.as_mut_ptr().add(len);
        match n {
            17.. => {
                let head = src.cast::<u128>().read_unaligned();
                let tail = src.add(n - 16).cast::<u128>().read_unaligned();
                dst.cast::<u128>().write_unaligned(head);
                dst.add(n - 16).cast::<u128>().write_unaligned(tail);
            }
            8.. => {
                let head = src.cast::<u64>().read_unaligned();
                let tail = src.add(n - 8).cast::<u64>().read_unaligned();
                dst.cast::<u64>().write_unaligned(head);
                dst.add(n - 8).cast::<u64>().write_unaligned(tail);
            }
            4.. => {
                let head = src.cast::<u32>().read_unaligned();
                let tail = src.add(n - 4).cast::<u32>().read_unaligned();
                dst.cast::<u32>().write_unaligned(head);
                dst.add(n - 4).cast::<u32>().write_unaligned(tail);
            }
            _ => {
                *dst = *src;
                *dst.add(n / 2) = *src.add(n / 2);
                *dst.add(n - 1) = *src.add(n - 1);
            }
        }
        out.set_len(len + n);
    }
}

#[inline(always)]
fn offset(len: usize) -> i32 {
    i32::try_from(len).expect("a column's text in one batch exceeds 2 GiB")
}

/// A List<Int16> column.
pub struct CodeLists {
    offsets: Vec<i32>,
    values: Vec<i16>,
    valid: Bits,
}

impl CodeLists {
    fn with_capacity(rows: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        CodeLists { offsets, values: Vec::new(), valid: Bits::with_capacity(rows) }
    }

    #[inline(always)]
    pub fn push(&mut self, value: Option<&[i16]>, shift: u32) {
        if let Some(codes) = value {
            self.values.extend_from_slice(codes);
        }
        self.offsets.push(offset(self.values.len()));
        self.valid.set(value.is_some(), shift);
    }
}

/// Every output column, grouped by kind; within a kind in schema order.
///
/// Values and text offsets are appended to small per-column stages of [`STAGE`] rows, which stay in cache,
/// and each stage is then copied to its column's batch buffer in one piece: appending row by row straight
/// to ~90 large buffers makes every row touch ~90 cold cache lines, which costs more than the copy. Text
/// bytes go straight to their batch buffer: staging them too cost a second copy of every byte and
/// measured no faster.
pub struct Columns {
    pub i16: Vec<Prim<i16>>,
    pub i32: Vec<Prim<i32>>,
    pub i64: Vec<Prim<i64>>,
    pub f64: Vec<Prim<f64>>,
    pub flags: Vec<Flags>,
    pub texts: Vec<Texts>,
    pub dates: Vec<Prim<i32>>,
    pub times: Vec<Prim<i64>>,
    pub codes: Vec<CodeLists>,
    rows: usize,
    /// Rows appended since the last finish.
    len: usize,
}

impl Columns {
    pub fn new(rows: usize) -> Self {
        let mut c = Columns {
            i16: Vec::new(),
            i32: Vec::new(),
            i64: Vec::new(),
            f64: Vec::new(),
            flags: Vec::new(),
            texts: Vec::new(),
            dates: Vec::new(),
            times: Vec::new(),
            codes: Vec::new(),
            rows,
            len: 0,
        };
        for col in COLUMNS {
            match col.kind {
                Kind::Int16 => c.i16.push(Prim::with_capacity(rows)),
                Kind::Int32 => c.i32.push(Prim::with_capacity(rows)),
                Kind::Int64 => c.i64.push(Prim::with_capacity(rows)),
                Kind::Float64 => c.f64.push(Prim::with_capacity(rows)),
                Kind::Bool => c.flags.push(Flags { values: Bits::with_capacity(rows), valid: Bits::with_capacity(rows) }),
                Kind::Text => c.texts.push(Texts::with_capacity(rows, rows.min(1 << 16) * 8)),
                Kind::Date => c.dates.push(Prim::with_capacity(rows)),
                Kind::UtcTime | Kind::NaiveTime => c.times.push(Prim::with_capacity(rows)),
                Kind::CodeList => c.codes.push(CodeLists::with_capacity(rows)),
            }
        }
        c
    }

    /// The position of the row being appended in its bitmap word (see [`Bits`]).
    #[inline(always)]
    pub fn shift(&self) -> u32 {
        (self.len % 64) as u32
    }

    /// Copies the staged rows of every column (`n`, the rows since the last flush) to its batch buffer.
    fn flush(&mut self, n: usize) {
        for p in &mut self.i16 {
            p.flush(n);
        }
        for p in self.i32.iter_mut().chain(self.dates.iter_mut()) {
            p.flush(n);
        }
        for p in self.i64.iter_mut().chain(self.times.iter_mut()) {
            p.flush(n);
        }
        for p in &mut self.f64 {
            p.flush(n);
        }
        for t in &mut self.texts {
            t.flush(n);
        }
    }

    /// After a row was appended to every column.
    #[inline]
    pub fn end_row(&mut self) {
        self.len += 1;
        if self.len % STAGE == 0 {
            self.flush(STAGE);
        }
        if self.len % 64 == 0 {
            for p in &mut self.i16 {
                p.valid.next_word();
            }
            for p in &mut self.i32 {
                p.valid.next_word();
            }
            for p in self.i64.iter_mut().chain(self.times.iter_mut()) {
                p.valid.next_word();
            }
            for p in &mut self.f64 {
                p.valid.next_word();
            }
            for p in &mut self.dates {
                p.valid.next_word();
            }
            for f in &mut self.flags {
                f.values.next_word();
                f.valid.next_word();
            }
            for c in &mut self.codes {
                c.valid.next_word();
            }
            for t in &mut self.texts {
                t.valid.next_word();
            }
        }
    }

    /// The columns as Arrow arrays in schema order; the buffers start empty again, sized for `self.rows`
    /// rows (and, for text, the bytes per row seen in this batch).
    pub fn finish(&mut self) -> Vec<ArrayRef> {
        let rows = self.rows;
        self.flush(self.len % STAGE);
        let len = std::mem::take(&mut self.len);
        let mut at = [0usize; 9];
        let mut next = |k: usize| {
            at[k] += 1;
            at[k] - 1
        };
        let mut out: Vec<ArrayRef> = Vec::with_capacity(COLUMNS.len());
        for col in COLUMNS {
            let array: ArrayRef = match col.kind {
                Kind::Int16 => {
                    let (v, n) = self.i16[next(0)].take(rows, len);
                    Arc::new(PrimitiveArray::<Int16Type>::new(v, n))
                }
                Kind::Int32 => {
                    let (v, n) = self.i32[next(1)].take(rows, len);
                    Arc::new(PrimitiveArray::<Int32Type>::new(v, n))
                }
                Kind::Int64 => {
                    let (v, n) = self.i64[next(2)].take(rows, len);
                    Arc::new(PrimitiveArray::<Int64Type>::new(v, n))
                }
                Kind::Float64 => {
                    let (v, n) = self.f64[next(3)].take(rows, len);
                    Arc::new(PrimitiveArray::<Float64Type>::new(v, n))
                }
                Kind::Bool => {
                    let f = &mut self.flags[next(4)];
                    let values = f.values.take(rows, len).into_boolean_buffer();
                    Arc::new(BooleanArray::new(values, f.valid.take(rows, len).into_nulls()))
                }
                Kind::Text => {
                    let t = &mut self.texts[next(5)];
                    let n = t.offsets.len() - 1;
                    let bytes = t.data.len();
                    let fresh = Texts::with_capacity(rows, (bytes / n.max(1) + 1).saturating_mul(rows).min(1 << 30));
                    let nulls = t.valid.take(rows, len).into_nulls();
                    let Texts { offsets, data, .. } = std::mem::replace(t, fresh);
                    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
                    // SAFETY: `data` only ever receives whole `&str`s, and every offset is the data length
                    // after one of them, so each value is valid UTF-8 on its own.
                    Arc::new(unsafe { StringArray::new_unchecked(offsets, Buffer::from_vec(data), nulls) })
                }
                Kind::Date => {
                    let (v, n) = self.dates[next(6)].take(rows, len);
                    Arc::new(PrimitiveArray::<Date32Type>::new(v, n))
                }
                Kind::UtcTime => {
                    let (v, n) = self.times[next(7)].take(rows, len);
                    Arc::new(PrimitiveArray::<TimestampMicrosecondType>::new(v, n).with_timezone("UTC"))
                }
                Kind::NaiveTime => {
                    let (v, n) = self.times[next(7)].take(rows, len);
                    Arc::new(PrimitiveArray::<TimestampMicrosecondType>::new(v, n))
                }
                Kind::CodeList => {
                    let c = &mut self.codes[next(8)];
                    let values_cap = c.values.len();
                    let CodeLists { offsets, values, mut valid } = std::mem::replace(c, CodeLists::with_capacity(rows));
                    valid.len = len;
                    c.values.reserve(values_cap);
                    let field = Arc::new(Field::new("item", DataType::Int16, false));
                    let values = Arc::new(Int16Array::new(ScalarBuffer::from(values), None));
                    Arc::new(ListArray::new(field, OffsetBuffer::new(ScalarBuffer::from(offsets)), values, valid.into_nulls()))
                }
            };
            out.push(array);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_short_appends_every_length() {
        let src: Vec<u8> = (0..40u8).collect();
        let mut out = Vec::new();
        let mut want = Vec::new();
        for n in 0..=40 {
            for start in 0..=(40 - n).min(3) {
                append_short(&mut out, &src[start..start + n]);
                want.extend_from_slice(&src[start..start + n]);
                assert_eq!(out, want, "{n} {start}");
            }
        }
    }
}
