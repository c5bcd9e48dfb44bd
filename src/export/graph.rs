//! Translating one trained network into ONNX nodes and initializers.
//!
//! digits computes in NHWC (channels last); ONNX's Conv and MaxPool work in NCHW. The graph
//! stays NCHW from the input on, and each layer is translated for the layout its input has:
//!
//! - a spatial value is the NCHW tensor `[N, c, h, w]` of digits' `h × w × c`;
//! - a flat value is `[N, n]`, either in digits' order or, right after flattening an NCHW
//!   tensor, in CHW order. Rather than transposing the data back, the weights that read it
//!   (the next Dense layer's kernel rows, a batch normalisation's per-feature statistics) are
//!   permuted into CHW order, which costs nothing at inference. Only a layer that must see
//!   digits' order as data (the output, a convolution after a flatten) gets a Transpose.
//!
//! Dropout is the identity at inference and emits no node. Batch normalisation is exported as
//! BatchNormalization with the moving statistics, not folded: in digits' presets it follows a
//! ReLU or a max pooling, which a fold into the preceding weights would have to cross.

use super::onnx_proto::{AttributeProto, NodeProto, TensorProto, attribute_type};
use crate::Error;
use crate::engine::conv2d::conv_out;
use crate::engine::{Activation, BatchNormConfig, Conv2DConfig, DenseConfig, MaxPool2DConfig, Network, Param, Shape};
use crate::model::{LayerSpec, ModelSpec};
use std::collections::HashMap;

/// How a value between two nodes is laid out (see the module's documentation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Layout {
    /// `[N, c, h, w]` holding digits' `h × w × c`.
    Spatial(Shape),
    /// `[N, n]`; `chw_of` is the shape whose NCHW flattening it is when its order differs
    /// from digits' (`c > 1` and more than one pixel), else `None`.
    Flat { n: usize, chw_of: Option<Shape> },
}

impl Layout {
    /// The ONNX shape, batch first (`N` symbolic).
    pub(crate) fn dims(self) -> String {
        match self {
            Layout::Spatial(s) => format!("[N,{},{},{}]", s.c, s.h, s.w),
            Layout::Flat { n, .. } => format!("[N,{n}]"),
        }
    }
}

/// A value of the graph: its tensor name and layout.
#[derive(Clone, Debug)]
pub(crate) struct Value {
    pub name: String,
    pub layout: Layout,
}

/// One node as the export lists it (`digits export --print`).
#[derive(Clone, Debug, PartialEq)]
pub struct NodeLine {
    /// The node's name: the digits layer it comes from, with a suffix for extra nodes.
    pub name: String,
    pub op_type: String,
    /// Its output's shape, batch first (`[N,32,28,28]`).
    pub shape: String,
    /// The attributes that matter, in words.
    pub detail: String,
}

/// Nodes and initializers being gathered, in topological order.
#[derive(Default)]
pub(crate) struct Builder {
    pub nodes: Vec<NodeProto>,
    pub initializers: Vec<TensorProto>,
    pub lines: Vec<NodeLine>,
}

/// An attribute of a node.
pub(crate) enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
}

