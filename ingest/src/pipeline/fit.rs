//! Fitting the pipeline on the training split: clipping, imputation, scaling and bin edges for
//! numbers, levels by frequency for categories.

use super::*;

impl FeaturePipeline {
    /// Fits on training rows. `columns[i]` holds the parsed values of `spec.model_features()[i]`.
    pub fn fit(spec: &DatasetSpec, columns: &[ParsedColumn]) -> Result<Self, IngestError> {
        let rows = columns.first().map_or(0, ParsedColumn::len);
        if rows == 0 {
            return Err(IngestError::Input(
                "no training rows to fit the feature pipeline on".into(),
            ));
        }
        // Features fit independently: spread them over the cores.
        let model_features: Vec<&Feature> = spec.model_features().collect();
        let transforms: Vec<Transform> = model_features
            .par_iter()
            .zip(columns)
            .map(|(feature, column)| match (feature.kind, column) {
                (FeatureKind::Numeric, ParsedColumn::Number(values)) => {
                    fit_numeric(feature, values)
                }
                (FeatureKind::Boolean, ParsedColumn::Number(values)) => {
                    let present: Vec<f64> = values.iter().flatten().copied().collect();
                    let ones = present.iter().filter(|&&v| v == 1.0).count();
                    Transform::Boolean {
                        impute: if ones * 2 >= present.len().max(1) {
                            1.0
                        } else {
                            0.0
                        },
                    }
                }
                (FeatureKind::Categorical, ParsedColumn::Text { dict, codes }) => {
                    fit_levels(feature, dict, codes)
                }
                _ => unreachable!("parsed column kind follows the feature kind"),
            })
            .collect();
        let mut features = Vec::new();
        for ((feature, transform), column) in
            model_features.into_iter().zip(transforms).zip(columns)
        {
            let missing_seen = (0..column.len()).any(|r| column.is_missing(r));
            let mut fitted = FittedFeature {
                name: feature.name.clone(),
                column: feature.column().to_owned(),
                description: feature.description.clone(),
                monotone: feature.monotone,
                missing: feature.missing,
                required: feature.required,
                format: RawFormat::of(feature, &spec.read),
                transform,
                missing_seen,
                baseline: Vec::new(),
            };
            fitted.baseline = fitted.monitor_counts(column);
            features.push(fitted);
        }
        let mut pipeline = Self {
            format_version: FORMAT_VERSION,
            dataset: spec.name.clone(),
            na_values: spec.read.na_values.clone(),
            time: spec.time.clone(),
            two_digit_year_pivot: spec.read.two_digit_year_pivot,
            slots: Vec::new(),
            input_schema: Vec::new(),
            features,
            fitted_rows: rows,
        };
        pipeline.slots = pipeline.build_slots();
        pipeline.input_schema = pipeline.build_input_schema();
        Ok(pipeline)
    }
}

/// Nearest-rank quantile of sorted values.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn fit_numeric(feature: &crate::spec::Feature, values: &[Option<f64>]) -> Transform {
    let [hard_lo, hard_hi] = feature.clip.unwrap_or([f64::NEG_INFINITY, f64::INFINITY]);
    let mut present: Vec<f64> = values
        .iter()
        .flatten()
        .map(|v| v.clamp(hard_lo, hard_hi))
        .collect();
    if present.is_empty() {
        return Transform::Numeric {
            lo: hard_lo,
            hi: hard_hi,
            impute: 0.0,
            mean: 0.0,
            scale: 1.0,
            bin_edges: Vec::new(),
        };
    }
    present.sort_unstable_by(f64::total_cmp);
    let [q_lo, q_hi] = feature.clip_quantiles.unwrap_or(DEFAULT_CLIP_QUANTILES);
    let lo = quantile(&present, q_lo).max(hard_lo);
    let hi = quantile(&present, q_hi).min(hard_hi);
    let clipped: Vec<f64> = present.iter().map(|v| v.clamp(lo, hi)).collect();
    let impute = quantile(&clipped, 0.5);
    let missing = values.len() - clipped.len();
    let n = values.len() as f64;
    let mean = (clipped.iter().sum::<f64>() + impute * missing as f64) / n;
    let var = (clipped.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
        + (impute - mean).powi(2) * missing as f64)
        / n;
    let scale = if var > 0.0 { var.sqrt() } else { 1.0 };
    let mut bin_edges: Vec<f64> = (1..BINS)
        .map(|b| quantile(&clipped, b as f64 / BINS as f64))
        .collect();
    bin_edges.dedup();
    bin_edges.retain(|&e| e > lo && e < hi);
    Transform::Numeric {
        lo,
        hi,
        impute,
        mean,
        scale,
        bin_edges,
    }
}

fn fit_levels(feature: &crate::spec::Feature, dict: &[String], codes: &[u32]) -> Transform {
    let mut counts = vec![0usize; dict.len()];
    for &c in codes {
        if c != MISSING_CODE {
            counts[c as usize] += 1;
        }
    }
    let min_frequency = feature
        .min_frequency
        .unwrap_or_else(|| default_min_frequency(codes.len()));
    let max_levels = feature.max_levels.unwrap_or(DEFAULT_MAX_LEVELS);
    let mut ranked: Vec<(usize, &str)> = counts
        .iter()
        .zip(dict)
        .filter(|(n, _)| **n >= min_frequency)
        .map(|(n, t)| (*n, t.as_str()))
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    ranked.truncate(max_levels);
    let mut levels = vec![MISSING_LEVEL.to_owned(), OTHER_LEVEL.to_owned()];
    levels.extend(ranked.into_iter().map(|(_, t)| t.to_owned()));
    let lookup = lookup_of(&levels);
    Transform::Categorical { levels, lookup }
}
