//! A gzip member per WARC record (`warc.rs`), each a fresh deflate stream, as WARC readers
//! expect: a record can be read from its offset alone.
//!
//! Most records are small (W3's are 0.5 and 1 KB), and what a fresh stream costs matters more
//! than the compression: zlib-rs zeroes a 128 KiB hash table on every reset, two of them an
//! item, which took a third of its time on such records. So a record under 64 KiB goes
//! through [`Quick`]: the algorithm of zlib's level 1 (`deflate_quick`: one hash probe a
//! position, the fixed Huffman codes of RFC 1951 §3.2.6, one block) with a hash table sized
//! to the record, or a stored block where that would be smaller. Measured on W3's records:
//! 3.7 µs an item against zlib-rs's 9-10 µs at level 1, 1126 bytes against 1120. Larger
//! records go to zlib-rs's level 1, whose reset is then small beside the work.
//!
//! It only compresses: reading (`warc.rs`'s scan) is flate2's.

use std::cell::RefCell;
use std::io::{self, Read, Write};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// The largest record [`Quick`] takes: what one stored block holds, its fallback.
const QUICK_MAX: usize = u16::MAX as usize;

/// Appends `record` to `out` as one gzip member.
pub(super) fn member(out: &mut Vec<u8>, record: &[u8]) -> io::Result<()> {
    thread_local! {
        static QUICK: RefCell<Quick> = RefCell::new(Quick::default());
        static DEFLATE: RefCell<Compress> = RefCell::new(Compress::new(Compression::fast(), false));
    }
    // The gzip header: deflate, no name or time, unknown OS.
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    if record.len() <= QUICK_MAX {
        QUICK.with_borrow_mut(|quick| quick.deflate(record, out));
    } else {
        DEFLATE.with_borrow_mut(|deflate| {
            deflate.reset();
            loop {
                out.reserve(record.len() / 2 + 64);
                let input = &record[deflate.total_in() as usize..];
                match deflate.compress_vec(input, out, FlushCompress::Finish) {
                    Ok(Status::StreamEnd) => return Ok(()),
                    Ok(_) => {}
                    Err(e) => return Err(io::Error::other(e)),
                }
            }
        })?;
    }
    let mut crc = Crc::new();
    crc.update(record);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(record.len() as u32).to_le_bytes());
    Ok(())
}

/// Writes `head`, all of `body` and `tail` to `out` as one gzip member, through zlib-rs's
/// level 1, holding a chunk at a time: for bodies too large to hold whole.
pub(super) fn member_streamed(
    out: &mut impl Write,
    head: &[u8],
    body: &mut impl Read,
    tail: &[u8],
) -> io::Result<()> {
    const CHUNK: usize = 256 * 1024;
    let mut deflate = Compress::new(Compression::fast(), false);
    let mut crc = Crc::new();
    let mut input = Vec::with_capacity(CHUNK);
    let mut output = Vec::with_capacity(CHUNK);
    out.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])?;
    let mut feed = |input: &[u8], flush: FlushCompress| -> io::Result<()> {
        crc.update(input);
        let start = deflate.total_in();
        loop {
            output.clear();
            let done = (deflate.total_in() - start) as usize;
            let status = deflate
                .compress_vec(&input[done..], &mut output, flush)
                .map_err(io::Error::other)?;
            out.write_all(&output)?;
            let consumed = (deflate.total_in() - start) as usize == input.len();
            match (flush, status) {
                (FlushCompress::Finish, Status::StreamEnd) => return Ok(()),
                (FlushCompress::None, _) if consumed => return Ok(()),
                _ => {}
            }
        }
    };
    feed(head, FlushCompress::None)?;
    loop {
        input.resize(CHUNK, 0);
        let read = body.read(&mut input)?;
        if read == 0 {
            break;
        }
        feed(&input[..read], FlushCompress::None)?;
    }
    feed(tail, FlushCompress::Finish)?;
    out.write_all(&crc.sum().to_le_bytes())?;
    out.write_all(&(crc.amount()).to_le_bytes())?;
    Ok(())
}

/// Deflate for inputs of at most 64 KiB: greedy matches from one hash probe a position, coded
/// with the fixed Huffman codes in one final block. Keeps its hash table between inputs.
#[derive(Debug, Default)]
pub(super) struct Quick {
    /// The last position + 1 (0: none) at which each hash of 4 bytes was seen.
    table: Vec<u32>,
}

/// The farthest a match may reach back, and its longest length (RFC 1951).
const WINDOW: usize = 32 * 1024;
const MAX_MATCH: usize = 258;

