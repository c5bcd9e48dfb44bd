//! The fuzz targets: each one of the library's real loaders, fed a file written into a scratch
//! directory (on /dev/shm when there is one), with seeds that are real files of its format,
//! made from the repository's data and fixtures by the library's own writers.

use super::mutate::{Case, words_of};
use super::tree::{self, Format};
use digits::data::csv::{parse_csv, read_csv, write_csv};
use digits::data::idx::{IdxImages, read_idx_images, read_idx_labels, write_idx_images, write_idx_labels};
use digits::data::picture::load_picture;
use digits::model::ensemble::{load_ensemble, tta_default};
use digits::model::format::load_model;
use digits::train::TrainOptions;
use digits::train::checkpoint::{load_checkpoint, load_weights};
use digits::tune::space::Space;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Every target, in the order the long run reports them.
pub const NAMES: &[&str] = &[
    "idx-images",
    "idx-labels",
    "csv",
    "csv-gz",
    "picture",
    "model-json",
    "model-weights",
    "model-file",
    "recipe",
    "space",
    "ensemble",
    "checkpoint",
];

type Run = Box<dyn FnMut(&[u8], u32) -> digits::Result<()>>;

/// A loader with its seeds and its scratch directory.
pub struct Target {
    pub name: &'static str,
    /// Valid files of the target's format.
    pub seeds: Vec<Vec<u8>>,
    /// Words of the format, for the mutator's insertions.
    pub words: Vec<Vec<u8>>,
    /// Longest input made by mutation.
    pub max_len: usize,
    /// Whether the format is text (the mutator then mostly keeps it so).
    pub text: bool,
    /// Whether the format is safetensors (see [`Target::bytes`]).
    safetensors: bool,
    run: Run,
    /// Whether every refusal must name the input's file (it is in the scratch directory).
    pub names_file: bool,
    /// Holds the scratch directory while the target lives.
    dir: tempfile::TempDir,
}

impl Target {
    /// Runs the loader on `input`; `variant` picks how the bytes are presented (see each target).
    pub fn run(&mut self, input: &[u8], variant: u32) -> digits::Result<()> {
        (self.run)(input, variant)
    }

    /// The scratch directory, which holds the input's file: refusals name it.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The bytes of `case` for this target. A safetensors file (weights, checkpoints) is, for
    /// variants with bit 2 set, mutated inside its JSON header only, the header's length
    /// prefix kept true: else nearly every change is refused for that length alone.
    ///
    /// A JSON or TOML file (a safetensors header included) is, for variants with bit 4 set,
    /// mutated as a tree ([`tree`]), so that it still parses; with bit 5 also set, the tree
    /// mutated is the JSON inside its first string that holds an object (a checkpoint's
    /// training state).
    pub fn bytes(&self, case: &Case) -> Vec<u8> {
        let start = case.start(&self.seeds);
        let tree = case.variant & 16 != 0 && case.seed.is_some();
        let inner = case.variant & 32 != 0;
        if self.safetensors
            && case.variant & 4 != 0
            && case.seed.is_some()
            && let Some((header, data)) = safetensors_parts(start)
        {
            let header = tree
                .then(|| tree::mutate(header, Format::Json, &case.ops, &self.words, inner))
                .flatten()
                .unwrap_or_else(|| case.mutate(header.to_vec(), &[], &self.words, true, self.max_len));
            return [&(header.len() as u64).to_le_bytes()[..], &header, data].concat();
        }
        if tree && self.text {
            let json = start.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
            let format = if json { Format::Json } else { Format::Toml };
            if let Some(bytes) = tree::mutate(start, format, &case.ops, &self.words, false) {
                return bytes;
            }
        }
        case.mutate(start.to_vec(), &self.seeds, &self.words, self.text, self.max_len)
    }
}

/// A target around `run` with one seed, for checking the harness itself on planted bugs.
pub fn planted(run: impl FnMut(&[u8], u32) -> digits::Result<()> + 'static) -> Target {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let seeds = vec![b"seed".to_vec()];
    Target {
        name: "planted",
        seeds,
        words: Vec::new(),
        max_len: 1024,
        text: false,
        safetensors: false,
        run: Box::new(run),
        names_file: false,
        dir,
    }
}

