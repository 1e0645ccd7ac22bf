//! The scores the automatic choice between candidates compares. On a large book, each
//! candidate's scores of the validation split. On a small one the validation split is too small
//! for a real difference to be significant, so the simplest candidate won nearly every time,
//! also where a more complex one was better on average; there the choice reads out-of-fold
//! scores instead: train and validation rows pooled, cut into stratified folds, every candidate
//! fitted again without each fold (on an inner train/validation split of the rest, in the
//! proportions of the dataset's) and scored on it. The comparison then has the rows of both
//! splits behind it, and the test split is still never seen.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;

use super::fit::FittedModel;
use super::{Dataset, Progress, TrainRequest, fit_candidates};
use crate::TrainError;
use crate::config::TrainConfig;
use crate::data::{HeldOut, Split, fold_rows, out_of_fold_scores, stratified_folds};
use crate::layout::ModelKind;

/// Below this many validation rows the choice is cross-validated.
pub(super) const CROSS_VALIDATE_BELOW: usize = 5_000;

/// The rows each candidate's scores stand for, and the scores, in candidate order.
pub(super) struct ChoiceScores {
    pub(super) labels: Vec<u8>,
    pub(super) scores: Vec<Vec<f64>>,
    /// Folds used; 0: the validation split.
    pub(super) folds: usize,
}

/// The scores to choose between `fitted` with: out-of-fold when the validation split is small
/// and `choice_folds` > 1, else `valid`, each candidate's (uncalibrated) scores of the
/// validation split.
pub(super) fn choice_scores(
    request: &TrainRequest<'_>,
    data: &Dataset,
    fitted: &[FittedModel],
    valid: Vec<Vec<f64>>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<ChoiceScores, TrainError> {
    let folds = request.config.choice_folds;
    if fitted.len() < 2 || folds < 2 || data.valid.rows >= CROSS_VALIDATE_BELOW {
        return Ok(ChoiceScores {
            labels: data.valid.labels.clone(),
            scores: valid,
            folds: 0,
        });
    }
    let pooled = Split::concat("train and valid", &[&data.train, &data.valid]);
    let fold_of = stratified_folds(&pooled.labels, folds, request.config.seed);
    let valid_share = data.valid.rows as f64 / pooled.rows as f64;
    let kinds: Vec<ModelKind> = fitted.iter().map(|m| m.kind).collect();
    progress(Progress::Step(&format!(
        "choosing the model: {folds}-fold cross-validation on the {} train and valid rows",
        pooled.rows
    )));
    // The folds are independent and each one deterministic: fitted side by side, they give
    // the same scores as one after the other.
    let fold = Fold {
        request,
        data,
        pooled: &pooled,
        fold_of: &fold_of,
        valid_share,
        kinds: &kinds,
    };
    let per_fold = (0..folds)
        .into_par_iter()
        .map(|k| fold.scores(k))
        .collect::<Result<Vec<HeldOut>, TrainError>>()?;
    let scores = out_of_fold_scores(pooled.rows, kinds.len(), per_fold);
    Ok(ChoiceScores {
        labels: pooled.labels,
        scores,
        folds,
    })
}

/// What fitting the candidates without one fold reads.
struct Fold<'a> {
    request: &'a TrainRequest<'a>,
    data: &'a Dataset,
    pooled: &'a Split,
    fold_of: &'a [usize],
    valid_share: f64,
    kinds: &'a [ModelKind],
}