impl Quick {
    /// Appends `input` (at most 64 KiB) as a raw deflate stream to `out`.
    pub(super) fn deflate(&mut self, input: &[u8], out: &mut Vec<u8>) {
        assert!(input.len() <= QUICK_MAX, "Quick takes at most 64 KiB");
        let start = out.len();
        // A table of about one entry per input byte, 256 to 32768 entries.
        let bits = (usize::BITS - input.len().leading_zeros()).clamp(8, 15);
        self.table.clear();
        self.table.resize(1 << bits, 0);
        let mut writer = Bits::new(out);
        writer.put(0b011, 3); // The final block (1), fixed codes (01).
        let mut at = 0;
        while at + 4 <= input.len() {
            let word = read_u32(input, at);
            let slot = &mut self.table[(word.wrapping_mul(0x9e37_79b1) >> (32 - bits)) as usize];
            let seen = std::mem::replace(slot, at as u32 + 1) as usize;
            if seen != 0 && at - (seen - 1) <= WINDOW && read_u32(input, seen - 1) == word {
                let from = seen - 1;
                let longest = MAX_MATCH.min(input.len() - at);
                let mut len = 4;
                while len < longest && input[from + len] == input[at + len] {
                    len += 1;
                }
                writer.put_match(len, at - from);
                at += len;
            } else {
                writer.put_literal(input[at]);
                at += 1;
            }
        }
        for &byte in &input[at..] {
            writer.put_literal(byte);
        }
        writer.put_literal_code(END_OF_BLOCK);
        writer.finish();
        // Incompressible input (already compressed bodies): a stored block instead, 5 bytes
        // more than the input rather than up to 12.5%.
        if out.len() - start > input.len() + 5 {
            let len = input.len() as u16;
            out.truncate(start);
            out.push(1); // The final block (1), stored (00).
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&(!len).to_le_bytes());
            out.extend_from_slice(input);
        }
    }
}

fn read_u32(input: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(input[at..at + 4].try_into().expect("4 bytes"))
}

const END_OF_BLOCK: usize = 256;

/// Huffman codes are sent from their first bit, the stream's bits from the lowest.
const fn reversed(code: u32, len: u32) -> u32 {
    code.reverse_bits() >> (32 - len)
}

/// The fixed code of literal/length symbol `symbol`, reversed, and its length (RFC 1951
/// §3.2.6).
const fn fixed_code(symbol: usize) -> (u32, u32) {
    let s = symbol as u32;
    match symbol {
        0..=143 => (reversed(0x30 + s, 8), 8),
        144..=255 => (reversed(0x190 + s - 144, 9), 9),
        256..=279 => (reversed(s - 256, 7), 7),
        _ => (reversed(0xc0 + s - 280, 8), 8),
    }
}

/// Every literal/length symbol's fixed code.
const LITERALS: [(u32, u32); 288] = {
    let mut table = [(0, 0); 288];
    let mut symbol = 0;
    while symbol < 288 {
        table[symbol] = fixed_code(symbol);
        symbol += 1;
    }
    table
};

/// For each match length - 3 (0..=255): its length symbol's code followed by the extra bits,
/// and their total length (RFC 1951 §3.2.5). 258 has a symbol of its own, 285.
const LENGTHS: [(u32, u32); 256] = {
    let mut table = [(0, 0); 256];
    let mut x = 0;
    while x < 256 {
        let (symbol, extra_len, extra) = if x == 255 {
            (285, 0, 0)
        } else if x < 8 {
            (257 + x, 0, 0)
        } else {
            // Four symbols per power of two, each with log2(x) - 2 extra bits.
            let log = 31 - (x as u32).leading_zeros();
            let symbol = 257 + 4 * (log as usize - 1) + ((x >> (log - 2)) & 3);
            (symbol, log - 2, x as u32 & ((1 << (log - 2)) - 1))
        };
        let (code, len) = fixed_code(symbol);
        table[x] = (code | extra << len, len + extra_len);
        x += 1;
    }
    table
};

/// A little-endian bit writer.
struct Bits<'a> {
    out: &'a mut Vec<u8>,
    pending: u64,
    count: u32,
}

