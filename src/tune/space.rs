//! The search-space file: which hyper-parameters to tune, their ranges, and which model builder
//! turns a set of values into a model and its training settings.
//!
//! ```toml
//! model = "cnn"                                   # builder: "cnn" or "mlp"
//!
//! [params]
//! blocks      = { int = [1, 3] }                  # integers lo..=hi (optional `step`)
//! filters_1   = { choice = [16, 32, 64] }
//! filters_2   = { choice = [32, 64], when = "blocks >= 2" }   # only drawn when the condition holds
//! dropout     = { float = [0.0, 0.5] }            # uniform in [lo, hi]
//! lr          = { float = [1e-4, 1e-2], log = true }          # log-uniform
//! optimizer   = { choice = ["adam", "rmsprop"] }
//! ```
//!
//! Every parameter is drawn from its own random stream, derived from the tuning seed, the trial
//! number and the parameter's name, so a trial's values depend neither on the order of the
//! file nor on the other parameters, nor on which trials ran before or beside it.

use crate::Error;
use crate::engine::{Activation, Padding};
use crate::model::{LayerSpec, ModelSpec};
use crate::optim::OptimizerConfig;
use crate::rng::Rng;
use crate::train::TrainConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// One hyper-parameter value as it appears in the space file and the results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Value {
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            // f64's Display is the shortest text that reads back to the same number.
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => write!(f, "{s}"),
        }
    }
}

/// The values of one trial: active parameters only, by name.
pub type Params = BTreeMap<String, Value>;

/// The parameters on one line, numbers shortened (the records keep them exactly).
pub fn params_text(p: &Params) -> String {
    let short = |v: &Value| match v {
        Value::Float(x) if *x != 0.0 && x.abs() < 0.01 => format!("{x:.3e}"),
        Value::Float(x) => format!("{x:.4}"),
        v => v.to_string(),
    };
    p.iter().map(|(k, v)| format!("{k}={}", short(v))).collect::<Vec<_>>().join(" ")
}

/// How a parameter is drawn (exactly one of `choice`, `int`, `float`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub int: Option<[i64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub float: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub log: bool,
    /// A condition on another parameter, `"NAME OP VALUE"` with OP one of `==`, `!=`, `<`,
    /// `<=`, `>`, `>=`: the parameter exists only in trials where it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
}

/// Which builder makes the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Builder {
    /// `blocks` × (Conv2D `filters_<i>` `kernel_size`×`kernel_size` same relu, MaxPool 2,
    /// BatchNorm if `batch_norm`, Dropout `conv_dropout`), Flatten, Dense `dense_units` relu,
    /// Dropout `dropout`, Dense 10 softmax.
    Cnn,
    /// Flatten, `layers` × (Dense `units_<i>` relu, BatchNorm if `batch_norm`, Dropout
    /// `dropout`), Dense 10 softmax.
    Mlp,
}

/// A whole search-space file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Space {
    pub model: Builder,
    pub params: BTreeMap<String, ParamSpec>,
}

/// Training parameters every builder understands.
const TRAINING: &[&str] = &["lr", "batch_size", "optimizer"];
const CNN: &[&str] = &["blocks", "kernel_size", "batch_norm", "conv_dropout", "dense_units", "dropout"];
const MLP: &[&str] = &["layers", "batch_norm", "dropout"];
/// The most conv blocks a 28×28 input allows (each halves the side: 28, 14, 7, 3, 1).
const MAX_BLOCKS: i64 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed `when` condition.
#[derive(Clone, Debug, PartialEq)]
struct Condition {
    name: String,
    op: Op,
    value: Value,
}

