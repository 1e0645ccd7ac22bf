//! Watching the served model: population stability of the score and the features against the
//! training baseline, approval rates, and observed against predicted default rates.

pub mod psi; // PSI and quantile bins
pub mod window; // the sliding window of one server's decisions against the training baseline

pub use window::{Level, Monitor, MonitorSettings, Report};
