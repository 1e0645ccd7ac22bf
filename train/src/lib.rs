//! riskloop-train: the Burn risk model, its training loop, credit-risk metrics, calibration,
//! score scaling, reason codes, the int8 scorer, and versioned model bundles.

pub mod bundle; // models/<version>/: manifest with checksums, write and verified load
pub mod calibration; // Platt scaling fitted on the validation split
pub mod compare; // champion against challenger on the same rows: AUC gain with its interval
pub mod config; // the training configuration (train.toml)
pub mod data; // dataset splits → rows of slots → model input tensors
pub mod device; // cpu / cuda selection and the GPU probe
pub mod inference; // served path for files (`riskloop score`) and Burn's float model reloaded
pub mod lamb; // the LAMB optimizer on Burn's SimpleOptimizer, checked against the paper's rule
pub mod layout; // the model's terms: how pipeline slots become dense inputs and level indices
pub mod metrics; // AUC + DeLong CI, Gini, KS, Brier, log loss, deciles
pub mod model; // the Burn additive model (logistic = one segment per numeric feature)
pub mod pairs; // FAST: which pairs of features a GA2M adds, on the additive model's residuals
pub mod purify; // a GA2M's pair tables purified, the main terms refitted around them
pub mod refine; // full-batch L-BFGS on the exact objective after the epochs, along an L2 path
pub mod report; // report.html with inline SVG plots
pub mod run; // one training run end to end, writing the bundle
pub mod scorecard; // PD → score scaling (base score, base odds, points to double the odds)
pub mod scorer; // term values → calibrated PD, score, exact contributions, reasons
pub mod training; // the hand-written Burn training loop
pub mod weights; // the float and int8 forms of a trained model

mod error;

pub use error::TrainError;