fn attribute(name: &str, value: Attr) -> AttributeProto {
    let mut a = AttributeProto { name: Some(name.into()), ..Default::default() };
    match value {
        Attr::Int(i) => (a.i, a.r#type) = (Some(i), Some(attribute_type::INT)),
        Attr::Ints(v) => (a.ints, a.r#type) = (v, Some(attribute_type::INTS)),
        Attr::Float(f) => (a.f, a.r#type) = (Some(f), Some(attribute_type::FLOAT)),
    }
    a
}

/// `usize` sizes as ONNX's `int64` (every size digits allows fits).
fn i64s(v: &[usize]) -> Vec<i64> {
    v.iter().map(|&x| x as i64).collect()
}

impl Builder {
    /// Adds node `name` computing `op` of `inputs`, whose one output (named after the node)
    /// has `layout`; returns that output.
    pub(crate) fn node(
        &mut self,
        name: &str,
        op: &str,
        inputs: &[&str],
        attrs: Vec<(&str, Attr)>,
        layout: Layout,
        detail: String,
    ) -> Value {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![name.to_string()],
            name: Some(name.to_string()),
            op_type: Some(op.to_string()),
            attribute: attrs.into_iter().map(|(n, v)| attribute(n, v)).collect(),
            ..Default::default()
        });
        let line = NodeLine { name: name.into(), op_type: op.into(), shape: layout.dims(), detail };
        self.lines.push(line);
        Value { name: name.to_string(), layout }
    }

    /// Adds a float32 initializer `name` of `dims` holding `values`; returns its name.
    pub(crate) fn floats(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensor(name, dims, super::onnx_proto::FLOAT, raw)
    }

    /// Adds an int64 initializer (a shape for Reshape); returns its name.
    pub(crate) fn int64s(&mut self, name: &str, values: &[i64]) -> String {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensor(name, &[values.len()], super::onnx_proto::INT64, raw)
    }

    fn tensor(&mut self, name: &str, dims: &[usize], data_type: i32, raw: Vec<u8>) -> String {
        self.initializers.push(TensorProto {
            dims: i64s(dims),
            data_type: Some(data_type),
            name: Some(name.to_string()),
            raw_data: Some(raw),
        });
        name.to_string()
    }

    /// Renames the output of the last node (which must be `value`) to `to`.
    pub(crate) fn rename_last(&mut self, value: &Value, to: &str) -> Value {
        let node = self.nodes.last_mut().expect("a node produced the value");
        assert_eq!(node.output, std::slice::from_ref(&value.name), "the last node produced the value");
        node.output = vec![to.to_string()];
        let line = self.lines.last_mut().expect("a line per node");
        line.detail = [line.detail.as_str(), &format!("→ {to}")].join(if line.detail.is_empty() { "" } else { " " });
        Value { name: to.to_string(), layout: value.layout }
    }
}

/// What translating one layer needs to know about it.
struct LayerRef<'a> {
    model: &'a str,
    index: usize,
    /// The layer's name in digits (`dense_1`), also the stem of its node and tensor names.
    name: &'a str,
    /// The prefix of every node and tensor of this network (`m0/` in an ensemble).
    prefix: &'a str,
    params: &'a HashMap<String, &'a Param>,
}

impl LayerRef<'_> {
    fn error(&self, message: String) -> Error {
        Error::Layer { model: self.model.into(), index: self.index, layer: self.name.into(), message }
    }

    /// The node name for this layer, with `suffix` for its extra nodes.
    fn node(&self, suffix: &str) -> String {
        format!("{}{}{suffix}", self.prefix, self.name)
    }

    /// The trained tensor `param` of this layer, checked to have `shape`.
    fn param(&self, param: &str, shape: &[usize]) -> Result<&Param, Error> {
        let key = format!("{}.{param}", self.name);
        let p = self.params.get(&key).ok_or_else(|| self.error(format!("the network has no tensor '{key}'")))?;
        if p.shape != shape || p.value.len() != shape.iter().product::<usize>() {
            let message = format!("tensor '{key}' has shape {:?}, the layer's settings need {shape:?}", p.shape);
            return Err(self.error(message));
        }
        Ok(p)
    }
}

