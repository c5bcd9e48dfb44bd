//! The mutator: a fuzz input is a [`Case`], either arbitrary bytes or a seed (a valid file)
//! changed by a few [`Op`]s. An `Op` is plain data (a kind and three numbers), so proptest can
//! generate and shrink it as well as the long run's seeded generator can draw it, and the same
//! case always gives the same bytes.
//!
//! Byte-level ops (bit flips, interesting values, chunks inserted, deleted, duplicated,
//! spliced, truncation) reach binary headers; token-level ops (numbers replaced by huge,
//! negative, NaN or 1e308 values, lines dropped or duplicated, strings replaced, words of the
//! format inserted) reach past the parsers of the text formats, which random bytes rarely do.

/// Bytes that break parsers and sizes: zero, one, sign boundaries, all ones, digits, quotes,
/// separators and brackets.
const BYTES: &[u8] = &[0, 1, 0x7f, 0x80, 0xff, 0xfe, b'0', b'9', b'-', b'"', b',', b'\n', b'{', b'[', b'.', b'='];

/// 32-bit values for sizes and counts: limits of the format (100,000 images, 4,096 sides) and
/// their neighbours, powers of two, sign boundaries.
const WORDS: &[u32] =
    &[0, 1, 2, 28, 255, 256, 4096, 4097, 65535, 65536, 100_000, 100_001, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff];

/// Replacements for a number in a text file: huge, negative, not a number, out of every
/// integer type's range, and ordinary.
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "-0",
    "1",
    "3",
    "1e308",
    "-1e308",
    "1e-320",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "0.5",
    "1.5",
    "255",
    "256",
    "65536",
    "100001",
    "99999999",
    "1000000000000",
    "2147483648",
    "4294967296",
    "9223372036854775807",
    "18446744073709551616",
    "1e400",
    "0x10",
];

/// Replacements for a string's contents: empty, paths that leave a directory or name
/// devices, names of the formats' values, and a long one.
const STRINGS: &[&str] = &[
    "",
    "..",
    "../..",
    "/",
    "/dev/zero",
    ".",
    "members/0",
    "members/0/..",
    "same",
    "valid",
    "relu",
    "softmax",
    "linear",
    "adam",
    "sgd",
    "cosine",
    "one-cycle",
    "mlp-64-64",
    "fast",
    "dense",
    "conv2d",
    "flatten",
    "F32",
    "F64",
    "val_loss",
    "\u{1b}[31m",
    "\\u0000",
];

/// What an [`Op`] does; `at`, `len` and `value` are its arguments, reduced into range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    FlipBit,
    SetByte,
    SetWord,
    Insert,
    Delete,
    Duplicate,
    Repeat,
    Splice,
    Truncate,
    Number,
    DropLine,
    DuplicateLine,
    SwapLines,
    String,
    Word,
}

/// Every kind, for drawing one by index.
pub const KINDS: &[Kind] = &[
    Kind::FlipBit,
    Kind::SetByte,
    Kind::SetWord,
    Kind::Insert,
    Kind::Delete,
    Kind::Duplicate,
    Kind::Repeat,
    Kind::Splice,
    Kind::Truncate,
    Kind::Number,
    Kind::DropLine,
    Kind::DuplicateLine,
    Kind::SwapLines,
    Kind::String,
    Kind::Word,
];

/// The kinds that keep text text (and mostly keep its syntax).
pub const TEXT_KINDS: &[Kind] = &[
    Kind::Number,
    Kind::Number,
    Kind::String,
    Kind::Word,
    Kind::DropLine,
    Kind::DuplicateLine,
    Kind::SwapLines,
    Kind::Delete,
    Kind::Duplicate,
    Kind::Truncate,
    Kind::Splice,
];

/// One mutation: a kind and three free numbers (position, length, value) that it reduces into
/// range, so any four numbers are a valid op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op {
    pub kind: Kind,
    pub at: u32,
    pub len: u32,
    pub value: u64,
}

/// A fuzz input before it is made into bytes: `seed` (an index into the target's seeds) changed
/// by `ops`, or, without a seed, `raw` as it is. `variant` lets a target vary how it presents
/// the bytes (file name, compression).
#[derive(Clone, Debug)]
pub struct Case {
    pub seed: Option<usize>,
    pub raw: Vec<u8>,
    pub ops: Vec<Op>,
    pub variant: u32,
}

impl Case {
    /// The seed this case starts from (its raw bytes when it has none).
    pub fn start<'a>(&'a self, seeds: &'a [Vec<u8>]) -> &'a [u8] {
        match self.seed {
            Some(i) if !seeds.is_empty() => &seeds[i % seeds.len()],
            _ => &self.raw,
        }
    }

