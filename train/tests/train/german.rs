//! German credit: both models, exact contributions, bundles, the int8 scorer and `score`.

use burn::backend::NdArray;
use burn::backend::ndarray::NdArrayDevice;
use riskloop_ingest::application::Application;
use riskloop_ingest::etl::read_split;
use riskloop_ingest::spec::{DatasetSpec, Monotone};
use riskloop_train::bundle::Bundle;
use riskloop_train::config::{ModelChoice, TrainConfig};
use riskloop_train::data::{Encoded, Split};
use riskloop_train::inference::{load_burn_model, score_files};
use riskloop_train::layout::{ModelKind, TermKind};
use riskloop_train::run::{self, TrainRequest};
use riskloop_train::training;
use riskloop_train::{TrainError, device::DeviceChoice};

use crate::{column_f64, data, ingest, raw_rows, train};

/// The shipped German credit file, ingested into `dir/dataset`.
fn german_dataset(dir: &std::path::Path) -> std::path::PathBuf {
    ingest(dir, "german_credit.toml", &[data("german_credit.csv")])
}

#[test]
fn german_credit_trains_every_candidate_and_writes_a_verified_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = german_dataset(dir.path());
    let trained = train(
        &dataset,
        &dir.path().join("models"),
        ModelChoice::Auto,
        &TrainConfig::default(),
    );
    let m = &trained.manifest;
    assert_eq!(m.candidates.len(), 3, "{:?}", m.candidates);
    let kinds: Vec<ModelKind> = m.candidates.iter().map(|c| c.model).collect();
    for kind in [ModelKind::Logistic, ModelKind::Additive, ModelKind::Ga2m] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    // The logistic scorecard is kept unless the additive model is significantly better.
    let choice = m.choice.as_ref().expect("two candidates were compared");
    assert!(choice.rule.significant);
    assert_eq!(
        m.model == ModelKind::Additive,
        choice.challenger_wins,
        "{choice:?}"
    );
    assert_eq!(m.candidates[0].model, m.model);
    // 150 validation rows: the choice compared out-of-fold scores of train and valid.
    let pooled = m.dataset.rows["train"] + m.dataset.rows["valid"];
    for c in &m.candidates {
        let cv = c
            .cross_validated
            .as_ref()
            .expect("a small dataset is cross-validated");
        assert_eq!((cv.folds, cv.rows), (5, pooled), "{c:?}");
        assert!(cv.auc > 0.70 && cv.auc != c.valid_auc, "{c:?}");
    }
    let kept = &m.candidates[0].cross_validated.as_ref().unwrap().auc;
    assert!(
        (choice.champion_auc - kept).abs() < 1e-12 || (choice.challenger_auc - kept).abs() < 1e-12,
        "the comparison read the out-of-fold AUCs: {choice:?}"
    );
    for c in &m.candidates {
        assert!(c.test_auc > 0.70, "{c:?}");
        assert!(c.test_auc_ci[0] < c.test_auc && c.test_auc < c.test_auc_ci[1]);
    }
    assert!(
        m.run.max_contribution_error < 1e-4,
        "{}",
        m.run.max_contribution_error
    );
    assert!(m.quantization.auc_drop <= 0.002, "{:?}", m.quantization);
    assert!(m.quantization.int8_bytes < m.quantization.float_bytes);
    for name in [
        "manifest.json",
        "model.json",
        "model.mpk",
        "pipeline.json",
        "spec.toml",
        "report.html",
    ] {
        assert!(trained.dir.join(name).is_file(), "{name}");
    }
    let html = std::fs::read_to_string(trained.dir.join("report.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 4);
    assert!(
        html.contains("compared out of fold"),
        "the report names the basis"
    );
    assert!(
        !html.contains("http://")
            || html
                .matches("http://")
                .all(|_| html.contains("xmlns=\"http://www.w3.org/2000/svg\""))
    );

    let bundle = Bundle::load(&trained.dir).unwrap();
    let test = Split::read(&dataset, "test", &bundle.pipeline).unwrap();

    // Burn's float model, reloaded from the record, agrees with the float terms and with
    // base + contributions, on every test row.
    let float = &bundle.model.float;
    let burn_model = load_burn_model::<NdArray>(&bundle, &NdArrayDevice::Cpu).unwrap();
    let burn_logits = training::logits(&burn_model, &Encoded::new(&float.layout, &test));
    let mut values = vec![0.0; float.layout.terms.len()];
    for (i, burn) in burn_logits.iter().enumerate() {
        let raw = float.raw_logit(test.row(i), &mut values);
        assert!((raw - burn).abs() < 1e-4, "row {i}: {raw} vs {burn}");
        for scorer_logit in [
            float.score(test.row(i)),
            bundle.model.int8.score(test.row(i)),
        ] {
            let sum = scorer_logit.base + scorer_logit.contributions.iter().sum::<f64>();
            assert!((sum - scorer_logit.logit).abs() < 1e-9);
        }
        let reasons = bundle
            .model
            .int8
            .reasons(&bundle.model.int8.score(test.row(i)), 4);
        assert!(reasons.len() <= 4);
        assert!(
            reasons
                .windows(2)
                .all(|w| w[0].contribution >= w[1].contribution)
        );
        assert!(
            reasons
                .iter()
                .all(|r| r.contribution > 0.0 && !r.description.is_empty())
        );
    }

    // Monotone features keep their direction in both forms.
    for (term, table) in float
        .layout
        .terms
        .iter()
        .zip(&bundle.model.int8.weights.tables)
    {
        let (Some(direction), TermKind::Numeric { knots, .. }) = (term.monotone, &term.kind) else {
            continue;
        };
        let w = &float.weights.dense[term.offset..term.offset + knots.len() - 1];
        let ok = |x: f64| match direction {
            Monotone::Increasing => x >= 0.0,
            Monotone::Decreasing => x <= 0.0,
        };
        assert!(
            w.iter().all(|&x| ok(f64::from(x))),
            "{}: {w:?}",
            term.feature
        );
        assert!(
            table
                .values
                .windows(2)
                .all(|v| ok(f64::from(v[1]) - f64::from(v[0]))),
            "{}",
            term.feature
        );
    }
}

#[test]
fn choice_folds_0_chooses_on_the_validation_split() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = german_dataset(dir.path());
    let config = TrainConfig {
        choice_folds: 0,
        pairs: 0,
        ..TrainConfig::default()
    };
    let m = train(
        &dataset,
        &dir.path().join("models"),
        ModelChoice::Auto,
        &config,
    )
    .manifest;
    assert_eq!(m.candidates.len(), 2, "{:?}", m.candidates);
    assert!(m.candidates.iter().all(|c| c.cross_validated.is_none()));
    let choice = m.choice.as_ref().unwrap();
    let valid: Vec<f64> = m.candidates.iter().map(|c| c.valid_auc).collect();
    assert!(
        valid
            .iter()
            .any(|v| (v - choice.champion_auc).abs() < 1e-12),
        "{choice:?} against {valid:?}"
    );
}

