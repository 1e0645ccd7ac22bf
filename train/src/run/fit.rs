//! Fitting one candidate model on the chosen device, and what it leaves: float weights, the
//! Burn record, Burn's own validation logits (to check the exported weights against).

use burn::backend::Autodiff;
use burn::backend::ndarray::{NdArray, NdArrayDevice};
use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};

use super::{Progress, TrainRequest};
use crate::TrainError;
use crate::bundle::RunInfo;
use crate::data::{Encoded, Split};
use crate::device::DeviceChoice;
use crate::layout::{Layout, ModelKind};
use crate::model::RiskModelConfig;
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
}

pub(super) fn fit_model(
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