impl Condition {
    fn parse(text: &str) -> Result<Condition, Error> {
        const OPS: [(&str, Op); 6] =
            [("==", Op::Eq), ("!=", Op::Ne), ("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)];
        let bad =
            || Error::Invalid(format!("condition `{text}` is not of the form \"NAME OP VALUE\" (OP: == != < <= > >=)"));
        let (at, sym, op) = OPS
            .iter()
            .filter_map(|&(sym, op)| text.find(sym).map(|at| (at, sym, op)))
            .min_by_key(|&(at, sym, _)| (at, std::cmp::Reverse(sym.len())))
            .ok_or_else(bad)?;
        let name = text[..at].trim();
        let literal = text[at + sym.len()..].trim();
        if name.is_empty() || literal.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad());
        }
        let value = if let Ok(i) = literal.parse::<i64>() {
            Value::Int(i)
        } else if let Ok(f) = literal.parse::<f64>() {
            Value::Float(f)
        } else if literal == "true" || literal == "false" {
            Value::Bool(literal == "true")
        } else {
            Value::Str(literal.trim_matches(|c| c == '"' || c == '\'').to_string())
        };
        if matches!(value, Value::Str(_) | Value::Bool(_)) && !matches!(op, Op::Eq | Op::Ne) {
            return Err(Error::Invalid(format!("condition `{text}`: only == and != apply to text and true/false")));
        }
        Ok(Condition { name: name.to_string(), op, value })
    }

    fn holds(&self, v: &Value) -> bool {
        let ord = match (v.as_f64(), self.value.as_f64()) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ if *v == self.value => Some(std::cmp::Ordering::Equal),
            _ => None,
        };
        use std::cmp::Ordering::*;
        match (self.op, ord) {
            (Op::Eq, o) => o == Some(Equal),
            (Op::Ne, o) => o != Some(Equal),
            (Op::Lt, o) => o == Some(Less),
            (Op::Le, o) => matches!(o, Some(Less | Equal)),
            (Op::Gt, o) => o == Some(Greater),
            (Op::Ge, o) => matches!(o, Some(Greater | Equal)),
        }
    }
}

/// FNV-1a: a hash of a parameter's name that never changes between builds or platforms.
pub(crate) fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// What a builder parameter accepts.
#[derive(Clone, Copy)]
enum Kind {
    /// An integer in lo..=hi.
    Int(i64, i64),
    /// A number in [lo, hi) (`hi_open`) or [lo, hi].
    Num(f64, f64, bool),
    Bool,
    Optimizer,
}

impl Space {
    /// Reads and checks a space file (TOML).
    pub fn from_file(path: &Path) -> Result<Space, Error> {
        let space: Space = crate::input::read_toml(path)?;
        space.check().map_err(|e| Error::Space { path: path.into(), message: e.to_string() })?;
        Ok(space)
    }

    /// Checks every parameter: one kind of range, sensible bounds, values its builder accepts,
    /// conditions naming existing parameters without cycles.
    pub fn check(&self) -> Result<(), Error> {
        if self.params.is_empty() {
            return Err(Error::invalid("[params] is empty: give at least one parameter to tune"));
        }
        for (name, p) in &self.params {
            self.check_param(name, p).map_err(|e| Error::Invalid(format!("parameter `{name}`: {e}")))?;
        }
        self.check_cycles()?;
        // Build a trial to catch what the single values cannot show (e.g. a model too deep).
        self.trial(&self.draw(0, 0)).map(|_| ())
    }

