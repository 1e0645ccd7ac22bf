//! Fitting one candidate model on the chosen device, and what it leaves: float weights, the
//! Burn record, Burn's own validation logits (to check the exported weights against).

use burn::backend::Autodiff;
use burn::backend::ndarray::{NdArray, NdArrayDevice};
use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;

use super::select::CROSS_VALIDATE_BELOW;
use super::{Progress, TrainRequest};
use crate::TrainError;
use crate::bundle::{PenaltyFolds, PurifyInfo, RefineInfo, RunInfo};
use crate::calibration::Platt;
use crate::data::{Encoded, Split, stratified_folds};
use crate::device::DeviceChoice;
use crate::layout::{Layout, ModelKind};
use crate::model::RiskModelConfig;
use crate::purify;
use crate::refine::{self, Objective, Params, Penalty};
use crate::scorer::{FloatScorer, Scorer};
use crate::training::{self, Epoch, Fitted};
use crate::weights::FloatWeights;

/// A fitted model before the bundle: its float weights and Burn record.
pub(super) struct FittedModel {
    pub(super) kind: ModelKind,
    pub(super) layout: Layout,
    pub(super) weights: FloatWeights,
    pub(super) burn_valid_logits: Vec<f64>,
    pub(super) record: Vec<u8>,
    pub(super) run: RunInfo,
    /// The raw parameters (see [`Params`]), to warm-start a larger model from.
    pub(super) raw: Params,
}

impl FittedModel {
    /// Its float scorer without calibration (the identity Platt), scaled as `request` says:
    /// what the choice, FAST and the calibration itself read.
    pub(super) fn uncalibrated(&self, request: &TrainRequest<'_>, train: &Split) -> FloatScorer {
        Scorer::new(
            self.layout.clone(),
            self.weights.clone(),
            train,
            Platt::default(),
            request.config.score,
        )
    }
}

pub(super) fn fit_model(
    request: &TrainRequest<'_>,
    layout: Layout,
    data: [&Split; 2],
    start: Option<&Params>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<FittedModel, TrainError> {
    let kind = layout.kind;
    progress(Progress::Step(match kind {
        ModelKind::Additive => "training the additive model",
        ModelKind::Logistic => "training the logistic scorecard",
        ModelKind::Ga2m => "training the additive model with pairs (GA2M)",
    }));
    let [train, valid] = data;
    let (train_enc, valid_enc) = (Encoded::new(&layout, train), Encoded::new(&layout, valid));
    let model_config = RiskModelConfig::from_layout(&layout, train.bad_rate());
    let refining = Refining {
        config: &model_config,
        layout: &layout,
        train: &train_enc,
        valid: &valid_enc,
        request,
    };
    // Each backend's model is its own type: each arm finishes its own.
    match request.device {
        DeviceChoice::Cpu => refining
            .fit::<Autodiff<NdArray>>(&[NdArrayDevice::Cpu], kind, start, progress)
            .and_then(|(fitted, polished)| finish(kind, layout, fitted, &valid_enc, polished)),
        #[cfg(feature = "cuda")]
        DeviceChoice::Cuda => {
            use burn::backend::cuda::{Cuda, CudaDevice};
            // Every GPU of the machine, the model on the first.
            let gpus: Vec<CudaDevice> = (0..DeviceChoice::gpus()).map(CudaDevice::new).collect();
            refining
                .fit::<Autodiff<Cuda>>(&gpus, kind, start, progress)
                .and_then(|(fitted, polished)| finish(kind, layout, fitted, &valid_enc, polished))
        }
        #[cfg(not(feature = "cuda"))]
        DeviceChoice::Cuda => DeviceChoice::Cuda
            .check()
            .map(|()| unreachable!("checked before training")),
    }
}

/// What the full-batch refinement of one candidate reads.
struct Refining<'a> {
    config: &'a RiskModelConfig,
    layout: &'a Layout,
    train: &'a Encoded,
    valid: &'a Encoded,
    request: &'a TrainRequest<'a>,
}

