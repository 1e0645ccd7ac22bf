//! Train / valid / test splits: stratified random or by time, reproducible from the seed.

use chrono::NaiveDate;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::spec::{DatasetSpec, Split};

/// Row indices of each split, each sorted ascending.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Splits {
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
    pub test: Vec<usize>,
}

/// Splits `rows` so that each split keeps the bad rate of the whole.
pub fn stratified(rows: &[usize], labels: &[u8], split: &Split) -> Splits {
    let mut rng = ChaCha8Rng::seed_from_u64(split.seed);
    let mut out = Splits::default();
    for class in [0u8, 1] {
        let mut members: Vec<usize> = rows
            .iter()
            .copied()
            .filter(|&r| labels[r] == class)
            .collect();
        shuffle(&mut members, &mut rng);
        let n = members.len() as f64;
        let n_test = (n * split.test).round() as usize;
        let n_valid = ((n * split.valid).round() as usize).min(members.len() - n_test);
        out.test.extend_from_slice(&members[..n_test]);
        out.valid
            .extend_from_slice(&members[n_test..n_test + n_valid]);
        out.train.extend_from_slice(&members[n_test + n_valid..]);
    }
    out.train.sort_unstable();
    out.valid.sort_unstable();
    out.test.sort_unstable();
    out
}

/// Oldest applications train, the next valid, the newest test; ties on the date go by row.
/// `rows` must be ascending and all have dates.
pub fn by_time(rows: &[usize], dates: &[Option<NaiveDate>], split: &Split) -> Splits {
    debug_assert!(rows.windows(2).all(|w| w[0] < w[1]), "rows ascending");
    let n = rows.len() as f64;
    let n_test = (n * split.test).round() as usize;
    let n_valid = (n * split.valid).round() as usize;
    let n_train = rows.len().saturating_sub(n_test + n_valid);
    // The first valid and the first test row in (date, row) order, found without a full sort;
    // rows are unique, so every other row is strictly before or after each cut.
    let key = |r: usize| (dates[r], r);
    let mut keys: Vec<(Option<NaiveDate>, usize)> = rows.iter().map(|&r| key(r)).collect();
    let mut cut = |at: usize| (at < keys.len()).then(|| *keys.select_nth_unstable(at).1);
    let valid_from = cut(n_train);
    let test_from = cut(n_train + n_valid);
    let mut out = Splits {
        train: Vec::with_capacity(n_train),
        valid: Vec::with_capacity(n_valid),
        test: Vec::with_capacity(n_test),
    };
    for &r in rows {
        let k = key(r);
        if valid_from.is_none_or(|c| k < c) {
            out.train.push(r);
        } else if test_from.is_none_or(|c| k < c) {
            out.valid.push(r);
        } else {
            out.test.push(r);
        }
    }
    out
}

/// A `cutoff` split's boundaries as comparable keys: days since the common era for dates,
/// the number itself otherwise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cutoffs {
    pub train_from: Option<f64>,
    pub valid_from: f64,
    pub test_from: f64,
}

impl Cutoffs {
    /// Reads the spec's boundaries the way the split column's values are read.
    pub fn of(spec: &DatasetSpec) -> Result<Self, String> {
        let read = |key: &str, raw: &Option<String>| -> Result<Option<f64>, String> {
            let Some(raw) = raw else { return Ok(None) };
            let value = Self::key(spec, raw)
                .map_err(|e| format!("`{key}`: {e}"))?
                .ok_or_else(|| format!("`{key}`: {raw:?} is a missing-value token"))?;
            Ok(Some(value))
        };
        let split = &spec.split;
        Ok(Self {
            train_from: read("train_from", &split.train_from)?,
            valid_from: read("valid_from", &split.valid_from)?.ok_or("`valid_from` is required")?,
            test_from: read("test_from", &split.test_from)?.ok_or("`test_from` is required")?,
        })
    }

    /// One raw value of the split column as a key; None for a missing value.
    pub fn key(spec: &DatasetSpec, raw: &str) -> Result<Option<f64>, String> {
        if spec.splits_by_time() {
            let time = spec.time.as_ref().ok_or("no `[time]` column")?;
            let date = time.parse(raw, &spec.read.na_values, spec.read.two_digit_year_pivot)?;
            Ok(date.map(date_key))
        } else if crate::parse::is_na(raw, &spec.read.na_values) {
            Ok(None)
        } else {
            crate::parse::parse_number(raw, spec.read.decimal).map(Some)
        }
    }

    fn split_of(&self, key: f64) -> Option<usize> {
        if self.train_from.is_some_and(|t| key < t) {
            None
        } else if key < self.valid_from {
            Some(0)
        } else if key < self.test_from {
            Some(1)
        } else {
            Some(2)
        }
    }
}

/// A date as a cut-off key.
pub fn date_key(date: NaiveDate) -> f64 {
    f64::from(chrono::Datelike::num_days_from_ce(&date))
}

/// Rows by cut-off keys (see [`Cutoffs`]); rows without a key, or before `train_from`, are in
/// no split. `rows` must be ascending.
pub fn by_cutoff(rows: &[usize], keys: &[Option<f64>], cuts: &Cutoffs) -> Splits {
    assign(rows, |r| keys[r].and_then(|k| cuts.split_of(k)))
}

