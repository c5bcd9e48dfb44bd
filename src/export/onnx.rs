//! ONNX export: a trained run or an ensemble as one ONNX model that onnxruntime (or any ONNX
//! runtime) runs with the probabilities digits computes.
//!
//! The graph reads `image`, float32 `[N, c, h, w]` (`[N, 1, 28, 28]` for MNIST models, dynamic
//! `N`, pixels in 0..1 prepared as MNIST's digits: ink bright on a dark background), and
//! writes `probabilities`, float32 `[N, 10]`. Layers map to Gemm, Conv (explicit pads as digits
//! computes `same` and `valid`), MaxPool, BatchNormalization (the moving statistics, not folded),
//! Flatten, Relu/Sigmoid/Tanh/Softmax; Dropout emits nothing; see [`super::graph`] for the
//! NHWC → NCHW translation. An ensemble is one graph holding every member (node and tensor
//! names prefixed `m0/`, `m1/`, ...) whose outputs a Mean node averages; its test-time
//! augmentation is not exported ([`OnnxModel::notes`] says so).
//!
//! The file is encoded by prost from the messages in [`super::onnx_proto`]; the same model and
//! options give the same bytes.

use super::graph::{self, Attr, Builder, Layout, NodeLine, Value};
use super::onnx_proto::{
    GraphProto, ModelProto, OperatorSetIdProto, StringStringEntryProto, TensorShapeProto, TypeProto, ValueInfoProto,
    tensor_shape_proto::{Dimension, dimension},
    type_proto,
};
use crate::engine::{Network, Shape};
use crate::model::{Classifier, ModelSpec, load_model};
use crate::{Error, Result};
use prost::Message;
use std::path::Path;

/// The opset written unless asked otherwise (IR version 8).
pub const DEFAULT_OPSET: i64 = 17;
/// The oldest opset digits writes: from 13 on, Softmax normalises along the one axis it is
/// given, as the graph needs.
pub const MIN_OPSET: i64 = 13;
/// The newest opset digits writes (IR version 10), the newest that `tests/onnx.rs` checks in
/// onnxruntime.
pub const MAX_OPSET: i64 = 21;

/// The ONNX IR version that goes with `opset` (the IR of the ONNX release that introduced it).
pub fn ir_version(opset: i64) -> Result<i64> {
    match opset {
        13 | 14 => Ok(7),
        15..=18 => Ok(8),
        19 | 20 => Ok(9),
        21 => Ok(10),
        _ => {
            Err(Error::invalid(format!("ONNX opset {opset} is not one digits writes (use {MIN_OPSET} to {MAX_OPSET})")))
        }
    }
}

/// How to export.
#[derive(Clone, Debug, PartialEq)]
pub struct OnnxOptions {
    /// The default-domain opset, [`MIN_OPSET`] to [`MAX_OPSET`].
    pub opset: i64,
    /// A calibration temperature to end the graph with (`softmax(ln p / T)`, as
    /// [`crate::eval::calibration::with_temperature`]); [`export_dir`] takes the model's own.
    pub temperature: Option<f64>,
}

impl Default for OnnxOptions {
    fn default() -> Self {
        OnnxOptions { opset: DEFAULT_OPSET, temperature: None }
    }
}

/// An exported model: the file's bytes and what they hold.
#[derive(Clone, Debug)]
pub struct OnnxModel {
    /// The encoded `ModelProto`.
    pub bytes: Vec<u8>,
    /// The model's name (`cnn-32-64`, `ensemble of 2 (a, b)`).
    pub name: String,
    pub opset: i64,
    pub ir_version: i64,
    /// The shape of one input image (`image` is `[N, c, h, w]`).
    pub input: Shape,
    /// The number of classes (`probabilities` is `[N, classes]`).
    pub classes: usize,
    /// The graph's nodes in order.
    pub nodes: Vec<NodeLine>,
    /// What digits does that the graph does not (test-time augmentation), in words.
    pub notes: Vec<String>,
}