/// The target called `name` (one of [`NAMES`]), with a fresh scratch directory.
pub fn target(name: &str) -> Target {
    let dir = tempfile::Builder::new()
        .prefix("digits-fuzz-")
        .tempdir_in(if Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" })
        .expect("a scratch directory");
    let d = dir.path().to_path_buf();
    let (seeds, run, max_len): (Vec<Vec<u8>>, Run, usize) = match name {
        "idx-images" => (idx_image_seeds(&d), idx(d, |p| read_idx_images(p).map(drop)), 64 << 10),
        "idx-labels" => (idx_label_seeds(&d), idx(d, |p| read_idx_labels(p).map(drop)), 16 << 10),
        "csv" => (csv_seeds(&d), csv(d), 256 << 10),
        "csv-gz" => (csv_seeds(&d), csv_gz(d), 256 << 10),
        "picture" => (picture_seeds(), picture(d), 64 << 10),
        "model-json" => model_json(d),
        "model-weights" => model_weights(d),
        "model-file" => model_file(d),
        "recipe" => (recipe_seeds(), recipe(d), 64 << 10),
        "space" => (space_seeds(), space(d), 64 << 10),
        "ensemble" => ensemble(d),
        "checkpoint" => checkpoint(d),
        _ => panic!("no fuzz target {name} (targets: {})", NAMES.join(", ")),
    };
    let name = NAMES.iter().find(|n| **n == name).expect("listed");
    let text = !matches!(*name, "idx-images" | "idx-labels" | "picture" | "model-weights" | "checkpoint");
    let safetensors = matches!(*name, "model-weights" | "checkpoint");
    let words = if text {
        words_of(&seeds)
    } else if safetensors {
        words_of(&seeds.iter().filter_map(|s| safetensors_parts(s)).map(|(h, _)| h.to_vec()).collect::<Vec<_>>())
    } else {
        words_of(&[])
    };
    Target { name, seeds, words, max_len, text, safetensors, run, names_file: true, dir }
}

/// The JSON header and the data of a safetensors file (after its 8-byte little-endian length).
fn safetensors_parts(file: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u64::from_le_bytes(file.get(..8)?.try_into().ok()?);
    let end = 8usize.checked_add(usize::try_from(len).ok()?)?;
    Some((file.get(8..end)?, &file[end..]))
}

/// The repository's root (for data and fixtures).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: impl AsRef<Path>) -> Vec<u8> {
    let path = path.as_ref();
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// `bytes` gzip-compressed.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("in memory");
    enc.finish().expect("in memory")
}

/// The first `n` MNIST test images (28×28) and their labels.
fn mnist(n: usize) -> (IdxImages, Vec<u8>) {
    let dir = root().join("data/mnist");
    let images = read_idx_images(&dir.join("t10k-images-idx3-ubyte.gz")).expect("bundled MNIST");
    let labels = read_idx_labels(&dir.join("t10k-labels-idx1-ubyte.gz")).expect("bundled MNIST");
    let pixels = images.pixels[..n * 784].to_vec();
    (IdxImages { count: n, rows: 28, cols: 28, pixels }, labels[..n].to_vec())
}

/// Three MNIST images, plain and gzip-compressed, and a file of one 4×5 image.
fn idx_image_seeds(d: &Path) -> Vec<Vec<u8>> {
    let (images, _) = mnist(3);
    let small = IdxImages { count: 1, rows: 4, cols: 5, pixels: (0..20).collect() };
    let mut seeds = Vec::new();
    for (images, name) in [(&images, "s.idx"), (&images, "s.idx.gz"), (&small, "t.idx")] {
        write_idx_images(&d.join(name), images).expect("write a seed");
        seeds.push(read(d.join(name)));
    }
    seeds
}

/// Ten MNIST labels, plain and gzip-compressed.
fn idx_label_seeds(d: &Path) -> Vec<Vec<u8>> {
    let (_, labels) = mnist(10);
    ["s.idx", "s.idx.gz"]
        .iter()
        .map(|name| {
            write_idx_labels(&d.join(name), &labels).expect("write a seed");
            read(d.join(name))
        })
        .collect()
}

