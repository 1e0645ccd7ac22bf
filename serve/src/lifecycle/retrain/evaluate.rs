//! Champion against challenger on the same out-of-time holdout (the most recent labelled
//! decisions): each stored application decided again by each model with the serving policy,
//! through the decision core, then the four checks a promotion needs: AUC gain with its
//! paired DeLong interval, calibration, score stability, and adverse impact per protected
//! attribute (the four-fifths rule on approval rates).

use std::collections::BTreeMap;

use riskloop_ingest::application::Application;
use riskloop_ingest::pipeline::Input;
use riskloop_train::compare::{Comparison, Rule, compare};
use serde::Serialize;

use super::RetrainSettings;
use crate::decision::policy::Policy;
use crate::decision::{self, Inputs, ServedModel};
use crate::monitoring::psi;
use crate::store::DecisionKind;

/// Groups smaller than this are left out of the adverse-impact ratio: their rate is noise.
pub const MIN_GROUP_ROWS: usize = 30;

/// One model's approvals on the holdout period's applications and, per protected attribute of
/// its schema, each application's group if known.
#[derive(Debug, Default)]
struct Approvals {
    approved: Vec<bool>,
    /// Per protected attribute, in the schema's order: the order of each decision's groups.
    groups: Vec<(String, Vec<Option<String>>)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Calibration {
    pub observed_bad_rate: f64,
    pub champion_mean_pd: f64,
    pub challenger_mean_pd: f64,
    /// |mean predicted PD − observed default rate| of the challenger.
    pub challenger_gap: f64,
    pub champion_gap: f64,
    pub holds: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct GroupRate {
    pub group: String,
    pub rows: usize,
    pub approval_rate: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Impact {
    pub attribute: String,
    pub groups: Vec<GroupRate>,
    /// Lowest approval rate over highest, among groups of at least [`MIN_GROUP_ROWS`].
    pub ratio: Option<f64>,
    /// The champion's ratio on the same applications, for comparison.
    pub champion_ratio: Option<f64>,
    pub holds: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    pub holdout_rows: usize,
    /// Holdout decisions one of the models could not decide (e.g. a field it no longer reads).
    pub undecidable: usize,
    pub comparison: Option<Comparison>,
    pub calibration: Option<Calibration>,
    /// PSI of the challenger's scores against the champion's on every application of the
    /// holdout's period.
    pub score_psi: Option<f64>,
    pub adverse_impact: Vec<Impact>,
    /// Why the challenger may not be promoted; empty when it may.
    pub refusals: Vec<String>,
}

/// Decides every holdout application with `model` and `policy`; `None` where it cannot.
fn judge(model: &ServedModel, policy: &Policy, holdout: &[Holdout]) -> Vec<Option<Row>> {
    holdout
        .iter()
        .map(|h| decide_one(model, policy, &h.id, &h.input))
        .collect()
}

type Row = (f64, f64, bool, Vec<Option<String>>);

fn decide_one(model: &ServedModel, policy: &Policy, id: &str, input: &str) -> Option<Row> {
    let decided = decision::decide_stored(model, policy, id, input).ok()?;
    // The protected attributes as the decision core reads them, for the groups.
    let raw = serde_json::value::RawValue::from_string(input.to_owned()).ok()?;
    let application = Application::parse(raw.get()).ok()?;
    let inputs = Inputs::parse(model, &application).ok()?;
    let groups = model
        .schema
        .protected
        .iter()
        .map(|(name, _)| match inputs.get(&model.schema, name) {
            Some(Input::Text(t)) => Some(t.to_string()),
            Some(Input::Number(n)) => Some(n.to_string()),
            _ => None,
        })
        .collect();
    let r = decided.record;
    Some((
        r.probability,
        f64::from(r.score),
        r.decision == DecisionKind::Approve,
        groups,
    ))
}

/// One decision of the holdout: its id, its stored application, whether it defaulted.
#[derive(Clone, Debug)]
pub struct Holdout {
    pub id: String,
    pub input: String,
    pub label: u8,
}

/// Judges `champion` and `challenger` on `holdout`, on the rows both can decide; their score
/// distributions are compared on `population`, every application of the holdout's period
/// (declined ones included: on the approved alone, the champion's scores are cut at its own
/// cutoff by construction).
pub fn evaluate(
    champion: &ServedModel,
    challenger: &ServedModel,
    policy: &Policy,
    holdout: &[Holdout],
    population: &[Holdout],
    settings: &RetrainSettings,
) -> Evaluation {
    let old = judge(champion, policy, holdout);
    let new = judge(challenger, policy, holdout);
    let (mut p_old, mut p_new, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    // The four-fifths rule is about applicants: approval rates over every application of the
    // holdout's period, not over the loans the champion already approved (all of them).
    let mut approvals = [Approvals::default(), Approvals::default()];
    for a in &mut approvals {
        for (name, _) in &challenger.schema.protected {
            a.groups.push((name.clone(), Vec::new()));
        }
    }
    for ((o, n), h) in old.into_iter().zip(new).zip(holdout) {
        let (Some(o), Some(n)) = (o, n) else { continue };
        p_old.push(o.0);
        p_new.push(n.0);
        labels.push(h.label);
    }
    let rule = Rule {
        margin: settings.min_auc_gain,
        significant: settings.require_significant,
    };
    let comparison = compare(&p_old, &p_new, &labels, rule);
    let calibration = calibration(&p_old, &p_new, &labels, settings.max_calibration_gap);
    let (mut all_old, mut all_new) = (Vec::new(), Vec::new());
    for (o, n) in judge(champion, policy, population)
        .into_iter()
        .zip(judge(challenger, policy, population))
    {
        if let (Some(o), Some(n)) = (o, n) {
            all_old.push(o.1);
            all_new.push(n.1);
            for (a, row) in approvals.iter_mut().zip([o, n]) {
                a.approved.push(row.2);
                for ((_, values), group) in a.groups.iter_mut().zip(row.3) {
                    values.push(group);
                }
            }
        }
    }
    let cuts = psi::quantile_cuts(&all_old, 10);
    let score_psi = psi::psi(
        &psi::counts(&cuts, all_old.iter().copied()),
        &psi::counts(&cuts, all_new.iter().copied()),
    );
    let [champion_approvals, challenger_approvals] = &approvals;
    let champion_ratios = impact(champion_approvals, settings.min_impact_ratio);
    let adverse_impact: Vec<Impact> = impact(challenger_approvals, settings.min_impact_ratio)
        .into_iter()
        .zip(champion_ratios)
        .map(|(mut i, c)| {
            i.champion_ratio = c.ratio;
            i
        })
        .collect();

    let mut refusals = Vec::new();
    match &comparison {
        None => refusals.push("the holdout lacks defaults or repayments: AUC is undefined".into()),
        Some(c) if !c.challenger_wins => refusals.push(format!(
            "AUC {:.4} → {:.4} (Δ {:+.4}, 95% CI [{:+.4}, {:+.4}]): not a gain above {}{}",
            c.champion_auc,
            c.challenger_auc,
            c.delta,
            c.delta_ci[0],
            c.delta_ci[1],
            rule.margin,
            if rule.significant {
                " with its interval above zero"
            } else {
                ""
            }
        )),
        Some(_) => {}
    }
    if let Some(c) = calibration.as_ref().filter(|c| !c.holds) {
        refusals.push(format!(
            "calibration: mean predicted PD {:.4} against an observed default rate of {:.4} \
             (gap {:.4} above {} and worse than the champion's {:.4})",
            c.challenger_mean_pd,
            c.observed_bad_rate,
            c.challenger_gap,
            settings.max_calibration_gap,
            c.champion_gap
        ));
    }
    if let Some(value) = score_psi.filter(|v| *v > settings.max_score_psi) {
        refusals.push(format!(
            "score PSI champion → challenger {value:.3} above {}",
            settings.max_score_psi
        ));
    }
    for i in adverse_impact.iter().filter(|i| !i.holds) {
        refusals.push(format!(
            "adverse impact on `{}`: approval-rate ratio {:.3} below {} (champion {})",
            i.attribute,
            i.ratio.unwrap_or(0.0),
            settings.min_impact_ratio,
            i.champion_ratio
                .map_or_else(|| "–".to_owned(), |r| format!("{r:.3}"))
        ));
    }
    let undecidable = holdout.len() - labels.len();
    if undecidable * 10 > holdout.len() {
        refusals.push(format!(
            "{undecidable} of {} holdout decisions could not be decided by both models",
            holdout.len()
        ));
    }
    Evaluation {
        holdout_rows: holdout.len(),
        undecidable,
        comparison,
        calibration,
        score_psi,
        adverse_impact,
        refusals,
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn calibration(old: &[f64], new: &[f64], labels: &[u8], limit: f64) -> Option<Calibration> {
    if labels.is_empty() {
        return None;
    }
    let observed = labels.iter().map(|&l| f64::from(l)).sum::<f64>() / labels.len() as f64;
    let (champion_mean_pd, challenger_mean_pd) = (mean(old), mean(new));
    let (champion_gap, challenger_gap) = (
        (champion_mean_pd - observed).abs(),
        (challenger_mean_pd - observed).abs(),
    );
    Some(Calibration {
        observed_bad_rate: observed,
        champion_mean_pd,
        challenger_mean_pd,
        challenger_gap,
        champion_gap,
        holds: challenger_gap <= limit || challenger_gap <= champion_gap,
    })
}

/// Approval rates per group of each protected attribute, for one model's decisions. A numeric
/// attribute (an age) is cut at its median into two groups.
fn impact(judged: &Approvals, min_ratio: f64) -> Vec<Impact> {
    judged
        .groups
        .iter()
        .map(|(attribute, values)| {
            let numbers: Vec<f64> = values
                .iter()
                .flatten()
                .filter_map(|v| v.parse::<f64>().ok())
                .collect();
            let numeric = !numbers.is_empty() && numbers.len() == values.iter().flatten().count();
            let median = psi::quantile_cuts(&numbers, 2).first().copied();
            let mut rates: BTreeMap<String, (usize, usize)> = BTreeMap::new();
            for (value, approved) in values.iter().zip(&judged.approved) {
                let Some(value) = value else { continue };
                let group = match (numeric, median) {
                    (true, Some(m)) if value.parse::<f64>().is_ok_and(|v| v <= m) => {
                        format!("≤ {m}")
                    }
                    (true, Some(m)) => format!("> {m}"),
                    _ => value.clone(),
                };
                let entry = rates.entry(group).or_default();
                entry.0 += 1;
                entry.1 += usize::from(*approved);
            }
            let groups: Vec<GroupRate> = rates
                .into_iter()
                .map(|(group, (rows, approved))| GroupRate {
                    group,
                    rows,
                    approval_rate: approved as f64 / rows as f64,
                })
                .collect();
            let counted: Vec<f64> = groups
                .iter()
                .filter(|g| g.rows >= MIN_GROUP_ROWS)
                .map(|g| g.approval_rate)
                .collect();
            let ratio = (counted.len() >= 2).then(|| {
                let max = counted.iter().copied().fold(0.0, f64::max);
                let min = counted.iter().copied().fold(1.0, f64::min);
                if max > 0.0 { min / max } else { 1.0 }
            });
            Impact {
                attribute: attribute.clone(),
                groups,
                ratio,
                champion_ratio: None,
                holds: ratio.is_none_or(|r| r >= min_ratio),
            }
        })
        .collect()
}
