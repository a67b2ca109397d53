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

/// A growable bitmap (LSB first, as Arrow lays bits out): whole words in `words`, the last partial one
/// in `cur`.
#[derive(Default)]
struct Bits {
    words: Vec<u64>,
    cur: u64,
    len: usize,
}

impl Bits {
    fn with_capacity(bits: usize) -> Self {
        Bits { words: Vec::with_capacity(bits.div_ceil(64)), cur: 0, len: 0 }
    }

    #[inline(always)]
    fn push(&mut self, bit: bool) {
        self.cur |= u64::from(bit) << (self.len % 64);
        self.len += 1;
        if self.len % 64 == 0 {
            self.words.push(self.cur);
            self.cur = 0;
        }
    }

    fn take(&mut self, rows: usize) -> Bits {
        std::mem::replace(self, Bits::with_capacity(rows))
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

/// A column of fixed-width values.
pub struct Prim<T> {
    values: Vec<T>,
    valid: Bits,
}

impl<T: ArrowNativeType> Prim<T> {
    fn with_capacity(rows: usize) -> Self {
        Prim { values: Vec::with_capacity(rows), valid: Bits::with_capacity(rows) }
    }

    #[inline(always)]
    pub fn push(&mut self, value: Option<T>) {
        self.values.push(value.unwrap_or_default());
        self.valid.push(value.is_some());
    }

    fn take(&mut self, rows: usize) -> (ScalarBuffer<T>, Option<NullBuffer>) {
        let values = std::mem::replace(&mut self.values, Vec::with_capacity(rows));
        (ScalarBuffer::from(values), self.valid.take(rows).into_nulls())
    }
}

/// A Boolean column.
pub struct Flags {
    values: Bits,
    valid: Bits,
}

impl Flags {
    #[inline(always)]
    pub fn push(&mut self, value: Option<bool>) {
        self.values.push(value.unwrap_or(false));
        self.valid.push(value.is_some());
    }
}

/// A Utf8 column. Values are almost never empty strings (empty values are NULL), so no validity bit is
/// kept per value: a value is NULL when it is empty, except the rows listed in `empty_valid`.
pub struct Texts {
    offsets: Vec<i32>,
    data: Vec<u8>,
    empty_valid: Vec<usize>,
}

impl Texts {
    fn with_capacity(rows: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Texts { offsets, data: Vec::with_capacity(bytes), empty_valid: Vec::new() }
    }

    #[inline(always)]
    pub fn push(&mut self, value: Option<&str>) {
        if let Some(s) = value {
            if s.is_empty() {
                self.empty_valid.push(self.offsets.len() - 1);
            }
            self.data.extend_from_slice(s.as_bytes());
        }
        self.offsets.push(offset(self.data.len()));
    }

    fn nulls(&self) -> Option<NullBuffer> {
        let mut valid = Bits::with_capacity(self.offsets.len() - 1);
        for w in self.offsets.windows(2) {
            valid.push(w[1] > w[0]);
        }
        if valid.len % 64 != 0 {
            valid.words.push(valid.cur);
        }
        for &row in &self.empty_valid {
            valid.words[row / 64] |= 1u64 << (row % 64);
        }
        let words: Vec<u64> = valid.words.into_iter().map(u64::to_le).collect();
        let bits = BooleanBuffer::new(Buffer::from_vec(words), 0, valid.len);
        Some(NullBuffer::new(bits)).filter(|n| n.null_count() > 0)
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
    pub fn push(&mut self, value: Option<&[i16]>) {
        if let Some(codes) = value {
            self.values.extend_from_slice(codes);
        }
        self.offsets.push(offset(self.values.len()));
        self.valid.push(value.is_some());
    }
}

/// Every output column, grouped by kind; within a kind in schema order.
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

    /// The columns as Arrow arrays in schema order; the buffers start empty again, sized for `self.rows`
    /// rows (and, for text, the bytes per row seen in this batch).
    pub fn finish(&mut self) -> Vec<ArrayRef> {
        let rows = self.rows;
        let mut at = [0usize; 9];
        let mut next = |k: usize| {
            at[k] += 1;
            at[k] - 1
        };
        let mut out: Vec<ArrayRef> = Vec::with_capacity(COLUMNS.len());
        for col in COLUMNS {
            let array: ArrayRef = match col.kind {
                Kind::Int16 => {
                    let (v, n) = self.i16[next(0)].take(rows);
                    Arc::new(PrimitiveArray::<Int16Type>::new(v, n))
                }
                Kind::Int32 => {
                    let (v, n) = self.i32[next(1)].take(rows);
                    Arc::new(PrimitiveArray::<Int32Type>::new(v, n))
                }
                Kind::Int64 => {
                    let (v, n) = self.i64[next(2)].take(rows);
                    Arc::new(PrimitiveArray::<Int64Type>::new(v, n))
                }
                Kind::Float64 => {
                    let (v, n) = self.f64[next(3)].take(rows);
                    Arc::new(PrimitiveArray::<Float64Type>::new(v, n))
                }
                Kind::Bool => {
                    let f = &mut self.flags[next(4)];
                    let values = f.values.take(rows).into_boolean_buffer();
                    Arc::new(BooleanArray::new(values, f.valid.take(rows).into_nulls()))
                }
                Kind::Text => {
                    let t = &mut self.texts[next(5)];
                    let n = t.offsets.len() - 1;
                    let bytes = t.data.len();
                    let fresh = Texts::with_capacity(rows, (bytes / n.max(1) + 1).saturating_mul(rows).min(1 << 30));
                    let nulls = t.nulls();
                    let Texts { offsets, data, .. } = std::mem::replace(t, fresh);
                    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
                    // SAFETY: `data` only ever receives whole `&str`s, and every offset is the data length
                    // after one of them, so each value is valid UTF-8 on its own.
                    Arc::new(unsafe { StringArray::new_unchecked(offsets, Buffer::from_vec(data), nulls) })
                }
                Kind::Date => {
                    let (v, n) = self.dates[next(6)].take(rows);
                    Arc::new(PrimitiveArray::<Date32Type>::new(v, n))
                }
                Kind::UtcTime => {
                    let (v, n) = self.times[next(7)].take(rows);
                    Arc::new(PrimitiveArray::<TimestampMicrosecondType>::new(v, n).with_timezone("UTC"))
                }
                Kind::NaiveTime => {
                    let (v, n) = self.times[next(7)].take(rows);
                    Arc::new(PrimitiveArray::<TimestampMicrosecondType>::new(v, n))
                }
                Kind::CodeList => {
                    let c = &mut self.codes[next(8)];
                    let values_cap = c.values.len();
                    let CodeLists { offsets, values, valid } = std::mem::replace(c, CodeLists::with_capacity(rows));
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