/// IDX files: bit 0 of the variant gzips the input (so a mutated raw file is also read
/// through the decompressor), bit 1 names it `.gz`.
fn idx(d: PathBuf, load: fn(&Path) -> digits::Result<()>) -> Run {
    let (plain, gz) = (d.join("input-idx3-ubyte"), d.join("input-idx3-ubyte.gz"));
    Box::new(move |input, variant| {
        let path = if variant & 2 == 0 { &plain } else { &gz };
        if variant & 1 == 0 {
            write(path, input)
        } else {
            write(path, &gzip(input))
        }
        load(path)
    })
}

/// Kaggle files written by `write_csv` (train and test layouts), and the same with CRLF line
/// ends, a byte-order mark and quoted cells.
fn csv_seeds(d: &Path) -> Vec<Vec<u8>> {
    let (images, labels) = mnist(3);
    let mut seeds = Vec::new();
    for (name, labels) in [("train.csv", Some(&labels[..])), ("test.csv", None)] {
        write_csv(&d.join(name), &images.pixels, labels).expect("write a seed");
        seeds.push(read(d.join(name)));
    }
    let crlf: Vec<u8> = seeds[0].iter().flat_map(|&b| if b == b'\n' { vec![b'\r', b'\n'] } else { vec![b] }).collect();
    seeds.push([&b"\xef\xbb\xbf"[..], &crlf].concat());
    let text = String::from_utf8(seeds[1].clone()).expect("text");
    seeds.push(text.replacen("pixel0", "\"pixel0\"", 1).replace(",0,", ",\"0\",").into_bytes());
    seeds
}

/// `parse_csv` on the bytes (even variants) or `read_csv` on a `.csv` file (odd).
fn csv(d: PathBuf) -> Run {
    let path = d.join("input.csv");
    Box::new(move |input, variant| {
        if variant & 1 == 0 {
            parse_csv(&path, input).map(drop)
        } else {
            write(&path, input);
            read_csv(&path).map(drop)
        }
    })
}

/// `read_csv` on a `.csv.gz` file: the input gzipped (three variants in four) or as it is.
fn csv_gz(d: PathBuf) -> Run {
    let path = d.join("input.csv.gz");
    Box::new(move |input, variant| {
        if variant & 3 == 3 {
            write(&path, input)
        } else {
            write(&path, &gzip(input))
        }
        read_csv(&path).map(drop)
    })
}

/// An MNIST digit as dark ink on white paper, in every format digits reads (PNG grey, RGBA and
/// 16-bit, JPEG, BMP, GIF, WebP), at 28×28 and 40×30, and two of the example photos.
fn picture_seeds() -> Vec<Vec<u8>> {
    use image::{DynamicImage, GrayImage, ImageFormat, imageops};
    let (images, _) = mnist(1);
    let grey = GrayImage::from_fn(28, 28, |x, y| image::Luma([255 - images.pixels[(y * 28 + x) as usize]]));
    let wide = DynamicImage::ImageLuma8(imageops::resize(&grey, 40, 30, imageops::FilterType::Triangle));
    let grey = DynamicImage::ImageLuma8(grey);
    let encode = |img: &DynamicImage, format: ImageFormat| {
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, format).expect("encode a seed");
        out.into_inner()
    };
    let mut seeds = vec![
        encode(&grey, ImageFormat::Png),
        encode(&DynamicImage::ImageRgba8(wide.to_rgba8()), ImageFormat::Png),
        encode(&DynamicImage::ImageLuma16(grey.to_luma16()), ImageFormat::Png),
        encode(&DynamicImage::ImageRgb8(wide.to_rgb8()), ImageFormat::Jpeg),
        encode(&DynamicImage::ImageRgb8(grey.to_rgb8()), ImageFormat::Bmp),
        encode(&DynamicImage::ImageRgba8(grey.to_rgba8()), ImageFormat::Gif),
        encode(&DynamicImage::ImageRgba8(wide.to_rgba8()), ImageFormat::WebP),
    ];
    for name in ["seven-marker.png", "four-drawing-app.png"] {
        seeds.push(read(root().join("examples/digits").join(name)));
    }
    seeds
}

