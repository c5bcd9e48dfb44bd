//! Files we did not write (issue 16, items 7-9): decompression bombs, paths leading out of their
//! folder, FIFOs, control characters and the messages about bad data. Every bomb is built here
//! at run time (small on disk) and must be refused quickly, naming the file and the limit.

mod common;

use common::*;
use flate2::{Compression, write::GzEncoder};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `digits ARGS`, which must fail with status 1 within `secs` seconds (else it is killed
/// and the test fails as a hang); returns its standard error.
fn fails_within(secs: u64, args: &[&str]) -> String {
    let mut child = digits_cmd()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run digits");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > Duration::from_secs(secs) {
            child.kill().ok();
            child.wait().ok();
            panic!("digits {args:?} still running after {secs} s: a hang");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out: Output = child.wait_with_output().expect("output");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "digits {args:?} should fail:\n{err}");
    err
}

/// Gzip-compresses `parts`, each written `times` times, into `path` (streamed: the inflated
/// size is never held in memory).
fn write_gz(path: &Path, parts: &[(&[u8], usize)]) {
    let file = std::fs::File::create(path).unwrap();
    let mut enc = GzEncoder::new(std::io::BufWriter::new(file), Compression::fast());
    for (bytes, times) in parts {
        for _ in 0..*times {
            enc.write_all(bytes).unwrap();
        }
    }
    enc.finish().unwrap().flush().unwrap();
}

fn csv_header(label: bool) -> String {
    let pixels = (0..784).map(|i| format!("pixel{i}"));
    let cells: Vec<String> = label.then(|| "label".to_string()).into_iter().chain(pixels).collect();
    cells.join(",") + "\n"
}

fn csv_row(label: u8, cell: &str) -> String {
    let mut cells = vec!["0"; 784];
    cells[5] = cell;
    format!("{label},{}\n", cells.join(","))
}

#[test]
fn csv_gz_bomb_is_refused_under_the_ceiling() {
    let t = temp_dir("csv-bomb");
    // Rows: one more than the ceiling of 100,000 images (157 MB of text, a few hundred KB packed).
    let rows = t.join("rows.csv.gz");
    let (header, row) = (csv_header(true), csv_row(3, "0"));
    write_gz(&rows, &[(header.as_bytes(), 1), (row.as_bytes(), digits::data::MAX_IMAGES + 1)]);
    assert!(std::fs::metadata(&rows).unwrap().len() < 4_000_000);
    let e = fails_within(60, &["data", "--data", s(&rows)]);
    assert!(e.contains("rows.csv.gz: line 100002: refused: more than 100000 images"), "{e}");
    // One endless line: refused after 64 KiB, not buffered whole.
    let line = t.join("line.csv.gz");
    write_gz(&line, &[(header.as_bytes(), 1), (&[b'0'; 1 << 20], 200)]);
    let e = fails_within(20, &["data", "--data", s(&line)]);
    assert!(e.contains("line.csv.gz: refused: line 2 is longer than 65536 bytes"), "{e}");
    // Blank lines: they count towards the ceiling on lines.
    let blank = t.join("blank.csv.gz");
    write_gz(&blank, &[(header.as_bytes(), 1), (&[b'\n'; 1 << 20], 1)]);
    let e = fails_within(20, &["data", "--data", s(&blank)]);
    assert!(e.contains("refused: more than 200000 lines"), "{e}");
}

fn idx_header(magic: u32, dims: &[u32]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    dims.iter().for_each(|d| v.extend_from_slice(&d.to_be_bytes()));
    v
}

#[test]
fn idx_gz_claiming_a_huge_count_is_refused_from_its_header() {
    let t = temp_dir("idx-bomb");
    // 1,500,000 images of 28x28 (1.18 GB inflated) in a small file: refused from the header,
    // before anything is inflated.
    let images = t.join("train-images-idx3-ubyte.gz");
    let head = idx_header(0x803, &[1_500_000, 28, 28]);
    write_gz(&images, &[(&head, 1), (&[0u8; 1 << 20], 100)]);
    write_gz(&t.join("train-labels-idx1-ubyte.gz"), &[(&idx_header(0x801, &[1]), 1), (&[1], 1)]);
    let e = fails_within(20, &["data", "--data", t.s()]);
    assert!(e.contains("refused: header declares 1500000 images of 28x28, more than 100000 records"), "{e}");
    // A side too long, within the count.
    write_gz(&images, &[(&idx_header(0x803, &[1, 100_000, 28]), 1)]);
    let e = fails_within(20, &["data", "--data", t.s()]);
    assert!(e.contains("a side longer than 4096 pixels"), "{e}");
}

