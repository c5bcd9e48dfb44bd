//! Shared studies in a real, throwaway PostgreSQL server (Debian's `postgresql`, started by the
//! test as user `postgres` when run as root, on a free loopback port, stopped when the test
//! ends, failed or not): workers of the real binary, one killed with SIGKILL mid-trial, end with
//! the same trials, results and best model as a single-process run; other settings and other
//! data are refused; hostile rows are clear errors.
//!
//! The server is not optional: without PostgreSQL's binaries the tests fail, saying how to
//! install them (`scripts/test` does).

mod common;

use common::{digits, digits_cmd, ok, temp_dir, weights_hash};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "pw-Zq81-never-shown";

/// A throwaway PostgreSQL server; stopped when dropped.
struct Server {
    bin: PathBuf,
    dir: common::TempDir,
    port: u16,
}

/// The directory of `initdb` and `pg_ctl`: `$DIGITS_PG_BIN`, else the newest
/// /usr/lib/postgresql/*/bin.
fn pg_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("DIGITS_PG_BIN") {
        return p.into();
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).filter(|b| b.join("initdb").exists()).collect())
        .unwrap_or_default();
    found.sort_by_key(|p| p.parent().and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok()));
    found.pop().expect("PostgreSQL's initdb is not installed: `apt-get install -y postgresql` (scripts/test does), or set DIGITS_PG_BIN")
}

/// Runs a PostgreSQL program, as user `postgres` when we are root (it refuses root).
fn pg_cmd(bin: &Path, program: &str) -> Command {
    let exe = bin.join(program);
    if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(exe);
        c
    } else {
        Command::new(exe)
    }
}