    /// `data` changed by the case's ops, at most `max_len` long (see [`apply`]).
    pub fn mutate(
        &self,
        mut data: Vec<u8>,
        seeds: &[Vec<u8>],
        words: &[Vec<u8>],
        text: bool,
        max_len: usize,
    ) -> Vec<u8> {
        for op in &self.ops {
            apply(&mut data, op, seeds, words, text, max_len);
        }
        data.truncate(max_len);
        data
    }
}

/// A small seeded generator (SplitMix64) for the long run: fast, and the same on every machine.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A case for a target with `seeds`: one in 16 arbitrary bytes (up to 4 KiB), else a seed
    /// with one to eight ops, fewer more often; for a text format, two ops in three are of the
    /// kinds that keep it text.
    pub fn case(&mut self, seeds: usize, text: bool) -> Case {
        let variant = self.next() as u32;
        if seeds == 0 || self.below(16) == 0 {
            let len = if self.below(2) == 0 { self.below(64) } else { self.below(4096) } as usize;
            let raw = (0..len).map(|_| self.next() as u8).collect();
            return Case { seed: None, raw, ops: Vec::new(), variant };
        }
        let n = 1 + self.below(8).min(self.below(8)) as usize;
        let ops = (0..n)
            .map(|_| Op {
                kind: if text && self.below(3) > 0 {
                    TEXT_KINDS[self.below(TEXT_KINDS.len() as u64) as usize]
                } else {
                    KINDS[self.below(KINDS.len() as u64) as usize]
                },
                at: self.next() as u32,
                len: self.next() as u32,
                value: self.next(),
            })
            .collect();
        Case { seed: Some(self.below(seeds as u64) as usize), raw: Vec::new(), ops, variant }
    }
}

/// A chunk length for `data`: mostly short, sometimes up to the whole input.
fn chunk_len(data: &[u8], len: u32) -> usize {
    let cap = if len & 1 == 0 { 16 } else { data.len().max(1) };
    1 + (len as usize >> 1) % cap
}

/// Applies `op` to `data`, never growing it past `max_len`. For a `text` format, bit flips and
/// inserted bytes stay ASCII and 32-bit values are written as decimal numbers, unless the op's
/// value has its top bit set.
pub fn apply(data: &mut Vec<u8>, op: &Op, seeds: &[Vec<u8>], words: &[Vec<u8>], text: bool, max_len: usize) {
    let at = |n: usize| if n == 0 { 0 } else { op.at as usize % n };
    let v = op.value;
    let text = text && v >> 63 == 0;
    match op.kind {
        Kind::FlipBit if !data.is_empty() => {
            let i = at(data.len());
            data[i] ^= 1 << (v % if text { 7 } else { 8 });
        }
        Kind::SetWord if text => {
            let word = WORDS[(v >> 9) as usize % WORDS.len()].to_string();
            replace_token(data, op.at, is_number_byte, word.as_bytes());
        }
        Kind::SetByte if !data.is_empty() => {
            let i = at(data.len());
            data[i] = BYTES[v as usize % BYTES.len()];
        }
        Kind::SetWord if data.len() >= 4 => {
            let i = at(data.len() - 3);
            set_word(data, i, v);
        }
        Kind::Insert => {
            let byte = |k: usize| (v.rotate_right(8 * (k % 8) as u32) ^ (k as u64 >> 3)) as u8;
            let bytes: Vec<u8> =
                (0..chunk_len(data, op.len)).map(|k| if text { 32 + byte(k) % 95 } else { byte(k) }).collect();
            let i = at(data.len() + 1);
            data.splice(i..i, bytes);
        }
        Kind::Delete if !data.is_empty() => {
            let i = at(data.len());
            let end = (i + chunk_len(data, op.len)).min(data.len());
            data.drain(i..end);
        }
        Kind::Duplicate | Kind::Repeat if !data.is_empty() => {
            let i = at(data.len());
            let chunk = data[i..(i + chunk_len(data, op.len)).min(data.len())].to_vec();
            let times = if op.kind == Kind::Repeat { 2 + (v % 1000) as usize } else { 1 };
            let room = max_len.saturating_sub(data.len()) / chunk.len();
            let copies: Vec<u8> = chunk.iter().copied().cycle().take(chunk.len() * times.min(room)).collect();
            let to = (v >> 16) as usize % (data.len() + 1);
            data.splice(to..to, copies);
        }
        Kind::Splice if !seeds.is_empty() => {
            let other = &seeds[v as usize % seeds.len()];
            let from = (op.len as usize) % (other.len() + 1);
            data.truncate(at(data.len() + 1));
            data.extend_from_slice(&other[from..]);
        }
        Kind::Truncate => data.truncate(at(data.len() + 1)),
        Kind::Number => replace_token(data, op.at, is_number_byte, NUMBERS[v as usize % NUMBERS.len()].as_bytes()),
        Kind::DropLine | Kind::DuplicateLine | Kind::SwapLines => lines(data, op),
        Kind::String => replace_string(data, op.at, v),
        Kind::Word if !words.is_empty() => {
            let word = &words[v as usize % words.len()];
            let i = at(data.len() + 1);
            data.splice(i..i, word.iter().copied());
        }
        _ => {}
    }
    data.truncate(max_len);
}