/// Translates `net` (built from `spec`) reading `input` (`[N, c, h, w]` of the model's input
/// shape); every node and tensor name starts with `prefix`. Returns the output value, flat in
/// digits' order: what `Network::predict` returns.
pub(crate) fn network(
    b: &mut Builder,
    spec: &ModelSpec,
    net: &Network,
    input: &str,
    prefix: &str,
) -> Result<Value, Error> {
    let names = spec.check_sizes()?;
    let params: HashMap<String, &Param> = net.named_params().into_iter().collect();
    let [h, w, c] = spec.input;
    let mut x = Value { name: input.to_string(), layout: Layout::Spatial(Shape::new(h, w, c)) };
    let last = spec.layers.len() - 1;
    for (index, (layer, name)) in spec.layers.iter().zip(&names).enumerate() {
        let at = LayerRef { model: spec.display_name(), index, name, prefix, params: &params };
        // A final softmax is taken out of the last layer, as the network does (see below).
        let act = |a: Activation| if index == last && net.softmax_output() { Activation::Linear } else { a };
        x = match layer {
            LayerSpec::Dense(cfg) => dense(b, &at, cfg, act(cfg.options.activation), x)?,
            LayerSpec::Conv2D(cfg) => conv(b, &at, cfg, act(cfg.options.activation), x)?,
            LayerSpec::MaxPool2D(cfg) => max_pool(b, &at, cfg, x)?,
            LayerSpec::BatchNormalization(cfg) => batch_norm(b, &at, cfg, x)?,
            // The identity at inference.
            LayerSpec::Dropout(_) => x,
            LayerSpec::Flatten(_) => flatten(b, &at.node(""), x),
            LayerSpec::Activation(cfg) => activation(b, &at.node(""), act(cfg.activation), x),
        };
    }
    let x = digits_order(b, &format!("{prefix}output"), x);
    if !net.softmax_output() {
        return Ok(x);
    }
    // `Network::predict` applies it to the whole output row (the classes), whatever the last
    // layer's shape: over the channels of a spatial output would be another function.
    let name = format!("{prefix}{}/softmax", names[last]);
    Ok(b.node(&name, "Softmax", &[&x.name], vec![("axis", Attr::Int(1))], x.layout, "axis 1, over the classes".into()))
}

/// The order in which digits lays out `s` as a vector of ONNX's CHW index `r`.
fn nhwc_index(s: Shape, r: usize) -> usize {
    let (ch, pixel) = (r / (s.h * s.w), r % (s.h * s.w));
    pixel * s.c + ch
}

/// Whether flattening `s` in NCHW order gives another order than digits' NHWC.
fn reordered(s: Shape) -> bool {
    s.c > 1 && s.h * s.w > 1
}

fn flatten(b: &mut Builder, name: &str, x: Value) -> Value {
    match x.layout {
        Layout::Flat { .. } => x,
        Layout::Spatial(s) => {
            let layout = Layout::Flat { n: s.len(), chw_of: reordered(s).then_some(s) };
            let detail =
                if reordered(s) { "CHW order (weights that read it are permuted)".into() } else { String::new() };
            b.node(name, "Flatten", &[&x.name], vec![("axis", Attr::Int(1))], layout, detail)
        }
    }
}

/// `x` as a flat vector in digits' (NHWC) order: a Transpose where the order differs.
fn digits_order(b: &mut Builder, name: &str, x: Value) -> Value {
    let (from, s) = match x.layout {
        Layout::Flat { chw_of: None, .. } => return x,
        Layout::Spatial(s) if !reordered(s) => return flatten(b, name, x),
        Layout::Spatial(s) => (x, s),
        Layout::Flat { chw_of: Some(s), .. } => {
            let shape = b.int64s(&format!("{name}/chw_shape"), &[-1, s.c as i64, s.h as i64, s.w as i64]);
            let back = b.node(
                &format!("{name}/unflatten"),
                "Reshape",
                &[&x.name, &shape],
                vec![],
                Layout::Spatial(s),
                "".into(),
            );
            (back, s)
        }
    };
    let perm = ("perm", Attr::Ints(vec![0, 2, 3, 1]));
    let t = b.node(
        &format!("{name}/nhwc"),
        "Transpose",
        &[&from.name],
        vec![perm],
        from.layout,
        "to digits' NHWC order".into(),
    );
    // Not an NCHW value: listed with its own shape.
    b.lines.last_mut().expect("the Transpose's line").shape = format!("[N,{},{},{}]", s.h, s.w, s.c);
    let flat = Layout::Flat { n: s.len(), chw_of: None };
    b.node(&format!("{name}/flat"), "Flatten", &[&t.name], vec![("axis", Attr::Int(1))], flat, String::new())
}

/// `x` as the NCHW tensor of digits' shape `want` (a flat value is `1 × 1 × n` to digits).
fn spatial(b: &mut Builder, name: &str, x: Value, want: Shape) -> Value {
    if x.layout == Layout::Spatial(want) {
        return x;
    }
    let x = digits_order(b, name, x);
    let shape = b.int64s(&format!("{name}/shape"), &[-1, want.c as i64, want.h as i64, want.w as i64]);
    b.node(&format!("{name}/reshape"), "Reshape", &[&x.name, &shape], vec![], Layout::Spatial(want), String::new())
}

