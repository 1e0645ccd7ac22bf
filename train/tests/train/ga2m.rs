//! The GA2M on German credit: its pair tables are purified (every row and column averages to
//! zero over the training rows) and the model still scores exactly, keeps its monotone
//! directions and about the validation AUC it had before.

use riskloop_ingest::spec::Monotone;
use riskloop_train::bundle::Bundle;
use riskloop_train::config::{ModelChoice, TrainConfig};
use riskloop_train::data::{Encoded, Split};
use riskloop_train::layout::{ModelKind, TermKind};
use riskloop_train::purify::{largest_marginal, level_counts};

use crate::{data, ingest, train};

#[test]
fn a_ga2m_has_pure_pair_tables_and_keeps_its_auc() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = ingest(
        dir.path(),
        "german_credit.toml",
        &[data("german_credit.csv")],
    );
    let trained = train(
        &dataset,
        &dir.path().join("models"),
        ModelChoice::Ga2m,
        &TrainConfig::default(),
    );
    let m = &trained.manifest;
    assert_eq!(m.model, ModelKind::Ga2m, "{:?}", m.candidates);
    let purified = m.run.purified.clone().expect("a GA2M is purified");
    println!(
        "German credit GA2M: valid AUC {:.4} before purifying, {:.4} after ({} refit steps); \
         test AUC {:.4}",
        purified.valid_auc_before,
        purified.valid_auc,
        purified.iterations,
        m.metrics.float_test.auc
    );
    assert!(
        (purified.valid_auc - purified.valid_auc_before).abs() < 0.01,
        "{purified:?}"
    );
    assert!(
        m.run.max_contribution_error < 1e-4,
        "{}",
        m.run.max_contribution_error
    );

    let bundle = Bundle::load(&trained.dir).unwrap();
    let float = &bundle.model.float;
    let layout = &float.layout;
    let pairs = layout
        .terms
        .iter()
        .filter(|t| matches!(t.kind, TermKind::Pair { .. }))
        .count();
    assert!(pairs > 0, "FAST found no pair");
    let train_split = Split::read(&dataset, "train", &bundle.pipeline).unwrap();
    let counts = level_counts(&Encoded::new(layout, &train_split), layout.levels);
    let levels: Vec<f64> = float.weights.levels.iter().map(|&v| f64::from(v)).collect();
    let largest = largest_marginal(layout, &levels, &counts);
    assert!(
        largest < 1e-4,
        "a pair table's row or column averages {largest}"
    );

    // The refit kept every monotone feature's direction.
    for term in &layout.terms {
        let (Some(direction), TermKind::Numeric { knots, .. }) = (term.monotone, &term.kind) else {
            continue;
        };
        let w = &float.weights.dense[term.offset..term.offset + knots.len() - 1];
        assert!(
            w.iter().all(|&x| match direction {
                Monotone::Increasing => x >= 0.0,
                Monotone::Decreasing => x <= 0.0,
            }),
            "{}: {w:?}",
            term.feature
        );
    }
    let html = std::fs::read_to_string(trained.dir.join("report.html")).unwrap();
    assert!(html.contains("The tables are purified") && html.contains("main terms refitted"));
}
