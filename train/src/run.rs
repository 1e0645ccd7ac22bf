//! One training run end to end: read the dataset folder, fit the candidate models on the chosen
//! device, calibrate, quantize and check the int8 form, evaluate, and write the bundle.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::backend::Autodiff;
use burn::backend::ndarray::{NdArray, NdArrayDevice};
use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use riskloop_ingest::pipeline::FeaturePipeline;

use crate::TrainError;
use crate::bundle::{
    self, BundleWriter, Candidate, DatasetInfo, Manifest, MetricSet, ModelFile, QuantizationCheck,
    RunInfo,
};
use crate::calibration::Platt;
use crate::config::{ModelChoice, TrainConfig};
use crate::data::{Encoded, Split};
use crate::device::DeviceChoice;
use crate::layout::{Layout, ModelKind};
use crate::metrics::Metrics;
use crate::model::RiskModelConfig;
use crate::report::{self, ReportData};
use crate::scorer::{FloatScorer, Int8Scorer, Scorer};
use crate::training::{self, Epoch, Fitted};
use crate::weights::{FloatWeights, Int8Weights, TermValues};

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

/// A fitted model before the bundle: its float weights and Burn record.
struct FittedModel {
    kind: ModelKind,
    layout: Layout,
    weights: FloatWeights,
    burn_valid_logits: Vec<f64>,
    record: Vec<u8>,
    run: RunInfo,
}