/// The activation's node after `x`, if it has one.
fn activation(b: &mut Builder, name: &str, act: Activation, x: Value) -> Value {
    let op = match act {
        Activation::Linear => return x,
        Activation::Relu => "Relu",
        Activation::Sigmoid => "Sigmoid",
        Activation::Tanh => "Tanh",
        // digits' softmax acts on the channel axis, which is axis 1 in NCHW as in [N, n].
        Activation::Softmax => {
            return b.node(name, "Softmax", &[&x.name], vec![("axis", Attr::Int(1))], x.layout, "axis 1".into());
        }
    };
    b.node(name, op, &[&x.name], vec![], x.layout, String::new())
}

fn dense(b: &mut Builder, at: &LayerRef, cfg: &DenseConfig, act: Activation, x: Value) -> Result<Value, Error> {
    let x = flatten(b, &at.node("/flatten"), x);
    let Layout::Flat { n, chw_of } = x.layout else { unreachable!("flattened") };
    let kernel = at.param("kernel", &[n, cfg.units])?;
    let mut detail = format!("{n}→{}", cfg.units);
    let rows: Vec<f32> = match chw_of {
        // Row r of ONNX's input is row nhwc_index(r) of digits' kernel.
        Some(s) => {
            detail += ", kernel rows permuted to CHW order";
            (0..n).flat_map(|r| kernel.value[nhwc_index(s, r) * cfg.units..][..cfg.units].iter().copied()).collect()
        }
        None => kernel.value.clone(),
    };
    let mut inputs = vec![x.name.clone(), b.floats(&format!("{}.kernel", at.node("")), &[n, cfg.units], &rows)];
    if cfg.options.use_bias {
        let bias = at.param("bias", &[cfg.units])?;
        inputs.push(b.floats(&format!("{}.bias", at.node("")), &[cfg.units], &bias.value));
    }
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let out = Layout::Flat { n: cfg.units, chw_of: None };
    let y = b.node(&at.node(""), "Gemm", &inputs, vec![], out, detail);
    Ok(activation(b, &at.node(&format!("/{}", act.name())), act, y))
}

fn conv(b: &mut Builder, at: &LayerRef, cfg: &Conv2DConfig, act: Activation, x: Value) -> Result<Value, Error> {
    let s = match x.layout {
        Layout::Spatial(s) => s,
        Layout::Flat { n, .. } => Shape::flat(n),
    };
    let x = spatial(b, &at.node("/input"), x, s);
    let ((kh, kw), (sh, sw), f) = (cfg.kernel_size.pair(), cfg.strides.pair(), cfg.filters);
    let misfit = || at.error(format!("kernel {kh}×{kw} with stride {sh}×{sw} does not fit input {s}"));
    let (oh, pt) = conv_out(s.h, kh, sh, cfg.padding).ok_or_else(misfit)?;
    let (ow, pl) = conv_out(s.w, kw, sw, cfg.padding).ok_or_else(misfit)?;
    let kernel = at.param("kernel", &[kh, kw, s.c, f])?;
    // digits' [kh, kw, c_in, c_out] to ONNX's [c_out, c_in, kh, kw].
    let mut w = Vec::with_capacity(kernel.value.len());
    for o in 0..f {
        for i in 0..s.c {
            for y in 0..kh {
                w.extend((0..kw).map(|xx| kernel.value[((y * kw + xx) * s.c + i) * f + o]));
            }
        }
    }
    let mut inputs = vec![x.name.clone(), b.floats(&format!("{}.kernel", at.node("")), &[f, s.c, kh, kw], &w)];
    if cfg.options.use_bias {
        let bias = at.param("bias", &[f])?;
        inputs.push(b.floats(&format!("{}.bias", at.node("")), &[f], &bias.value));
    }
    let pads = window_pads(s, (kh, kw), (sh, sw), (oh, ow), (pt, pl));
    let detail = format!("{f} filters {kh}×{kw}, stride {sh}×{sw}, {}", pads_text(pads));
    let attrs = vec![
        ("kernel_shape", Attr::Ints(i64s(&[kh, kw]))),
        ("strides", Attr::Ints(i64s(&[sh, sw]))),
        ("pads", Attr::Ints(i64s(&pads))),
        ("dilations", Attr::Ints(vec![1, 1])),
        ("group", Attr::Int(1)),
    ];
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let y = b.node(&at.node(""), "Conv", &inputs, attrs, Layout::Spatial(Shape::new(oh, ow, f)), detail);
    Ok(activation(b, &at.node(&format!("/{}", act.name())), act, y))
}