impl Server {
    fn start() -> Server {
        let bin = pg_bin();
        let dir = temp_dir("pg");
        let data = dir.join("data");
        std::fs::write(dir.join("pw"), PASSWORD).unwrap();
        if unsafe { libc::geteuid() } == 0 {
            let st = Command::new("chown").args(["-R", "postgres"]).arg(dir.path()).status().unwrap();
            assert!(st.success(), "chown of the server's directory to postgres failed");
        }
        let out = pg_cmd(&bin, "initdb")
            .args(["-U", "digits", "--auth=scram-sha-256", "-E", "UTF8", "--pwfile"])
            .arg(dir.join("pw"))
            .arg("-D")
            .arg(&data)
            .output()
            .expect("run initdb");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let opts = format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50", dir.s());
        let out = pg_cmd(&bin, "pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-o", &opts, "-l"])
            .arg(dir.join("log"))
            .args(["-w", "-t", "60", "start"])
            .output()
            .expect("run pg_ctl");
        let server = Server { bin, dir, port };
        assert!(
            out.status.success(),
            "the PostgreSQL server did not start: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(server.dir.join("log")).unwrap_or_default()
        );
        server
    }

    fn url(&self) -> String {
        format!("postgres://digits:{PASSWORD}@127.0.0.1:{}/postgres", self.port)
    }

    fn sql(&self) -> postgres::Client {
        postgres::Client::connect(&self.url(), postgres::NoTls).expect("connect to the test server")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = pg_cmd(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The tiny Hyperband study's flags (1 thread, so the numbers are the same in every process).
fn hyperband(limit: &str) -> Vec<String> {
    [
        "--space",
        "examples/spaces/tiny.toml",
        "--strategy",
        "hyperband",
        "--max-epochs",
        "9",
        "--limit",
        limit,
        "--threads",
        "1",
    ]
    .map(String::from)
    .to_vec()
}

fn spawn(args: &[String], log: &Path) -> Child {
    let file = std::fs::File::create(log).unwrap();
    digits_cmd().args(args).stdout(file.try_clone().unwrap()).stderr(file).spawn().expect("start digits")
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The records of a tuning directory without their training seconds, sorted.
fn results(dir: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("results.jsonl")).unwrap();
    let mut v: Vec<serde_json::Value> = text
        .lines()
        .map(|l| {
            let mut r: serde_json::Value = serde_json::from_str(l).unwrap();
            r.as_object_mut().unwrap().remove("seconds");
            r
        })
        .collect();
    v.sort_by_key(|r| r.to_string());
    v
}

/// Waits until study `name` exists (its creator loads the data first).
fn wait_for_study(server: &Server, name: &str) {
    let mut db = server.sql();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        let found = db.query("SELECT 1 FROM digits_studies WHERE name = $1", &[&name]).is_ok_and(|r| !r.is_empty());
        if found {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("study {name} was never created");
}

/// Waits until a worker among `kids` is mid-trial past a stored checkpoint (`candidates` lists
/// the pids of such workers), and kills it with SIGKILL; its pid.
fn kill_one_mid_trial(kids: &mut [Child], candidates: &mut dyn FnMut() -> Vec<u32>) -> u32 {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(120) {
        for pid in candidates() {
            if let Some(kid) = kids.iter_mut().find(|k| k.id() == pid) {
                kid.kill().unwrap(); // SIGKILL
                kid.wait().unwrap();
                return pid;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no worker was ever mid-trial past a checkpoint");
}

/// The pids of the workers of `server`'s studies that are mid-trial past a stored checkpoint.
fn mid_trial_in_db(db: &mut postgres::Client) -> Vec<u32> {
    let rows = db
        .query(
            "SELECT t.pid FROM digits_tasks t JOIN digits_checkpoints c ON c.study = t.study AND c.trial = t.trial
             WHERE t.state = 'running' AND c.epochs >= 1 AND c.epochs + 2 <= t.epochs",
            &[],
        )
        .unwrap_or_default();
    rows.iter().map(|r| r.get::<_, i64>(0) as u32).collect()
}

/// The same, asked of `digits tune status --json` (any store).
fn mid_trial_in_status(shared: &[String]) -> Vec<u32> {
    let args = [vec!["tune".to_string(), "status".into(), "--json".into()], shared.to_vec()].concat();
    let Ok(out) = digits_cmd().args(&args).output() else { return Vec::new() };
    let Ok(s) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else { return Vec::new() };
    let workers = s["workers"].as_array().cloned().unwrap_or_default();
    workers
        .iter()
        .filter(|w| {
            w["checkpoint_epochs"].as_u64().is_some_and(|c| c >= 1 && c + 2 <= w["epochs"].as_u64().unwrap_or(0))
        })
        .filter_map(|w| w["pid"].as_u64().map(|p| p as u32))
        .collect()
}

#[test]
fn workers_one_killed_mid_trial_end_like_a_single_process_run() {
    let server = Server::start();
    let dir = temp_dir("study");
    let limit = "6000";
    let single = dir.join("single");
    let mut args = [vec!["tune".to_string()], hyperband(limit)].concat();
    args.extend(["--out".into(), single.display().to_string()]);
    ok(&strs(&args));

    let url = server.url();
    let shared = ["--storage", &url, "--study", "hb"].map(String::from);
    let mut create = hyperband(limit);
    create.extend(shared.iter().cloned());
    create.extend(["--lease".into(), "2".into()]);
    let mut worker: Vec<String> = vec!["tune".into(), "worker".into()];
    worker.extend(shared.iter().cloned());
    let mut kids = vec![spawn(&[vec!["tune".into()], create].concat(), &dir.join("w0.log"))];
    wait_for_study(&server, "hb");
    kids.push(spawn(&worker, &dir.join("w1.log")));
    kids.push(spawn(&worker, &dir.join("w2.log")));
    let mut db = server.sql();
    let killed = kill_one_mid_trial(&mut kids, &mut || mid_trial_in_db(&mut db));
    let mut status: Vec<String> = vec!["tune".into(), "status".into()];
    status.extend(shared.iter().cloned());
    status.push("--json".into());
    // The killed worker still holds its trial until the lease runs out: status lists it.
    let s: serde_json::Value = serde_json::from_str(&ok(&strs(&status))).unwrap();
    let listed = s["workers"].as_array().unwrap().iter().any(|w| {
        w["pid"].as_u64() == Some(killed as u64) && w["host"].is_string() && w["heartbeat_seconds_ago"].is_number()
    });
    assert!(listed, "status lists the workers, the killed one among them: {s}");
    for (i, kid) in kids.iter_mut().enumerate() {
        if kid.id() != killed {
            let status = kid.wait().unwrap();
            let log = std::fs::read_to_string(dir.join(format!("w{i}.log"))).unwrap();
            assert!(status.success(), "worker {i} failed:\n{log}");
        }
    }
    let logs: String = (0..3).map(|i| std::fs::read_to_string(dir.join(format!("w{i}.log"))).unwrap()).collect();
    assert!(logs.contains("from the checkpoint of epoch"), "the killed worker's trial was resumed:\n{logs}");
    assert!(!logs.contains(PASSWORD), "the password is never printed");

    let exported = dir.join("exported");
    let mut export: Vec<String> = vec!["tune".into(), "export".into()];
    export.extend(shared.iter().cloned());
    export.extend(["--out".into(), exported.display().to_string()]);
    let out = ok(&strs(&export));
    assert!(!out.contains(PASSWORD));
    assert_eq!(results(&exported), results(&single), "the same trials and results");
    assert_eq!(
        weights_hash(&exported.join("best/model.safetensors")),
        weights_hash(&single.join("best/model.safetensors")),
        "the same best model"
    );
    let best = |d: &Path| {
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("best.json")).unwrap()).unwrap();
        for k in ["model_file", "command", "train_args"] {
            v.as_object_mut().unwrap().remove(k);
        }
        v
    };
    assert_eq!(best(&exported), best(&single));

    let s: serde_json::Value = serde_json::from_str(&ok(&strs(&status))).unwrap();
    assert_eq!((s["running"].as_u64(), s["queued"].as_u64(), s["failed"].as_u64()), (Some(0), Some(0), Some(0)));
    assert_eq!(s["done"].as_u64(), Some(results(&single).len() as u64));
}

/// A quick random-search study of two one-epoch trials, created (and worked) in `study`.
fn quick(url: &str, study: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["tune", "--space", "examples/spaces/tiny.toml", "--trials", "2", "--max-epochs", "1"];
    args.extend(["--limit", "600", "--threads", "1", "--storage", url, "--study", study]);
    args.extend(extra);
    digits(&args)
}

/// Standard error of a run that must fail with status 1, and never panic nor show the password.
fn refused(out: std::process::Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "should fail:\n{}\n{err}", String::from_utf8_lossy(&out.stdout));
    assert!(!err.contains("panicked") && !err.contains(PASSWORD), "{err}");
    err
}

#[test]
fn other_settings_other_data_and_other_threads_are_refused() {
    let server = Server::start();
    let url = server.url();
    let out = quick(&url, "q", &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The same settings join (the finished study has nothing left to do).
    assert!(quick(&url, "q", &[]).status.success());
    let err = refused(quick(&url, "q", &["--seed", "1"]));
    assert!(err.contains("other settings") && err.contains("seed: was 0, now 1"), "{err}");
    // Other data: a labelled CSV file of twenty images.
    let dir = temp_dir("study-data");
    let mut csv = String::from("label");
    (0..784).for_each(|i| csv += &format!(",pixel{i}"));
    for i in 0..20 {
        csv += &format!("\n{}", i % 10);
        (0..784).for_each(|p| csv += if p % 7 == i % 7 { ",255" } else { ",0" });
    }
    std::fs::write(dir.join("other.csv"), csv + "\n").unwrap();
    let other = dir.join("other.csv");
    let _keep = &dir;
    let err =
        refused(digits(&["tune", "worker", "--storage", &url, "--study", "q", "--data", other.to_str().unwrap()]));
    assert!(err.contains("are not the study's"), "{err}");
    let err = refused(digits(&["tune", "worker", "--storage", &url, "--study", "q", "--threads", "2"]));
    assert!(err.contains("trains with 1 threads"), "{err}");
    let err = refused(digits(&["tune", "worker", "--storage", &url, "--study", "nope"]));
    assert!(err.contains("no such study"), "{err}");
    // The password from a --storage-file, or from PGPASSWORD with a URL that has none.
    let dir = temp_dir("study-creds");
    std::fs::write(dir.join("url"), format!("{url}\n")).unwrap();
    let status = ok(&["tune", "status", "--storage-file", dir.join("url").to_str().unwrap(), "--study", "q"]);
    assert!(status.contains("trials: 2 done, 0 running, 0 queued, 0 failed") && !status.contains(PASSWORD), "{status}");
    let bare = url.replace(&format!(":{PASSWORD}"), "");
    let out = digits_cmd()
        .args(["tune", "status", "--storage", &bare, "--study", "q"])
        .env("PGPASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("best so far: trial"));
    // A wrong password names the server, never the password given.
    let bad = url.replace(PASSWORD, "wrong-password-7");
    let err = refused(digits(&["tune", "status", "--storage", &bad, "--study", "q"]));
    assert!(err.contains("connecting") && !err.contains("wrong-password-7"), "{err}");
    // TLS when the URL asks for it: this server has none, so the connection is refused rather
    // than made in the clear.
    let err = refused(digits(&["tune", "status", "--storage", &format!("{url}?sslmode=require"), "--study", "q"]));
    assert!(err.contains("connecting") && err.contains("TLS"), "{err}");
}

#[test]
fn hostile_rows_are_clear_errors() {
    let server = Server::start();
    let url = server.url();
    let mut db = server.sql();
    let out = quick(&url, "h", &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dir = temp_dir("study-hostile");
    let export = |name: &str| {
        let out = dir.join(name);
        digits(&["tune", "export", "--storage", &url, "--study", "h", "--out", out.to_str().unwrap()])
    };
    // A corrupted model blob.
    db.execute("UPDATE digits_models SET weights = '\\x00ff00'::bytea", &[]).unwrap();
    let err = refused(export("a"));
    assert!(err.contains("study ") && err.contains(": model:"), "{err}");
    // An absurd epoch count in a record.
    db.execute(
        "UPDATE digits_records SET record = replace(record, '\"epochs\":1', '\"epochs\":1000000000000000')",
        &[],
    )
    .unwrap();
    let err = refused(export("b"));
    assert!(err.contains("is not a task of this study's plan"), "{err}");
    // An absurd epoch count in a task row, queued again for a worker.
    db.execute("UPDATE digits_tasks SET state = 'queued', epochs = 9223372036854775807 WHERE trial = 0", &[]).unwrap();
    let err = refused(digits(&["tune", "worker", "--storage", &url, "--study", "h"]));
    assert!(err.contains("trial 0") && err.contains("not a task of this study's plan"), "{err}");
    // The failure is recorded: the study stops, and says why.
    let err = refused(digits(&["tune", "worker", "--storage", &url, "--study", "h"]));
    assert!(err.contains("the study failed: trial 0"), "{err}");
    // A corrupted checkpoint for a queued task.
    db.execute("UPDATE digits_tasks SET state = 'queued', epochs = 1 WHERE trial = 0", &[]).unwrap();
    db.execute(
        "INSERT INTO digits_checkpoints (study, trial, epochs, bytes) SELECT study, 0, 1, '\\x0102'::bytea FROM digits_tasks LIMIT 1",
        &[],
    )
    .unwrap();
    let err = refused(digits(&["tune", "worker", "--storage", &url, "--study", "h"]));
    assert!(err.contains("trial 0: checkpoint:"), "{err}");
    // A checkpoint far larger than its model can take is refused before it is fetched.
    db.execute("UPDATE digits_checkpoints SET bytes = decode(repeat('00', 40000000), 'hex')", &[]).unwrap();
    db.execute("UPDATE digits_tasks SET state = 'queued' WHERE trial = 0", &[]).unwrap();
    let err = refused(digits(&["tune", "worker", "--storage", &url, "--study", "h"]));
    assert!(err.contains("trial 0: checkpoint: 40000000 bytes, more than"), "{err}");
}

#[test]
fn embedded_store_workers_one_killed_mid_trial_end_like_a_single_process_run() {
    let dir = temp_dir("study-files");
    let single = dir.join("single");
    let mut args = [vec!["tune".to_string()], hyperband("6000")].concat();
    args.extend(["--out".into(), single.display().to_string()]);
    ok(&strs(&args));
    let store = dir.join("store").display().to_string();
    let shared = ["--storage", &store, "--study", "hb"].map(String::from);
    let lease = ["--lease", "2"].map(String::from);
    let create = [vec!["tune".to_string()], hyperband("6000"), shared.to_vec(), lease.to_vec()].concat();
    let worker = [vec!["tune".to_string(), "worker".into()], shared.to_vec()].concat();
    let mut kids = vec![spawn(&create, &dir.join("w0.log"))];
    let start = Instant::now();
    while !dir.join("store/hb/study.json").exists() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    kids.push(spawn(&worker, &dir.join("w1.log")));
    kids.push(spawn(&worker, &dir.join("w2.log")));
    let killed = kill_one_mid_trial(&mut kids, &mut || mid_trial_in_status(&shared));
    for (i, kid) in kids.iter_mut().enumerate().filter(|(_, k)| k.id() != killed) {
        let log = || std::fs::read_to_string(dir.join(format!("w{i}.log"))).unwrap();
        assert!(kid.wait().unwrap().success(), "worker {i} failed:\n{}", log());
        assert!(log().contains("study finished"), "{}", log());
    }
    let logs: String = (0..3).map(|i| std::fs::read_to_string(dir.join(format!("w{i}.log"))).unwrap()).collect();
    assert!(logs.contains("from the checkpoint of epoch"), "the killed worker's trial was resumed:\n{logs}");
    exports_like(&shared, &dir, &single);
}

/// Claims `per` tasks from each of `threads` threads, each on its own connection; the trials.
fn claim_from_threads(url: &str, threads: u32, per: usize) -> Vec<usize> {
    use digits::tune::{PgStore, SharedStore, WorkerId, shared::Claimed};
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let url = url.to_string();
            std::thread::spawn(move || {
                let mut s = PgStore::connect(&url, "c").unwrap();
                let me = WorkerId { host: format!("h{i}"), pid: i };
                (0..per).map(|_| s.claim(&me).unwrap()).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut trials: Vec<usize> = Vec::new();
    for h in handles {
        for c in h.join().unwrap() {
            let Claimed::Task(c) = c else { panic!("{c:?}") };
            trials.push(c.task.trial);
        }
    }
    trials.sort();
    trials
}

#[test]
fn concurrent_claims_take_one_task_each() {
    use digits::tune::{PgStore, SharedStore, Strategy, StudyMeta, TaskState, shared};
    let server = Server::start();
    let space = digits::tune::Space::from_file(Path::new("examples/spaces/tiny.toml")).unwrap();
    let search = Strategy::from_name("random", 60, 1, 3).unwrap();
    let settings = digits::tune::Settings::new(search, space, "data/mnist".into(), 1);
    let meta = StudyMeta { data_checksum: "sha256:test".into(), lease_seconds: 600.0 };
    let drawn = settings.configurations(&[]);
    let decide = |done: &[digits::tune::TrialRecord]| shared::decide(&settings, &drawn, "c", done);
    // Statistics that know other studies' tasks but not this one's (as a database that served
    // studies before has them) make the planner expect one row: no plan may then hand out
    // several tasks at once, nor one twice.
    PgStore::connect(&server.url(), "before").unwrap().create(&settings, &meta, &decide).unwrap();
    server.sql().batch_execute("ANALYZE").unwrap();
    let mut store = PgStore::connect(&server.url(), "c").unwrap();
    store.create(&settings, &meta, &decide).unwrap();
    let first = claim_from_threads(&server.url(), 1, 1);
    assert_eq!(first, [0], "one claim takes one task");
    let second = claim_from_threads(&server.url(), 8, 5);
    assert_eq!(second, (1..41).collect::<Vec<_>>(), "each claim takes one task, no task twice");
    let running = store.tasks().unwrap().iter().filter(|t| t.state == TaskState::Running).count();
    assert_eq!(running, 41);
}

/// A stalled worker's claim, taken over once its lease expired, can no longer checkpoint nor
/// record; the new claim can. `expire` makes the task's heartbeat older than the lease.
fn taken_over_claims_are_refused(mut store: Box<dyn digits::tune::SharedStore>, expire: &mut dyn FnMut()) {
    use digits::tune::shared::{Claimed, WorkerId, decide};
    use digits::tune::{Settings, Strategy, StudyMeta, TaskState, TrialRecord};
    let space = digits::tune::Space::from_file(Path::new("examples/spaces/tiny.toml")).unwrap();
    let settings = Settings::new(Strategy::from_name("random", 2, 1, 3).unwrap(), space, "data/mnist".into(), 1);
    let meta = StudyMeta { data_checksum: "sha256:test".into(), lease_seconds: 1.0 };
    let drawn = settings.configurations(&[]);
    let decide = |done: &[TrialRecord]| decide(&settings, &drawn, "t", done);
    store.create(&settings, &meta, &decide).unwrap();
    let (a, b) = (WorkerId { host: "a".into(), pid: 1 }, WorkerId { host: "b".into(), pid: 2 });
    let Claimed::Task(old) = store.claim(&a).unwrap() else { panic!("a claims trial 0") };
    assert!(store.save_checkpoint(&old, 1, b"epoch one").unwrap());
    assert!(store.heartbeat(&old).unwrap());
    expire();
    let Claimed::Task(new) = store.claim(&b).unwrap() else { panic!("b takes the expired trial over") };
    assert_eq!((new.task, new.token > old.token), (old.task, true));
    assert_eq!(
        store.checkpoint(0, 1000).unwrap().as_deref(),
        Some(&b"epoch one"[..]),
        "b continues from a's checkpoint"
    );
    assert!(!store.heartbeat(&old).unwrap());
    assert!(!store.save_checkpoint(&old, 2, b"stale").unwrap());
    let record = |c: &digits::tune::Claim| TrialRecord::of(&c.task, &drawn[c.task.trial], 0.5, 0.5, 0.0);
    assert!(!store.finish(&old, &record(&old), None, &decide).unwrap(), "the stale claim records nothing");
    assert!(store.finish(&new, &record(&new), None, &decide).unwrap());
    assert_eq!(store.records().unwrap().len(), 1);
    let tasks = store.tasks().unwrap();
    assert_eq!(tasks.iter().map(|t| t.state).collect::<Vec<_>>(), [TaskState::Done, TaskState::Queued]);
    assert_eq!(tasks[0].worker, Some(b));
}

#[test]
fn taken_over_claims_are_refused_on_both_stores() {
    let server = Server::start();
    let store = digits::tune::PgStore::connect(&server.url(), "t").unwrap();
    let mut db = server.sql();
    taken_over_claims_are_refused(Box::new(store), &mut || {
        db.execute("UPDATE digits_tasks SET heartbeat = now() - interval '5 seconds'", &[]).unwrap();
    });
    let dir = temp_dir("study-takeover");
    let store = digits::tune::FileStore::open(dir.path(), "t").unwrap();
    // The files' heartbeats are the clock's: wait the lease out.
    taken_over_claims_are_refused(Box::new(store), &mut || std::thread::sleep(Duration::from_millis(1100)));
}

#[test]
fn a_tpe_study_worked_by_two_workers_ends_like_a_single_process_run() {
    let dir = temp_dir("study-tpe");
    // Three epochs a trial, so that the second worker joins while trials are left.
    let tpe = ["--space", "examples/spaces/tiny.toml", "--strategy", "tpe", "--trials", "8", "--max-epochs", "3"]
        .into_iter()
        .chain(["--concurrent", "2", "--limit", "6000", "--threads", "1"])
        .map(String::from)
        .collect::<Vec<_>>();
    let single = dir.join("single");
    let args = [vec!["tune".to_string()], tpe.clone(), vec!["--out".into(), single.display().to_string()]].concat();
    ok(&strs(&args));
    let store = dir.join("store").display().to_string();
    let shared = ["--storage", &store, "--study", "tpe"].map(String::from);
    let create = [vec!["tune".to_string()], tpe, shared.to_vec()].concat();
    let worker = [vec!["tune".to_string(), "worker".into()], shared.to_vec()].concat();
    let mut kids = vec![spawn(&create, &dir.join("w0.log"))];
    let start = Instant::now();
    while !dir.join("store/tpe/study.json").exists() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    kids.push(spawn(&worker, &dir.join("w1.log")));
    for (i, kid) in kids.iter_mut().enumerate() {
        let log = || std::fs::read_to_string(dir.join(format!("w{i}.log"))).unwrap();
        assert!(kid.wait().unwrap().success(), "worker {i} failed:\n{}", log());
    }
    exports_like(&shared, &dir, &single);
}

/// The tiny ensemble's recipe: an MLP on a cosine rate that stops early (each member within
/// 6 to 8 of its 10 epochs on 6000 images) and restores its best epoch's weights, so that a
/// member continued on another worker needs the best epoch's checkpoint too.
const TINY_RECIPE: &str = "description = \"tiny ensemble member for tests\"
model = \"mlp-64-64\"
epochs = 10
batch_size = 32
optimizer = \"adam\"
lr = 0.003
schedule = \"cosine\"
validation_split = 0.1

[early_stopping]
monitor = \"val_accuracy\"
min_delta = 0.004
patience = 2
restore_best_weights = true
";

/// The tiny ensemble's flags but `--members`: the recipe in `dir`, 6000 images, one thread.
fn tiny_ensemble(dir: &Path) -> Vec<String> {
    let recipe = dir.join("tiny.toml");
    std::fs::write(&recipe, TINY_RECIPE).unwrap();
    let recipe = recipe.display().to_string();
    ["--recipe", &recipe, "--limit", "6000", "--threads", "1"].map(String::from).to_vec()
}

/// `digits evaluate --json` of a model or ensemble, without its timing.
fn evaluation(model: &Path) -> serde_json::Value {
    let mut v: serde_json::Value =
        serde_json::from_str(&ok(&["evaluate", "--model", model.to_str().unwrap(), "--json"])).unwrap();
    v.as_object_mut().unwrap().remove("inference_seconds");
    v
}

#[test]
fn an_ensemble_trained_by_workers_one_killed_mid_member_is_the_single_process_one_and_the_plain_runs_one() {
    let server = Server::start();
    let dir = temp_dir("study-ens");
    let flags = [tiny_ensemble(&dir), vec!["--members".into(), "3".into()]].concat();
    let assemble = |storage: &str, out: &Path| {
        ok(&["ensemble", "--storage", storage, "--study", "ens", "--out", out.to_str().unwrap()]);
    };
    // One process on the embedded store.
    let store = dir.join("store").display().to_string();
    let single = [vec!["ensemble".to_string(), "train".into()], flags.clone()].concat();
    let out = ok(&strs(&[single, ["--storage", &store, "--study", "ens"].map(String::from).to_vec()].concat()));
    assert!(out.contains("study finished: this worker recorded 3 members"), "{out}");
    assemble(&store, &dir.join("single"));

    // Three workers on PostgreSQL: the creator and two `digits tune worker`s, one of the three
    // killed with SIGKILL while it trains a member past a checkpoint.
    let url = server.url();
    let shared = ["--storage", &url, "--study", "ens"].map(String::from);
    let create =
        [vec!["ensemble".to_string(), "train".into()], flags, shared.to_vec(), vec!["--lease".into(), "2".into()]]
            .concat();
    let worker = [vec!["tune".to_string(), "worker".into()], shared.to_vec()].concat();
    let mut kids = vec![spawn(&create, &dir.join("w0.log"))];
    wait_for_study(&server, "ens");
    kids.push(spawn(&worker, &dir.join("w1.log")));
    kids.push(spawn(&worker, &dir.join("w2.log")));
    let mut db = server.sql();
    let killed = kill_one_mid_trial(&mut kids, &mut || mid_trial_in_db(&mut db));
    for (i, kid) in kids.iter_mut().enumerate().filter(|(_, k)| k.id() != killed) {
        let log = || std::fs::read_to_string(dir.join(format!("w{i}.log"))).unwrap();
        assert!(kid.wait().unwrap().success(), "worker {i} failed:\n{}", log());
    }
    let logs: String = (0..3).map(|i| std::fs::read_to_string(dir.join(format!("w{i}.log"))).unwrap()).collect();
    assert!(logs.contains("from the checkpoint of epoch"), "the killed worker's member was continued:\n{logs}");
    assert!(!logs.contains(PASSWORD), "the password is never printed");
    let status = [vec!["tune".to_string(), "status".into(), "--json".into()], shared.to_vec()].concat();
    let s: serde_json::Value = serde_json::from_str(&ok(&strs(&status))).unwrap();
    assert_eq!((s["kind"].as_str(), s["done"].as_u64(), s["running"].as_u64()), (Some("ensemble"), Some(3), Some(0)));
    assert_eq!(s["members"].as_array().map(Vec::len), Some(3), "{s}");
    assemble(&url, &dir.join("shared"));

    // The same members as `digits train` with seeds 0 to 2 and `digits ensemble` of those runs.
    let recipe = dir.join("tiny.toml");
    let mut runs = Vec::new();
    for seed in 0..3 {
        let run = dir.join(format!("run{seed}"));
        ok(&["train", "--recipe", recipe.to_str().unwrap(), "--seed", &seed.to_string(), "--limit", "6000"]
            .into_iter()
            .chain(["--threads", "1", "--out", run.to_str().unwrap()])
            .collect::<Vec<_>>());
        runs.push(run);
    }
    let plain = dir.join("plain");
    let mut args = vec!["ensemble".to_string()];
    args.extend(runs.iter().map(|r| r.display().to_string()));
    args.extend(["--out".into(), plain.display().to_string()]);
    ok(&strs(&args));
    for (i, run) in runs.iter().enumerate() {
        let member = |d: &Path| weights_hash(&d.join(format!("members/{i}/model.safetensors")));
        let want = weights_hash(&run.join("model.safetensors"));
        assert_eq!(
            (member(&dir.join("single")), member(&dir.join("shared")), member(&plain)),
            (want, want, want),
            "member {i}, bit for bit"
        );
    }
    let want = evaluation(&plain);
    assert_eq!(evaluation(&dir.join("single")), want);
    assert_eq!(evaluation(&dir.join("shared")), want);
}

#[test]
fn an_ensemble_study_refuses_other_settings_other_kinds_and_unfinished_or_failed_members() {
    use digits::tune::shared::{Claimed, WorkerId, decide};
    use digits::tune::{FileStore, MemberSetup, Settings, SharedStore, StudyMeta, TrialRecord};
    let dir = temp_dir("study-ens-refused");
    let store = dir.join("store").display().to_string();
    let flags = tiny_ensemble(&dir);
    let train = |extra: &[&str], study: &str| {
        let mut args = [vec!["ensemble".to_string(), "train".into()], flags.clone()].concat();
        args.extend(["--storage", &store, "--study", study].iter().chain(extra).map(|s| s.to_string()));
        digits_cmd().args(&args).output().unwrap()
    };
    // A quick ensemble, finished; the same settings join it (nothing is left to do).
    let quick_ens = ["--epochs", "1", "--members", "3"];
    assert!(train(&quick_ens, "e").status.success());
    assert!(train(&quick_ens, "e").status.success());
    let err = refused(train(&["--epochs", "1", "--members", "4"], "e"));
    assert!(err.contains("other settings") && err.contains("search.members: was 3, now 4"), "{err}");
    let err = refused(train(&["--epochs", "1", "--members", "3", "--seed", "5"], "e"));
    assert!(err.contains("seed: was 0, now 5") && err.contains("member.config.seed: was 0, now 5"), "{err}");
    let err = refused(train(&["--epochs", "1", "--members", "3", "--validation-split", "0.2"], "e"));
    assert!(err.contains("validation_split: was 0.1, now 0.2"), "{err}");
    // The recipe's early stopping watches the validation accuracy: no split, no study.
    let err = refused(train(&["--epochs", "1", "--members", "3", "--validation", "none"], "n"));
    assert!(err.contains("early stopping watches val_accuracy but there is no validation set"), "{err}");
    assert!(!dir.join("store/n/study.json").exists());
    let err = refused(train(&["--epochs", "1", "--members", "3", "--validation", "test"], "e"));
    assert!(err.contains("--validation must be `none`"), "{err}");
    // A search of the same name, and the ensemble where a search is asked for, are refused.
    let err = refused(quick(&store, "e", &[]));
    assert!(err.contains("the stored study is an ensemble, this is a tuning study"), "{err}");
    assert!(quick(&store, "q", &[]).status.success());
    let err = refused(train(&quick_ens, "q"));
    assert!(err.contains("the stored study is a tuning study, this is an ensemble"), "{err}");
    let out = dir.join("out");
    let assemble =
        |study: &str| digits(&["ensemble", "--storage", &store, "--study", study, "--out", out.to_str().unwrap()]);
    let err = refused(assemble("q"));
    assert!(err.contains("a tuning study (random search), not an ensemble"), "{err}");
    let err = refused(digits(&["tune", "export", "--storage", &store, "--study", "e", "--out", out.to_str().unwrap()]));
    assert!(err.contains("assemble it with `digits ensemble"), "{err}");
    assert!(!out.exists(), "nothing is written for a refused assembly");

    // An ensemble not trained yet, then with a failed member.
    let model = digits::model::presets::resolve("mlp-64-64").unwrap();
    let config = digits::train::TrainConfig { epochs: 2, ..Default::default() };
    let settings = Settings::ensemble(2, MemberSetup { model, config }, None, "data/mnist".into(), 1).unwrap();
    let mut files = FileStore::open(Path::new(&store), "u").unwrap();
    let meta = StudyMeta { data_checksum: "sha256:test".into(), lease_seconds: 60.0 };
    let drawn = settings.configurations(&[]);
    let decide = |done: &[TrialRecord]| decide(&settings, &drawn, "u", done);
    files.create(&settings, &meta, &decide).unwrap();
    let Claimed::Task(claim) = files.claim(&WorkerId { host: "h".into(), pid: 1 }).unwrap() else { panic!() };
    let err = refused(assemble("u"));
    assert!(err.contains("the ensemble is not finished: 0 of 2 members done, 1 running, 1 queued"), "{err}");
    files.fail(&claim, "training diverged at epoch 1").unwrap();
    let err = refused(assemble("u"));
    assert!(err.contains("member 0 (seed 0) failed, so the ensemble cannot be assembled: training diverged"), "{err}");
    let status = ok(&["tune", "status", "--storage", &store, "--study", "u"]);
    assert!(status.contains("members: 0 done, 0 running, 1 queued, 1 failed"), "{status}");
    // A member that diverges fails the study, as `digits train` fails.
    let diverges = ["--model", "mlp-64-64", "--optimizer", "sgd", "--lr", "1000000", "--epochs", "1"];
    let mut args = vec!["ensemble", "train", "--members", "2", "--limit", "600", "--threads", "1"];
    args.extend(diverges.iter().chain(&["--storage", &store, "--study", "d"]));
    let err = refused(digits(&args));
    assert!(err.contains("member 0 (seed 0): training diverged at epoch 1"), "{err}");
    let err = refused(assemble("d"));
    assert!(err.contains("member 0 (seed 0) failed, so the ensemble cannot be assembled: training diverged"), "{err}");
    assert!(!out.exists(), "nothing is written for a refused assembly");

    // Absurd stored settings are named errors before anything is sized by them.
    let path = dir.join("store/e/study.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"members\": 3", "\"members\": 1000000000000")).unwrap();
    let err = refused(assemble("e"));
    assert!(err.contains("settings: --members must be 1 to 256, got 1000000000000"), "{err}");
}

/// Exports the shared study `shared` (its `--storage … --study …` flags) into `dir/exported` and
/// checks it holds the trials, results and best model of the single-process run `single`.
fn exports_like(shared: &[String], dir: &Path, single: &Path) {
    let exported = dir.join("exported");
    let export = [
        vec!["tune".to_string(), "export".into()],
        shared.to_vec(),
        vec!["--out".into(), exported.display().to_string()],
    ]
    .concat();
    ok(&strs(&export));
    assert_eq!(results(&exported), results(single), "the same trials and results");
    assert_eq!(
        weights_hash(&exported.join("best/model.safetensors")),
        weights_hash(&single.join("best/model.safetensors")),
        "the same best model"
    );
}