pub fn train(
    request: &TrainRequest<'_>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Trained, TrainError> {
    request.config.validate()?;
    request.device.check()?;
    let started = Instant::now();
    progress(Progress::Step("reading the dataset"));
    let pipeline_path = request.data.join(bundle::PIPELINE);
    let spec_path = request.data.join(bundle::SPEC);
    let pipeline = FeaturePipeline::load(&pipeline_path)?;
    let spec_bytes = std::fs::read(&spec_path).map_err(TrainError::io(&spec_path))?;
    let [train, valid, test] =
        ["train", "valid", "test"].map(|name| Split::read(request.data, name, &pipeline));
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
    let kinds = match request.config.model {
        ModelChoice::Auto => vec![ModelKind::Additive, ModelKind::Logistic],
        ModelChoice::Logistic => vec![ModelKind::Logistic],
        ModelChoice::Additive => vec![ModelKind::Additive],
    };
    let mut fitted = Vec::new();
    for kind in kinds {
        let layout = Layout::new(&pipeline, kind)?;
        fitted.push(fit_model(request, layout, &train, &valid, progress)?);
    }
    // Candidates are ranked on validation AUC; the test split only reports.
    let mut candidates: Vec<(Candidate, FittedModel)> = fitted
        .into_iter()
        .map(|m| {
            let scorer = Scorer::new(
                m.layout.clone(),
                m.weights.clone(),
                &train,
                Platt::default(),
                request.config.score,
            );
            let valid_auc = metrics(&scorer.probabilities(&valid), &valid)?.auc;
            let test = metrics(&scorer.probabilities(&test), &test)?;
            Ok((
                Candidate {
                    model: m.kind,
                    valid_auc,
                    test_auc: test.auc,
                    test_auc_ci: test.auc_ci,
                },
                m,
            ))
        })
        .collect::<Result<_, TrainError>>()?;
    candidates.sort_by(|a, b| b.0.valid_auc.total_cmp(&a.0.valid_auc));
    let summaries: Vec<Candidate> = candidates.iter().map(|c| c.0.clone()).collect();
    let chosen = candidates.swap_remove(0).1;

    progress(Progress::Step("calibrating and quantizing"));
    let mut values = vec![0.0; chosen.layout.terms.len()];
    let float_raw = Scorer::new(
        chosen.layout.clone(),
        chosen.weights.clone(),
        &train,
        Platt::default(),
        request.config.score,
    );
    let valid_raw: Vec<f64> = (0..valid.rows)
        .map(|i| float_raw.raw_logit(valid.row(i), &mut values))
        .collect();
    let mut run = chosen.run;
    run.max_contribution_error = valid_raw
        .iter()
        .zip(&chosen.burn_valid_logits)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let platt = Platt::fit(&valid_raw, &valid.labels);
    let float: FloatScorer = Scorer { platt, ..float_raw };
    let int8_weights = Int8Weights::quantize(&chosen.layout, &chosen.weights);
    let int8: Int8Scorer = Scorer::new(
        chosen.layout.clone(),
        int8_weights,
        &train,
        platt,
        request.config.score,
    );

    progress(Progress::Step("evaluating"));
    let (pf_valid, pf_test) = (float.probabilities(&valid), float.probabilities(&test));
    let (pq_valid, pq_test) = (int8.probabilities(&valid), int8.probabilities(&test));
    let metric_set = MetricSet {
        float_valid: metrics(&pf_valid, &valid)?,
        float_test: metrics(&pf_test, &test)?,
        int8_valid: metrics(&pq_valid, &valid)?,
        int8_test: metrics(&pq_test, &test)?,
    };
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
        reason_set_agreement: reason_agreement(&float, &int8, &test, request.config.reasons),
        float_bytes: 4 * (chosen.layout.dense + chosen.layout.levels + 1),
        int8_bytes: int8.weights.size_bytes(),
    };
    if quantization.auc_drop > request.config.max_auc_drop {
        return Err(TrainError::Quantization(format!(
            "the int8 model's test AUC is {:.5} below the float model's (limit {}); no bundle written",
            quantization.auc_drop, request.config.max_auc_drop
        )));
    }

    progress(Progress::Step("writing the model bundle"));
    let created = chrono::Utc::now();
    let version = unique_version(request.out, &pipeline.dataset, created)?;
    let split_map = |f: &dyn Fn(&Split) -> f64| -> BTreeMap<String, f64> {
        [&train, &valid, &test]
            .iter()
            .map(|s| (s.name.clone(), f(s)))
            .collect()
    };
    run.seconds = started.elapsed().as_secs_f64();
    let manifest = Manifest {
        format_version: bundle::BUNDLE_FORMAT,
        version: version.clone(),
        created_at: created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        parent_version: request.parent_version.clone(),
        riskloop_version: env!("CARGO_PKG_VERSION").to_owned(),
        burn_version: bundle::BURN_VERSION.to_owned(),
        model: chosen.kind,
        device: request.device,
        dataset: DatasetInfo {
            name: pipeline.dataset.clone(),
            source: request.data.display().to_string(),
            rows: split_map(&|s| s.rows as f64)
                .into_iter()
                .map(|(k, v)| (k, v as usize))
                .collect(),
            bad_rate: split_map(&Split::bad_rate),
        },
        training: request.config.clone(),
        run,
        metrics: metric_set,
        quantization,
        candidates: summaries,
        files: BTreeMap::new(),
    };
    let scores: Vec<i32> = pq_test
        .iter()
        .map(|&p| request.config.score.score(p))
        .collect();
    let html = report::render(
        &manifest,
        &ReportData {
            probabilities: &pq_test,
            scores: &scores,
            labels: &test.labels,
        },
    );
    let writer = BundleWriter::new(request.out, &version)?;
    writer.write(
        bundle::PIPELINE,
        &std::fs::read(&pipeline_path).map_err(TrainError::io(&pipeline_path))?,
    )?;
    writer.write(bundle::SPEC, &spec_bytes)?;
    writer.write(bundle::BURN_RECORD, &chosen.record)?;
    writer.write_json(
        bundle::MODEL,
        &ModelFile {
            format_version: bundle::BUNDLE_FORMAT,
            reasons: request.config.reasons,
            float,
            int8,
        },
    )?;
    writer.write(bundle::REPORT, html.as_bytes())?;
    let dir = writer.finish(manifest.clone())?;
    let manifest = crate::bundle::Bundle::load(&dir)?.manifest;
    Ok(Trained { dir, manifest })
}