/// Explicit ONNX pads `[top, left, bottom, right]` giving the output `out` that digits
/// computes: its leading padding, and at the end whatever the last window needs (`same`
/// puts the odd pixel at the bottom/right, as TensorFlow does, so no `auto_pad` is relied on).
fn window_pads(
    s: Shape,
    k: (usize, usize),
    st: (usize, usize),
    out: (usize, usize),
    lead: (usize, usize),
) -> [usize; 4] {
    let end =
        |input: usize, k: usize, st: usize, out: usize, lead: usize| ((out - 1) * st + k).saturating_sub(input + lead);
    [lead.0, lead.1, end(s.h, k.0, st.0, out.0, lead.0), end(s.w, k.1, st.1, out.1, lead.1)]
}

fn pads_text(pads: [usize; 4]) -> String {
    match pads {
        [0, 0, 0, 0] => "no padding".into(),
        [t, l, b, r] => format!("pads {t},{l},{b},{r} (top,left,bottom,right)"),
    }
}

fn max_pool(b: &mut Builder, at: &LayerRef, cfg: &MaxPool2DConfig, x: Value) -> Result<Value, Error> {
    let s = match x.layout {
        Layout::Spatial(s) => s,
        Layout::Flat { n, .. } => Shape::flat(n),
    };
    let x = spatial(b, &at.node("/input"), x, s);
    let ((ph, pw), (sh, sw)) = (cfg.pool_size.pair(), cfg.strides.unwrap_or(cfg.pool_size).pair());
    let misfit = || at.error(format!("pool {ph}×{pw} with stride {sh}×{sw} does not fit input {s}"));
    let (oh, pt) = conv_out(s.h, ph, sh, cfg.padding).ok_or_else(misfit)?;
    let (ow, pl) = conv_out(s.w, pw, sw, cfg.padding).ok_or_else(misfit)?;
    let pads = window_pads(s, (ph, pw), (sh, sw), (oh, ow), (pt, pl));
    // ONNX's MaxPool ignores padded cells, as digits' windows are clipped to the input.
    let attrs = vec![
        ("kernel_shape", Attr::Ints(i64s(&[ph, pw]))),
        ("strides", Attr::Ints(i64s(&[sh, sw]))),
        ("pads", Attr::Ints(i64s(&pads))),
    ];
    let detail = format!("{ph}×{pw}, stride {sh}×{sw}, {}", pads_text(pads));
    Ok(b.node(&at.node(""), "MaxPool", &[&x.name], attrs, Layout::Spatial(Shape::new(oh, ow, s.c)), detail))
}

fn batch_norm(b: &mut Builder, at: &LayerRef, cfg: &BatchNormConfig, x: Value) -> Result<Value, Error> {
    // The statistics are per channel: NCHW's axis 1, or each feature of a flat value.
    let (c, chw_of) = match x.layout {
        Layout::Spatial(s) => (s.c, None),
        Layout::Flat { n, chw_of } => (n, chw_of),
    };
    let mut inputs = vec![x.name.clone()];
    for p in ["gamma", "beta", "moving_mean", "moving_variance"] {
        let v = &at.param(p, &[c])?.value;
        let v: Vec<f32> = match chw_of {
            Some(s) => (0..c).map(|r| v[nhwc_index(s, r)]).collect(),
            None => v.clone(),
        };
        inputs.push(b.floats(&format!("{}.{p}", at.node("")), &[c], &v));
    }
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let attrs = vec![("epsilon", Attr::Float(cfg.epsilon)), ("momentum", Attr::Float(cfg.momentum))];
    let detail = format!("moving statistics, epsilon {}", cfg.epsilon);
    Ok(b.node(&at.node(""), "BatchNormalization", &inputs, attrs, x.layout, detail))
}