impl<'a> Bits<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        Self {
            out,
            pending: 0,
            count: 0,
        }
    }

    /// Sends the low `len` (at most 32) bits of `bits`.
    #[inline(always)]
    fn put(&mut self, bits: u32, len: u32) {
        self.pending |= u64::from(bits) << self.count;
        self.count += len;
        if self.count >= 32 {
            self.out
                .extend_from_slice(&(self.pending as u32).to_le_bytes());
            self.pending >>= 32;
            self.count -= 32;
        }
    }

    #[inline(always)]
    fn put_literal_code(&mut self, symbol: usize) {
        let (code, len) = LITERALS[symbol];
        self.put(code, len);
    }

    #[inline(always)]
    fn put_literal(&mut self, byte: u8) {
        self.put_literal_code(usize::from(byte));
    }

    /// A match of `len` (3..=258) bytes `distance` (1..=32768) back.
    #[inline(always)]
    fn put_match(&mut self, len: usize, distance: usize) {
        let (code, code_len) = LENGTHS[len - 3];
        self.put(code, code_len);
        // Distance codes are 5 bits; two per power of two, with log2(d - 1) - 1 extra bits.
        let x = (distance - 1) as u32;
        if x < 4 {
            self.put(reversed(x, 5), 5);
        } else {
            let log = 31 - x.leading_zeros();
            let code = 2 * log + ((x >> (log - 1)) & 1);
            let extra = x & ((1 << (log - 1)) - 1);
            self.put(reversed(code, 5) | extra << 5, 5 + log - 1);
        }
    }

    /// Sends what is left, padded to a byte.
    fn finish(self) {
        let bytes = self.count.div_ceil(8) as usize;
        self.out
            .extend_from_slice(&self.pending.to_le_bytes()[..bytes]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn inflate(deflated: &[u8]) -> Vec<u8> {
        let mut back = Vec::new();
        flate2::read::DeflateDecoder::new(deflated)
            .read_to_end(&mut back)
            .unwrap();
        back
    }

    /// Inputs of every kind: text, few symbols (long matches), random bytes, runs, matches
    /// from up to 40,000 bytes back (past the window), lengths from 0 to 64 KiB.
    fn inputs() -> impl Iterator<Item = Vec<u8>> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(15);
        (0..3000).map(move |i| {
            let len = match i % 4 {
                0 => rng.random_range(0..=QUICK_MAX),
                _ => rng.random_range(0..3000),
            };
            let alphabet = rng.random_range(1..=256u32);
            let mut input = Vec::with_capacity(len);
            while input.len() < len {
                if input.len() > 8 && rng.random_ratio(1, 4) {
                    let back = rng.random_range(1..=input.len().min(40_000));
                    for _ in 0..rng.random_range(1..300).min(len - input.len()) {
                        input.push(input[input.len() - back]);
                    }
                } else {
                    input.push(rng.random_range(0..alphabet) as u8);
                }
            }
            input
        })
    }

    #[test]
    fn quick_round_trips_through_inflate() {
        let mut quick = Quick::default();
        let mut out = Vec::new();
        for input in inputs() {
            out.clear();
            quick.deflate(&input, &mut out);
            assert!(
                out.len() <= input.len() + 5,
                "never more than a stored block"
            );
            assert!(inflate(&out) == input, "{} bytes", input.len());
        }
        for input in [
            &b""[..],
            b"a",
            b"abcabcabcabc",
            &[0; QUICK_MAX],
            &[7; 258 + 4],
        ] {
            out.clear();
            quick.deflate(input, &mut out);
            assert_eq!(inflate(&out), input);
        }
    }

    #[test]
    fn quick_compresses_text_and_stores_noise() {
        let text =
            b"{\"month\":\"1\",\"num\":3,\"link\":\"\",\"year\":\"2006\",\"news\":\"\"}".repeat(20);
        let mut out = Vec::new();
        Quick::default().deflate(&text, &mut out);
        assert!(
            out.len() < text.len() / 5,
            "{} of {}",
            out.len(),
            text.len()
        );
        let noise: Vec<u8> = (0..5000).map(|_| rand::random()).collect();
        out.clear();
        Quick::default().deflate(&noise, &mut out);
        assert_eq!(out.len(), noise.len() + 5, "a stored block");
        assert_eq!(out[0], 1);
    }

    #[test]
    fn streamed_members_are_gzip() {
        let body: Vec<u8> = (0..1_000_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for body in [&body[..], b"", b"x"] {
            let mut out = Vec::new();
            member_streamed(&mut out, b"head ", &mut &body[..], b" tail").unwrap();
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&out[..])
                .read_to_end(&mut back)
                .unwrap();
            assert!(
                back == [&b"head "[..], body, b" tail"].concat(),
                "{}",
                body.len()
            );
        }
    }

    #[test]
    fn members_of_any_size_are_gzip() {
        let mut out = Vec::new();
        let large: Vec<u8> = b"0123456789".repeat(20_000);
        for record in [&b"WARC/1.1\r\n\r\n"[..], &large, b""] {
            out.clear();
            member(&mut out, record).unwrap();
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&out[..])
                .read_to_end(&mut back)
                .unwrap();
            assert!(back == record);
        }
    }
}