fn metrics(p: &[f64], split: &Split) -> Result<Metrics, TrainError> {
    Metrics::compute(p, &split.labels)
        .ok_or_else(|| TrainError::Data(format!("the {} split has one class only", split.name)))
}

fn fit_model(
    request: &TrainRequest<'_>,
    layout: Layout,
    train: &Split,
    valid: &Split,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<FittedModel, TrainError> {
    let kind = layout.kind;
    progress(Progress::Step(match kind {
        ModelKind::Additive => "training the additive model",
        ModelKind::Logistic => "training the logistic scorecard",
    }));
    let (train_enc, valid_enc) = (Encoded::new(&layout, train), Encoded::new(&layout, valid));
    let model_config = RiskModelConfig::from_layout(&layout, train.bad_rate());
    let mut on_epoch = |e: &Epoch| progress(Progress::Epoch(kind, e));
    match request.device {
        DeviceChoice::Cpu => {
            let fitted = training::fit::<Autodiff<NdArray>>(
                &model_config,
                &train_enc,
                &valid_enc,
                &request.config,
                &NdArrayDevice::Cpu,
                &mut on_epoch,
            );
            finish(kind, layout, fitted, &valid_enc)
        }
        #[cfg(feature = "cuda")]
        DeviceChoice::Cuda => {
            use burn::backend::cuda::{Cuda, CudaDevice};
            let fitted = training::fit::<Autodiff<Cuda>>(
                &model_config,
                &train_enc,
                &valid_enc,
                &request.config,
                &CudaDevice::default(),
                &mut on_epoch,
            );
            finish(kind, layout, fitted, &valid_enc)
        }
        #[cfg(not(feature = "cuda"))]
        DeviceChoice::Cuda => DeviceChoice::Cuda
            .check()
            .map(|()| unreachable!("checked before training")),
    }
}

fn finish<B: burn::tensor::backend::Backend>(
    kind: ModelKind,
    layout: Layout,
    fitted: Fitted<B>,
    valid: &Encoded,
) -> Result<FittedModel, TrainError> {
    let burn_valid_logits = training::logits(&fitted.model, valid);
    let (dense, levels, bias) = fitted.model.export();
    let record = NamedMpkBytesRecorder::<FullPrecisionSettings>::default()
        .record(fitted.model.into_record(), ())
        .map_err(|e| TrainError::Burn {
            context: "saving the model record".into(),
            reason: e.to_string(),
        })?;
    Ok(FittedModel {
        kind,
        layout,
        weights: FloatWeights {
            dense,
            levels,
            bias,
        },
        burn_valid_logits,
        record,
        run: RunInfo {
            best_epoch: fitted.best_epoch,
            epochs_run: fitted.epochs_run,
            best_valid_auc: fitted.best_valid_auc,
            samples_per_second: fitted.samples_per_second,
            seconds: 0.0,
            max_contribution_error: 0.0,
        },
    })
}

/// Share of rows whose top-`n` reason set is the same for both forms.
fn reason_agreement<A: TermValues, B: TermValues>(
    a: &Scorer<A>,
    b: &Scorer<B>,
    split: &Split,
    n: usize,
) -> f64 {
    let same = (0..split.rows)
        .filter(|&i| {
            let set = |r: Vec<crate::scorer::Reason>| {
                let mut v: Vec<String> = r.into_iter().map(|r| r.feature.to_owned()).collect();
                v.sort();
                v
            };
            set(a.reasons(&a.score(split.row(i)), n)) == set(b.reasons(&b.score(split.row(i)), n))
        })
        .count();
    same as f64 / split.rows.max(1) as f64
}

/// `<dataset>-<UTC timestamp>`, with a counter if that folder already exists.
fn unique_version(
    out: &Path,
    dataset: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<String, TrainError> {
    std::fs::create_dir_all(out).map_err(TrainError::io(out))?;
    let base = format!("{dataset}-{}", at.format("%Y%m%dT%H%M%SZ"));
    let mut version = base.clone();
    let mut n = 2;
    while out.join(&version).exists() {
        version = format!("{base}-{n}");
        n += 1;
    }
    Ok(version)
}
