//! What untrusted Automerge bytes expand to, measured before Automerge sees them.
//!
//! Automerge inflates DEFLATE-compressed chunks and columns without a bound, and its columns
//! are run-length encoded: a few bytes can stand for a billion operations, which Automerge
//! then decodes one by one. A push of one mebibyte could so cost gigabytes of memory and
//! minutes of CPU. [`check_expansion`] walks the chunk headers and column layouts of the
//! storage format (<https://automerge.org/automerge-binary-format-spec/>), inflates each
//! compressed part into a buffer no larger than the limit, and sums the run lengths of every
//! column, stopping at the first limit crossed. It costs one pass over the bytes and allocates
//! at most the inflation limit.

use std::io::Read;

use crate::DocError;

/// The bound on what untrusted bytes may expand to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpansionLimits {
    /// Most bytes the DEFLATE-compressed chunks and columns may inflate to, in all.
    pub max_inflated_bytes: usize,
    /// Most operations and changes the chunks may describe, in all (for each chunk, the
    /// longest of its columns once run lengths are expanded).
    pub max_ops: u64,
}

impl ExpansionLimits {
    /// A record's whole history fits many times over: a thirty-item inspection with its
    /// photos, edits and reviews is a few thousand operations and some tens of kilobytes.
    pub const DEFAULT: ExpansionLimits = ExpansionLimits {
        max_inflated_bytes: 32 * 1024 * 1024,
        max_ops: 1_000_000,
    };
}

impl Default for ExpansionLimits {
    fn default() -> Self {
        ExpansionLimits::DEFAULT
    }
}

/// What the bytes expand to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expansion {
    pub chunks: usize,
    /// Bytes of the compressed parts once inflated.
    pub inflated_bytes: usize,
    /// Operations and changes the columns describe (an upper bound of what Automerge decodes).
    pub ops: u64,
}

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const HASH_BYTES: usize = 32;
const DEFLATE_BIT: u32 = 0b1000;

/// Measures what `bytes` (a sequence of Automerge chunks: documents, changes, compressed
/// changes) expand to, and refuses them when they would cross `limits`, or when they are not a
/// well-formed sequence of chunks. Bundles are refused: jingtu never writes them.
pub fn check_expansion(bytes: &[u8], limits: &ExpansionLimits) -> Result<Expansion, DocError> {
    let mut meter = Meter {
        limits: *limits,
        seen: Expansion::default(),
    };
    let mut input = Input(bytes);
    while !input.0.is_empty() {
        let magic = input.take(4)?;
        if magic != MAGIC {
            return Err(malformed(
                "a chunk does not start with Automerge's magic bytes",
            ));
        }
        input.take(4)?; // checksum
        let kind = input.take(1)?[0];
        let len = input.uleb()?;
        let data = input.take(to_usize(len)?)?;
        meter.seen.chunks += 1;
        match kind {
            0 => meter.document(data)?,
            1 => meter.change(data)?,
            2 => {
                let inflated = meter.inflate(data)?;
                meter.change(&inflated)?;
            }
            3 => return Err(malformed("bundle chunks are not taken")),
            other => return Err(malformed(&format!("unknown chunk type {other}"))),
        }
    }
    Ok(meter.seen)
}

fn malformed(what: &str) -> DocError {
    DocError::Corrupt(what.to_string())
}

fn to_usize(n: u64) -> Result<usize, DocError> {
    usize::try_from(n).map_err(|_| malformed("a length beyond the address space"))
}

struct Meter {
    limits: ExpansionLimits,
    seen: Expansion,
}

impl Meter {
    /// A change chunk's body (after the header, or once inflated).
    fn change(&mut self, data: &[u8]) -> Result<(), DocError> {
        let mut i = Input(data);
        i.hashes()?; // dependencies
        i.prefixed()?; // actor
        i.uleb()?; // seq
        i.uleb()?; // start op
        i.sleb()?; // time
        i.prefixed()?; // message
        let others = i.count(1)?;
        for _ in 0..others {
            i.prefixed()?;
        }
        let columns = i.columns()?;
        self.columns(&mut i, &columns, 1)
    }

    /// A document chunk's body: actors, heads, the change and op column layouts, their data.
    fn document(&mut self, data: &[u8]) -> Result<(), DocError> {
        let mut i = Input(data);
        let actors = i.count(1)?;
        for _ in 0..actors {
            i.prefixed()?;
        }
        i.hashes()?; // heads
        let change_columns = i.columns()?;
        let op_columns = i.columns()?;
        self.columns(&mut i, &change_columns, 1)?;
        // A document keeps no deletions: Automerge makes them again from the successors of
        // the operations they deleted, at most one per stored operation.
        self.columns(&mut i, &op_columns, 2)
        // What follows (the heads' indices) is small and read by Automerge as it is.
    }

