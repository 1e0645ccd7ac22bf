//! Gates that act: a feature that gives the outcome away stops `train` unless the spec
//! acknowledges it, and the bundle carries the gates it was trained with.

use riskloop_ingest::etl;
use riskloop_ingest::quality::GateKind;
use riskloop_ingest::spec::DatasetSpec;
use riskloop_train::TrainError;
use riskloop_train::config::{ModelChoice, TrainConfig};
use riskloop_train::device::DeviceChoice;
use riskloop_train::run::{self, TrainRequest};

use crate::data;

/// German credit with a column known only after the outcome: a collection fee charged on most
/// bad loans (a few bad loans and some good ones show a small administrative fee too).
fn leaky_german(dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(data("german_credit.csv")).unwrap();
    let mut lines = text.lines();
    let mut out = format!("{},collection_fee\n", lines.next().unwrap());
    for (i, line) in lines.enumerate() {
        let fee = match (line.ends_with(",bad"), i % 10) {
            (true, 0) | (false, 0) => "15",
            (true, _) => "250",
            (false, _) => "0",
        };
        out.push_str(&format!("{line},{fee}\n"));
    }
    let path = dir.join("german_leaky.csv");
    std::fs::write(&path, out).unwrap();
    path
}

fn spec(acknowledge: &str) -> DatasetSpec {
    let text = std::fs::read_to_string(data("german_credit.toml")).unwrap();
    DatasetSpec::from_toml(&format!(
        "{text}\n[[feature]]\nname = \"collection_fee\"\nkind = \"numeric\"\n{acknowledge}\n"
    ))
    .unwrap()
}

fn train(dataset: &std::path::Path, out: &std::path::Path) -> Result<run::Trained, TrainError> {
    let request = TrainRequest {
        data: dataset,
        out,
        device: DeviceChoice::Cpu,
        config: TrainConfig {
            model: ModelChoice::Logistic,
            max_epochs: 5,
            ..TrainConfig::default()
        },
        parent_version: None,
    };
    run::train(&request, &mut |_| {})
}

#[test]
fn a_leakage_column_stops_train_unless_the_spec_acknowledges_it() {
    let dir = tempfile::tempdir().unwrap();
    let csv = leaky_german(dir.path());
    let dataset = dir.path().join("dataset");
    let ingested =
        etl::ingest(&spec(""), std::slice::from_ref(&csv), &dataset, &mut |_| {}).unwrap();
    let gate = ingested
        .quality
        .gates
        .iter()
        .find(|g| g.feature == "collection_fee")
        .expect("the fee is flagged");
    assert_eq!(gate.gate, GateKind::Leakage);

    let models = dir.path().join("models");
    let err = train(&dataset, &models).unwrap_err();
    assert!(matches!(err, TrainError::Gate(_)), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("leakage on `collection_fee`") && message.contains("acknowledge"),
        "{message}"
    );
    let written = std::fs::read_dir(&models).map_or(0, |d| d.count());
    assert_eq!(written, 0, "no bundle is written");

    // Acknowledged (say the fee is charged at application), it trains, and the bundle says so.
    let reason = "charged at application by the broker";
    let dataset = dir.path().join("dataset2");
    etl::ingest(
        &spec(&format!("acknowledge = {{ leakage = \"{reason}\" }}")),
        &[csv],
        &dataset,
        &mut |_| {},
    )
    .unwrap();
    let trained = train(&dataset, &models).unwrap();
    let gate = trained
        .manifest
        .gates
        .iter()
        .find(|g| g.feature == "collection_fee")
        .unwrap();
    assert_eq!(gate.acknowledged.as_deref(), Some(reason));
    let html = std::fs::read_to_string(trained.dir.join("report.html")).unwrap();
    assert!(html.contains("<h2>Gates</h2>") && html.contains(reason));
}

#[test]
fn german_credit_raises_no_gate() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(data("german_credit.toml")).unwrap();
    let spec = DatasetSpec::from_toml(&text).unwrap();
    let ingested = etl::ingest(
        &spec,
        &[data("german_credit.csv")],
        &dir.path().join("dataset"),
        &mut |_| {},
    )
    .unwrap();
    assert!(
        ingested.quality.gates.is_empty(),
        "{:?}",
        ingested.quality.gates
    );
}
