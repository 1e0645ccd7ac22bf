//! The versioned model bundle `models/<version>/`: the manifest (with the sha256 of every other
//! file), the fitted pipeline and dataset spec, the model in float and int8 (`model.json`), Burn's
//! float record (`model.mpk`) and `report.html`. Loading verifies every checksum first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use riskloop_ingest::pipeline::FeaturePipeline;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::TrainError;
use crate::config::TrainConfig;
use crate::device::DeviceChoice;
use crate::layout::ModelKind;
use crate::metrics::Metrics;
use crate::scorer::{FloatScorer, Int8Scorer};

pub const BUNDLE_FORMAT: u32 = 1;
pub const BURN_VERSION: &str = "0.21.0";
pub const MANIFEST: &str = "manifest.json";
pub const MODEL: &str = "model.json";
pub const BURN_RECORD: &str = "model.mpk";
pub const PIPELINE: &str = "pipeline.json";
pub const SPEC: &str = "spec.toml";
pub const REPORT: &str = "report.html";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub version: String,
    pub created_at: String,
    pub parent_version: Option<String>,
    pub riskloop_version: String,
    pub burn_version: String,
    pub model: ModelKind,
    pub device: DeviceChoice,
    pub dataset: DatasetInfo,
    pub training: TrainConfig,
    pub run: RunInfo,
    pub metrics: MetricSet,
    pub quantization: QuantizationCheck,
    /// Every model trained for this bundle (with `model = "auto"`, both), best first.
    pub candidates: Vec<Candidate>,
    /// With several candidates: the last comparison the choice made, on the validation split
    /// or, on a small dataset, out of fold (see `candidates[].cross_validated`); bundles
    /// written before it existed have none.
    #[serde(default)]
    pub choice: Option<crate::compare::Comparison>,
    /// The ingest's gates on the training data (leakage, drift), acknowledged or not.
    /// `models promote` refuses a bundle that carries one not acknowledged.
    #[serde(default)]
    pub gates: Vec<riskloop_ingest::quality::Gate>,
    /// The int8 model's scores on the training split, binned at their deciles: the baseline
    /// the server's drift monitor compares live scores with (none in older bundles).
    #[serde(default)]
    pub score_baseline: Option<ScoreBaseline>,
    /// sha256 (hex) of every file in the bundle except this manifest.
    pub files: BTreeMap<String, String>,
}

/// Counts of training scores per bin; bin `k` holds scores in `(cuts[k-1], cuts[k]]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreBaseline {
    pub cuts: Vec<f64>,
    pub counts: Vec<u64>,
}

