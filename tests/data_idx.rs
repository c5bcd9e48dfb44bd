//! The MNIST data layer end to end: the bundled files load, and every kind of bad file gives an
//! error that names the file and the problem.

mod common;

use common::temp_dir;
use std::io::Write;
use std::path::{Path, PathBuf};

use digits::Error;
use digits::data::idx::{
    IMAGES_MAGIC, IdxImages, LABELS_MAGIC, read_idx_images, read_idx_labels, write_idx_images, write_idx_labels,
};
use digits::data::split::{stratified_kfold, stratified_split};
use digits::data::{Dataset, Source, Split, load_mnist, resolve_data_dir};

fn mnist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist")
}

fn images(count: usize, rows: usize, cols: usize) -> IdxImages {
    IdxImages { count, rows, cols, pixels: (0..count * rows * cols).map(|i| (i % 256) as u8).collect() }
}

fn header(magic: u32, dims: &[u32]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Asserts the error's message mentions the file name and every one of `needles`.
#[track_caller]
fn assert_err(err: Error, file: &Path, needles: &[&str]) {
    let msg = err.to_string();
    let name = file.file_name().unwrap().to_string_lossy();
    assert!(msg.contains(&*name), "error does not name {name}: {msg}");
    for n in needles {
        assert!(msg.contains(n), "error lacks {n:?}: {msg}");
    }
}

// ---------------------------------------------------------------- the real data

#[test]
fn bundled_mnist_train_loads() {
    let d = load_mnist(&mnist_dir(), Split::Train).unwrap();
    assert_eq!(d.len(), 60_000);
    assert_eq!((d.rows, d.cols), (28, 28));
    assert_eq!(d.images.len(), 60_000 * 28 * 28);
    assert_eq!(d.labels[0], 5);
    assert!(d.images.iter().all(|&p| (0.0..=1.0).contains(&p)));
    assert_eq!(d.images.iter().copied().fold(f32::MIN, f32::max), 1.0);
    assert_eq!(d.images.iter().copied().fold(f32::MAX, f32::min), 0.0);
    let counts = d.class_counts();
    assert_eq!(counts.iter().sum::<usize>(), 60_000);
    assert_eq!(counts[1], 6742); // the well-known MNIST training class sizes
    assert_eq!(counts[5], 5421);
    assert!(d.source.contains("train-images-idx3-ubyte"));
}

#[test]
fn bundled_mnist_test_loads() {
    let d = load_mnist(&mnist_dir(), Split::Test).unwrap();
    assert_eq!(d.len(), 10_000);
    assert_eq!(d.labels[0], 7);
    assert_eq!(d.image(9_999).len(), 784);
    assert!(d.images.iter().all(|&p| (0.0..=1.0).contains(&p)));
    let sub = d.subset(&[9_999, 0]);
    assert_eq!(sub.labels, vec![d.labels[9_999], 7]);
    assert_eq!(sub.image(1), d.image(0));
}

// ---------------------------------------------------------------- round trips

#[test]
fn write_then_read_round_trips_raw_and_gz() {
    let t = temp_dir("roundtrip");
    let imgs = images(3, 4, 5);
    for name in ["x-images", "x-images.gz"] {
        write_idx_images(&t.join(name), &imgs).unwrap();
        assert_eq!(read_idx_images(&t.join(name)).unwrap(), imgs);
    }
    for name in ["x-labels", "x-labels.gz"] {
        write_idx_labels(&t.join(name), &[0, 9, 4]).unwrap();
        assert_eq!(read_idx_labels(&t.join(name)).unwrap(), vec![0, 9, 4]);
    }
    // The .gz one really is compressed.
    let bytes = std::fs::read(t.join("x-images.gz")).unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
    // No temporary files left behind.
    assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 4);
}

// ---------------------------------------------------------------- bad files

#[test]
fn bad_magic() {
    let t = temp_dir("magic");
    let p = t.join("bad-images-idx3-ubyte");
    // A label file where images are expected.
    write_idx_labels(&p, &[1, 2, 3]).unwrap();
    assert_err(read_idx_images(&p).unwrap_err(), &p, &["bad magic number 0x00000801", "expected 0x00000803"]);
    // Arbitrary bytes.
    std::fs::write(&p, b"GIF89a and so on").unwrap();
    assert_err(read_idx_labels(&p).unwrap_err(), &p, &["bad magic number 0x47494638", "expected 0x00000801"]);
    // Right type, wrong number of dimensions.
    let mut f = header(0x0000_0802, &[2, 2]);
    f.extend([0; 4]);
    std::fs::write(&p, &f).unwrap();
    assert_err(read_idx_images(&p).unwrap_err(), &p, &["0x00000802", "2 dimensions where 3 are expected"]);
}

