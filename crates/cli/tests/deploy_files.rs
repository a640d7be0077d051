//! The configuration files shipped in deploy/ load with the server's and the retrainer's own parsers, and
//! every `tastebud` command line written in deploy/ (Kubernetes manifests, compose.yaml, the Dockerfile)
//! uses only flags the binary accepts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_tastebud");

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// The `--model` path of the image's default command.
fn dockerfile_model_path() -> String {
    let text = std::fs::read_to_string(deploy().join("Dockerfile")).unwrap();
    let cmd = text
        .split("\nCMD ")
        .nth(1)
        .expect("the Dockerfile has a CMD");
    let words: Vec<&str> = cmd
        .split(|c: char| c == '"' || c == ',' || c.is_whitespace() || c == '\\')
        .filter(|w| !w.is_empty() && *w != "[" && *w != "]")
        .collect();
    let i = words.iter().position(|w| *w == "--model").unwrap();
    words[i + 1].to_string()
}

#[test]
fn the_containers_server_config_loads_and_binds_the_exposed_port() {
    let path = deploy().join("k8s/config/tastebud.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    // The config needs the service key, which the pods get from the Secret (TASTEBUD_SERVICE_KEY):
    // without one it is refused, with one (here written into [auth], as the environment would give it)
    // it loads.
    if std::env::var_os("TASTEBUD_SERVICE_KEY").is_none()
        && std::env::var_os("TASTEBUD_ADMIN_KEY").is_none()
    {
        let e = tastebud_server::Config::load(&path).unwrap_err();
        assert!(e.contains("TASTEBUD_SERVICE_KEY"), "{e}");
    }
    assert!(
        text.contains("\n[auth]\n"),
        "tastebud.toml has an [auth] section"
    );
    let dir = tempfile::tempdir().unwrap();
    let keyed = dir.path().join("tastebud.toml");
    std::fs::write(
        &keyed,
        text.replace(
            "\n[auth]\n",
            "\n[auth]\nservice_key = \"from-the-secret\"\n",
        ),
    )
    .unwrap();
    let c = tastebud_server::Config::load(&keyed).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.bind, "0.0.0.0:8080", "the image EXPOSEs 8080");
    assert_eq!(
        c.data_dir,
        Path::new("/var/lib/tastebud/data"),
        "the writable data volume of the manifests"
    );
    assert!(
        c.admin.watch_model,
        "replicas pick up a promoted current.tbm"
    );
    assert!(
        c.admin.api_key.is_none() && !text.contains("service_key"),
        "keys come from the Secret (environment), never from the ConfigMap"
    );
}

#[test]
fn the_retrain_config_loads_and_promotes_what_the_servers_load() {
    let path = deploy().join("k8s/config/retrain.toml");
    let c =
        tastebud_lifecycle::retrain::RetrainConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let current = c.registry.join("current.tbm");
    assert_eq!(current, Path::new(&dockerfile_model_path()));
    assert!(c.base_data.starts_with("/var/lib/tastebud/models"));
}

/// `tastebud SUB ...` command lines in deploy/: (subcommand, flags).
fn command_lines() -> Vec<(String, PathBuf, BTreeSet<String>)> {
    let mut out = Vec::new();
    let subs = [
        "serve",
        "batch",
        "retrain",
        "datasets",
        "healthcheck",
        "train",
    ];
    let mut files = vec![deploy().join("compose.yaml"), deploy().join("Dockerfile")];
    for e in std::fs::read_dir(deploy().join("k8s")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            files.push(p);
        }
    }
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        // YAML argument lists: `- serve` then `- --flag` items (until a line that is not a list item).
        let mut current: Option<(String, BTreeSet<String>)> = None;
        for line in text.lines() {
            let item = line.trim().strip_prefix("- ").map(str::trim);
            match (item, &mut current) {
                (Some(w), _) if subs.contains(&w) => {
                    if let Some((s, flags)) = current.take() {
                        out.push((s, f.clone(), flags));
                    }
                    current = Some((w.to_string(), BTreeSet::new()));
                }
                (Some(w), Some((_, flags))) if w.starts_with("--") => {
                    flags.insert(w.to_string());
                }
                (None, Some(_)) => {
                    let (s, flags) = current.take().unwrap();
                    out.push((s, f.clone(), flags));
                }
                _ => {}
            }
        }
        if let Some((s, flags)) = current.take() {
            out.push((s, f.clone(), flags));
        }
        // Shell lines and JSON arrays: `tastebud SUB ... --flag ...` (continued lines joined), and the
        // Dockerfile's exec-form CMD/HEALTHCHECK.
        let joined = text
            .replace("\\\n", " ")
            .replace("\", \"", " ")
            .replace('"', " ");
        for line in joined.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            for (i, w) in words.iter().enumerate() {
                let sub = if w.ends_with("tastebud") {
                    words.get(i + 1).copied()
                } else if (*w == "CMD" || *w == "[") && words.get(i + 1) == Some(&"serve") {
                    Some("serve")
                } else {
                    None
                };
                if let Some(sub) = sub.filter(|s| subs.contains(s)) {
                    let flags = words[i + 1..]
                        .iter()
                        .take_while(|w| !w.contains(';') && **w != "&&" && **w != "||")
                        .filter(|w| w.starts_with("--"))
                        .map(|w| w.trim_end_matches([',', ']']).to_string())
                        .collect();
                    out.push((sub.to_string(), f.clone(), flags));
                }
            }
        }
    }
    out
}

#[test]
fn the_deploy_files_command_lines_are_found() {
    let lines = command_lines();
    let subs: BTreeSet<&str> = lines.iter().map(|(s, _, _)| s.as_str()).collect();
    for s in ["serve", "batch", "retrain", "datasets", "healthcheck"] {
        assert!(
            subs.contains(s),
            "no `tastebud {s}` found in deploy/: {lines:?}"
        );
    }
    let serve_flags: BTreeSet<&String> = lines
        .iter()
        .filter(|(s, _, _)| s == "serve")
        .flat_map(|(_, _, f)| f)
        .collect();
    assert!(
        serve_flags.iter().any(|f| *f == "--model") && serve_flags.iter().any(|f| *f == "--config"),
        "{serve_flags:?}"
    );
}

/// Every flag of every `tastebud` command line in deploy/ is one its subcommand accepts.
#[test]
fn every_flag_in_deploy_is_accepted_by_the_cli() {
    let mut help: BTreeMap<String, String> = BTreeMap::new();
    let mut unknown = Vec::new();
    for (sub, file, flags) in command_lines() {
        let text = help.entry(sub.clone()).or_insert_with(|| {
            let out = Command::new(BIN).args([&sub, "--help"]).output().unwrap();
            assert!(out.status.success(), "tastebud {sub} --help failed");
            let mut t = String::from_utf8_lossy(&out.stdout).into_owned();
            if sub == "datasets" {
                let out = Command::new(BIN)
                    .args(["datasets", "synth", "--help"])
                    .output()
                    .unwrap();
                t.push_str(&String::from_utf8_lossy(&out.stdout));
            }
            t
        });
        for f in flags {
            let accepted = text
                .split(|c: char| c.is_whitespace() || c == ',')
                .any(|w| w == f || w.split('=').next() == Some(f.as_str()));
            if !accepted {
                unknown.push(format!("{}: tastebud {sub} {f}", file.display()));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "flags the CLI does not accept:\n{}",
        unknown.join("\n")
    );
}
