//! Run directories are owned (issue 16, items 4–7 and 9): one writer per directory, a new run
//! never mixes with an old one, `--resume` trains on the data and settings it started with, and
//! tuning checks its settings before it stores them. Each test is named after the bug it fixes.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;
use common::{digits, digits_cmd, fails, ok, s, temp_dir};

/// A quick training run into `out`, with `extra` flags.
fn quick(out: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> =
        ["train", "--limit", "600", "--epochs", "1", "--threads", "2"].iter().map(|x| x.to_string()).collect();
    a.extend(extra.iter().map(|x| x.to_string()));
    if !extra.contains(&"--model") {
        a.extend(["--model".to_string(), "mlp-64-64".into()]);
    }
    a.extend(["--out".to_string(), s(out).to_string()]);
    a
}

fn strs(a: &[String]) -> Vec<&str> {
    a.iter().map(String::as_str).collect()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

#[test]
fn two_trainings_into_one_out_the_second_is_refused_with_the_holders_pid() {
    let dir = temp_dir("lock");
    let out = dir.join("run");
    let long = ["train", "--model", "mlp-64-64", "--limit", "6000", "--epochs", "200", "--threads", "1", "--out"];
    let mut first = digits_cmd().args(long).arg(&out).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let pid = format!("pid {}", first.id());
    let lock = out.join(".digits.lock");
    let start = Instant::now();
    while !std::fs::read_to_string(&lock).is_ok_and(|t| t.contains(&pid)) {
        assert!(start.elapsed() < Duration::from_secs(60), "the first run never took its lock");
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = digits(&strs(&quick(&out, &["--overwrite"])));
    first.kill().unwrap();
    first.wait().unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(err.contains(&pid) && err.contains("host") && err.contains("another digits process"), "{err}");
    // Once the holder is gone (even killed), the directory is free again.
    ok(&strs(&quick(&out, &["--overwrite"])));
}

#[test]
fn new_run_into_a_foreign_nonempty_directory_needs_overwrite() {
    let dir = temp_dir("overwrite");
    let out = dir.join("run");
    ok(&strs(&quick(&out, &[])));
    let old_args = std::fs::read_to_string(out.join("args.json")).unwrap();
    // Another model into the same directory: refused, and nothing of the old run changes.
    let other = quick(&out, &["--model", "mlp-512-512-d"]);
    let err = fails(&strs(&other));
    assert!(err.contains("holds another run") && err.contains("--overwrite"), "{err}");
    assert_eq!(std::fs::read_to_string(out.join("args.json")).unwrap(), old_args);
    // A failed new run with --overwrite leaves no args.json of one model beside model.json of
    // another: bad data fail before the directory is touched, and a new run clears it before it
    // writes anything of its own.
    let failed = quick(&out, &["--model", "mlp-512-512-d", "--overwrite", "--data", "/nonexistent/mnist"]);
    fails(&strs(&failed));
    assert_eq!(std::fs::read_to_string(out.join("args.json")).unwrap(), old_args);
    // With --overwrite the directory is cleared and the new run written.
    let mut again = other.clone();
    again.push("--overwrite".into());
    ok(&strs(&again));
    assert!(json(&out.join("model.json")).to_string().contains("mlp-512-512-d"));
    // A directory with other files is never cleared, --overwrite or not.
    let foreign = dir.join("home");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("thesis.tex"), "precious").unwrap();
    let err = fails(&strs(&quick(&foreign, &["--overwrite"])));
    assert!(err.contains("not a run's") && err.contains("thesis.tex"), "{err}");
    assert_eq!(std::fs::read_to_string(foreign.join("thesis.tex")).unwrap(), "precious");
}

#[test]
fn train_out_ensemble_dir_is_refused() {
    let dir = temp_dir("ens-out");
    let (a, ens) = (dir.join("a"), dir.join("ens"));
    ok(&strs(&quick(&a, &[])));
    ok(&["ensemble", s(&a), "--out", s(&ens)]);
    let before = std::fs::read_to_string(ens.join("ensemble.json")).unwrap();
    for extra in [&[][..], &["--overwrite"][..]] {
        let err = fails(&strs(&quick(&ens, extra)));
        assert!(err.contains("is an ensemble directory"), "{err}");
    }
    assert_eq!(std::fs::read_to_string(ens.join("ensemble.json")).unwrap(), before);
    assert!(!ens.join("model.json").exists());
}

#[test]
fn ensemble_out_onto_a_member_run_is_refused() {
    let dir = temp_dir("ens-member");
    let (a, b, ens) = (dir.join("a"), dir.join("b"), dir.join("ens"));
    ok(&strs(&quick(&a, &[])));
    ok(&strs(&quick(&b, &["--seed", "1"])));
    let err = fails(&["ensemble", s(&a), s(&b), "--out", s(&a)]);
    assert!(err.contains("is member run"), "{err}");
    let err = fails(&["ensemble", s(&b), "--out", s(&a)]);
    assert!(err.contains("is a run directory"), "{err}");
    assert!(!a.join("ensemble.json").exists() && !a.join("members").exists());
    // An ensemble is replaced only with --overwrite.
    ok(&["ensemble", s(&a), s(&b), "--out", s(&ens)]);
    let err = fails(&["ensemble", s(&a), "--out", s(&ens)]);
    assert!(err.contains("--overwrite"), "{err}");
    ok(&["ensemble", s(&a), "--out", s(&ens), "--overwrite"]);
    assert_eq!(json(&ens.join("ensemble.json"))["members"].as_array().unwrap().len(), 1);
}

#[test]
fn resume_from_another_directory_uses_the_recorded_absolute_data() {
    let dir = temp_dir("resume-cwd");
    let out = dir.join("run");
    // --data as typed, relative to the repository (the tests' working directory).
    ok(&strs(&quick(&out, &["--data", "data/mnist"])));
    let args = json(&out.join("args.json"));
    let data = args["data"]["data"].as_str().unwrap().to_string();
    assert!(Path::new(&data).is_absolute() && Path::new(&data).join("train-labels-idx1-ubyte.gz").exists(), "{args}");
    let prints = json(&out.join("data.json"));
    assert_eq!(prints[0]["path"].as_str().unwrap(), data, "{prints}");
    // From another working directory, the same files are found (and match their fingerprints).
    let res =
        digits_cmd().current_dir(dir.path()).args(["train", "--resume", s(&out), "--epochs", "2"]).output().unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    assert_eq!(json(&out.join("history.json")).as_array().unwrap().len(), 2);
}

#[test]
fn resume_with_changed_data_is_refused() {
    let dir = temp_dir("resume-data");
    let data = dir.join("mnist");
    std::fs::create_dir_all(&data).unwrap();
    for f in std::fs::read_dir("data/mnist").unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), data.join(f.file_name())).unwrap();
    }
    let out = dir.join("run");
    ok(&strs(&quick(&out, &["--data", s(&data)])));
    // Another, equally valid, label file: the data differ.
    std::fs::copy("data/mnist/t10k-labels-idx1-ubyte.gz", data.join("train-labels-idx1-ubyte.gz")).unwrap();
    std::fs::copy("data/mnist/t10k-images-idx3-ubyte.gz", data.join("train-images-idx3-ubyte.gz")).unwrap();
    let err = fails(&["train", "--resume", s(&out), "--epochs", "2"]);
    assert!(err.contains("the data differ") && err.contains("--force") && err.contains("fingerprint"), "{err}");
    assert_eq!(json(&out.join("history.json")).as_array().unwrap().len(), 1, "the refused resume trained");
    ok(&["train", "--resume", s(&out), "--epochs", "2", "--force"]);
    assert_eq!(json(&out.join("history.json")).as_array().unwrap().len(), 2);
}

