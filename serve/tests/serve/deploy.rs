//! The deployment files: the Kubernetes manifests validate against the Kubernetes schemas
//! (kubernetes-validate from PyPI, which ships them; CI installs it), and the fields that matter
//! hold: the probes point at real routes, the Job's and CronJob's commands exist in the CLI,
//! the ConfigMap's configuration and policy are read by riskloop itself, the retrain asks for a
//! GPU, and neither image runs as root.

use std::path::{Path, PathBuf};

use riskloop_serve::decision::policy::Policy;
use riskloop_serve::settings::Settings;

use crate::app::spawn_app;
use crate::helpers::TestDb;

fn deploy(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(deploy(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The values of `key:` on the lines after each line containing `after`.
fn values_after(text: &str, after: &str, key: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains(after))
        .filter_map(|(i, _)| {
            lines[i + 1..]
                .iter()
                .find_map(|l| l.trim().strip_prefix(&format!("{key}:")))
                .map(|v| v.trim().trim_matches('"').to_owned())
        })
        .collect()
}

/// A literal block (`name: |`) of a ConfigMap, unindented.
fn block(text: &str, name: &str) -> String {
    let mut lines = text
        .lines()
        .skip_while(|l| l.trim() != format!("{name}: |"));
    lines.next().unwrap_or_else(|| panic!("no block {name}"));
    let body: Vec<&str> = lines.take_while(|l| l.starts_with("    ")).collect();
    body.iter().map(|l| format!("{}\n", &l[4..])).collect()
}

/// Each `args: [...]` of a manifest, as a list.
fn args(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("args:"))
        .map(|a| serde_json::from_str(a.trim()).unwrap_or_else(|e| panic!("{a}: {e}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manifests_point_at_real_routes_and_commands_and_run_nothing_as_root() {
    let deployment = read("k8s/deployment.yaml");
    let app = spawn_app(TestDb::sqlite().await).await;
    for probe in ["readinessProbe", "livenessProbe"] {
        let paths = values_after(&deployment, probe, "path");
        assert_eq!(paths.len(), 1, "{probe}");
        let r = app.get(&paths[0], None);
        assert_eq!(r.status, 200, "{probe} {}: {}", paths[0], r.body);
    }
    app.finish().await;
    assert!(deployment.contains("runAsNonRoot: true"));

    let config_dir = deploy("k8s");
    let mut commands = Vec::new();
    for file in [
        "deployment.yaml",
        "migrate-job.yaml",
        "retrain-cronjob.yaml",
    ] {
        for a in args(&read(&format!("k8s/{file}"))) {
            assert_eq!(
                a[1..],
                ["--config", "/etc/riskloop/riskloop.toml"],
                "{file}"
            );
            commands.push(a[0].clone());
        }
    }
    assert_eq!(commands, ["serve", "migrate", "retrain"]);
    for command in &commands {
        let help = std::process::Command::new(env!("CARGO_BIN_EXE_riskloop"))
            .args([command.as_str(), "--help"])
            .output()
            .unwrap();
        assert!(help.status.success(), "riskloop {command} --help");
        assert!(
            String::from_utf8_lossy(&help.stdout).contains("--config"),
            "riskloop {command} takes --config"
        );
    }
    let cronjob = read("k8s/retrain-cronjob.yaml");
    assert!(cronjob.contains("nvidia.com/gpu: 1"), "{cronjob}");
    assert_eq!(
        values_after(&cronjob, "kind: CronJob", "schedule"),
        ["0 3 * * *"]
    );

    // The ConfigMap's files are what riskloop reads.
    let configmap = read("k8s/configmap.yaml");
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("riskloop.toml");
    std::fs::write(&toml, block(&configmap, "riskloop.toml")).unwrap();
    let settings = Settings::load(Some(&toml)).unwrap();
    assert_eq!(settings.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(settings.models_dir(), Path::new("/var/lib/riskloop/models"));
    assert!(
        deployment.contains("mountPath: /var/lib/riskloop/models")
            && cronjob.contains("mountPath: /var/lib/riskloop/models"),
        "the API and the retrain share the bundles' volume"
    );
    Policy::parse(&block(&configmap, "policy.toml"), "configmap").unwrap();

    // Every manifest is in the kustomization.
    let kustomization = read("k8s/kustomization.yaml");
    for entry in std::fs::read_dir(&config_dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name != "kustomization.yaml" {
            assert!(
                kustomization.contains(&format!("- {name}")),
                "{name} missing"
            );
        }
    }

    // Neither image runs as root, and both run the binary.
    for dockerfile in ["Dockerfile", "Dockerfile.cuda"] {
        let text = read(dockerfile);
        let user = text
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("USER "))
            .unwrap_or_else(|| panic!("{dockerfile} sets no USER"));
        assert!(
            !user.starts_with("root") && !user.starts_with("0"),
            "{dockerfile}: {user}"
        );
        assert!(
            text.contains(r#"ENTRYPOINT ["/usr/local/bin/riskloop"]"#),
            "{dockerfile}"
        );
    }
}

/// The manifests against the Kubernetes schemas, strictly (no unknown fields).
#[test]
fn the_manifests_validate_against_the_kubernetes_schemas() {
    let validator = match std::env::var("RISKLOOP_TEST_PYTHON") {
        Ok(python) if !python.is_empty() => Path::new(&python)
            .parent()
            .unwrap()
            .join("kubernetes-validate"),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but RISKLOOP_TEST_PYTHON is unset: the manifests must be validated")
        }
        _ => {
            println!("notice: RISKLOOP_TEST_PYTHON is unset; skipping kubernetes-validate");
            return;
        }
    };
    if !validator.exists() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install kubernetes-validate"
        );
        println!("notice: no {validator:?} (pip install kubernetes-validate); skipping");
        return;
    }
    let manifests: Vec<PathBuf> = std::fs::read_dir(deploy("k8s"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != "kustomization.yaml"))
        .collect();
    assert!(manifests.len() >= 9);
    let out = std::process::Command::new(&validator)
        .arg("--strict")
        .args(&manifests)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.matches(" passed for resource ").count(),
        manifests.len(),
        "{text}"
    );
}
