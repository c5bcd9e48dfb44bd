//! The launchers in `deploy/` that CI cannot start: the Kubernetes manifest is parsed as YAML
//! and checked to be an Indexed Job whose worker command the `digits` binary accepts, with the
//! database URL read from the mounted Secret (never on the command line). `deploy/slurm/
//! try-local.sh` runs the Slurm array for real, outside CI (docs/slurm-try-local.txt).

mod common;

use common::digits;
use yaml_rust2::{Yaml, YamlLoader};

const MANIFEST: &str = "deploy/kubernetes/digits-workers.yaml";

fn load(text: &str) -> Result<Vec<Yaml>, String> {
    YamlLoader::load_from_str(text).map_err(|e| e.to_string())
}

fn str_at<'a>(y: &'a Yaml, path: &[&str]) -> &'a str {
    let mut at = y;
    for key in path {
        at = &at[*key];
    }
    at.as_str().unwrap_or_else(|| panic!("{MANIFEST}: {} is not a string", path.join(".")))
}

#[test]
fn the_kubernetes_manifest_is_an_indexed_job_running_a_worker_digits_accepts() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/kubernetes/digits-workers.yaml"))
        .expect("read the manifest");
    let docs = load(&text).unwrap_or_else(|e| panic!("{MANIFEST}: not YAML: {e}"));
    assert_eq!(docs.len(), 1, "{MANIFEST}: one document");
    let job = &docs[0];
    assert_eq!(str_at(job, &["apiVersion"]), "batch/v1");
    assert_eq!(str_at(job, &["kind"]), "Job");
    let spec = &job["spec"];
    assert_eq!(str_at(spec, &["completionMode"]), "Indexed");
    for key in ["completions", "parallelism", "backoffLimit"] {
        assert!(spec[key].as_i64().is_some_and(|n| n > 0), "{MANIFEST}: spec.{key} is a positive integer");
    }
    let pod = &spec["template"]["spec"];
    let containers = pod["containers"].as_vec().expect("containers");
    assert_eq!(containers.len(), 1);
    let worker = &containers[0];
    assert!(worker["env"].is_badvalue(), "{MANIFEST}: the URL comes from a file, not the environment");

    // The command: `digits tune worker` with flags the binary lists, the URL from a file.
    let command: Vec<&str> =
        worker["command"].as_vec().expect("command").iter().map(|a| a.as_str().expect("string")).collect();
    assert_eq!(command[..3], ["digits", "tune", "worker"]);
    let help = digits(&["tune", "worker", "--help"]);
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in command.iter().filter(|a| a.starts_with("--")) {
        assert!(help.contains(&format!("{flag} ")), "{MANIFEST}: `digits tune worker` has no {flag}");
    }
    assert!(!command.contains(&"--storage"), "{MANIFEST}: no URL on the command line");
    let at = command.iter().position(|a| *a == "--storage-file").expect("--storage-file") + 1;
    let file = std::path::Path::new(command[at]);

    // That file is the Secret's key, mounted read-only where the command looks.
    let mount = &worker["volumeMounts"][0];
    assert_eq!(mount["readOnly"].as_bool(), Some(true));
    assert_eq!(file.parent().and_then(|p| p.to_str()), Some(str_at(mount, &["mountPath"])));
    let volume = &pod["volumes"][0];
    assert_eq!(str_at(volume, &["name"]), str_at(mount, &["name"]));
    let item = &volume["secret"]["items"][0];
    assert_eq!(Some(str_at(item, &["path"])), file.file_name().and_then(|f| f.to_str()));
    assert!(!str_at(volume, &["secret", "secretName"]).is_empty());
}

#[test]
fn a_broken_manifest_is_not_taken_for_yaml() {
    // The check above can fail: a tab-indented or unclosed manifest does not parse.
    assert!(load("spec:\n  template: {spec: [1, 2\n").is_err());
    assert!(load("kind: Job\n\tspec: 1\n").is_err());
}