#[test]
fn truncated_file() {
    let t = temp_dir("truncated");
    let p = t.join("cut-images-idx3-ubyte");
    write_idx_images(&p, &images(10, 28, 28)).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 100]).unwrap();
    assert_err(
        read_idx_images(&p).unwrap_err(),
        &p,
        &["truncated", "header declares 10 images of 28x28 (7840 bytes)", "only 7740 bytes"],
    );
    // Cut inside the header.
    std::fs::write(&p, &bytes[..10]).unwrap();
    assert_err(read_idx_images(&p).unwrap_err(), &p, &["truncated", "header"]);
    // The same, compressed.
    let g = t.join("cut-images-idx3-ubyte.gz");
    std::fs::write(&g, gzip(&bytes[..bytes.len() - 100])).unwrap();
    assert_err(read_idx_images(&g).unwrap_err(), &g, &["truncated", "7840 bytes", "only 7740 bytes"]);
    // A gzip stream that is itself cut short.
    let z = gzip(&bytes);
    std::fs::write(&g, &z[..z.len() / 2]).unwrap();
    assert_err(read_idx_images(&g).unwrap_err(), &g, &["gzip"]);
}

#[test]
fn trailing_bytes() {
    let t = temp_dir("trailing");
    let p = t.join("long-labels-idx1-ubyte");
    let mut f = header(LABELS_MAGIC, &[3]);
    f.extend([1, 2, 3, 4, 5]);
    std::fs::write(&p, &f).unwrap();
    assert_err(read_idx_labels(&p).unwrap_err(), &p, &["trailing data", "header declares 3 labels", "2 extra"]);
    let g = t.join("long-labels-idx1-ubyte.gz");
    std::fs::write(&g, gzip(&f)).unwrap();
    assert_err(read_idx_labels(&g).unwrap_err(), &g, &["trailing data"]);
}

#[test]
fn label_out_of_range() {
    let t = temp_dir("label10");
    let p = t.join("bad-labels-idx1-ubyte");
    let mut labels = vec![3u8; 30];
    labels[17] = 10;
    write_idx_labels(&p, &labels).unwrap();
    assert_err(read_idx_labels(&p).unwrap_err(), &p, &["label 10 at record 17 is outside 0-9"]);
}

#[test]
fn huge_header_in_small_file() {
    let t = temp_dir("huge");
    let mut f = header(IMAGES_MAGIC, &[4_000_000_000, 28, 28]);
    f.extend([7u8; 784]);
    let p = t.join("huge-images-idx3-ubyte");
    std::fs::write(&p, &f).unwrap();
    let g = t.join("huge-images-idx3-ubyte.gz");
    std::fs::write(&g, gzip(&f)).unwrap();
    for file in [&p, &g] {
        assert_err(
            read_idx_images(file).unwrap_err(),
            file,
            &["refused: header declares 4000000000 images of 28x28, more than 100000 records"],
        );
    }
    // Labels too.
    let mut f = header(LABELS_MAGIC, &[4_000_000_000]);
    f.extend([1u8; 5]);
    let l = t.join("huge-labels-idx1-ubyte.gz");
    std::fs::write(&l, gzip(&f)).unwrap();
    assert_err(
        read_idx_labels(&l).unwrap_err(),
        &l,
        &["refused: header declares 4000000000 labels, more than 100000 records"],
    );
}

#[test]
fn not_gzip() {
    let t = temp_dir("notgzip");
    let g = t.join("t10k-images-idx3-ubyte.gz");
    std::fs::write(&g, b"this is plain text, not gzip data").unwrap();
    assert_err(read_idx_images(&g).unwrap_err(), &g, &["not valid gzip"]);
    // A raw IDX file wearing a .gz name is not gzip either.
    write_idx_labels(&t.join("x"), &[1, 2]).unwrap();
    std::fs::rename(t.join("x"), t.join("x.gz")).unwrap();
    assert_err(read_idx_labels(&t.join("x.gz")).unwrap_err(), &t.join("x.gz"), &["not valid gzip"]);
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let t = temp_dir("missingfile");
    let p = t.join("nope-images-idx3-ubyte");
    let e = read_idx_images(&p).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
    assert_err(e, &p, &[]);
}

// ---------------------------------------------------------------- load_mnist

#[test]
fn count_mismatch() {
    let t = temp_dir("mismatch");
    write_idx_images(&t.join("train-images-idx3-ubyte"), &images(3, 28, 28)).unwrap();
    write_idx_labels(&t.join("train-labels-idx1-ubyte.gz"), &[1, 2]).unwrap();
    let e = load_mnist(t.path(), Split::Train).unwrap_err();
    assert!(matches!(e, Error::Mismatch { .. }), "{e:?}");
    assert_err(e, &t.join("train-labels-idx1-ubyte.gz"), &["train-images-idx3-ubyte", "3 images", "2 labels"]);
}

#[test]
fn wrong_image_shape() {
    let t = temp_dir("shape");
    let p = t.join("t10k-images-idx3-ubyte");
    write_idx_images(&p, &images(2, 20, 20)).unwrap();
    write_idx_labels(&t.join("t10k-labels-idx1-ubyte"), &[1, 2]).unwrap();
    assert_err(load_mnist(t.path(), Split::Test).unwrap_err(), &p, &["20x20", "28x28"]);
}