#[test]
fn score_output_equals_the_server_path_on_every_test_row() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = german_dataset(dir.path());
    let trained = train(
        &dataset,
        &dir.path().join("models"),
        ModelChoice::Logistic,
        &TrainConfig::default(),
    );
    let bundle = Bundle::load(&trained.dir).unwrap();
    let out = dir.path().join("scores.parquet");
    let scored = score_files(&bundle, &[data("german_credit.csv")], &out).unwrap();
    assert_eq!(scored.rows, 1000);
    let frame = {
        use polars::prelude::SerReader;
        polars::prelude::ParquetReader::new(std::fs::File::open(&out).unwrap())
            .finish()
            .unwrap()
    };
    let file_pd = column_f64(&frame, "probability_of_default");
    let spec = DatasetSpec::from_file(&data("german_credit.toml")).unwrap();
    let rows = raw_rows(&data("german_credit.csv"), &spec);
    let test = read_split(&dataset, "test").unwrap();
    let source_rows = column_f64(&test, "source_row");
    assert!(source_rows.len() >= 100);
    for source in source_rows {
        let row = source as usize;
        // The server path: one JSON application → apply_one → int8 scorer.
        let slots = bundle
            .pipeline
            .apply_one(&Application::from(&rows[row]))
            .unwrap();
        let online = bundle.model.int8.score(&slots);
        assert_eq!(
            online.probability.to_bits(),
            file_pd[row].to_bits(),
            "row {row}"
        );
    }
}

#[test]
fn a_tampered_bundle_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = german_dataset(dir.path());
    let trained = train(
        &dataset,
        &dir.path().join("models"),
        ModelChoice::Logistic,
        &TrainConfig::default(),
    );
    let model = trained.dir.join("model.json");
    let text = std::fs::read_to_string(&model).unwrap();
    std::fs::write(&model, text.replacen("\"bias\"", " \"bias\"", 1)).unwrap();
    let err = Bundle::load(&trained.dir).unwrap_err().to_string();
    assert!(
        err.contains("model.json") && err.contains("sha256"),
        "{err}"
    );
    std::fs::write(&model, text).unwrap();
    std::fs::remove_file(trained.dir.join("report.html")).unwrap();
    let err = Bundle::load(&trained.dir).unwrap_err().to_string();
    assert!(err.contains("report.html is missing"), "{err}");
}

#[test]
fn training_is_deterministic_given_a_seed() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = german_dataset(dir.path());
    let config = TrainConfig {
        max_epochs: 5,
        ..TrainConfig::default()
    };
    let a = train(
        &dataset,
        &dir.path().join("a"),
        ModelChoice::Additive,
        &config,
    );
    let b = train(
        &dataset,
        &dir.path().join("b"),
        ModelChoice::Additive,
        &config,
    );
    let weights =
        |t: &riskloop_train::run::Trained| Bundle::load(&t.dir).unwrap().model.float.weights;
    assert_eq!(weights(&a), weights(&b));
    // model.json holds both forms, the reference and the calibration: all equal byte for byte.
    assert_eq!(
        a.manifest.files.get("model.json"),
        b.manifest.files.get("model.json")
    );
}