impl Refining<'_> {
    /// The epochs (or `start`, when given: a warm start that needs no epochs) on `devices`,
    /// then the refinement and, for a GA2M, the purification, on `devices[0]`.
    fn fit<B: AutodiffBackend>(
        &self,
        devices: &[B::Device],
        kind: ModelKind,
        start: Option<&Params>,
        progress: &mut dyn FnMut(Progress<'_>),
    ) -> Result<(Fitted<B::InnerBackend>, Polished), TrainError> {
        let device = &devices[0];
        let fitted = match start {
            Some(p) if self.request.config.refine => {
                let narrow = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
                Fitted {
                    model: self.config.init_with::<B::InnerBackend>(
                        narrow(&p.dense),
                        narrow(&p.levels),
                        p.bias as f32,
                        device,
                    ),
                    best_epoch: 0,
                    best_valid_auc: refine::valid_auc(self.valid, &self.config.signs, p),
                    epochs_run: 0,
                    samples_per_second: 0.0,
                    replicas: 0,
                }
            }
            _ => training::fit::<B>(
                self.config,
                [self.train, self.valid],
                &self.request.config,
                self.request.device.replicas(&self.request.config),
                devices,
                &mut |e: &Epoch| progress(Progress::Epoch(kind, e)),
            ),
        };
        Ok(self.run(fitted, device, progress))
    }

    /// The epochs' best model refined (see [`refine`]) and, for a GA2M, purified (see
    /// [`purify`]), back in Burn on `device`; as it was when there is neither to do.
    fn run<B: burn::tensor::backend::Backend>(
        &self,
        fitted: Fitted<B>,
        device: &B::Device,
        progress: &mut dyn FnMut(Progress<'_>),
    ) -> (Fitted<B>, Polished) {
        let refining = self.request.config.refine;
        let ga2m = self.layout.kind == ModelKind::Ga2m;
        if !refining && !ga2m {
            return (fitted, Polished::default());
        }
        let (dense, levels, bias) = fitted.model.raw();
        let widen = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<f64>>();
        let start = Params {
            dense: widen(dense),
            levels: widen(levels),
            bias: f64::from(bias),
        };
        let signs = &self.config.signs;
        let auc = |p: &Params| refine::valid_auc(self.valid, signs, p);
        let bads = self.train.labels.iter().filter(|&&y| y > 0.5).count();
        let bad_weight = training::bad_weight(&self.request.config, self.train.rows, bads);
        let mut polished = Polished::default();
        // Without refinement, the purified GA2M's refit takes the weakest penalty of the path.
        let (mut params, mut l2) = (start, refine::L2_PATH[0]);
        if refining {
            progress(Progress::Step(
                "refining on the full training split (L-BFGS)",
            ));
            let folds = self.request.config.choice_folds;
            let pooled;
            let fold_of;
            let penalty = if folds >= 2 && self.valid.rows < CROSS_VALIDATE_BELOW {
                pooled = Encoded::concat(&[self.train, self.valid]);
                let labels = pooled.classes();
                fold_of = stratified_folds(&labels, folds, self.request.config.seed);
                Penalty::OutOfFold {
                    pooled: &pooled,
                    fold_of: &fold_of,
                    folds,
                }
            } else {
                Penalty::Validation
            };
            let refined =
                refine::refine(self.train, self.valid, signs, bad_weight, &params, penalty);
            polished.refine = Some(RefineInfo {
                l2: refined.l2,
                iterations: refined.iterations,
                valid_auc_start: auc(&params),
                valid_auc: refined.valid_auc,
                cross_validated: refined.out_of_fold.map(|o| PenaltyFolds {
                    folds: o.folds,
                    rows: o.rows,
                    auc: o.auc,
                    aucs: refine::L2_PATH.iter().copied().zip(o.aucs).collect(),
                }),
            });
            (params, l2) = (refined.params, refined.l2);
        }
        if ga2m {
            progress(Progress::Step(
                "purifying the pair tables and refitting the main terms",
            ));
            let objective = Objective {
                data: self.train,
                signs,
                bad_weight,
                l2,
                frozen: &[],
            };
            let (purified, iterations) = purify::purify(self.layout, &objective, &params);
            polished.purified = Some(PurifyInfo {
                valid_auc_before: auc(&params),
                valid_auc: auc(&purified),
                iterations,
            });
            params = purified;
        }
        let narrow = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let model = self.config.init_with::<B>(
            narrow(&params.dense),
            narrow(&params.levels),
            params.bias as f32,
            device,
        );
        let fitted = Fitted {
            model,
            best_valid_auc: auc(&params),
            ..fitted
        };
        (fitted, polished)
    }
}

/// What ran after the epochs, for the manifest.
#[derive(Default)]
struct Polished {
    refine: Option<RefineInfo>,
    purified: Option<PurifyInfo>,
}

fn finish<B: burn::tensor::backend::Backend>(
    kind: ModelKind,
    layout: Layout,
    fitted: Fitted<B>,
    valid: &Encoded,
    polished: Polished,
) -> Result<FittedModel, TrainError> {
    let burn_valid_logits = training::logits(&fitted.model, valid);
    let (dense, levels, bias) = fitted.model.export();
    let (raw_dense, raw_levels, raw_bias) = fitted.model.raw();
    let widen = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<f64>>();
    let raw = Params {
        dense: widen(raw_dense),
        levels: widen(raw_levels),
        bias: f64::from(raw_bias),
    };
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
            replicas: fitted.replicas,
            seconds: 0.0,
            max_contribution_error: 0.0,
            refine: polished.refine,
            pruned: Vec::new(),
            purified: polished.purified,
        },
        raw,
    })
}