/// `load_picture` (decode and prepare) on a file whose extension the variant picks (the
/// decoder follows a known extension); bit 3 recomputes the CRCs of a PNG's chunks, so a
/// mutation reaches the decoder instead of the checksum.
fn picture(d: PathBuf) -> Run {
    const EXTENSIONS: &[&str] = &["png", "jpg", "bmp", "gif", "webp", "jpeg", "dat", "png"];
    let paths: Vec<PathBuf> = EXTENSIONS.iter().map(|e| d.join(format!("input.{e}"))).collect();
    Box::new(move |input, variant| {
        let path = &paths[variant as usize % paths.len()];
        if variant & 8 != 0 && input.starts_with(b"\x89PNG") {
            write(path, &fix_png_crcs(input));
        } else {
            write(path, input);
        }
        load_picture(path).map(drop)
    })
}

/// `png` with each whole chunk's CRC recomputed.
fn fix_png_crcs(png: &[u8]) -> Vec<u8> {
    let mut out = png.to_vec();
    let mut at = 8;
    while at + 12 <= out.len() {
        let len = u32::from_be_bytes(out[at..at + 4].try_into().expect("4 bytes")) as usize;
        let Some(end) = (at + 8).checked_add(len).filter(|e| e + 4 <= out.len()) else { break };
        let mut crc = flate2::Crc::new();
        crc.update(&out[at + 4..end]);
        out[end..end + 4].copy_from_slice(&crc.sum().to_be_bytes());
        at = end + 4;
    }
    out
}

/// A model directory made from a fixture (model-v1 has every layer type and option).
fn model_dir(d: &Path, name: &str, fixture: &str) -> PathBuf {
    let dir = d.join(name);
    std::fs::create_dir_all(&dir).expect("a model directory");
    for file in ["model.json", "model.safetensors"] {
        write(&dir.join(file), &read(root().join("tests/fixtures").join(fixture).join(file)));
    }
    dir
}

/// `load_model` with `model.json` fuzzed (beside model-v1's weights); odd variants give the
/// path of `model.json` instead of the directory.
fn model_json(d: PathBuf) -> (Vec<Vec<u8>>, Run, usize) {
    let fixtures = root().join("tests/fixtures");
    let v1 = read(fixtures.join("model-v1/model.json"));
    let mut tree: serde_json::Value = serde_json::from_slice(&v1).expect("fixture");
    let compact = serde_json::to_vec(&tree).expect("json");
    tree["calibration"] = calibration();
    let calibrated = serde_json::to_vec_pretty(&tree).expect("json");
    let seeds = vec![v1, compact, calibrated];
    let dir = model_dir(&d, "m", "model-v1");
    let json = dir.join("model.json");
    let run: Run = Box::new(move |input, variant| {
        write(&json, input);
        load_model(if variant & 1 == 0 { &dir } else { &json }).map(drop)
    });
    (seeds, run, 64 << 10)
}

/// A temperature as `digits calibrate` records it in `model.json` and `ensemble.json`.
fn calibration() -> serde_json::Value {
    serde_json::json!({
        "temperature": 1.37,
        "fitted_on": "the validation split 0.1, seed 0",
        "images": 6000,
        "nll_before": 0.081,
        "nll_after": 0.069,
        "ece_before": 0.012,
        "ece_after": 0.004,
    })
}

/// `load_model` with `model.safetensors` fuzzed (beside model-v1's `model.json`).
fn model_weights(d: PathBuf) -> (Vec<Vec<u8>>, Run, usize) {
    let dir = model_dir(&d, "m", "model-v1");
    let weights = dir.join("model.safetensors");
    let seeds = vec![read(&weights)];
    let run: Run = Box::new(move |input, _| {
        write(&weights, input);
        load_model(&dir).map(drop)
    });
    (seeds, run, 64 << 10)
}