/// A PNG whose header claims `w × h` grey pixels, with a few bytes of image data.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit grey, deflate, no interlace
    chunk(&mut png, b"IHDR", &ihdr);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), Compression::best());
    z.write_all(&vec![0u8; 1 << 20]).unwrap();
    chunk(&mut png, b"IDAT", &z.finish().unwrap());
    chunk(&mut png, b"IEND", &[]);
    png
}

#[test]
fn png_claiming_50000_pixels_square_is_refused_before_decoding() {
    let t = temp_dir("png-bomb");
    let bomb = t.join("bomb.png");
    std::fs::write(&bomb, png_claiming(50_000, 50_000)).unwrap();
    let wide = t.join("wide.png");
    std::fs::write(&wide, png_claiming(30_000, 1_000)).unwrap();
    let e = fails_within(20, &["predict", "--model", "tests/fixtures/tiny-run", s(&bomb), s(&wide)]);
    assert!(e.contains("bomb.png: refused"), "{e}");
    assert!(e.contains("wide.png: refused: the image is 30000x1000, more than 25000000 pixels"), "{e}");
}

/// An ensemble of the tiny fixture run in `dir/ens`, with `ensemble.json` edited by `edit`.
fn ensemble_with(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> std::path::PathBuf {
    let ens = dir.join("ens");
    ok(&["ensemble", "tests/fixtures/tiny-run", "--out", s(&ens)]);
    let file = ens.join("ensemble.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
    ens
}

fn load_error(ens: &Path) -> String {
    match digits::model::ensemble::load_ensemble(ens) {
        Ok(_) => panic!("{} loaded", ens.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn ensemble_member_path_climbing_out_is_refused() {
    let t = temp_dir("ens-paths");
    let run = std::fs::canonicalize("tests/fixtures/tiny-run").unwrap();
    for member in ["../../../../../../tmp", "members/../../ens", run.to_str().unwrap()] {
        let ens = ensemble_with(&t, |v| v["members"] = serde_json::json!([member]));
        let e = load_error(&ens);
        assert!(e.contains("member 0") && e.contains("refused: member paths must be relative"), "{member}: {e}");
        std::fs::remove_dir_all(&ens).unwrap();
    }
    // A symbolic link inside the directory leading out of it.
    let ens = ensemble_with(&t, |v| v["members"] = serde_json::json!(["members/link"]));
    std::os::unix::fs::symlink(&run, ens.join("members/link")).unwrap();
    let e = load_error(&ens);
    assert!(e.contains("refused: a symbolic link leading out of the ensemble's directory"), "{e}");
    // Through the command line too.
    let e = fails(&["predict", "--model", s(&ens), "--input", "tests/fixtures/none"]);
    assert!(e.contains("symbolic link leading out"), "{e}");
}

#[test]
fn ensemble_json_with_tta_1000000_is_an_error_not_a_hang() {
    let t = temp_dir("ens-tta");
    let ens = ensemble_with(&t, |v| v["tta"] = serde_json::json!(1_000_000));
    let started = Instant::now();
    let e = load_error(&ens);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        e.contains("ensemble.json: tta 1000000 is more test-time augmented copies than allowed (at most 64)"),
        "{e}"
    );
}

#[test]
fn ensemble_of_a_missing_directory_and_of_an_ensemble_say_different_things() {
    let t = temp_dir("ens-members");
    let e = fails(&["ensemble", s(&t.join("missing")), "--out", s(&t.join("a"))]);
    assert!(e.contains("missing: no such directory") && !e.contains("model.json is missing"), "{e}");
    let ens = ensemble_with(&t, |_| {});
    let e = fails(&["ensemble", s(&ens), "--out", s(&t.join("b"))]);
    assert!(e.contains("is an ensemble; members must be single trained models"), "{e}");
    let t2 = temp_dir("ens-members2");
    let e = load_error(&ensemble_with(&t2, |v| v["members"] = serde_json::json!(["members/9"])));
    assert!(e.contains("member 0 `members/9`: the member's directory does not exist"), "{e}");
}

#[test]
fn picture_folder_symlink_to_etc_passwd_is_not_read() {
    let t = temp_dir("folder-link");
    std::fs::create_dir(t.join("7")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", t.join("7/passwd.png")).unwrap();
    let e = fails_within(20, &["data", "--data", t.s()]);
    assert!(e.contains("7/passwd.png: refused: a symbolic link leading out of the picture folder"), "{e}");
    assert!(!e.contains("root:"), "{e}");
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success());
}

#[test]
fn fifo_given_as_a_picture_is_an_error_not_a_hang() {
    let t = temp_dir("fifo");
    let fifo = t.join("digit.png");
    mkfifo(&fifo);
    let e = fails_within(20, &["predict", "--model", "tests/fixtures/tiny-run", s(&fifo)]);
    assert!(e.contains("digit.png: not a regular file (a FIFO, socket or device): refused"), "{e}");
    // And as a data file.
    for name in ["test.csv", "t10k-images-idx3-ubyte"] {
        let fifo = t.join(name);
        mkfifo(&fifo);
        let e = fails_within(20, &["predict", "--model", "tests/fixtures/tiny-run", "--input", s(&fifo)]);
        assert!(e.contains("not a regular file"), "{name}: {e}");
    }
}

#[test]
fn csv_header_control_characters_are_escaped() {
    let t = temp_dir("csv-escape");
    let path = t.join("evil.csv");
    let header = csv_header(true).replace("pixel3,", "\x1b[2J\x1b]0;pwned\x07,");
    std::fs::write(&path, header + &csv_row(1, "0")).unwrap();
    let e = fails(&["data", "--data", s(&path)]);
    assert!(!e.contains('\x1b') && !e.contains('\x07'), "{e:?}");
    assert!(e.contains("header column 5 is `\\u{1b}[2J\\u{1b}]0;pwned\\u{7}`"), "{e}");
    // A file name with an escape sequence, in a message about the file.
    let named = t.join("a\x1b[31mred.csv");
    let e = fails(&["data", "--data", s(&named)]);
    assert!(!e.contains('\x1b') && e.contains("a\\u{1b}[31mred.csv"), "{e:?}");
}

#[test]
fn csv_12_5_is_not_a_whole_number() {
    let t = temp_dir("csv-values");
    let path = t.join("v.csv");
    for (cell, says) in [
        ("12.5", "column 7 (pixel5): 12.5 is not a whole number"),
        ("300", "column 7 (pixel5): 300 is outside 0-255"),
        ("-3", "column 7 (pixel5): -3 is outside 0-255"),
        ("x", "column 7 (pixel5): `x` is not a whole number"),
    ] {
        std::fs::write(&path, csv_header(true) + &csv_row(1, cell)).unwrap();
        let e = fails(&["data", "--data", s(&path)]);
        assert!(e.contains(&format!("v.csv: line 2: {says}")), "{cell}: {e}");
    }
}

#[test]
fn os_errors_are_printed_once() {
    let t = temp_dir("os-errors");
    let e = fails(&["data", "--data", s(&t.join("absent.csv"))]);
    assert_eq!(e.matches("No such file or directory").count(), 1, "{e}");
    assert!(e.contains("absent.csv: No such file or directory (os error 2)"), "{e}");
}

#[test]
fn written_files_get_the_umask_s_permissions_not_0600() {
    // The process's umask, as the kernel reports it.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let umask =
        status.lines().find_map(|l| l.strip_prefix("Umask:")).map(|v| u32::from_str_radix(v.trim(), 8).unwrap());
    let umask = umask.expect("Umask in /proc/self/status");
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("perms");
    let file = dir.join("sub.csv");
    digits::atomic::write_file(&file, b"ImageId,Label\n").unwrap();
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o666 & !umask);
}
