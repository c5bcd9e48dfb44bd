//! Exporting trained models to formats other runtimes read. [`onnx`] writes a run or an
//! ensemble as one ONNX model (onnxruntime in C#, Java, a browser, a phone); [`graph`] is its
//! translation of digits' NHWC layers into ONNX's NCHW nodes, and [`onnx_proto`] the ONNX
//! messages it encodes with prost.

pub mod graph;
pub mod onnx;
pub mod onnx_proto;

pub use graph::NodeLine;
pub use onnx::{OnnxModel, OnnxOptions, export_dir, export_ensemble, export_network};