    /// Checks one parameter (the caller names it in the error).
    fn check_param(&self, name: &str, p: &ParamSpec) -> Result<(), Error> {
        let kind = self.kind(name)?;
        let kinds = p.choice.is_some() as usize + p.int.is_some() as usize + p.float.is_some() as usize;
        let fail = |m: String| Err(Error::Invalid(m));
        if kinds != 1 {
            return fail("give exactly one of `choice = [...]`, `int = [lo, hi]` or `float = [lo, hi]`".into());
        }
        if p.step.is_some() && p.int.is_none() {
            return fail("`step` applies to `int` ranges only".into());
        }
        if p.log && p.float.is_none() {
            return fail("`log = true` applies to `float` ranges only".into());
        }
        let mut candidates = Vec::new();
        if let Some(c) = &p.choice {
            if c.is_empty() {
                return fail("`choice` is empty".into());
            }
            candidates.extend(c.iter().cloned());
        }
        if let Some([lo, hi]) = p.int {
            if lo > hi {
                return fail(format!("int range [{lo}, {hi}] is empty (lo > hi)"));
            }
            if p.step.is_some_and(|s| s < 1) {
                return fail("`step` must be at least 1".into());
            }
            candidates.extend([Value::Int(lo), Value::Int(hi)]);
        }
        if let Some([lo, hi]) = p.float {
            if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                return fail(format!("float range [{lo}, {hi}] is empty or not finite"));
            }
            if p.log && lo <= 0.0 {
                return fail(format!("a log range must be positive, got [{lo}, {hi}]"));
            }
            candidates.extend([Value::Float(lo), Value::Float(hi)]);
        }
        for v in &candidates {
            check_value(kind, v)?;
        }
        if let Some(w) = &p.when {
            let c = Condition::parse(w)?;
            if !self.params.contains_key(&c.name) {
                return fail(format!("condition `{w}` names `{}`, which is not a parameter", c.name));
            }
        }
        Ok(())
    }

    /// A cycle of conditions would leave its parameters undecidable.
    fn check_cycles(&self) -> Result<(), Error> {
        for name in self.params.keys() {
            let mut seen = vec![name.as_str()];
            let mut cur = name.as_str();
            while let Some(w) = self.params[cur].when.as_deref() {
                let next = Condition::parse(w).expect("checked above").name;
                let next = self.params.get_key_value(&next).expect("checked above").0.as_str();
                if seen.contains(&next) {
                    return Err(Error::Invalid(format!(
                        "parameter `{name}`: its conditions form a cycle ({} → {next})",
                        seen.join(" → ")
                    )));
                }
                seen.push(next);
                cur = next;
            }
        }
        Ok(())
    }

    /// The kind of value a parameter takes in this space's builder.
    fn kind(&self, name: &str) -> Result<Kind, Error> {
        let numbered = |prefix: &str| {
            name.strip_prefix(prefix).and_then(|n| n.parse::<usize>().ok()).is_some_and(|n| (1..=16).contains(&n))
        };
        let known = || {
            let (own, numbered) = match self.model {
                Builder::Cnn => (CNN, "filters_1, filters_2, …"),
                Builder::Mlp => (MLP, "units_1, units_2, …"),
            };
            format!("{}, {numbered}", TRAINING.iter().chain(own).copied().collect::<Vec<_>>().join(", "))
        };
        Ok(match (self.model, name) {
            (_, "lr") => Kind::Num(0.0, 10.0, false),
            (_, "batch_size") => Kind::Int(1, 65_536),
            (_, "optimizer") => Kind::Optimizer,
            (_, "batch_norm") => Kind::Bool,
            (_, "dropout") => Kind::Num(0.0, 1.0, true),
            (Builder::Cnn, "blocks") => Kind::Int(1, MAX_BLOCKS),
            (Builder::Cnn, "kernel_size") => Kind::Int(1, 28),
            (Builder::Cnn, "conv_dropout") => Kind::Num(0.0, 1.0, true),
            (Builder::Cnn, "dense_units") => Kind::Int(1, 1 << 16),
            (Builder::Cnn, _) if numbered("filters_") => Kind::Int(1, 4096),
            (Builder::Mlp, "layers") => Kind::Int(1, 16),
            (Builder::Mlp, _) if numbered("units_") => Kind::Int(1, 1 << 16),
            (m, _) => {
                let known = format!("not a parameter of the `{m:?}` builder (known: {})", known());
                return Err(Error::Invalid(known.to_lowercase()));
            }
        })
    }

    /// The values of trial `trial` under tuning seed `seed`: inactive conditional parameters
    /// are absent.
    pub fn draw(&self, seed: u64, trial: u64) -> Params {
        self.attempt(seed, trial, 0)
    }

    /// The values of trials `0..n`, each different from the ones before it where the space
    /// allows (as keras-tuner does): trial `i` takes the first of its own attempts that no
    /// earlier trial has. Still a function of the seed and trial numbers only.
    pub fn draw_trials(&self, seed: u64, n: usize) -> Vec<Params> {
        /// Attempts before accepting a repeat (a space with fewer configurations than trials).
        const ATTEMPTS: u64 = 100;
        let mut trials: Vec<Params> = Vec::with_capacity(n);
        for t in 0..n as u64 {
            let fresh = (0..ATTEMPTS).map(|k| self.attempt(seed, t, k)).find(|p| !trials.contains(p));
            trials.push(fresh.unwrap_or_else(|| self.draw(seed, t)));
        }
        trials
    }

    /// Attempt `k` at drawing trial `trial`.
    fn attempt(&self, seed: u64, trial: u64, k: u64) -> Params {
        let mut all = BTreeMap::new();
        for (name, p) in &self.params {
            let mut rng = match k {
                0 => Rng::derive(&[seed, trial, name_hash(name)]),
                _ => Rng::derive(&[seed, trial, name_hash(name), k]),
            };
            all.insert(name.clone(), draw_one(p, &mut rng));
        }
        self.active_only(&all)
    }

    /// Of a value for every parameter, those active: a parameter is active when its condition's
    /// parameter is active and satisfies it.
    pub(crate) fn active_only(&self, all: &Params) -> Params {
        let mut params = Params::new();
        for name in self.params.keys() {
            if let Some(v) = all.get(name)
                && self.active(name, all)
            {
                params.insert(name.clone(), v.clone());
            }
        }
        params
    }

    fn active(&self, name: &str, all: &Params) -> bool {
        match &self.params[name].when {
            None => true,
            Some(w) => {
                let c = Condition::parse(w).expect("checked on load");
                self.active(&c.name, all) && all.get(&c.name).is_some_and(|v| c.holds(v))
            }
        }
    }

    /// The model and training settings of one trial (`epochs` and `seed` are set by the
    /// caller); parameters not drawn take the builder's defaults.
    pub fn trial(&self, params: &Params) -> Result<(ModelSpec, TrainConfig), Error> {
        let v = Values(params);
        let batch_norm = v.flag("batch_norm")?;
        let dropout = v.num("dropout", 0.0)? as f32;
        let (name, mut layers) = match self.model {
            Builder::Cnn => cnn_layers(&v, batch_norm, dropout)?,
            Builder::Mlp => mlp_layers(&v, batch_norm, dropout)?,
        };
        layers.push(LayerSpec::dense(10, Activation::Softmax));
        let spec = ModelSpec::new(&name, "built by digits tune", layers);
        spec.check().map_err(|e| Error::Invalid(e.to_string()))?;
        let mut optimizer = match params.get("optimizer") {
            None => OptimizerConfig::default(),
            Some(Value::Str(s)) => {
                OptimizerConfig::by_name(s).map_err(|e| Error::Invalid(format!("parameter `optimizer`: {e}")))?
            }
            Some(v) => return Err(Error::Invalid(format!("parameter `optimizer`: expected a name, got {v}"))),
        };
        if params.contains_key("lr") {
            optimizer.set_lr(v.num("lr", 0.0)? as f32);
        }
        let cfg = TrainConfig { batch_size: v.int("batch_size", 128)?, optimizer, ..TrainConfig::default() };
        Ok((spec, cfg))
    }
}

