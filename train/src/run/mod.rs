//! One training run end to end: read the dataset folder, fit the candidate models on the chosen
//! device, calibrate, quantize and check the int8 form, evaluate, and write the bundle.

use std::path::{Path, PathBuf};
use std::time::Instant;

use riskloop_ingest::pipeline::FeaturePipeline;
use riskloop_ingest::quality::{Gate, GateKind};

use crate::report::FeatureStat;

mod fit; // one candidate fitted on the chosen device
mod prune; // terms that contribute nothing dropped, the rest refined again
mod select; // the scores the choice between candidates compares (out-of-fold on small data)
mod write; // the bundle written

use fit::{FittedModel, fit_model};
use write::{Choice, reason_agreement, write_bundle};

use crate::TrainError;
use crate::bundle::{self, Candidate, CrossValidated, Manifest, MetricSet, QuantizationCheck};
use crate::calibration::Platt;
use crate::compare::{self, Comparison, Rule};
use crate::config::{ModelChoice, TrainConfig};
use crate::data::Split;
use crate::device::DeviceChoice;
use crate::layout::{Layout, ModelKind};
use crate::metrics::Metrics;
use crate::scorer::{FloatScorer, Int8Scorer, Scorer};
use crate::training::Epoch;
use crate::weights::Int8Weights;

#[derive(Debug)]
pub struct TrainRequest<'a> {
    pub data: &'a Path,
    pub out: &'a Path,
    pub device: DeviceChoice,
    pub config: TrainConfig,
    pub parent_version: Option<String>,
}

/// What a run tells its progress display.
#[derive(Debug)]
pub enum Progress<'a> {
    Step(&'a str),
    Epoch(ModelKind, &'a Epoch),
}

#[derive(Debug)]
pub struct Trained {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

pub fn train(
    request: &TrainRequest<'_>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Trained, TrainError> {
    request.config.validate()?;
    request.device.check()?;
    let started = Instant::now();
    progress(Progress::Step("reading the dataset"));
    let data = Dataset::read(request.data)?;
    let fitted = fit_candidates(request, &data, progress)?;
    let (chosen, candidates, choice) = choose(request, &data, fitted, progress)?;
    progress(Progress::Step("calibrating and quantizing"));
    let served = calibrate_and_quantize(request, &data, chosen);
    progress(Progress::Step("evaluating"));
    let evaluation = evaluate(request, &data, &served)?;
    progress(Progress::Step("writing the model bundle"));
    write_bundle(
        request,
        &data,
        served,
        evaluation,
        Choice {
            candidates,
            comparison: choice,
        },
        started,
    )
}

/// The dataset folder `riskloop ingest` wrote.
struct Dataset {
    pipeline: FeaturePipeline,
    pipeline_bytes: Vec<u8>,
    spec_bytes: Vec<u8>,
    gates: Vec<Gate>,
    features: Vec<FeatureStat>,
    train: Split,
    valid: Split,
    test: Split,
}

impl Dataset {
    fn read(dir: &Path) -> Result<Self, TrainError> {
        let pipeline_path = dir.join(bundle::PIPELINE);
        let spec_path = dir.join(bundle::SPEC);
        let pipeline = FeaturePipeline::load(&pipeline_path)?;
        let pipeline_bytes =
            std::fs::read(&pipeline_path).map_err(TrainError::io(&pipeline_path))?;
        let spec_bytes = std::fs::read(&spec_path).map_err(TrainError::io(&spec_path))?;
        let Quality { gates, features } = read_quality(dir)?;
        let unacknowledged: Vec<String> = gates
            .iter()
            .filter(|g| g.gate == GateKind::Leakage && g.acknowledged.is_none())
            .map(Gate::to_string)
            .collect();
        if !unacknowledged.is_empty() {
            return Err(TrainError::Gate(format!(
                "{}. Drop the column in the spec ([[drop]] with a reason) if it is known only \
                 after the outcome; if it is known at application, acknowledge it on the feature \
                 (acknowledge = {{ leakage = \"why\" }}) and ingest again",
                unacknowledged.join("; ")
            )));
        }
        let [train, valid, test] =
            ["train", "valid", "test"].map(|name| Split::read(dir, name, &pipeline));
        let (train, valid, test) = (train?, valid?, test?);
        for split in [&train, &valid, &test] {
            let bad = split.bad_rate();
            if split.rows == 0 || bad == 0.0 || bad == 1.0 {
                return Err(TrainError::Data(format!(
                    "the {} split has {} rows and bad rate {bad:.3}: it needs both goods and bads",
                    split.name, split.rows
                )));
            }
        }
        Ok(Self {
            pipeline,
            pipeline_bytes,
            spec_bytes,
            gates,
            features,
            train,
            valid,
            test,
        })
    }

    /// This dataset with other training and validation rows (a cross-validation fold's); the
    /// test split is left empty, as nothing fitted on it may read it.
    fn with_splits(&self, train: Split, valid: Split) -> Self {
        Self {
            pipeline: self.pipeline.clone(),
            pipeline_bytes: Vec::new(),
            spec_bytes: Vec::new(),
            gates: Vec::new(),
            features: Vec::new(),
            test: Split::concat("test", &[]),
            train,
            valid,
        }
    }

    fn splits(&self) -> [&Split; 3] {
        [&self.train, &self.valid, &self.test]
    }
}

/// What the training run reads of the ingest's `quality.json`: the gates and each
/// feature's measures (none for a dataset without the file or written before gates existed).
#[derive(Debug, Default, serde::Deserialize)]
struct Quality {
    #[serde(default)]
    gates: Vec<Gate>,
    #[serde(default)]
    features: Vec<FeatureStat>,
}

fn read_quality(dir: &Path) -> Result<Quality, TrainError> {
    let path = dir.join("quality.json");
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Quality::default()),
        Err(e) => return Err(TrainError::io(&path)(e)),
    };
    serde_json::from_slice(&bytes).map_err(|e| TrainError::Data(format!("{}: {e}", path.display())))
}