impl Fold<'_> {
    /// The held-out rows of fold `fold`, and each candidate kind's scores of them, fitted on
    /// an inner train/valid split of the other folds.
    fn scores(&self, fold: usize) -> Result<HeldOut, TrainError> {
        let pooled = self.pooled;
        let (held, rest) = fold_rows(self.fold_of, fold);
        let seed = self.request.config.seed + fold as u64;
        let (inner_train, inner_valid) = inner_split(pooled, &rest, self.valid_share, seed);
        let held_split = pooled.subset("held-out fold", &held);
        let fold_data = self.data.with_splits(
            pooled.subset("train", &inner_train),
            pooled.subset("valid", &inner_valid),
        );
        // Inside a fold each model's penalty is chosen on the fold's inner validation split.
        // Folds within folds would cost their square; each kind's penalty as its full fit chose
        // it made the choice keep the additive model more often, which lowered German's mean
        // test AUC over 20 splits (bench/HISTORY.md).
        let request = TrainRequest {
            config: TrainConfig {
                choice_folds: 0,
                ..self.request.config.clone()
            },
            parent_version: None,
            ..*self.request
        };
        let models = fit_candidates(&request, &fold_data, &mut |_| {})?;
        let mut scores = Vec::with_capacity(self.kinds.len());
        for kind in self.kinds {
            // A fold whose FAST found no pair has no GA2M: its additive model is the GA2M.
            let model = models
                .iter()
                .find(|m| m.kind == *kind)
                .or_else(|| models.iter().find(|m| m.kind == ModelKind::Additive))
                .ok_or_else(|| TrainError::Data(format!("fold {} fitted no {kind}", fold + 1)))?;
            scores.push(raw_scores(self.request, &fold_data, model, &held_split));
        }
        Ok((held, scores))
    }
}

/// A model's probabilities of `rows`, uncalibrated (the comparison reads their order only).
fn raw_scores(
    request: &TrainRequest<'_>,
    data: &Dataset,
    m: &FittedModel,
    rows: &Split,
) -> Vec<f64> {
    m.uncalibrated(request, &data.train).probabilities(rows)
}

/// `rows` cut into an inner train and validation split, `valid_share` of each class to the
/// validation split (at least one row of each class on each side).
fn inner_split(
    split: &Split,
    rows: &[usize],
    valid_share: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for class in [0u8, 1] {
        let mut of_class: Vec<usize> = rows
            .iter()
            .copied()
            .filter(|&i| split.labels[i] == class)
            .collect();
        of_class.shuffle(&mut rng);
        let n = of_class.len();
        let take = ((n as f64 * valid_share).round() as usize)
            .max(1)
            .min(n.saturating_sub(1));
        valid.extend_from_slice(&of_class[..take]);
        train.extend_from_slice(&of_class[take..]);
    }
    // Row order as in the dataset: the epochs shuffle with the seed from there.
    train.sort_unstable();
    valid.sort_unstable();
    (train, valid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_keep_the_bad_rate_and_cover_every_row_once() {
        let labels: Vec<u8> = (0..1_003).map(|i| u8::from(i % 7 == 0)).collect();
        let fold_of = stratified_folds(&labels, 5, 42);
        for fold in 0..5 {
            let rows: Vec<usize> = (0..labels.len()).filter(|&i| fold_of[i] == fold).collect();
            let bads = rows.iter().filter(|&&i| labels[i] == 1).count();
            assert!((200..=201).contains(&rows.len()), "{}", rows.len());
            assert!((28..=29).contains(&bads), "{bads}");
        }
        assert_eq!(fold_of, stratified_folds(&labels, 5, 42));
        assert_ne!(fold_of, stratified_folds(&labels, 5, 43));
    }

    #[test]
    fn the_inner_split_takes_its_share_of_each_class() {
        let split = Split {
            name: "pooled".into(),
            rows: 1_000,
            width: 1,
            slots: vec![0.0; 1_000],
            labels: (0..1_000).map(|i| u8::from(i % 4 == 0)).collect(),
        };
        let rows: Vec<usize> = (0..1_000).filter(|i| i % 5 != 0).collect();
        let (train, valid) = inner_split(&split, &rows, 0.15, 1);
        assert_eq!(train.len() + valid.len(), rows.len());
        let bads = valid.iter().filter(|&&i| split.labels[i] == 1).count();
        assert_eq!(bads, 30, "15% of the 200 bads");
        assert_eq!(valid.len(), 120);
        assert!(train.iter().all(|i| !valid.contains(i)));
        assert!(train.windows(2).all(|w| w[0] < w[1]));
    }
}