/// Rows by the split column's values; rows whose value is in no list are in no split.
pub fn by_values(rows: &[usize], values: &[Option<&str>], split: &Split) -> Splits {
    let lists = [&split.train_values, &split.valid_values, &split.test_values];
    assign(rows, |r| {
        let v = values[r]?.trim();
        lists.iter().position(|l| l.iter().any(|x| x == v))
    })
}

fn assign(rows: &[usize], split_of: impl Fn(usize) -> Option<usize>) -> Splits {
    let mut out = Splits::default();
    for &r in rows {
        match split_of(r) {
            Some(0) => out.train.push(r),
            Some(1) => out.valid.push(r),
            Some(_) => out.test.push(r),
            None => {}
        }
    }
    out
}

/// Fisher–Yates with our own seeded generator, so a seed means the same split on every machine.
fn shuffle(items: &mut [usize], rng: &mut ChaCha8Rng) {
    for i in (1..items.len()).rev() {
        let j = rng.random_range(0..=i);
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::SplitMethod;

    fn split(seed: u64) -> Split {
        Split {
            method: SplitMethod::Stratified,
            valid: 0.2,
            test: 0.2,
            seed,
            ..Split::default()
        }
    }

    #[test]
    fn cutoffs_put_each_row_by_its_key_and_leave_out_rows_without_one() {
        let cuts = Cutoffs {
            train_from: Some(2000.0),
            valid_from: 2006.0,
            test_from: 2007.0,
        };
        let keys = [
            Some(1999.0),
            Some(2003.0),
            Some(2005.0),
            Some(2006.0),
            None,
            Some(2007.0),
            Some(2010.0),
        ];
        let s = by_cutoff(&(0..keys.len()).collect::<Vec<_>>(), &keys, &cuts);
        assert_eq!(
            (s.train, s.valid, s.test),
            (vec![1, 2], vec![3], vec![5, 6])
        );
    }

    #[test]
    fn column_splits_follow_the_listed_values() {
        let split = Split {
            method: SplitMethod::Column,
            column: Some("sample".into()),
            train_values: vec!["a".into(), "b".into()],
            valid_values: vec!["v".into()],
            test_values: vec!["t".into()],
            ..Split::default()
        };
        let values = [
            Some("a"),
            Some(" v "),
            None,
            Some("t"),
            Some("b"),
            Some("x"),
        ];
        let s = by_values(&(0..6).collect::<Vec<_>>(), &values, &split);
        assert_eq!((s.train, s.valid, s.test), (vec![0, 4], vec![1], vec![3]));
    }

    #[test]
    fn stratified_splits_partition_the_rows_and_keep_the_bad_rate() {
        let labels: Vec<u8> = (0..1000).map(|i| u8::from(i % 4 == 0)).collect();
        let rows: Vec<usize> = (0..1000).collect();
        let s = stratified(&rows, &labels, &split(1));
        assert_eq!(
            (s.train.len(), s.valid.len(), s.test.len()),
            (600, 200, 200)
        );
        let mut all: Vec<usize> = [s.train.clone(), s.valid.clone(), s.test.clone()].concat();
        all.sort_unstable();
        assert_eq!(all, rows);
        for part in [&s.train, &s.valid, &s.test] {
            let bad = part.iter().filter(|&&r| labels[r] == 1).count() as f64 / part.len() as f64;
            assert!((bad - 0.25).abs() < 0.01, "{bad}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_split_and_another_seed_another() {
        let labels: Vec<u8> = (0..500).map(|i| u8::from(i % 3 == 0)).collect();
        let rows: Vec<usize> = (0..500).collect();
        assert_eq!(
            stratified(&rows, &labels, &split(7)),
            stratified(&rows, &labels, &split(7))
        );
        assert_ne!(
            stratified(&rows, &labels, &split(7)),
            stratified(&rows, &labels, &split(8))
        );
    }

    #[test]
    fn time_splits_put_the_newest_applications_in_test() {
        let dates: Vec<Option<NaiveDate>> = (0..100)
            .map(|i| {
                NaiveDate::from_ymd_opt(2020, 1, 1).map(|d| d + chrono::Days::new((i * 37) % 100))
            })
            .collect();
        let rows: Vec<usize> = (0..100).collect();
        let s = by_time(&rows, &dates, &split(0));
        let newest_train = s.train.iter().map(|&r| dates[r]).max().unwrap();
        let oldest_valid = s.valid.iter().map(|&r| dates[r]).min().unwrap();
        let newest_valid = s.valid.iter().map(|&r| dates[r]).max().unwrap();
        let oldest_test = s.test.iter().map(|&r| dates[r]).min().unwrap();
        assert!(newest_train <= oldest_valid && newest_valid <= oldest_test);
        assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (60, 20, 20));
        for part in [&s.train, &s.valid, &s.test] {
            assert!(part.windows(2).all(|w| w[0] < w[1]), "each split ascending");
        }
    }

    #[test]
    fn time_splits_break_date_ties_by_row() {
        let day = NaiveDate::from_ymd_opt(2021, 6, 1);
        let dates = vec![day; 10];
        let rows: Vec<usize> = (0..10).collect();
        let s = by_time(&rows, &dates, &split(0));
        assert_eq!(s.train, (0..6).collect::<Vec<_>>());
        assert_eq!((s.valid, s.test), (vec![6, 7], vec![8, 9]));
    }
}
