//! `riskloop ingest`: raw files + spec → dataset folder, with a summary and the quality table.

use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use riskloop_ingest::etl;
use riskloop_ingest::quality::GateKind;
use riskloop_ingest::spec::DatasetSpec;

use super::progress::spinner;

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The dataset spec (TOML).
    #[arg(long, value_name = "SPEC")]
    pub spec: PathBuf,
    /// Raw CSV or Parquet files; globs such as `loans/*.csv` are expanded.
    #[arg(long, value_name = "FILE", num_args = 1.., required = true)]
    pub input: Vec<PathBuf>,
    /// Folder for train|valid|test.parquet, pipeline.json, quality.json and spec.toml.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Hold at most about this many rows while fitting (the spec's `[read] fit_rows`, default
    /// 2,000,000): a larger book is sampled for the fit and written in a second pass. 0 holds
    /// every row.
    #[arg(long, value_name = "ROWS")]
    pub fit_rows: Option<usize>,
}

pub fn run(args: &IngestArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let mut spec = DatasetSpec::from_file(&args.spec)?;
    if let Some(rows) = args.fit_rows {
        spec.read.fit_rows = rows;
    }
    let inputs = expand(&args.input)?;
    let started = Instant::now();
    let bar = spinner();
    let result = etl::ingest(&spec, &inputs, &args.out, &mut |step| {
        bar.set_message(step.to_owned());
    });
    bar.finish_and_clear();
    let ingested = result?;
    let q = &ingested.quality;
    let t = &q.target;
    writeln!(
        out,
        "Ingested {} in {:.1}s: {} rows read, {} used.",
        spec.name,
        started.elapsed().as_secs_f64(),
        q.rows_read,
        q.rows_used
    )?;
    if let Some(sampled) = q.sampled_rows {
        writeln!(
            out,
            "More rows than fit_rows ({}): the pipeline and the quality table come from a uniform sample of {sampled} rows; every row was written.",
            spec.read.fit_rows
        )?;
    }
    writeln!(
        out,
        "Target `{}`: {} bad, {} good.",
        t.column, t.bad, t.good
    )?;
    for (value, n) in &t.other {
        writeln!(
            out,
            "  excluded {n} row(s) whose target is {value:?} (neither bad nor good)"
        )?;
    }
    for (feature, n) in &t.rejected_missing {
        writeln!(
            out,
            "  excluded {n} row(s) missing required feature `{feature}`"
        )?;
    }
    if t.rows_outside_split > 0 {
        writeln!(
            out,
            "  left out {} row(s) that the split puts in no split",
            t.rows_outside_split
        )?;
    }
    if t.rows_without_time > 0 {
        writeln!(
            out,
            "  excluded {} row(s) without a readable application date",
            t.rows_without_time
        )?;
    }
    for s in &t.splits {
        writeln!(
            out,
            "  {:<5} {:>9} rows  bad rate {:.2}%",
            s.name,
            s.rows,
            s.bad_rate * 100.0
        )?;
    }
    writeln!(
        out,
        "Pipeline: {} features → {} model inputs.",
        ingested.pipeline.features.len(),
        ingested.pipeline.width()
    )?;
    writeln!(out)?;
    write!(out, "{}", q.table())?;
    for gate in &q.gates {
        let what = match (gate.gate, &gate.acknowledged) {
            (_, Some(_)) => "acknowledged in the spec",
            (GateKind::Leakage, None) => "`riskloop train` stops on it",
            (GateKind::Drift, None) => "`riskloop models promote` refuses a model trained on it",
        };
        writeln!(out, "GATE {gate} [{what}]")?;
    }
    if q.gates.iter().any(|g| g.acknowledged.is_none()) {
        writeln!(
            out,
            "  Drop a feature known only after the outcome ([[drop]] with a reason), or, once you \
             have checked it, acknowledge the gate on the feature in the spec: \
             acknowledge = {{ leakage = \"why it is known at application\" }} (or drift)."
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "Wrote {}/{{train,valid,test}}.parquet, pipeline.json, quality.json, spec.toml",
        ingested.out_dir.display()
    )?;
    Ok(())
}

/// Expands globs the shell left alone (quoted, or on systems that do not expand them).
pub(crate) fn expand(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        let text = input.to_string_lossy();
        if !text.contains(['*', '?', '[']) {
            anyhow::ensure!(
                input.is_file(),
                "input file {} does not exist",
                input.display()
            );
            files.push(input.clone());
            continue;
        }
        let dir = input
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let pattern = input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut matched: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| anyhow::anyhow!("cannot list {}: {e}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| glob_match(&pattern, &n.to_string_lossy()))
            })
            .collect();
        anyhow::ensure!(!matched.is_empty(), "no file matches {}", input.display());
        matched.sort();
        files.extend(matched);
    }
    Ok(files)
}

/// `*` and `?` wildcards within one file name.
fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    go(&p, &n)
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs_match_stars_and_question_marks_within_a_name() {
        assert!(glob_match("loans_*.csv", "loans_2021.csv"));
        assert!(glob_match("part-?.parquet", "part-3.parquet"));
        assert!(!glob_match("loans_*.csv", "loans_2021.parquet"));
        assert!(!glob_match("part-?.parquet", "part-10.parquet"));
    }
}