impl OnnxModel {
    /// The node list, one line per node: name, operator, output shape and attributes.
    pub fn node_list(&self) -> String {
        let wn = self.nodes.iter().map(|n| n.name.len()).max().unwrap_or(0).max(4);
        let wo = self.nodes.iter().map(|n| n.op_type.len()).max().unwrap_or(0).max(2);
        let ws = self.nodes.iter().map(|n| n.shape.len()).max().unwrap_or(0).max(5);
        let mut s = format!("{:<wn$}  {:<wo$}  {:<ws$}  details\n", "node", "op", "shape");
        for n in &self.nodes {
            s += format!("{:<wn$}  {:<wo$}  {:<ws$}  {}", n.name, n.op_type, n.shape, n.detail).trim_end();
            s.push('\n');
        }
        s
    }

    /// One line: the model, its opset, its size, its input and output.
    pub fn summary(&self) -> String {
        let s = self.input;
        format!(
            "{} as ONNX (opset {}, IR version {}), {} nodes, {} bytes: {INPUT} [N,{},{},{}] → {OUTPUT} [N,{}]",
            self.name,
            self.opset,
            self.ir_version,
            self.nodes.len(),
            self.bytes.len(),
            s.c,
            s.h,
            s.w,
            self.classes
        )
    }

    /// Writes the model to `path` (replacing a file there) through a temporary file and a rename.
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::atomic::write_file(path, &self.bytes)
    }
}

/// Exports the run directory or ensemble directory `dir`, after loading it as every other
/// command does ([`Classifier::load`]: the same checks, the same errors).
pub fn export_dir(dir: &Path, options: &OnnxOptions) -> Result<OnnxModel> {
    let classifier = Classifier::load(dir)?;
    let temperature = classifier.calibration().map(|c| c.temperature);
    let options = OnnxOptions { temperature: temperature.or(options.temperature), ..*options };
    export_classifier(dir, classifier, &options)
}

fn export_classifier(dir: &Path, classifier: Classifier, options: &OnnxOptions) -> Result<OnnxModel> {
    match classifier {
        Classifier::Single(saved, net) => export_network(&saved.spec, &net, options),
        Classifier::Ensemble(file, _) => {
            // The members were just checked (confined to the directory, alike in shape); their
            // layer settings are in their own model files.
            let members: Vec<(ModelSpec, Network)> = file
                .members
                .iter()
                .map(|m| load_model(&dir.join(m)).map(|(saved, net)| (saved.spec, net)))
                .collect::<Result<_>>()?;
            let refs: Vec<(&ModelSpec, &Network)> = members.iter().map(|(s, n)| (s, n)).collect();
            let mut model = export_ensemble(&refs, options)?;
            if file.tta > 0 {
                model.notes.push(format!(
                    "test-time augmentation is not exported: digits averages each image with {} augmented copies, the ONNX model only the image itself",
                    file.tta
                ));
            }
            Ok(model)
        }
    }
}

/// Exports one trained network built from `spec`.
pub fn export_network(spec: &ModelSpec, net: &Network, options: &OnnxOptions) -> Result<OnnxModel> {
    let ir = ir_version(options.opset)?;
    let mut b = Builder::default();
    let out = graph::network(&mut b, spec, net, INPUT, "")?;
    let name = spec.display_name().to_string();
    let classes = check_output(out.layout, &name)?;
    output(&mut b, out, options.temperature);
    finish(b, name, input_shape(spec), classes, options.opset, ir)
}

/// Exports an ensemble: every member's network in one graph, their probabilities averaged.
pub fn export_ensemble(members: &[(&ModelSpec, &Network)], options: &OnnxOptions) -> Result<OnnxModel> {
    let ir = ir_version(options.opset)?;
    let Some((first, _)) = members.first() else {
        return Err(Error::invalid("an ensemble needs at least one member"));
    };
    let names: Vec<&str> = members.iter().map(|(s, _)| s.display_name()).collect();
    let name = format!("ensemble of {} ({})", members.len(), names.join(", "));
    let mut b = Builder::default();
    let mut outputs = Vec::new();
    let mut classes = None;
    for (i, (spec, net)) in members.iter().enumerate() {
        if spec.input != first.input {
            let message = format!("member {i} takes {:?}, member 0 {:?}", spec.input, first.input);
            return Err(Error::invalid(message));
        }
        let out = graph::network(&mut b, spec, net, INPUT, &format!("m{i}/"))?;
        let n = check_output(out.layout, spec.display_name())?;
        if classes.is_some_and(|c| c != n) {
            return Err(Error::invalid(format!("member {i} gives {n} classes, member 0 {}", classes.unwrap_or(0))));
        }
        classes = Some(n);
        outputs.push(b.rename_last(&out, &format!("m{i}/{OUTPUT}")).name);
    }
    let inputs: Vec<&str> = outputs.iter().map(String::as_str).collect();
    let classes = classes.unwrap_or(0);
    let layout = Layout::Flat { n: classes, chw_of: None };
    let mean = b.node("mean", "Mean", &inputs, vec![], layout, format!("average of the {} members", members.len()));
    output(&mut b, mean, options.temperature);
    finish(b, name, input_shape(first), classes, options.opset, ir)
}