    /// Reads each column's data from `i` and counts `weight` operations for each value of the
    /// longest column.
    fn columns(
        &mut self,
        i: &mut Input<'_>,
        columns: &[(u32, u64)],
        weight: u64,
    ) -> Result<(), DocError> {
        let mut longest = 0;
        for &(spec, len) in columns {
            let data = i.take(to_usize(len)?)?;
            let count = if spec & DEFLATE_BIT != 0 {
                let inflated = self.inflate(data)?;
                self.column_length(spec, &inflated, weight)?
            } else {
                self.column_length(spec, data, weight)?
            };
            longest = longest.max(count);
        }
        self.add_ops(longest.saturating_mul(weight))
    }

    fn add_ops(&mut self, ops: u64) -> Result<(), DocError> {
        self.seen.ops = self.seen.ops.saturating_add(ops);
        if self.seen.ops > self.limits.max_ops {
            return Err(DocError::Expands(format!(
                "the changes describe over {} operations",
                self.limits.max_ops
            )));
        }
        Ok(())
    }

    /// The number of values a column holds once its runs are expanded, stopping as soon as
    /// `weight` operations for each would cross the limit.
    fn column_length(&self, spec: u32, data: &[u8], weight: u64) -> Result<u64, DocError> {
        let limit = self.limits.max_ops.saturating_sub(self.seen.ops) / weight;
        let over = || {
            DocError::Expands(format!(
                "a column describes over {} operations",
                self.limits.max_ops
            ))
        };
        let mut i = Input(data);
        let mut count: u64 = 0;
        match spec & 0b111 {
            // Raw values: their lengths are in the value metadata column.
            7 => return Ok(0),
            // Booleans: alternating run lengths of false and true.
            4 => {
                while !i.0.is_empty() {
                    count = count.saturating_add(i.uleb()?);
                    if count > limit {
                        return Err(over());
                    }
                }
            }
            // Run-length encoded values: a positive count and one value repeated, a negative
            // count and that many literal values, or zero and a count of nulls.
            kind => {
                while !i.0.is_empty() {
                    let n = i.sleb()?;
                    let run = if n > 0 {
                        i.value(kind)?;
                        n.unsigned_abs()
                    } else if n < 0 {
                        let literals = n.unsigned_abs();
                        if literals > i.0.len() as u64 {
                            return Err(malformed("a literal run longer than its column"));
                        }
                        for _ in 0..literals {
                            i.value(kind)?;
                        }
                        literals
                    } else {
                        i.uleb()?
                    };
                    count = count.saturating_add(run);
                    if count > limit {
                        return Err(over());
                    }
                }
            }
        }
        Ok(count)
    }

    /// Inflates DEFLATE data into a buffer no larger than what is left of the limit.
    fn inflate(&mut self, data: &[u8]) -> Result<Vec<u8>, DocError> {
        let left = self
            .limits
            .max_inflated_bytes
            .saturating_sub(self.seen.inflated_bytes);
        let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(left));
        flate2::read::DeflateDecoder::new(data)
            .take(left as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| malformed(&format!("compressed data does not inflate: {e}")))?;
        if out.len() > left {
            return Err(DocError::Expands(format!(
                "compressed parts inflate to over {} bytes",
                self.limits.max_inflated_bytes
            )));
        }
        self.seen.inflated_bytes += out.len();
        Ok(out)
    }
}