#[test]
fn bad_label_through_loader() {
    let t = temp_dir("loaderlabel");
    write_idx_images(&t.join("t10k-images-idx3-ubyte"), &images(2, 28, 28)).unwrap();
    let l = t.join("t10k-labels-idx1-ubyte");
    write_idx_labels(&l, &[4, 200]).unwrap();
    assert_err(load_mnist(t.path(), Split::Test).unwrap_err(), &l, &["label 200 at record 1 is outside 0-9"]);
}

#[test]
fn missing_files_name_dir_and_candidates() {
    let t = temp_dir("missing");
    write_idx_labels(&t.join("train-labels-idx1-ubyte"), &[1]).unwrap();
    let e = load_mnist(t.path(), Split::Train).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    let msg = e.to_string();
    for n in [
        &*t.path().display().to_string(),
        "train-images-idx3-ubyte",
        "train-images-idx3-ubyte.gz",
        "--data DIR",
        "DIGITS_DATA",
    ] {
        assert!(msg.contains(n), "lacks {n:?}: {msg}");
    }
    assert!(!msg.contains("train-labels"), "labels were found: {msg}");
}

#[test]
fn raw_preferred_over_gz_and_pixels_scaled() {
    let t = temp_dir("prefer");
    let raw =
        IdxImages { count: 1, rows: 28, cols: 28, pixels: (0..784).map(|i| if i == 0 { 255 } else { 51 }).collect() };
    write_idx_images(&t.join("train-images-idx3-ubyte"), &raw).unwrap();
    write_idx_images(&t.join("train-images-idx3-ubyte.gz"), &images(2, 28, 28)).unwrap();
    write_idx_labels(&t.join("train-labels-idx1-ubyte"), &[6]).unwrap();
    write_idx_labels(&t.join("train-labels-idx1-ubyte.gz"), &[1, 2]).unwrap();
    let d = load_mnist(t.path(), Split::Train).unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d.labels, vec![6]);
    assert_eq!(d.image(0)[0], 1.0);
    assert_eq!(d.image(0)[1], 0.2);
}

#[test]
fn dataset_open_reads_an_mnist_directory() {
    let t = temp_dir("open");
    write_idx_images(&t.join("train-images-idx3-ubyte.gz"), &images(3, 28, 28)).unwrap();
    write_idx_labels(&t.join("train-labels-idx1-ubyte.gz"), &[1, 2, 3]).unwrap();
    let train = Dataset::open(t.path()).unwrap();
    assert_eq!(train, load_mnist(t.path(), Split::Train).unwrap());
    assert_eq!(train.first(2).labels, vec![1, 2]);
    assert!(Source::detect(t.path()).has_test_split());
    // The test split is missing: the error names the directory and what was looked for.
    let e = Dataset::open_split(t.path(), Split::Test).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains(&*t.path().display().to_string()) && msg.contains("t10k-images-idx3-ubyte"), "{msg}");
    let test = Dataset::open_split(mnist_dir(), Split::Test).unwrap().first(100);
    assert_eq!(test, load_mnist(&mnist_dir(), Split::Test).unwrap().subset(&(0..100).collect::<Vec<_>>()));
}

#[test]
fn cli_dir_wins() {
    assert_eq!(resolve_data_dir(Some(Path::new("/some/dir"))), Path::new("/some/dir"));
}

// ---------------------------------------------------------------- splits

#[test]
fn stratified_split_on_mnist_labels() {
    let labels = read_idx_labels(&mnist_dir().join("train-labels-idx1-ubyte.gz")).unwrap();
    let fraction = 0.1;
    let (train, val) = stratified_split(&labels, fraction, 7).unwrap();

    // Disjoint and covering.
    let mut seen = vec![0u8; labels.len()];
    for &i in train.iter().chain(&val) {
        seen[i] += 1;
    }
    assert!(seen.iter().all(|&s| s == 1));
    assert!(train.is_sorted() && val.is_sorted());

    // Each class within +-1 of its share.
    for c in 0..10u8 {
        let total = labels.iter().filter(|&&l| l == c).count() as f64;
        let in_val = val.iter().filter(|&&i| labels[i] == c).count() as f64;
        assert!((in_val - fraction * total).abs() <= 1.0, "class {c}: {in_val} of {total}");
    }

    // Deterministic for a seed, different for another.
    assert_eq!(stratified_split(&labels, fraction, 7).unwrap(), (train.clone(), val.clone()));
    assert_ne!(stratified_split(&labels, fraction, 8).unwrap().1, val);

    // Bad fractions.
    for f in [0.0, 1.0, 2.0] {
        assert!(stratified_split(&labels, f, 7).is_err());
    }
}

#[test]
fn stratified_kfold_on_mnist_labels() {
    let labels = read_idx_labels(&mnist_dir().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let folds = stratified_kfold(&labels, 5, 3).unwrap();
    assert_eq!(folds.len(), 5);
    assert!(folds.iter().all(|f| f.len() == 2_000));
    let mut all = folds.concat();
    all.sort_unstable();
    assert_eq!(all, (0..labels.len()).collect::<Vec<_>>());
    assert_eq!(folds, stratified_kfold(&labels, 5, 3).unwrap());
    assert!(stratified_kfold(&labels, 1, 3).is_err());
}