/// Writes one of [`WORDS`] (or `v` itself), big- or little-endian, at `i`; or a 64-bit
/// little-endian value (safetensors' header length).
fn set_word(data: &mut [u8], i: usize, v: u64) {
    let word = if v & 0x100 == 0 { WORDS[(v >> 9) as usize % WORDS.len()] } else { (v >> 32) as u32 };
    match v % 3 {
        0 => data[i..i + 4].copy_from_slice(&word.to_be_bytes()),
        1 => data[i..i + 4].copy_from_slice(&word.to_le_bytes()),
        _ if data.len() >= i + 8 => data[i..i + 8].copy_from_slice(&u64::from(word).to_le_bytes()),
        _ => {}
    }
}

fn is_number_byte(b: u8) -> bool {
    b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E')
}

/// Replaces the `nth` (modulo their count) run of bytes that start with a digit and continue
/// while `part` holds, by `with`.
fn replace_token(data: &mut Vec<u8>, nth: u32, part: fn(u8) -> bool, with: &[u8]) {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < data.len() {
        if data[i].is_ascii_digit() {
            let start = i;
            while i < data.len() && part(data[i]) {
                i += 1;
            }
            runs.push(start..i);
        } else {
            i += 1;
        }
    }
    if !runs.is_empty() {
        let run = runs[nth as usize % runs.len()].clone();
        data.splice(run, with.iter().copied());
    }
}

/// Replaces the contents of the `nth` (modulo their count) double-quoted string by one of
/// [`STRINGS`] or, for a few values, by a long run of one letter.
fn replace_string(data: &mut Vec<u8>, nth: u32, v: u64) {
    let quotes: Vec<usize> = data.iter().enumerate().filter(|(_, b)| **b == b'"').map(|(i, _)| i).collect();
    if quotes.len() < 2 {
        return;
    }
    let k = (nth as usize % (quotes.len() / 2)) * 2;
    let (a, b) = (quotes[k] + 1, quotes[k + 1]);
    let with: Vec<u8> = if v.is_multiple_of(32) {
        vec![b'x'; 70_000]
    } else {
        STRINGS[(v >> 5) as usize % STRINGS.len()].as_bytes().to_vec()
    };
    data.splice(a..b, with);
}

/// Drops, duplicates or swaps lines (a key of a TOML or JSON file is usually one line).
fn lines(data: &mut Vec<u8>, op: &Op) {
    let mut lines: Vec<Vec<u8>> = data.split_inclusive(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    if lines.is_empty() {
        return;
    }
    let i = op.at as usize % lines.len();
    let j = op.value as usize % lines.len();
    match op.kind {
        Kind::DropLine => {
            lines.remove(i);
        }
        Kind::DuplicateLine => {
            let line = lines[i].clone();
            lines.insert(j, line);
        }
        _ => lines.swap(i, j),
    }
    *data = lines.concat();
}

/// The words of the seeds (runs of letters, `_` and `-`, with their quotes when quoted) and a
/// few separators, for [`Kind::Word`].
pub fn words_of(seeds: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut words: Vec<Vec<u8>> = Vec::new();
    for seed in seeds {
        let mut i = 0;
        while i < seed.len() {
            if seed[i].is_ascii_alphabetic() || seed[i] == b'_' {
                let start = i;
                while i < seed.len() && (seed[i].is_ascii_alphanumeric() || matches!(seed[i], b'_' | b'-')) {
                    i += 1;
                }
                let quoted = start > 0 && seed[start - 1] == b'"' && seed.get(i) == Some(&b'"');
                let range = if quoted { start - 1..i + 1 } else { start..i };
                if range.len() <= 40 && !words.iter().any(|w| w[..] == seed[range.clone()]) {
                    words.push(seed[range].to_vec());
                }
            } else {
                i += 1;
            }
        }
    }
    words.truncate(512);
    for w in [&b"["[..], b"]", b"{", b"}", b",", b":", b"=", b"\"", b"\n", b" = { ", b"[[layers]]\n"] {
        words.push(w.to_vec());
    }
    words
}