/// Bytes still to read.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DocError> {
        if n > self.0.len() {
            return Err(malformed("the bytes end inside a chunk"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn uleb(&mut self) -> Result<u64, DocError> {
        let mut value: u64 = 0;
        for shift in (0..70).step_by(7) {
            let byte = self.take(1)?[0];
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(malformed("a number over 64 bits"));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(malformed("a number over 64 bits"))
    }

    fn sleb(&mut self) -> Result<i64, DocError> {
        let mut value: i64 = 0;
        let mut shift = 0u32;
        loop {
            let byte = self.take(1)?[0];
            if shift >= 64 {
                return Err(malformed("a number over 64 bits"));
            }
            value |= i64::from(byte & 0x7f).wrapping_shl(shift);
            shift += 7;
            if byte & 0x80 == 0 {
                if shift < 64 && byte & 0x40 != 0 {
                    value |= -1i64 << shift;
                }
                return Ok(value);
            }
        }
    }

    /// A count of items that take at least `min_bytes` each: never more than the bytes left.
    fn count(&mut self, min_bytes: usize) -> Result<usize, DocError> {
        let n = to_usize(self.uleb()?)?;
        if n.saturating_mul(min_bytes) > self.0.len() {
            return Err(malformed("a count of items longer than the bytes left"));
        }
        Ok(n)
    }

    /// A length-prefixed byte string.
    fn prefixed(&mut self) -> Result<&'a [u8], DocError> {
        let len = to_usize(self.uleb()?)?;
        self.take(len)
    }

    /// A count of change hashes and the hashes.
    fn hashes(&mut self) -> Result<(), DocError> {
        let n = self.count(HASH_BYTES)?;
        self.take(n * HASH_BYTES)?;
        Ok(())
    }

    /// A column layout: a count, then each column's specification and data length.
    fn columns(&mut self) -> Result<Vec<(u32, u64)>, DocError> {
        let n = self.count(2)?;
        let mut columns = Vec::with_capacity(n);
        for _ in 0..n {
            let spec = u32::try_from(self.uleb()?)
                .map_err(|_| malformed("a column specification over 32 bits"))?;
            let len = self.uleb()?;
            columns.push((spec, len));
        }
        Ok(columns)
    }

    /// One value of a run-length encoded column of type `kind`.
    fn value(&mut self, kind: u32) -> Result<(), DocError> {
        match kind {
            3 => self.sleb().map(drop),
            5 => self.prefixed().map(drop),
            _ => self.uleb().map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uleb(mut n: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn sleb(mut n: i64, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            let done = (n == 0 && byte & 0x40 == 0) || (n == -1 && byte & 0x40 != 0);
            if done {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn chunk(kind: u8, data: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[0; 4]);
        out.push(kind);
        uleb(data.len() as u64, &mut out);
        out.extend_from_slice(data);
        out
    }

    /// A change whose action column repeats one value `ops` times in a few bytes.
    fn run_length_bomb(ops: i64) -> Vec<u8> {
        let mut body = vec![0]; // no deps
        body.extend_from_slice(&[1, 0xab]); // actor
        body.extend_from_slice(&[1, 1, 0, 0, 0]); // seq, start op, time, message, others
        let mut column = Vec::new();
        sleb(ops, &mut column);
        uleb(1, &mut column);
        body.push(1); // one column
        uleb((34 << 4) | 2, &mut body); // action: an integer column
        uleb(column.len() as u64, &mut body);
        body.extend_from_slice(&column);
        chunk(1, &body)
    }

    #[test]
    fn numbers_round_trip() {
        for n in [0i64, 1, -1, 63, 64, -64, -65, i64::MAX, i64::MIN, 300, -300] {
            let mut b = Vec::new();
            sleb(n, &mut b);
            assert_eq!(Input(&b).sleb().unwrap(), n);
        }
        for n in [0u64, 1, 127, 128, u64::MAX] {
            let mut b = Vec::new();
            uleb(n, &mut b);
            assert_eq!(Input(&b).uleb().unwrap(), n);
        }
        assert!(Input(&[0xff; 11]).uleb().is_err());
        assert!(
            Input(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])
                .uleb()
                .is_err()
        );
    }

    #[test]
    fn a_run_length_bomb_is_refused_before_it_is_decoded() {
        let small = run_length_bomb(10);
        let seen = check_expansion(&small, &ExpansionLimits::DEFAULT).unwrap();
        assert_eq!(seen.ops, 10);
        let bomb = run_length_bomb(1 << 40);
        assert!(bomb.len() < 40);
        let e = check_expansion(&bomb, &ExpansionLimits::DEFAULT).unwrap_err();
        assert!(matches!(e, DocError::Expands(_)), "{e}");
    }

    #[test]
    fn a_deflate_bomb_is_refused_after_inflating_no_more_than_the_limit() {
        use std::io::Write;
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![0u8; 64 * 1024 * 1024]).unwrap();
        let compressed = enc.finish().unwrap();
        assert!(compressed.len() < 100_000);
        let e = check_expansion(&chunk(2, &compressed), &ExpansionLimits::DEFAULT).unwrap_err();
        assert!(matches!(e, DocError::Expands(_)), "{e}");
    }

    #[test]
    fn garbage_and_bundles_are_refused() {
        for bad in [
            &b"not automerge"[..],
            &MAGIC[..],
            &chunk(3, &[0])[..],
            &chunk(9, &[])[..],
        ] {
            assert!(matches!(
                check_expansion(bad, &ExpansionLimits::DEFAULT),
                Err(DocError::Corrupt(_))
            ));
        }
        let mut truncated = run_length_bomb(5);
        truncated.pop();
        assert!(check_expansion(&truncated, &ExpansionLimits::DEFAULT).is_err());
    }
}