/// Names `probabilities` the graph's output, after the calibration temperature when there is
/// one: `Softmax(Log(Max(p, 1e-30)) / T)`, as digits applies it.
fn output(b: &mut Builder, probabilities: Value, temperature: Option<f64>) {
    let Some(t) = temperature else {
        b.rename_last(&probabilities, OUTPUT);
        return;
    };
    let layout = probabilities.layout;
    let floor = b.floats("calibration/floor", &[], &[1e-30]);
    let t_name = b.floats("calibration/temperature", &[], &[t as f32]);
    let kept = b.node("calibration/max", "Max", &[&probabilities.name, &floor], vec![], layout, "p ≥ 1e-30".into());
    let log = b.node("calibration/log", "Log", &[&kept.name], vec![], layout, String::new());
    let div = b.node("calibration/div", "Div", &[&log.name, &t_name], vec![], layout, format!("T = {t:.4}"));
    let out =
        b.node("calibration/softmax", "Softmax", &[&div.name], vec![("axis", Attr::Int(1))], layout, "axis 1".into());
    b.rename_last(&out, OUTPUT);
}

/// The graph's input and output names.
pub const INPUT: &str = "image";
pub const OUTPUT: &str = "probabilities";

fn input_shape(spec: &ModelSpec) -> Shape {
    let [h, w, c] = spec.input;
    Shape::new(h, w, c)
}

/// The number of classes of a network's output (always flat in digits' order).
fn check_output(layout: Layout, model: &str) -> Result<usize> {
    match layout {
        Layout::Flat { n, chw_of: None } => Ok(n),
        other => Err(Error::invalid(format!("model '{model}': its output {} is not a vector", other.dims()))),
    }
}

/// What the model's users must know about its input, in its metadata.
const PREPARATION: &str = "image: float32 [N, channels, height, width] (NCHW; [N, 1, 28, 28] for MNIST), \
pixel values scaled to 0..1 (grey level / 255) with MNIST's polarity: the ink bright (1) on a dark (0) background, \
the digit about 20x20 pixels, centred by its centre of mass in the 28x28 frame. A photo or a scan must be prepared \
so first (`digits predict` does it; see digits::data::picture).";

fn finish(b: Builder, name: String, input: Shape, classes: usize, opset: i64, ir: i64) -> Result<OnnxModel> {
    let version = env!("CARGO_PKG_VERSION");
    let meta = [
        ("digits_version", version.to_string()),
        ("model", name.clone()),
        ("preparation", PREPARATION.to_string()),
        ("input_layout", "NCHW".to_string()),
        ("output", format!("{OUTPUT}: float32 [N, {classes}], the probability of each class")),
        ("classes", (0..classes).map(|c| c.to_string()).collect::<Vec<_>>().join(",")),
    ];
    let graph = GraphProto {
        node: b.nodes,
        name: Some(name.clone()),
        initializer: b.initializers,
        doc_string: Some(format!("{name}, exported by digits {version}")),
        input: vec![value_info(INPUT, &[None, Some(input.c), Some(input.h), Some(input.w)])],
        output: vec![value_info(OUTPUT, &[None, Some(classes)])],
        value_info: Vec::new(),
    };
    let model = ModelProto {
        ir_version: Some(ir),
        producer_name: Some("digits".into()),
        producer_version: Some(version.into()),
        domain: Some("digits".into()),
        model_version: Some(1),
        doc_string: Some(format!("{name}: handwritten-digit classifier trained with digits. {PREPARATION}")),
        graph: Some(graph),
        opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(opset) }],
        metadata_props: meta
            .into_iter()
            .map(|(k, v)| StringStringEntryProto { key: Some(k.into()), value: Some(v) })
            .collect(),
    };
    let bytes = model.encode_to_vec();
    Ok(OnnxModel { bytes, name, opset, ir_version: ir, input, classes, nodes: b.lines, notes: Vec::new() })
}