/// The model file of `train --model FILE` (through the same `presets::resolve`): TOML, or
/// JSON when the input starts with `{`. Seeds: README's example, model-v1's layers in both
/// forms, the fast recipe's model.
fn model_file(d: PathBuf) -> (Vec<Vec<u8>>, Run, usize) {
    let saved: digits::model::format::SavedModel =
        serde_json::from_slice(&read(root().join("tests/fixtures/model-v1/model.json"))).expect("fixture");
    let fast = String::from_utf8(read(root().join("recipes/fast.toml"))).expect("text");
    let seeds = vec![
        README_MODEL.as_bytes().to_vec(),
        toml::to_string(&saved.spec).expect("a model spec as TOML").into_bytes(),
        serde_json::to_vec_pretty(&saved.spec).expect("a model spec as JSON"),
        fast.as_bytes()[fast.find("[model]\n").expect("a [model] table") + 8..].to_vec(),
    ];
    let (toml_path, json_path) = (d.join("model.toml"), d.join("model.json"));
    let run: Run = Box::new(move |input, _| {
        let json = input.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        let path = if json { &json_path } else { &toml_path };
        write(path, input);
        digits::model::presets::resolve(&path.to_string_lossy()).map(drop)
    });
    (seeds, run, 64 << 10)
}

/// README's example model file.
const README_MODEL: &str = r#"name = "small-cnn"
input = [28, 28, 1]

[[layers]]
type = "conv2d"
filters = 32
kernel_size = 3
strides = 1
padding = "same"
activation = "relu"
kernel_initializer = "he_normal"
kernel_regularizer = { l2 = 1e-4 }
activity_regularizer = { l2 = 1e-5 }

[[layers]]
type = "max_pool2d"

[[layers]]
type = "batch_normalization"

[[layers]]
type = "flatten"

[[layers]]
type = "dense"
units = 10
activation = "softmax"
"#;

/// A recipe with every field, a small inline model.
const FULL_RECIPE: &str = r#"description = "every field"
epochs = 4
batch_size = 32
optimizer = "sgd"
lr = 0.05
momentum = 0.9
schedule = "cosine"
validation_split = 0.1

[augment]
rotation = 10.0
width_shift = 0.1
height_shift = 0.1
zoom = 0.1
shear = 0.2
elastic_alpha = 34.0
elastic_sigma = 4.0

[early_stopping]
monitor = "val_accuracy"
min_delta = 0.001
patience = 3
restore_best_weights = true

[reduce_lr_on_plateau]
monitor = "val_loss"
factor = 0.5
patience = 2
min_delta = 0.0001
cooldown = 1
min_lr = 0.00001

[model]
name = "tiny"
layers = [
  { type = "conv2d", filters = 4, kernel_size = 3, strides = 2, padding = "same", activation = "relu" },
  { type = "max_pool2d", pool_size = 2 },
  { type = "flatten" },
  { type = "dropout", rate = 0.25 },
  { type = "dense", units = 10, activation = "softmax" },
]
"#;

/// The built-in recipes, the full one above, one naming a preset.
fn recipe_seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> =
        ["fast.toml", "best.toml"].iter().map(|r| read(root().join("recipes").join(r))).collect();
    seeds.push(FULL_RECIPE.as_bytes().to_vec());
    seeds.push(b"model = \"mlp-64-64\"\nepochs = 2\nschedule = \"one-cycle\"\n".to_vec());
    seeds
}

/// `TrainOptions { recipe }.resolve()`, what `train --recipe FILE` does: the recipe read and
/// checked, its model resolved and built once, the settings checked.
fn recipe(d: PathBuf) -> Run {
    let path = d.join("recipe.toml").to_string_lossy().into_owned();
    Box::new(move |input, _| {
        write(Path::new(&path), input);
        TrainOptions { recipe: Some(path.clone()), ..Default::default() }.resolve().map(drop)
    })
}

/// The example spaces and the CNN space of `space.rs`'s docs (conditions, log ranges).
fn space_seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> =
        ["cnn.toml", "mlp.toml", "tiny.toml"].iter().map(|s| read(root().join("examples/spaces").join(s))).collect();
    seeds.push(
        br#"model = "cnn"
[params]
blocks      = { int = [1, 3] }
filters_1   = { choice = [16, 32, 64] }
filters_2   = { choice = [32, 64], when = "blocks >= 2" }
dense_units = { int = [64, 256], step = 64 }
batch_norm  = { choice = [true, false] }
dropout     = { float = [0.0, 0.5] }
lr          = { float = [1e-4, 1e-2], log = true }
optimizer   = { choice = ["adam", "rmsprop"] }
"#
        .to_vec(),
    );
    seeds
}

/// `Space::from_file`, which checks the space and builds one trial's model.
fn space(d: PathBuf) -> Run {
    let path = d.join("space.toml");
    Box::new(move |input, _| {
        write(&path, input);
        Space::from_file(&path).map(drop)
    })
}

