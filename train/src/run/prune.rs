//! Pruning: a term whose contribution hardly varies across the training rows (its standard
//! deviation below `prune_below` logit) says nothing about any applicant; it is dropped and the
//! rest refined again from where they were, and the manifest lists what was dropped and why.

use super::fit::{FittedModel, fit_model};
use super::{Dataset, Progress, TrainRequest};
use crate::TrainError;
use crate::bundle::PrunedTerm;
use crate::data::Split;
use crate::layout::{Layout, TermKind};
use crate::refine::Params;
use crate::weights::TermValues;

/// `model` without its terms that contribute nothing, refined again; `model` itself when none
/// (or every one) falls below the threshold, or pruning is off.
pub(super) fn prune(
    request: &TrainRequest<'_>,
    data: &Dataset,
    model: FittedModel,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<FittedModel, TrainError> {
    let threshold = request.config.prune_below;
    if threshold <= 0.0 {
        return Ok(model);
    }
    let spread = contribution_spread(&model, &data.train);
    let drop: Vec<bool> = spread.iter().map(|&s| s < threshold).collect();
    if !drop.iter().any(|&d| d) || drop.iter().all(|&d| d) {
        return Ok(model);
    }
    progress(Progress::Step("dropping features that contribute nothing"));
    let layout = model.layout.without(&drop);
    let start = remap(&model.raw, &model.layout, &layout, &drop);
    let pruned: Vec<PrunedTerm> = model
        .layout
        .terms
        .iter()
        .zip(&spread)
        .zip(&drop)
        .filter(|(_, d)| **d)
        .map(|((term, &spread), _)| PrunedTerm {
            feature: term.feature.clone(),
            contribution_sd: spread,
            threshold,
        })
        .collect();
    let splits = [&data.train, &data.valid];
    let mut refit = fit_model(request, layout, splits, Some(&start), progress)?;
    refit.run.pruned = pruned;
    Ok(refit)
}

/// Each term's standard deviation over the training rows (logit units).
fn contribution_spread(model: &FittedModel, train: &Split) -> Vec<f64> {
    let n = model.layout.terms.len();
    let (mut sum, mut squares) = (vec![0.0; n], vec![0.0; n]);
    let mut values = vec![0.0; n];
    for i in 0..train.rows {
        model
            .weights
            .term_values(&model.layout, train.row(i), &mut values);
        for (k, v) in values.iter().enumerate() {
            sum[k] += v;
            squares[k] += v * v;
        }
    }
    let rows = train.rows.max(1) as f64;
    sum.iter()
        .zip(&squares)
        .map(|(s, q)| (q / rows - (s / rows).powi(2)).max(0.0).sqrt())
        .collect()
}

/// `raw` (for `from`) laid out for `to`, the terms `from` had and `to` kept.
fn remap(raw: &Params, from: &Layout, to: &Layout, drop: &[bool]) -> Params {
    let mut out = Params {
        dense: vec![0.0; to.dense.max(1)],
        levels: vec![0.0; to.levels.max(1)],
        bias: raw.bias,
    };
    let kept = from.terms.iter().zip(drop).filter(|(_, d)| !**d);
    for ((old, _), new) in kept.zip(&to.terms) {
        let (source, target, width) = match old.kind {
            TermKind::Categorical { .. } | TermKind::Pair { .. } => {
                (&raw.levels, &mut out.levels, old.kind.level_width())
            }
            _ => (&raw.dense, &mut out.dense, old.kind.dense_width()),
        };
        target[new.offset..new.offset + width]
            .copy_from_slice(&source[old.offset..old.offset + width]);
    }
    out
}