/// A float32 tensor value named `name` of `dims` (`None`: the batch, `N`).
fn value_info(name: &str, dims: &[Option<usize>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(v) => dimension::Value::DimValue(*v as i64),
                None => dimension::Value::DimParam("N".into()),
            }),
        })
        .collect();
    let tensor =
        type_proto::Tensor { elem_type: Some(super::onnx_proto::FLOAT), shape: Some(TensorShapeProto { dim }) };
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto { value: Some(type_proto::Value::TensorType(tensor)) }),
        doc_string: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Activation, Padding};
    use crate::export::onnx_proto::TensorProto;
    use crate::model::{LayerSpec, presets};

    fn decoded(m: &OnnxModel) -> ModelProto {
        ModelProto::decode(&m.bytes[..]).expect("the export decodes")
    }

    fn initializer<'a>(g: &'a GraphProto, name: &str) -> &'a TensorProto {
        g.initializer.iter().find(|t| t.name.as_deref() == Some(name)).unwrap_or_else(|| panic!("no {name}"))
    }

    fn values(t: &TensorProto) -> Vec<f32> {
        let raw = t.raw_data.as_deref().expect("raw data");
        raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    }

    fn dims(v: &ValueInfoProto) -> Vec<String> {
        let Some(TypeProto { value: Some(type_proto::Value::TensorType(t)) }) = &v.r#type else { panic!("{v:?}") };
        let shape = t.shape.as_ref().expect("shape");
        shape
            .dim
            .iter()
            .map(|d| match &d.value {
                Some(dimension::Value::DimValue(n)) => n.to_string(),
                Some(dimension::Value::DimParam(p)) => p.clone(),
                None => "?".into(),
            })
            .collect()
    }

    /// A 5×5 input, a `same` convolution of 3 filters, a flatten whose CHW order differs from
    /// digits' NHWC, and the dense layer that reads it.
    fn small_cnn() -> ModelSpec {
        let mut spec = ModelSpec::new(
            "small",
            "test",
            vec![
                LayerSpec::conv(3, 3, Padding::Same, Activation::Relu),
                LayerSpec::flatten(),
                LayerSpec::dense(10, Activation::Softmax),
            ],
        );
        spec.input = [5, 5, 1];
        spec
    }

    #[test]
    fn opsets_outside_13_to_21_are_refused_and_each_has_its_ir_version() {
        let irs: Vec<i64> = [13, 14, 15, 17, 18, 19, 20, 21].iter().map(|&o| ir_version(o).unwrap()).collect();
        assert_eq!(irs, [7, 7, 8, 8, 8, 9, 9, 10]);
        for bad in [-1, 0, 12, 22] {
            let e = ir_version(bad).unwrap_err().to_string();
            assert_eq!(e, format!("ONNX opset {bad} is not one digits writes (use 13 to 21)"));
        }
        let spec = presets::preset("mlp-64-64").unwrap();
        let net = spec.build(1).unwrap();
        let e = export_network(&spec, &net, &OnnxOptions { opset: 12, ..Default::default() }).unwrap_err();
        assert!(matches!(&e, Error::Invalid(m) if m.contains("opset 12")), "{e}");
        let e = export_ensemble(&[], &OnnxOptions::default()).unwrap_err();
        assert!(e.to_string().contains("at least one member"), "{e}");
    }

    #[test]
    fn a_network_that_does_not_match_its_settings_is_an_error_naming_the_layer() {
        let spec = presets::preset("mlp-64-64").unwrap();
        let mut other = spec.clone();
        other.layers[1] = LayerSpec::dense(32, Activation::Relu); // after the flatten
        let net = other.build(0).unwrap();
        let e = export_network(&spec, &net, &OnnxOptions::default()).unwrap_err();
        assert!(matches!(&e, Error::Layer { index: 1, layer, .. } if layer == "dense"), "{e:?}");
        assert_eq!(
            e.to_string(),
            "model 'mlp-64-64', layer 1 (dense): tensor 'dense.kernel' has shape [784, 32], the layer's settings need [784, 64]"
        );
    }

    #[test]
    fn weights_are_laid_out_as_onnx_reads_them() {
        let spec = small_cnn();
        let net = spec.build(7).unwrap();
        let m = export_network(&spec, &net, &OnnxOptions::default()).unwrap();
        assert_eq!(m.bytes, export_network(&spec, &net, &OnnxOptions::default()).unwrap().bytes, "deterministic");
        let model = decoded(&m);
        assert_eq!((model.ir_version, model.opset_import[0].version), (Some(8), Some(17)));
        let g = model.graph.expect("a graph");
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_deref().unwrap()).collect();
        assert_eq!(ops, ["Conv", "Relu", "Flatten", "Gemm", "Softmax"]);
        assert_eq!(g.node.last().unwrap().output, [OUTPUT]);
        assert_eq!((g.input[0].name.as_deref(), dims(&g.input[0]).join(",")), (Some(INPUT), "N,1,5,5".into()));
        assert_eq!((g.output[0].name.as_deref(), dims(&g.output[0]).join(",")), (Some(OUTPUT), "N,10".into()));
        let params: std::collections::HashMap<String, &crate::engine::Param> = net.named_params().into_iter().collect();
        // Conv: digits' [kh, kw, c_in, c_out] as ONNX's [c_out, c_in, kh, kw].
        let conv = initializer(&g, "conv2d.kernel");
        assert_eq!(conv.dims, [3, 1, 3, 3]);
        let (o, y, x) = (2, 1, 0);
        assert_eq!(values(conv)[(o * 3 + y) * 3 + x], params["conv2d.kernel"].value[(y * 3 + x) * 3 + o]);
        // Dense after the flatten: ONNX's row for channel 1 of pixel 7 is digits' row 7·3 + 1.
        let dense = initializer(&g, "dense.kernel");
        assert_eq!(dense.dims, [75, 10]);
        let (row, digits_row) = (25 + 7, 7 * 3 + 1);
        assert_eq!(values(dense)[row * 10..][..10], params["dense.kernel"].value[digits_row * 10..][..10]);
        let meta: Vec<&str> = model.metadata_props.iter().map(|p| p.key.as_deref().unwrap()).collect();
        assert!(meta.contains(&"digits_version") && meta.contains(&"preparation"), "{meta:?}");
    }

    #[test]
    fn an_ensemble_keeps_its_members_apart_and_averages_them() {
        let spec = presets::preset("mlp-64-64").unwrap();
        let nets = [spec.build(1).unwrap(), spec.build(2).unwrap()];
        let m =
            export_ensemble(&[(&spec, &nets[0]), (&spec, &nets[1])], &OnnxOptions { opset: 13, ..Default::default() })
                .unwrap();
        assert_eq!(m.name, "ensemble of 2 (mlp-64-64, mlp-64-64)");
        let g = decoded(&m).graph.expect("a graph");
        let mean = g.node.last().unwrap();
        assert_eq!(mean.op_type.as_deref(), Some("Mean"));
        assert_eq!(mean.input, ["m0/probabilities", "m1/probabilities"]);
        assert_eq!(mean.output, [OUTPUT]);
        let names: std::collections::HashSet<_> = g.initializer.iter().map(|t| t.name.clone().unwrap()).collect();
        assert_eq!(names.len(), g.initializer.len(), "initializer names repeat");
        let k1 = values(initializer(&g, "m1/dense.kernel"));
        assert_eq!(k1, nets[1].named_params()[0].1.value, "member 1's own weights");
    }

    #[test]
    fn a_temperature_ends_the_graph_as_digits_applies_it() {
        let spec = presets::preset("mlp-64-64").unwrap();
        let net = spec.build(1).unwrap();
        let options = OnnxOptions { temperature: Some(1.5), ..Default::default() };
        let g = decoded(&export_network(&spec, &net, &options).unwrap()).graph.expect("a graph");
        let ops: Vec<&str> = g.node.iter().rev().take(4).map(|n| n.op_type.as_deref().unwrap()).collect();
        assert_eq!(ops, ["Softmax", "Div", "Log", "Max"]);
        assert_eq!(g.node.last().unwrap().output, [OUTPUT]);
        assert_eq!(values(initializer(&g, "calibration/temperature")), [1.5]);
        let plain = decoded(&export_network(&spec, &net, &OnnxOptions::default()).unwrap()).graph.unwrap();
        assert_eq!(plain.node.len() + 4, g.node.len(), "no temperature, no extra nodes");
    }
}