/// `load_ensemble` with `ensemble.json` fuzzed, beside three members: tiny-run, model-v1 and
/// the default preset (670,000 parameters, the size of a real member).
fn ensemble(d: PathBuf) -> (Vec<Vec<u8>>, Run, usize) {
    let dir = d.join("e");
    model_dir(&dir.join("members"), "0", "tiny-run");
    model_dir(&dir.join("members"), "1", "model-v1");
    let spec = digits::model::presets::resolve(digits::model::presets::DEFAULT).expect("the default preset");
    let net = spec.build(0).expect("the default preset builds");
    digits::model::format::save_model(&dir.join("members/2"), &spec, &net).expect("save a member");
    // The fields `save_ensemble` writes (as JSON, so that fields added later keep their defaults).
    let file = |members: &[&str], tta: usize| {
        serde_json::json!({
            "format": digits::model::ensemble::FORMAT,
            "format_version": digits::model::ensemble::FORMAT_VERSION,
            "members": members,
            "tta": tta,
            "tta_augment": tta_default(),
            "sources": members.iter().map(|m| format!("runs/{m}")).collect::<Vec<_>>(),
        })
    };
    let mut calibrated = file(&["members/1", "members/0"], 1);
    calibrated["calibration"] = calibration();
    let seeds = vec![
        serde_json::to_vec_pretty(&calibrated).expect("json"),
        serde_json::to_vec_pretty(&file(&["members/0", "members/1"], 0)).expect("json"),
        serde_json::to_vec_pretty(&file(&["members/0", "members/2", "members/1"], 2)).expect("json"),
        serde_json::to_vec_pretty(&file(&["members/1"], 4)).expect("json"),
    ];
    let json = dir.join("ensemble.json");
    let run: Run = Box::new(move |input, _| {
        write(&json, input);
        load_ensemble(&dir).map(drop)
    });
    (seeds, run, 64 << 10)
}

/// `load_checkpoint` (even variants) and `load_weights` (odd) on checkpoints of model-v1 saved
/// by `save_checkpoint`: after two Adam steps with a history of three epochs, and before any
/// step.
fn checkpoint(d: PathBuf) -> (Vec<Vec<u8>>, Run, usize) {
    use digits::engine::Loss;
    use digits::engine::loss::Targets;
    use digits::optim::{Optimizer, OptimizerConfig};
    use digits::train::checkpoint::save_checkpoint;
    use digits::train::{EpochRecord, Progress};
    let (_, mut net) = load_model(&root().join("tests/fixtures/model-v1")).expect("fixture");
    let mut opt = Optimizer::new(OptimizerConfig::by_name("adam").expect("adam"));
    let path = d.join("checkpoint.safetensors");
    let mut seeds = Vec::new();
    save_checkpoint(&path, &net, &opt, &Progress::default()).expect("save a seed");
    seeds.push(read(&path));
    let (images, labels) = mnist(8);
    let x = digits::data::scale_pixels(&images.pixels);
    for s in 0..2 {
        net.forward(&x, 8, true, s);
        net.loss_grad(Targets::Labels(&labels), Loss::SparseCategoricalCrossentropy);
        net.backward(&x);
        opt.step(&mut net);
    }
    let mut progress = Progress { epochs_done: 3, ..Default::default() };
    for epoch in 1..=3 {
        let f = epoch as f64;
        let record = EpochRecord {
            epoch,
            loss: 1.0 / f,
            accuracy: 0.9 + f / 100.0,
            val_loss: Some(1.1 / f),
            val_accuracy: Some(0.89 + f / 100.0),
            lr: 0.001,
            seconds: 2.5,
        };
        progress.history.epochs.push(record);
    }
    progress.callbacks.early_stopping.best = Some(0.37);
    save_checkpoint(&path, &net, &opt, &progress).expect("save a seed");
    seeds.push(read(&path));
    let run: Run = Box::new(move |input, variant| {
        write(&path, input);
        if variant & 1 == 0 {
            load_checkpoint(&path, &mut net, &mut opt).map(drop)
        } else {
            load_weights(&path, &net).map(drop)
        }
    });
    (seeds, run, 64 << 10)
}