#[test]
fn resume_with_lr_flag_is_an_error() {
    let dir = temp_dir("resume-flags");
    let out = dir.join("run");
    ok(&strs(&quick(&out, &[])));
    let err = fails(&["train", "--resume", s(&out), "--epochs", "3", "--lr", "0.5", "--out", s(&dir.join("x"))]);
    assert!(err.contains("cannot honour --lr, --out") || err.contains("cannot honour --out, --lr"), "{err}");
    let err = fails(&["train", "--resume", s(&out), "--model", "mlp-512-512-d", "--overwrite"]);
    assert!(err.contains("--model") && err.contains("--overwrite"), "{err}");
    assert!(!dir.join("x").exists());
    let r = digits(&["train", "--force"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("--resume"));
}

#[test]
fn resume_with_more_epochs_extends_a_finished_run() {
    let dir = temp_dir("extend");
    let out = dir.join("run");
    ok(&strs(&quick(&out, &[])));
    let first = json(&out.join("train.json"))["train_seconds"].as_f64().unwrap();
    let outp = ok(&["train", "--resume", s(&out), "--epochs", "3"]);
    assert!(outp.contains("resuming") && outp.contains("after epoch 1 of 3"), "{outp}");
    let history = json(&out.join("history.json"));
    assert_eq!(history.as_array().unwrap().len(), 3, "{history}");
    let info = json(&out.join("train.json"));
    assert_eq!(info["config"]["epochs"], 3, "{info}");
    // The whole training time, not only the resumed part's.
    let epochs: f64 = history.as_array().unwrap().iter().map(|e| e["seconds"].as_f64().unwrap()).sum();
    let total = info["train_seconds"].as_f64().unwrap();
    assert!(total >= epochs * 0.99 && total >= first, "train_seconds {total}, epochs {epochs}, first part {first}");
    assert_eq!(json(&out.join("args.json"))["opts"]["epochs"], 3);
}

#[test]
fn tune_with_bad_validation_split_writes_nothing_and_a_corrected_rerun_works() {
    let dir = temp_dir("tune-settings");
    let out = dir.join("tune");
    let tune = |extra: &[&str]| {
        let mut a = vec!["tune", "--space", "examples/spaces/tiny.toml", "--trials", "1", "--max-epochs", "1"];
        a.extend_from_slice(&["--limit", "600", "--threads", "2", "--out", s(&out)]);
        a.extend_from_slice(extra);
        digits(&a)
    };
    for bad in
        [&["--validation-split", "0"][..], &["--validation-split", "1.5"][..], &["--data", "/nonexistent/mnst"][..]]
    {
        let r = tune(bad);
        assert_eq!(r.status.code(), Some(1), "{bad:?}: {}", String::from_utf8_lossy(&r.stderr));
        assert!(!out.join("tune.json").exists(), "{bad:?} left tune.json");
    }
    let r = tune(&["--validation-split", "0.2"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(out.join("best.json").exists());
}

#[test]
fn hyperband_max_epochs_u64_max_is_an_error_not_a_hang() {
    let dir = temp_dir("hyperband-limits");
    for (factor, max) in [("2", "18446744073709551615"), ("4294967296", "4294967296"), ("2", "0"), ("1", "9")] {
        let out = dir.join(format!("t-{factor}-{max}"));
        let mut child = digits_cmd()
            .args(["tune", "--space", "examples/spaces/tiny.toml", "--strategy", "hyperband"])
            .args(["--factor", factor, "--max-epochs", max, "--limit", "600", "--out", s(&out)])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if start.elapsed() > Duration::from_secs(20) {
                child.kill().unwrap();
                panic!("--factor {factor} --max-epochs {max} hangs");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        assert_eq!(status.code(), Some(1), "--factor {factor} --max-epochs {max}: {err}");
        assert!(err.contains("--max-epochs") || err.contains("--factor"), "{err}");
        assert!(!out.join("tune.json").exists());
    }
    let err =
        fails(&["tune", "--space", "examples/spaces/tiny.toml", "--trials", "100000000", "--out", s(&dir.join("r"))]);
    assert!(err.contains("--trials must be 1 to"), "{err}");
}

#[test]
fn threads_100000_is_an_error() {
    let dir = temp_dir("threads");
    for args in [
        vec!["train", "--threads", "100000", "--limit", "600", "--epochs", "1", "--out", s(&dir.join("t"))],
        vec!["tune", "--space", "examples/spaces/tiny.toml", "--threads", "100000", "--out", s(&dir.join("u"))],
        vec!["evaluate", "--threads", "0", "--model", s(&dir.join("t"))],
    ] {
        let err = fails(&args);
        assert!(err.contains("--threads must be 1 to 1024"), "{args:?}: {err}");
    }
    assert!(!dir.join("t").exists() && !dir.join("u").exists());
}

#[test]
fn tune_rerun_removes_stale_temp_files() {
    let dir = temp_dir("tune-temps");
    let out = dir.join("tune");
    let args = [
        "tune",
        "--space",
        "examples/spaces/tiny.toml",
        "--trials",
        "1",
        "--max-epochs",
        "1",
        "--limit",
        "600",
        "--threads",
        "2",
        "--out",
        s(&out),
    ];
    ok(&args);
    // What a kill -9 in the middle of atomic writes leaves behind.
    let stale = [
        out.join("trials/0000/.checkpoint-last.safetensors.Ab12Cd.tmp"),
        out.join(".results.jsonl.XyZ123.tmp"),
        out.join("best/.model.safetensors.q1w2e3.tmp"),
    ];
    for f in &stale {
        std::fs::write(f, b"half").unwrap();
    }
    ok(&args);
    for f in &stale {
        assert!(!f.exists(), "{} is still there", f.display());
    }
    // A run directory's stale temporary files go when it is resumed.
    let run = dir.join("run");
    ok(&strs(&quick(&run, &[])));
    let t = run.join(".checkpoint-last.safetensors.Zz9Yy8.tmp");
    std::fs::write(&t, b"half").unwrap();
    ok(&["train", "--resume", s(&run), "--epochs", "2"]);
    assert!(!t.exists());
}

#[test]
fn a_tuning_run_or_ensemble_into_a_locked_directory_is_refused_with_the_holders_pid() {
    let dir = temp_dir("lock-others");
    let (a, held) = (dir.join("a"), dir.join("held"));
    ok(&strs(&quick(&a, &[])));
    let _lock = digits::lock::DirLock::acquire(&held).unwrap();
    let pid = format!("pid {}", std::process::id());
    let err = fails(&["tune", "--space", "examples/spaces/tiny.toml", "--limit", "600", "--out", s(&held)]);
    assert!(err.contains(&pid), "{err}");
    let err = fails(&["ensemble", s(&a), "--out", s(&held)]);
    assert!(err.contains(&pid), "{err}");
    ok(&["train", "--resume", s(&a), "--epochs", "2"]); // another directory: not concerned
    let _a = digits::lock::DirLock::acquire(&a).unwrap();
    let err = fails(&["train", "--resume", s(&a), "--epochs", "3"]);
    assert!(err.contains(&pid), "{err}");
    assert!(!held.join("tune.json").exists() && !held.join("ensemble.json").exists());
}