/// Fits every model the configuration asks for, simplest first (`auto`: the logistic
/// scorecard, the additive model, and the additive model with the pairs FAST picks on its
/// residuals).
fn fit_candidates(
    request: &TrainRequest<'_>,
    data: &Dataset,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Vec<FittedModel>, TrainError> {
    let choice = request.config.model;
    let splits = [&data.train, &data.valid];
    let fit = |layout: Layout, progress: &mut dyn FnMut(Progress<'_>)| {
        fit_model(request, layout, splits, None, progress)
    };
    let mut out = Vec::new();
    if matches!(choice, ModelChoice::Auto | ModelChoice::Logistic) {
        out.push(fit(
            Layout::new(&data.pipeline, ModelKind::Logistic)?,
            progress,
        )?);
    }
    if choice == ModelChoice::Logistic {
        return Ok(out);
    }
    let additive = fit(Layout::new(&data.pipeline, ModelKind::Additive)?, progress)?;
    let additive = prune::prune(request, data, additive, progress)?;
    if choice == ModelChoice::Additive || request.config.pairs == 0 {
        out.push(additive);
        return Ok(out);
    }
    progress(Progress::Step("choosing pairs of features (FAST)"));
    let pairs = select_pairs(request, data, &additive);
    if pairs.is_empty() {
        // No pair adds anything: the additive model is the GA2M.
        out.push(additive);
        return Ok(out);
    }
    let layout = additive.layout.with_pairs(&pairs);
    // Warm-started from the additive model with every pair cell at 0: the refinement only
    // adds what the pairs explain, and needs no epochs.
    let mut start = additive.raw.clone();
    let main_levels = additive.layout.levels;
    start.levels.truncate(main_levels);
    start.levels.resize(layout.levels.max(1), 0.0);
    let ga2m = fit_model(request, layout, splits, Some(&start), progress)?;
    if choice == ModelChoice::Auto {
        out.push(additive);
    }
    out.push(ga2m);
    Ok(out)
}

/// The pairs of features a GA2M adds to `additive`, by FAST gain on its training residuals.
fn select_pairs(
    request: &TrainRequest<'_>,
    data: &Dataset,
    additive: &FittedModel,
) -> Vec<(usize, usize)> {
    let scorer = additive.uncalibrated(request, &data.train);
    let mut values = vec![0.0; additive.layout.terms.len()];
    let train = &data.train;
    let logits: Vec<f64> = (0..train.rows)
        .map(|i| scorer.raw_logit(train.row(i), &mut values))
        .collect();
    let bads = train.labels.iter().filter(|&&y| y == 1).count();
    let bad_weight = crate::training::bad_weight(&request.config, train.rows, bads);
    crate::pairs::select(
        &additive.layout,
        train,
        &logits,
        bad_weight,
        request.config.pairs,
    )
    .into_iter()
    .map(|c| (c.a, c.b))
    .collect()
}

/// Keeps one candidate: each later (more complex) one replaces the kept one only when it is
/// significantly better (paired DeLong) on the rows [`select::choice_scores`] picks: the
/// validation split, or out-of-fold on train and valid when that is small. The test split only
/// reports. Returns the kept model, every candidate's summary (the kept one first) and the last
/// comparison made.
fn choose(
    request: &TrainRequest<'_>,
    data: &Dataset,
    fitted: Vec<FittedModel>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(FittedModel, Vec<Candidate>, Option<Comparison>), TrainError> {
    let scorers: Vec<_> = fitted
        .iter()
        .map(|m| m.uncalibrated(request, &data.train))
        .collect();
    let valid: Vec<Vec<f64>> = scorers
        .iter()
        .map(|s| s.probabilities(&data.valid))
        .collect();
    let valid_aucs = valid
        .iter()
        .map(|p| metrics(p, &data.valid).map(|m| m.auc))
        .collect::<Result<Vec<f64>, TrainError>>()?;
    let choice = select::choice_scores(request, data, &fitted, valid, progress)?;
    let labels = &choice.labels;
    let mut scored = Vec::with_capacity(fitted.len());
    let each = fitted
        .into_iter()
        .zip(&choice.scores)
        .zip(scorers)
        .zip(valid_aucs);
    for (((m, scores), scorer), valid_auc) in each {
        let test = metrics(&scorer.probabilities(&data.test), &data.test)?;
        let cross_validated = match choice.folds {
            0 => None,
            folds => Some(CrossValidated {
                folds,
                rows: labels.len(),
                auc: riskloop_ingest::stats::auc(scores, labels).unwrap_or(0.5),
            }),
        };
        let summary = Candidate {
            model: m.kind,
            valid_auc,
            test_auc: test.auc,
            test_auc_ci: test.auc_ci,
            cross_validated,
        };
        scored.push((m, summary));
    }
    let mut kept = 0;
    let mut comparison = None;
    for challenger in 1..scored.len() {
        let c = compare::compare(
            &choice.scores[kept],
            &choice.scores[challenger],
            labels,
            Rule::SIGNIFICANT,
        )
        .ok_or_else(|| TrainError::Data("the validation split has one class only".into()))?;
        if c.challenger_wins {
            kept = challenger;
        }
        comparison = Some(c);
    }
    let (chosen, first) = scored.swap_remove(kept);
    let mut candidates = vec![first];
    candidates.extend(scored.into_iter().map(|(_, summary)| summary));
    Ok((chosen, candidates, comparison))
}

/// The chosen model in its served forms: calibrated (Platt, on the validation split) in
/// float, and quantized to int8 with the same calibration.
struct Served {
    model: FittedModel,
    float: FloatScorer,
    int8: Int8Scorer,
}

fn calibrate_and_quantize(
    request: &TrainRequest<'_>,
    data: &Dataset,
    chosen: FittedModel,
) -> Served {
    let valid = &data.valid;
    let mut values = vec![0.0; chosen.layout.terms.len()];
    let float_raw = chosen.uncalibrated(request, &data.train);
    let valid_raw: Vec<f64> = (0..valid.rows)
        .map(|i| float_raw.raw_logit(valid.row(i), &mut values))
        .collect();
    let mut model = chosen;
    model.run.max_contribution_error = valid_raw
        .iter()
        .zip(&model.burn_valid_logits)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let platt = Platt::fit(&valid_raw, &valid.labels);
    let float: FloatScorer = Scorer { platt, ..float_raw };
    let int8_weights = Int8Weights::quantize(&model.layout, &model.weights);
    let int8: Int8Scorer = Scorer::new(
        model.layout.clone(),
        int8_weights,
        &data.train,
        platt,
        request.config.score,
    );
    Served { model, float, int8 }
}

/// Both forms' metrics, and the check that quantizing lost no more than allowed.
struct Evaluation {
    metrics: MetricSet,
    quantization: QuantizationCheck,
    int8_test: Vec<f64>,
}

fn evaluate(
    request: &TrainRequest<'_>,
    data: &Dataset,
    served: &Served,
) -> Result<Evaluation, TrainError> {
    let (float, int8) = (&served.float, &served.int8);
    let (valid, test) = (&data.valid, &data.test);
    let (pf_valid, pf_test) = (float.probabilities(valid), float.probabilities(test));
    let (pq_valid, pq_test) = (int8.probabilities(valid), int8.probabilities(test));
    let metric_set = MetricSet {
        float_valid: metrics(&pf_valid, valid)?,
        float_test: metrics(&pf_test, test)?,
        int8_valid: metrics(&pq_valid, valid)?,
        int8_test: metrics(&pq_test, test)?,
    };
    let layout = &served.model.layout;
    let quantization = QuantizationCheck {
        auc_drop: metric_set.float_test.auc - metric_set.int8_test.auc,
        max_auc_drop: request.config.max_auc_drop,
        brier_float: metric_set.float_test.brier,
        brier_int8: metric_set.int8_test.brier,
        max_abs_probability_delta: pf_test
            .iter()
            .zip(&pq_test)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max),
        reason_set_agreement: reason_agreement(float, int8, test, request.config.reasons),
        float_bytes: 4 * (layout.dense + layout.levels + 1),
        int8_bytes: int8.weights.size_bytes(),
    };
    if quantization.auc_drop > request.config.max_auc_drop {
        return Err(TrainError::Quantization(format!(
            "the int8 model's test AUC is {:.5} below the float model's (limit {}); no bundle written",
            quantization.auc_drop, request.config.max_auc_drop
        )));
    }
    Ok(Evaluation {
        metrics: metric_set,
        quantization,
        int8_test: pq_test,
    })
}

fn metrics(p: &[f64], split: &Split) -> Result<Metrics, TrainError> {
    Metrics::compute(p, &split.labels)
        .ok_or_else(|| TrainError::Data(format!("the {} split has one class only", split.name)))
}
