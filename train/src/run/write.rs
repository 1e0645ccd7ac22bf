//! Writing the bundle: the manifest with every metric and choice, the report, the model in
//! both forms, the pipeline and spec it was trained with.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use super::{Dataset, Evaluation, Served, TrainRequest, Trained};
use crate::TrainError;
use crate::bundle::{self, BundleWriter, Candidate, DatasetInfo, Manifest, ModelFile};
use crate::compare::Comparison;
use crate::data::Split;
use crate::report::{self, ReportData};
use crate::scorer::Scorer;
use crate::weights::TermValues;

/// How the kept model was chosen.
pub(super) struct Choice {
    pub(super) candidates: Vec<Candidate>,
    pub(super) comparison: Option<Comparison>,
}

pub(super) fn write_bundle(
    request: &TrainRequest<'_>,
    data: &Dataset,
    served: Served,
    evaluation: Evaluation,
    choice: Choice,
    started: Instant,
) -> Result<Trained, TrainError> {
    let created = chrono::Utc::now();
    let version = unique_version(request.out, &data.pipeline.dataset, created)?;
    let split_map = |f: &dyn Fn(&Split) -> f64| -> BTreeMap<String, f64> {
        data.splits()
            .iter()
            .map(|s| (s.name.clone(), f(s)))
            .collect()
    };
    let Served { model, float, int8 } = served;
    let mut run = model.run;
    run.seconds = started.elapsed().as_secs_f64();
    let manifest = Manifest {
        format_version: bundle::BUNDLE_FORMAT,
        version: version.clone(),
        created_at: created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        parent_version: request.parent_version.clone(),
        riskloop_version: env!("CARGO_PKG_VERSION").to_owned(),
        burn_version: bundle::BURN_VERSION.to_owned(),
        model: model.kind,
        device: request.device,
        dataset: DatasetInfo {
            name: data.pipeline.dataset.clone(),
            source: request.data.display().to_string(),
            rows: split_map(&|s| s.rows as f64)
                .into_iter()
                .map(|(k, v)| (k, v as usize))
                .collect(),
            bad_rate: split_map(&Split::bad_rate),
        },
        training: request.config.clone(),
        run,
        metrics: evaluation.metrics,
        quantization: evaluation.quantization,
        candidates: choice.candidates,
        choice: choice.comparison,
        gates: data.gates.clone(),
        score_baseline: Some(bundle::ScoreBaseline::of(
            &(0..data.train.rows)
                .map(|i| int8.score(data.train.row(i)).score)
                .collect::<Vec<_>>(),
        )),
        files: BTreeMap::new(),
    };
    let scores: Vec<i32> = evaluation
        .int8_test
        .iter()
        .map(|&p| request.config.score.score(p))
        .collect();
    let html = report::render(
        &manifest,
        &ReportData {
            probabilities: &evaluation.int8_test,
            scores: &scores,
            labels: &data.test.labels,
            scorer: &float,
            pipeline: &data.pipeline,
            features: &data.features,
        },
    );
    let writer = BundleWriter::new(request.out, &version)?;
    writer.write(bundle::PIPELINE, &data.pipeline_bytes)?;
    writer.write(bundle::SPEC, &data.spec_bytes)?;
    writer.write(bundle::BURN_RECORD, &model.record)?;
    writer.write_json(
        bundle::MODEL,
        &ModelFile {
            format_version: bundle::BUNDLE_FORMAT,
            reasons: request.config.reasons,
            float,
            int8,
        },
    )?;
    writer.write(bundle::REPORT, html.as_bytes())?;
    let dir = writer.finish(manifest)?;
    let manifest = crate::bundle::Bundle::load(&dir)?.manifest;
    Ok(Trained { dir, manifest })
}

/// Share of rows whose top-`n` reason set is the same for both forms.
pub(super) fn reason_agreement<A: TermValues, B: TermValues>(
    a: &Scorer<A>,
    b: &Scorer<B>,
    split: &Split,
    n: usize,
) -> f64 {
    let same = (0..split.rows)
        .filter(|&i| {
            let set = |r: Vec<crate::scorer::Reason>| {
                let mut v: Vec<String> = r.into_iter().map(|r| r.feature.to_owned()).collect();
                v.sort();
                v
            };
            set(a.reasons(&a.score(split.row(i)), n)) == set(b.reasons(&b.score(split.row(i)), n))
        })
        .count();
    same as f64 / split.rows.max(1) as f64
}

/// `<dataset>-<UTC timestamp>`, with a counter if that folder already exists.
fn unique_version(
    out: &Path,
    dataset: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<String, TrainError> {
    std::fs::create_dir_all(out).map_err(TrainError::io(out))?;
    let base = format!("{dataset}-{}", at.format("%Y%m%dT%H%M%SZ"));
    let mut version = base.clone();
    let mut n = 2;
    while out.join(&version).exists() {
        version = format!("{base}-{n}");
        n += 1;
    }
    Ok(version)
}