impl ScoreBaseline {
    /// Deciles of `scores` as cuts (repeats merged), and the counts in each bin.
    pub fn of(scores: &[i32]) -> Self {
        let mut sorted = scores.to_vec();
        sorted.sort_unstable();
        let mut cuts: Vec<f64> = (1..10)
            .filter_map(|k| sorted.get(k * sorted.len() / 10).map(|&s| f64::from(s)))
            .collect();
        cuts.dedup();
        if cuts.last().copied() == sorted.last().map(|&s| f64::from(s)) {
            cuts.pop();
        }
        let mut counts = vec![0; cuts.len() + 1];
        for &s in scores {
            counts[cuts.partition_point(|&c| c < f64::from(s))] += 1;
        }
        Self { cuts, counts }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DatasetInfo {
    pub name: String,
    pub source: String,
    pub rows: BTreeMap<String, usize>,
    pub bad_rate: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunInfo {
    pub best_epoch: usize,
    pub epochs_run: usize,
    pub best_valid_auc: f64,
    pub samples_per_second: f64,
    /// Model replicas that shared each mini-batch of the epochs (0: no epochs ran).
    #[serde(default)]
    pub replicas: usize,
    pub seconds: f64,
    /// Largest |Burn logit − (base + Σ contributions)| over the validation rows.
    pub max_contribution_error: f64,
    /// The full-batch refinement after the epochs, if it ran.
    #[serde(default)]
    pub refine: Option<RefineInfo>,
    /// Features dropped because their terms contributed nothing.
    #[serde(default)]
    pub pruned: Vec<PrunedTerm>,
    /// A GA2M's pair tables purified, and its main terms refitted around them.
    #[serde(default)]
    pub purified: Option<PurifyInfo>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PrunedTerm {
    pub feature: String,
    /// Standard deviation of its contribution over the training rows (logit), below the
    /// threshold.
    pub contribution_sd: f64,
    pub threshold: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RefineInfo {
    /// The penalty strength kept, and the L-BFGS iterations it took.
    pub l2: f64,
    pub iterations: usize,
    /// Validation AUC where the refinement started (the best epoch, or the warm start), and
    /// after it.
    pub valid_auc_start: f64,
    pub valid_auc: f64,
    /// On a small book the penalty is chosen out of fold on the training and validation rows;
    /// absent: on the validation split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_validated: Option<PenaltyFolds>,
}

/// The penalty strength chosen out of fold.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PenaltyFolds {
    pub folds: usize,
    /// Rows scored out of fold (train and valid).
    pub rows: usize,
    /// The out-of-fold AUC of the strength kept.
    pub auc: f64,
    /// Each strength tried and its out-of-fold AUC.
    pub aucs: Vec<(f64, f64)>,
}

/// How purifying the pair tables (see [`crate::purify`]) moved the model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PurifyInfo {
    /// Validation AUC before purifying, and after the main terms' refit.
    pub valid_auc_before: f64,
    pub valid_auc: f64,
    /// L-BFGS steps of the refit.
    pub iterations: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MetricSet {
    pub float_valid: Metrics,
    pub float_test: Metrics,
    pub int8_valid: Metrics,
    pub int8_test: Metrics,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QuantizationCheck {
    /// Float test AUC minus int8 test AUC.
    pub auc_drop: f64,
    pub max_auc_drop: f64,
    pub brier_float: f64,
    pub brier_int8: f64,
    pub max_abs_probability_delta: f64,
    /// Share of test rows whose top reason set is the same in float and int8.
    pub reason_set_agreement: f64,
    pub float_bytes: usize,
    pub int8_bytes: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Candidate {
    pub model: ModelKind,
    pub valid_auc: f64,
    pub test_auc: f64,
    pub test_auc_ci: [f64; 2],
    /// On a small dataset, the out-of-fold AUC the choice compared (none: it compared the
    /// validation AUCs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_validated: Option<CrossValidated>,
}

/// A candidate fitted again without each fold of train and valid pooled, scored on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CrossValidated {
    pub folds: usize,
    /// Rows scored out of fold (train and valid).
    pub rows: usize,
    pub auc: f64,
}

/// `model.json`: the model in both forms, with what explains and scales it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelFile {
    pub format_version: u32,
    pub reasons: usize,
    pub float: FloatScorer,
    pub int8: Int8Scorer,
}

/// A loaded, verified bundle.
#[derive(Clone, Debug)]
pub struct Bundle {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub pipeline: FeaturePipeline,
    pub model: ModelFile,
}

pub fn sha256_file(path: &Path) -> Result<String, TrainError> {
    let bytes = std::fs::read(path).map_err(TrainError::io(path))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// Files of a bundle being written, before its manifest seals them.
#[derive(Debug)]
pub struct BundleWriter {
    staging: PathBuf,
    target: PathBuf,
}

impl BundleWriter {
    /// Stages into `<out>/.<version>.partial` so that a failed run leaves no half bundle.
    pub fn new(out: &Path, version: &str) -> Result<Self, TrainError> {
        let target = out.join(version);
        if target.exists() {
            return Err(TrainError::bundle(
                &target,
                "a bundle with this version already exists",
            ));
        }
        let staging = out.join(format!(".{version}.partial"));
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(TrainError::io(&staging))?;
        }
        std::fs::create_dir_all(&staging).map_err(TrainError::io(&staging))?;
        Ok(Self { staging, target })
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), TrainError> {
        let path = self.staging.join(name);
        std::fs::write(&path, bytes).map_err(TrainError::io(&path))
    }

    pub fn write_json(&self, name: &str, value: &impl Serialize) -> Result<(), TrainError> {
        let text = serde_json::to_vec_pretty(value).map_err(|e| TrainError::Bundle {
            path: name.to_owned(),
            reason: e.to_string(),
        })?;
        self.write(name, &text)
    }

    /// Checksums every staged file into the manifest, writes it, and moves the bundle in place.
    pub fn finish(self, mut manifest: Manifest) -> Result<PathBuf, TrainError> {
        manifest.files.clear();
        for entry in std::fs::read_dir(&self.staging).map_err(TrainError::io(&self.staging))? {
            let path = entry.map_err(TrainError::io(&self.staging))?.path();
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if name != MANIFEST {
                manifest.files.insert(name, sha256_file(&path)?);
            }
        }
        self.write_json(MANIFEST, &manifest)?;
        std::fs::rename(&self.staging, &self.target).map_err(TrainError::io(&self.target))?;
        Ok(self.target)
    }
}

impl Bundle {
    /// Loads `dir` after checking that its files are exactly the manifest's, byte for byte.
    pub fn load(dir: &Path) -> Result<Self, TrainError> {
        let manifest_path = dir.join(MANIFEST);
        let text = std::fs::read(&manifest_path).map_err(TrainError::io(&manifest_path))?;
        let manifest: Manifest = serde_json::from_slice(&text)
            .map_err(|e| TrainError::bundle(dir, format!("{MANIFEST} is unreadable: {e}")))?;
        if manifest.format_version != BUNDLE_FORMAT {
            return Err(TrainError::bundle(
                dir,
                format!("format {} is not {BUNDLE_FORMAT}", manifest.format_version),
            ));
        }
        for (name, expected) in &manifest.files {
            let path = dir.join(name);
            if !path.exists() {
                return Err(TrainError::bundle(dir, format!("{name} is missing")));
            }
            if &sha256_file(&path)? != expected {
                return Err(TrainError::bundle(
                    dir,
                    format!(
                        "{name} does not match its sha256 in the manifest (tampered or corrupt)"
                    ),
                ));
            }
        }
        for required in [MODEL, PIPELINE, SPEC, BURN_RECORD] {
            if !manifest.files.contains_key(required) {
                return Err(TrainError::bundle(
                    dir,
                    format!("the manifest lists no {required}"),
                ));
            }
        }
        let pipeline = FeaturePipeline::load(&dir.join(PIPELINE))?;
        let model_path = dir.join(MODEL);
        let bytes = std::fs::read(&model_path).map_err(TrainError::io(&model_path))?;
        let model: ModelFile = serde_json::from_slice(&bytes)
            .map_err(|e| TrainError::bundle(dir, format!("{MODEL} is unreadable: {e}")))?;
        Ok(Self {
            dir: dir.to_owned(),
            manifest,
            pipeline,
            model,
        })
    }

    pub fn version(&self) -> &str {
        &self.manifest.version
    }

    /// The dataset spec the bundle was trained with (for reading raw files the same way).
    pub fn spec(&self) -> Result<riskloop_ingest::spec::DatasetSpec, TrainError> {
        let path = self.dir.join(SPEC);
        let text = std::fs::read_to_string(&path).map_err(TrainError::io(&path))?;
        Ok(riskloop_ingest::spec::DatasetSpec::from_toml(&text)?)
    }
}
