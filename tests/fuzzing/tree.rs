//! Structure-aware mutation of JSON and TOML files: the seed is parsed into a tree, the case's
//! ops change values (numbers out of every range, strings of other meanings, values of the
//! wrong type, keys dropped, added or repeated, array elements repeated) and the tree is
//! written back. The result always parses, so it reaches the loaders' checks of meaning, which
//! byte-level mutation of text mostly does not get past the parser to reach.

use super::mutate::{Kind, Op};
use serde_json::{Map, Number, Value};

/// The format of a text seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Toml,
}

/// `seed` parsed, changed by `ops` and written back; `None` when the seed does not parse or
/// the result cannot be written in the format (e.g. a TOML file that is no longer a table).
/// With `inner`, the ops change the JSON held in the tree's first string that holds an
/// object, instead of the tree itself.
pub fn mutate(seed: &[u8], format: Format, ops: &[Op], words: &[Vec<u8>], inner: bool) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(seed).ok()?;
    let mut tree: Value = match format {
        Format::Json => serde_json::from_str(text).ok()?,
        Format::Toml => toml::from_str(text).ok()?,
    };
    if inner {
        let s = nested(&mut tree)?;
        let mut inside: Value = serde_json::from_str(s).ok()?;
        ops.iter().for_each(|op| apply(&mut inside, op, words));
        *s = serde_json::to_string(&inside).ok()?;
    } else {
        ops.iter().for_each(|op| apply(&mut tree, op, words));
    }
    match format {
        Format::Json => serde_json::to_vec_pretty(&tree).ok(),
        Format::Toml => toml::to_string(&tree).ok().map(String::into_bytes),
    }
}

/// Numbers past every range the formats' fields have: negative, zero, huge, tiny, fractional
/// where whole numbers are expected, the edges of i64 and u64.
fn number(v: u64) -> Value {
    let n = match v % 14 {
        0 => Number::from(0),
        1 => Number::from(-1),
        2 => Number::from(1),
        3 => Number::from(u64::MAX),
        4 => Number::from(i64::MIN),
        5 => Number::from(1u64 << 32),
        6 => Number::from(100_001),
        7 => Number::from(1_000_000_000_000u64),
        8 => Number::from_f64(1e308).expect("finite"),
        9 => Number::from_f64(-1e308).expect("finite"),
        10 => Number::from_f64(1e-320).expect("finite"),
        11 => Number::from_f64(0.5).expect("finite"),
        12 => Number::from(i64::MAX),
        _ => Number::from((v >> 8) % 100_000),
    };
    Value::Number(n)
}

/// A value of another type or meaning.
fn other(v: u64, words: &[Vec<u8>]) -> Value {
    let word = || {
        words
            .get((v >> 8) as usize % words.len().max(1))
            .map(|w| String::from_utf8_lossy(w).trim_matches('"').to_string())
    };
    match v % 8 {
        0 => Value::Bool(v & 0x100 != 0),
        1 => Value::Array(Vec::new()),
        2 => Value::Object(Map::new()),
        3 => Value::String(String::new()),
        4 => Value::String("../..".into()),
        5 => Value::String("x".repeat(70_000)),
        6 => Value::Array(vec![number(v >> 8); 3]),
        _ => Value::String(word().unwrap_or_default()),
    }
}

/// How many values the tree holds (itself included).
fn count(tree: &Value) -> usize {
    1 + match tree {
        Value::Array(a) => a.iter().map(count).sum(),
        Value::Object(o) => o.values().map(count).sum(),
        _ => 0,
    }
}

/// The value number `n` of the tree, in pre-order (`n < count(tree)`).
fn nth(tree: &mut Value, n: usize) -> &mut Value {
    fn walk<'a>(v: &'a mut Value, n: &mut usize) -> Option<&'a mut Value> {
        if *n == 0 {
            return Some(v);
        }
        *n -= 1;
        match v {
            Value::Array(a) => a.iter_mut().find_map(|c| walk(c, n)),
            Value::Object(o) => o.values_mut().find_map(|c| walk(c, n)),
            _ => None,
        }
    }
    walk(tree, &mut { n }).expect("n < count(tree)")
}

/// The first string of the tree that holds a JSON object (a checkpoint's training state).
fn nested(tree: &mut Value) -> Option<&mut String> {
    match tree {
        Value::String(s) if s.starts_with('{') && serde_json::from_str::<Map<String, Value>>(s).is_ok() => Some(s),
        Value::Array(a) => a.iter_mut().find_map(nested),
        Value::Object(o) => o.values_mut().find_map(nested),
        _ => None,
    }
}

/// Applies one op to a value of the tree that `op.at` picks.
fn apply(tree: &mut Value, op: &Op, words: &[Vec<u8>]) {
    let size = count(tree);
    let donor = nth(tree, op.len as usize % size).clone();
    let target = nth(tree, op.at as usize % size);
    let v = op.value;
    match op.kind {
        Kind::Number | Kind::SetWord | Kind::FlipBit => *target = number(v),
        Kind::String | Kind::SetByte | Kind::Insert => *target = other(v, words),
        Kind::DropLine | Kind::Delete | Kind::Truncate => match target {
            Value::Object(o) if !o.is_empty() => {
                let key = o.keys().nth(v as usize % o.len()).expect("in range").clone();
                o.remove(&key);
            }
            Value::Array(a) if !a.is_empty() => {
                a.remove(v as usize % a.len());
            }
            t => *t = Value::Null,
        },
        Kind::DuplicateLine | Kind::Duplicate | Kind::Repeat => {
            if let Value::Array(a) = target
                && !a.is_empty()
            {
                let e = a[v as usize % a.len()].clone();
                let times = if op.kind == Kind::Repeat { (v >> 16) as usize % 300 } else { 1 };
                a.extend(std::iter::repeat_n(e, times));
            }
        }
        Kind::Word => {
            if let Value::Object(o) = target {
                let key = words
                    .get(v as usize % words.len().max(1))
                    .map(|w| String::from_utf8_lossy(w).trim_matches('"').to_string());
                o.insert(key.unwrap_or_default(), donor);
            }
        }
        Kind::SwapLines | Kind::Splice => *target = donor,
    }
}
