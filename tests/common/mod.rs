//! Helpers shared by the integration tests: running the `digits` binary and scratch directories.
#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `digits` binary, run from the repository root with no `DIGITS_DATA` from the caller.
pub fn digits_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_digits"));
    c.current_dir(env!("CARGO_MANIFEST_DIR")).env_remove("DIGITS_DATA");
    c
}

/// Runs `digits ARGS` and returns what it did.
pub fn digits(args: &[&str]) -> Output {
    digits_cmd().args(args).output().expect("run digits")
}

/// Standard output of a run that must succeed (the failure message shows both streams).
pub fn ok_output(args: &[String], out: Output) -> String {
    assert!(
        out.status.success(),
        "digits {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs `digits ARGS`, which must succeed, and returns its standard output.
pub fn ok(args: &[&str]) -> String {
    let owned: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    ok_output(&owned, digits(args))
}

/// Standard error of a run that must fail with status 1.
pub fn fails(args: &[&str]) -> String {
    let out = digits(args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "digits {args:?} should fail:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh, empty scratch directory unique to this test process; removed when dropped.
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    pub fn path(&self) -> &Path {
        self.0.path()
    }
    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.0.path().join(p)
    }
    /// The path as a `&str`, for command lines.
    pub fn s(&self) -> &str {
        self.0.path().to_str().expect("utf-8 temp path")
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.0.path()
    }
}

/// A new scratch directory whose name starts with `digits-NAME-`.
pub fn temp_dir(name: &str) -> TempDir {
    TempDir(tempfile::Builder::new().prefix(&format!("digits-{name}-")).tempdir().expect("create a temp dir"))
}

/// A path's text, for command lines.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// FNV-1a over every tensor of a safetensors file (names and little-endian bytes, in name
/// order): equal hashes mean bit-for-bit equal weights, whatever the file's header says.
pub fn weights_hash(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("a safetensors file");
    let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
    names.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: &[u8]| {
        for &x in b {
            h ^= x as u64;
            h = h.wrapping_mul(0x100_0000_01b3);
        }
    };
    for n in names {
        eat(n.as_bytes());
        eat(st.tensor(&n).expect("listed tensor").data());
    }
    h
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        self.0.path()
    }
}
