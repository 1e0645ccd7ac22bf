//! The synthetic book has a known true probability of default: the additive model must come
//! within 0.02 of the Bayes AUC those probabilities reach on the same test rows, and beat the
//! logistic scorecard trained by the same code.

use riskloop_ingest::etl::read_split;
use riskloop_ingest::stats::auc;
use riskloop_ingest::synth::{self, SynthOptions};
use riskloop_train::config::{ModelChoice, TrainConfig};
use riskloop_train::layout::ModelKind;

use crate::{column_f64, ingest, train};

/// `rows` loans of the synthetic book (generator seed `seed`), ingested into `dir/dataset`.
fn synthetic_dataset(dir: &std::path::Path, rows: usize, seed: u64) -> std::path::PathBuf {
    let csv = dir.join("book.csv");
    let mut frame = synth::generate(&SynthOptions {
        rows,
        seed,
        ..SynthOptions::default()
    })
    .unwrap();
    synth::write(&mut frame, &csv).unwrap();
    ingest(dir, "synthetic_loans.toml", &[csv])
}

#[test]
fn the_additive_model_recovers_the_synthetic_signal_and_beats_logistic_regression() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = synthetic_dataset(dir.path(), 40_000, 11);
    let trained = train(
        &dataset,
        &dir.path().join("models"),
        ModelChoice::Auto,
        &TrainConfig::default(),
    );
    let m = &trained.manifest;

    let test = read_split(&dataset, "test").unwrap();
    let labels: Vec<u8> = column_f64(&test, "target")
        .iter()
        .map(|&y| y as u8)
        .collect();
    let true_pd: Vec<f64> = test
        .column("true_pd")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap().parse().unwrap())
        .collect();
    let bayes = auc(&true_pd, &labels).unwrap();
    let additive = m
        .candidates
        .iter()
        .find(|c| c.model == ModelKind::Additive)
        .unwrap();
    let logistic = m
        .candidates
        .iter()
        .find(|c| c.model == ModelKind::Logistic)
        .unwrap();
    println!(
        "synthetic test split: Bayes AUC {bayes:.4}; additive {:.4} [{:.4}, {:.4}]; logistic {:.4} [{:.4}, {:.4}]; served int8 {:.4}",
        additive.test_auc,
        additive.test_auc_ci[0],
        additive.test_auc_ci[1],
        logistic.test_auc,
        logistic.test_auc_ci[0],
        logistic.test_auc_ci[1],
        m.metrics.int8_test.auc
    );
    assert_eq!(m.model, ModelKind::Additive, "{:?}", m.candidates);
    assert!(
        bayes - additive.test_auc < 0.02,
        "Bayes {bayes:.4}, additive {:.4}",
        additive.test_auc
    );
    assert!(additive.test_auc > logistic.test_auc, "{:?}", m.candidates);
    assert!(
        bayes - m.metrics.int8_test.auc < 0.02,
        "int8 {:.4}",
        m.metrics.int8_test.auc
    );
    assert!(
        m.quantization.reason_set_agreement > 0.8,
        "{:?}",
        m.quantization
    );
}

/// 15,000 loans, split by time: the additive model's real gain over the logistic scorecard is
/// not significant on the ~2,000 validation rows alone, and the simpler model is kept; out of
/// fold (train and valid pooled, 5 folds) it is, and the additive model is kept. On the test
/// split, which neither choice read, the additive model is the better one.
#[test]
fn the_out_of_fold_choice_finds_a_gain_the_validation_split_alone_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = synthetic_dataset(dir.path(), 15_000, 3);
    let on_valid = train(
        &dataset,
        &dir.path().join("on_valid"),
        ModelChoice::Auto,
        &TrainConfig {
            choice_folds: 0,
            ..TrainConfig::default()
        },
    )
    .manifest;
    let valid_rows = on_valid.dataset.rows["valid"];
    assert!((1_000..5_000).contains(&valid_rows), "{valid_rows}");
    assert_eq!(on_valid.model, ModelKind::Logistic, "{:?}", on_valid.choice);
    let out_of_fold = train(
        &dataset,
        &dir.path().join("out_of_fold"),
        ModelChoice::Auto,
        &TrainConfig::default(),
    )
    .manifest;
    assert_eq!(
        out_of_fold.model,
        ModelKind::Additive,
        "{:?}",
        out_of_fold.choice
    );
    let find = |kind: ModelKind| {
        out_of_fold
            .candidates
            .iter()
            .find(|c| c.model == kind)
            .unwrap()
    };
    let (additive, logistic) = (find(ModelKind::Additive), find(ModelKind::Logistic));
    let cv = |c: &riskloop_train::bundle::Candidate| c.cross_validated.as_ref().unwrap().auc;
    assert!(cv(additive) > cv(logistic), "{additive:?} {logistic:?}");
    assert!(
        additive.test_auc > logistic.test_auc,
        "{additive:?} {logistic:?}"
    );
}