/// A trial's values, read as the builders want them, with their defaults.
struct Values<'a>(&'a Params);

impl Values<'_> {
    fn int(&self, name: &str, default: i64) -> Result<usize, Error> {
        match self.0.get(name) {
            None => Ok(default as usize),
            Some(Value::Int(i)) if *i >= 0 => Ok(*i as usize),
            Some(v) => Err(Error::Invalid(format!("parameter `{name}`: expected a whole number, got {v}"))),
        }
    }

    fn num(&self, name: &str, default: f64) -> Result<f64, Error> {
        match self.0.get(name) {
            None => Ok(default),
            Some(v) => {
                v.as_f64().ok_or_else(|| Error::Invalid(format!("parameter `{name}`: expected a number, got {v}")))
            }
        }
    }

    fn flag(&self, name: &str) -> Result<bool, Error> {
        match self.0.get(name) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(Error::Invalid(format!("parameter `{name}`: expected true or false, got {v}"))),
        }
    }
}

/// The CNN builder's layers (before the output layer) and the model's name.
fn cnn_layers(v: &Values, batch_norm: bool, dropout: f32) -> Result<(String, Vec<LayerSpec>), Error> {
    let mut layers = Vec::new();
    let blocks = v.int("blocks", 2)?;
    let k = v.int("kernel_size", 3)?;
    let conv_dropout = v.num("conv_dropout", 0.0)? as f32;
    let mut filters = Vec::new();
    for i in 1..=blocks {
        let f = v.int(&format!("filters_{i}"), 32 << (i - 1).min(5))?;
        filters.push(f.to_string());
        layers.push(LayerSpec::conv(f, k, Padding::Same, Activation::Relu));
        layers.push(LayerSpec::max_pool(2));
        if batch_norm {
            layers.push(LayerSpec::batch_norm());
        }
        if conv_dropout > 0.0 {
            layers.push(LayerSpec::dropout(conv_dropout));
        }
    }
    layers.push(LayerSpec::flatten());
    let units = v.int("dense_units", 128)?;
    layers.push(LayerSpec::dense(units, Activation::Relu));
    if dropout > 0.0 {
        layers.push(LayerSpec::dropout(dropout));
    }
    Ok((format!("cnn-{}-d{units}", filters.join("-")), layers))
}

