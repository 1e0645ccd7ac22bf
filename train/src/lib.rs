//! riskloop-train: the Burn risk model, training loop, credit-risk metrics, calibration, score
//! scaling, reason codes, int8 quantization and model bundles.
//!
//! Empty until the train stage lands.