/// The full-batch refinement solves the same convex problem whatever the epochs left it, so
/// seeds that start (and stop) the epochs differently agree on the model's test AUC.
#[test]
fn seeds_agree_on_test_auc_after_refinement() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = german_dataset(dir.path());
    let aucs: Vec<f64> = [1, 2, 3]
        .into_iter()
        .map(|seed| {
            let config = TrainConfig {
                seed,
                max_epochs: 6 + 3 * seed as usize,
                ..TrainConfig::default()
            };
            let trained = train(
                &dataset,
                &dir.path().join(format!("s{seed}")),
                ModelChoice::Additive,
                &config,
            );
            let refine = trained.manifest.run.refine.clone().expect("refined");
            assert!(refine.iterations > 0, "{refine:?}");
            trained.manifest.metrics.float_test.auc
        })
        .collect();
    let spread = aucs.iter().cloned().fold(f64::MIN, f64::max)
        - aucs.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread < 0.003, "test AUCs {aucs:?}");
}

#[test]
fn an_int8_model_that_loses_too_much_auc_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = german_dataset(dir.path());
    let out = dir.path().join("models");
    let request = TrainRequest {
        data: &dataset,
        out: &out,
        device: DeviceChoice::Cpu,
        config: TrainConfig {
            model: ModelChoice::Logistic,
            max_epochs: 3,
            max_auc_drop: -1.0,
            ..TrainConfig::default()
        },
        parent_version: None,
    };
    // A negative limit is a config error; a zero limit can be met, so the refusal is forced
    // through validation of the limit first.
    assert!(matches!(
        run::train(&request, &mut |_| {}),
        Err(TrainError::Config(_))
    ));
    let request = TrainRequest {
        config: TrainConfig {
            max_auc_drop: 0.0,
            ..request.config.clone()
        },
        ..request
    };
    match run::train(&request, &mut |_| {}) {
        Err(TrainError::Quantization(message)) => {
            assert!(message.contains("no bundle written"), "{message}");
            assert_eq!(std::fs::read_dir(&out).map(|d| d.count()).unwrap_or(0), 0);
        }
        Ok(trained) => assert!(trained.manifest.quantization.auc_drop <= 0.0),
        Err(other) => panic!("{other}"),
    }
}

#[test]
fn cuda_without_the_feature_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let request = TrainRequest {
        data: dir.path(),
        out: dir.path(),
        device: DeviceChoice::Cuda,
        config: TrainConfig::default(),
        parent_version: None,
    };
    if !cfg!(feature = "cuda") {
        let err = run::train(&request, &mut |_| {}).unwrap_err();
        assert!(matches!(err, TrainError::Device(_)), "{err}");
    }
}

/// A feature that is the same for every applicant contributes nothing: the additive model
/// drops it, says so, and still scores every row exactly.
#[test]
fn a_feature_that_contributes_nothing_is_pruned_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(data("german_credit.csv")).unwrap();
    let mut lines = text.lines();
    let mut csv = format!("{},branch\n", lines.next().unwrap());
    for line in lines {
        csv.push_str(&format!("{line},main\n"));
    }
    let input = dir.path().join("german_branch.csv");
    std::fs::write(&input, csv).unwrap();
    let spec = std::fs::read_to_string(data("german_credit.toml")).unwrap();
    let spec = riskloop_ingest::spec::DatasetSpec::from_toml(&format!(
        "{spec}\n[[feature]]\nname = \"branch\"\nkind = \"categorical\"\n"
    ))
    .unwrap();
    let dataset = dir.path().join("dataset");
    riskloop_ingest::etl::ingest(&spec, &[input], &dataset, &mut |_| {}).unwrap();
    let trained = train(
        &dataset,
        &dir.path().join("models"),
        ModelChoice::Additive,
        &TrainConfig::default(),
    );
    let m = &trained.manifest;
    let pruned: Vec<&str> = m.run.pruned.iter().map(|p| p.feature.as_str()).collect();
    assert!(pruned.contains(&"branch"), "{pruned:?}");
    assert!(m.run.pruned.iter().all(|p| p.contribution_sd < p.threshold));
    assert!(
        m.run.max_contribution_error < 1e-4,
        "{}",
        m.run.max_contribution_error
    );
    let bundle = Bundle::load(&trained.dir).unwrap();
    assert!(
        bundle
            .model
            .float
            .layout
            .terms
            .iter()
            .all(|t| t.feature != "branch")
    );
    let html = std::fs::read_to_string(trained.dir.join("report.html")).unwrap();
    assert!(html.contains("Dropped before the final refinement") && html.contains("branch"));
}
