//! Inference: the served path (pipeline slots → int8 scorer) for one row or a whole file, and
//! Burn's float model reloaded from the bundle's record and layout (never a default config).

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use polars::prelude::*;
use riskloop_ingest::read;

use crate::TrainError;
use crate::bundle::{self, Bundle};
use crate::data::Split;
use crate::model::{RiskModel, RiskModelConfig};

/// Burn's float model of a bundle, on `device`.
pub fn load_burn_model<B: Backend>(
    bundle: &Bundle,
    device: &B::Device,
) -> Result<RiskModel<B>, TrainError> {
    let path = bundle.dir.join(bundle::BURN_RECORD);
    let bytes = std::fs::read(&path).map_err(TrainError::io(&path))?;
    let record = NamedMpkBytesRecorder::<FullPrecisionSettings>::default()
        .load(bytes, device)
        .map_err(|e| TrainError::Burn {
            context: format!("loading {}", path.display()),
            reason: e.to_string(),
        })?;
    let config = RiskModelConfig::from_layout(&bundle.model.float.layout, 0.5);
    Ok(config.init::<B>(device).load_record(record))
}

/// What `riskloop score` wrote.
#[derive(Debug)]
pub struct ScoredFile {
    pub rows: usize,
    pub out: PathBuf,
}

/// Scores raw application files (read as the bundle's spec says) with the int8 model and writes
/// one row per application: its position, id (if the spec has one), PD, score and top reasons.
pub fn score_files(
    bundle: &Bundle,
    inputs: &[PathBuf],
    out: &Path,
) -> Result<ScoredFile, TrainError> {
    let spec = bundle.spec()?;
    let lf = read::scan(inputs, &spec.read)?;
    let ids = match &spec.id_column {
        Some(id) => Some(
            lf.clone()
                .select([col(id.as_str())])
                .collect()
                .map_err(TrainError::polars(format!("reading the id column `{id}`")))?,
        ),
        None => None,
    };
    let encoded = bundle.pipeline.apply_batch(lf)?;
    let split = Split::from_frame(&encoded, "input", &bundle.pipeline)?;
    let scorer = &bundle.model.int8;
    let n = bundle.model.reasons;
    let (mut pd, mut score) = (
        Vec::with_capacity(split.rows),
        Vec::with_capacity(split.rows),
    );
    let mut reasons: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(split.rows); n];
    for i in 0..split.rows {
        let scored = scorer.score(split.row(i));
        let top = scorer.reasons(&scored, n);
        pd.push(scored.probability);
        score.push(scored.score);
        for (k, column) in reasons.iter_mut().enumerate() {
            column.push(top.get(k).map(|r| r.feature.to_owned()));
        }
    }
    let mut columns = vec![Column::new(
        "row".into(),
        (0..split.rows as u64).collect::<Vec<_>>(),
    )];
    if let Some(ids) = ids {
        columns.extend(ids.columns().iter().cloned());
    }
    columns.push(Column::new("probability_of_default".into(), pd));
    columns.push(Column::new("score".into(), score));
    for (k, column) in reasons.into_iter().enumerate() {
        columns.push(Column::new(format!("reason_{}", k + 1).into(), column));
    }
    let mut frame =
        DataFrame::new(split.rows, columns).map_err(TrainError::polars("assembling scores"))?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(TrainError::io(parent))?;
    }
    let file = std::fs::File::create(out).map_err(TrainError::io(out))?;
    ParquetWriter::new(file)
        .finish(&mut frame)
        .map_err(TrainError::polars(format!("writing {}", out.display())))?;
    Ok(ScoredFile {
        rows: split.rows,
        out: out.to_owned(),
    })
}