/// The MLP builder's layers (before the output layer) and the model's name.
fn mlp_layers(v: &Values, batch_norm: bool, dropout: f32) -> Result<(String, Vec<LayerSpec>), Error> {
    let mut layers = vec![LayerSpec::flatten()];
    let mut units = Vec::new();
    for i in 1..=v.int("layers", 2)? {
        let u = v.int(&format!("units_{i}"), 128)?;
        units.push(u.to_string());
        layers.push(LayerSpec::dense(u, Activation::Relu));
        if batch_norm {
            layers.push(LayerSpec::batch_norm());
        }
        if dropout > 0.0 {
            layers.push(LayerSpec::dropout(dropout));
        }
    }
    Ok((format!("mlp-{}", units.join("-")), layers))
}

fn check_value(kind: Kind, v: &Value) -> Result<(), Error> {
    let fail = |m: String| Err(Error::Invalid(m));
    match (kind, v) {
        (Kind::Int(lo, hi), Value::Int(i)) if (lo..=hi).contains(i) => Ok(()),
        (Kind::Int(lo, hi), _) => fail(format!("{v} is not a whole number in {lo}..={hi}")),
        (Kind::Num(lo, hi, open), v) => match v.as_f64() {
            Some(x) if x >= lo && (x < hi || (!open && x == hi)) && (lo > 0.0 || open || x > 0.0) => Ok(()),
            _ if open => fail(format!("{v} is not a number in [{lo}, {hi})")),
            _ => fail(format!("{v} is not a number in ({lo}, {hi}]")),
        },
        (Kind::Bool, Value::Bool(_)) => Ok(()),
        (Kind::Bool, _) => fail(format!("{v} is not true or false")),
        (Kind::Optimizer, Value::Str(s)) => {
            OptimizerConfig::by_name(s).map(|_| ()).map_err(|e| Error::Invalid(e.to_string()))
        }
        (Kind::Optimizer, _) => fail(format!("{v} is not an optimizer name (sgd, adam or rmsprop)")),
    }
}

fn draw_one(p: &ParamSpec, rng: &mut Rng) -> Value {
    if let Some(c) = &p.choice {
        return c[rng.below(c.len())].clone();
    }
    if let Some([lo, hi]) = p.int {
        let step = p.step.unwrap_or(1);
        let n = ((hi - lo) / step) as usize + 1;
        return Value::Int(lo + step * rng.below(n) as i64);
    }
    let [lo, hi] = p.float.expect("checked: one kind per parameter");
    // 53 random bits: uniform in [0, 1) at f64 resolution.
    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    Value::Float(if p.log { (lo.ln() + u * (hi.ln() - lo.ln())).exp() } else { lo + u * (hi - lo) })
}
