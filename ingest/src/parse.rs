//! Raw value parsers, shared by the batch ETL and the online path so both read a value the same.
//!
//! A value that does not parse is an error here; the ETL counts it per column as a parse failure
//! (and treats the value as missing), the server refuses the application naming the field.

use std::cell::RefCell;
use std::collections::BTreeMap;

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::derive::{Arg, Expression, Operand};
use crate::spec::{DatePart, Feature, FeatureKind, Parser, ReadOptions};

/// What one raw value turned into.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    Missing,
    Number(f64),
    Text(&'a str),
}

/// How to read one feature's raw values: the parts of the spec the online path needs too.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RawFormat {
    pub kind: FeatureKind,
    pub parser: Parser,
    pub date_format: Option<String>,
    pub date_part: Option<DatePart>,
    pub decimal: char,
    pub two_digit_year_pivot: u32,
    /// Plausible values; bundles written before it existed have none.
    #[serde(default)]
    pub valid: Option<[f64; 2]>,
    /// The spec's per-column missing tokens, beside the dataset's NA tokens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_values: Vec<String>,
    /// The spec's value map, applied to the trimmed raw value before parsing.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub map: BTreeMap<String, String>,
    /// A derived feature's expression: its value comes from these columns, not one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derive: Option<Expression>,
}

impl RawFormat {
    pub fn of(feature: &Feature, read: &ReadOptions) -> Self {
        Self {
            kind: feature.kind,
            parser: feature.parser(),
            date_format: feature.date_format.clone(),
            date_part: feature.date_part,
            decimal: read.decimal,
            two_digit_year_pivot: feature
                .two_digit_year_pivot
                .unwrap_or(read.two_digit_year_pivot),
            valid: feature.valid,
            missing_values: feature.missing_values.clone(),
            map: feature.map.clone(),
            derive: feature.derive.clone(),
        }
    }

    /// What the value map turns a raw value into, if it names it.
    pub fn mapped(&self, raw: &str) -> Option<&str> {
        if self.map.is_empty() {
            return None;
        }
        self.map.get(raw.trim()).map(String::as_str)
    }

    /// Reads one raw value (after [`Self::mapped`]) as both paths do: an NA token or one of the
    /// column's missing values is missing; a number is then recoded by value (a missing value
    /// or a map key that reads as the same number), and checked against `valid`.
    pub fn read<'a>(
        &self,
        raw: &'a str,
        na_values: &[String],
        application_date: Option<NaiveDate>,
    ) -> Result<Value<'a>, String> {
        if self.is_missing_text(raw, na_values) {
            return Ok(Value::Missing);
        }
        match self.parse_unchecked(raw, application_date)? {
            Value::Number(v) => self.read_number(v),
            other => Ok(other),
        }
    }

    /// A number as sent (a JSON number, or text already parsed): recoded by value, then
    /// checked against `valid`.
    pub fn read_number(&self, value: f64) -> Result<Value<'static>, String> {
        if self.recodes_numbers() {
            if self
                .missing_values
                .iter()
                .any(|t| self.same_number(t, value))
            {
                return Ok(Value::Missing);
            }
            if let Some((_, to)) = self.map.iter().find(|(k, _)| self.same_number(k, value)) {
                return match self.parse_unchecked(to, None)? {
                    Value::Number(v) => self.plausible(v).map(Value::Number),
                    _ => Ok(Value::Missing),
                };
            }
        }
        self.plausible(value).map(Value::Number)
    }

    fn is_missing_text(&self, raw: &str, na_values: &[String]) -> bool {
        let raw = raw.trim();
        is_na(raw, na_values) || self.missing_values.iter().any(|m| m == raw)
    }

    /// Numbers (not dates, whose value depends on the application) match tokens by value.
    fn recodes_numbers(&self) -> bool {
        (!self.missing_values.is_empty() || !self.map.is_empty())
            && match self.kind {
                FeatureKind::Numeric => self.parser != Parser::Date,
                FeatureKind::Boolean => true,
                FeatureKind::Categorical => false,
            }
    }

    fn same_number(&self, token: &str, value: f64) -> bool {
        matches!(self.parse_unchecked(token, None), Ok(Value::Number(v)) if v == value)
    }

    /// One operand of a derived feature, read as its expression says.
    pub fn operand<'a>(
        &self,
        raw: &'a str,
        na_values: &[String],
        operand: Operand,
    ) -> Result<Arg<'a>, String> {
        if self.is_missing_text(raw, na_values) {
            return Ok(Arg::Missing);
        }
        let raw = raw.trim();
        Ok(match operand {
            Operand::Text => Arg::Text(raw),
            Operand::Number => self.number_operand(parse_number(raw, self.decimal)?),
            Operand::Date => {
                let format = self.date_format.as_deref().unwrap_or("%Y-%m-%d");
                Arg::Date(parse_date(raw, format, self.two_digit_year_pivot)?)
            }
        })
    }

    /// A numeric operand as sent (a JSON number): a missing value by number is missing.
    pub fn number_operand(&self, value: f64) -> Arg<'static> {
        let missing = self
            .missing_values
            .iter()
            .any(|t| parse_number(t, self.decimal).is_ok_and(|v| v == value));
        if missing {
            Arg::Missing
        } else {
            Arg::Number(value)
        }
    }

    /// A derived feature's value from its operands, checked against `valid`.
    pub fn derived<'a>(&self, args: &[Arg<'a>]) -> Result<Value<'a>, String> {
        let Some(expression) = &self.derive else {
            return Err("not a derived feature".into());
        };
        match expression.eval(args) {
            Value::Number(v) => self.plausible(v).map(Value::Number),
            other => Ok(other),
        }
    }

    /// `value` if it lies within the feature's plausible values; the one check both the text
    /// parser and the server's JSON numbers go through.
    pub fn plausible(&self, value: f64) -> Result<f64, String> {
        match self.valid {
            Some([lo, hi]) if !(lo..=hi).contains(&value) => Err(format!(
                "{value} is out of range: must be within [{lo}, {hi}]"
            )),
            _ => Ok(value),
        }
    }

    /// Parses raw text (already known not to be an NA token). `application_date` is needed only
    /// by `date_part = "days_before_application"`.
    pub fn parse<'a>(
        &self,
        raw: &'a str,
        application_date: Option<NaiveDate>,
    ) -> Result<Value<'a>, String> {
        match self.parse_unchecked(raw, application_date)? {
            Value::Number(v) => self.plausible(v).map(Value::Number),
            other => Ok(other),
        }
    }

    /// [`Self::parse`] without the `valid` check.
    fn parse_unchecked<'a>(
        &self,
        raw: &'a str,
        application_date: Option<NaiveDate>,
    ) -> Result<Value<'a>, String> {
        let raw = raw.trim();
        match self.kind {
            FeatureKind::Categorical => Ok(Value::Text(raw)),
            FeatureKind::Boolean => parse_bool(raw).map(Value::Number),
            FeatureKind::Numeric => {
                let number = match self.parser {
                    Parser::Number => parse_number(raw, self.decimal)?,
                    Parser::Percent => parse_percent(raw, self.decimal)?,
                    Parser::Date => {
                        let format = self.date_format.as_deref().unwrap_or("%Y-%m-%d");
                        let date = parse_date(raw, format, self.two_digit_year_pivot)?;
                        let part = self.date_part.unwrap_or(DatePart::Year);
                        match date_to_number(date, part, application_date)? {
                            Value::Number(n) => n,
                            other => return Ok(other),
                        }
                    }
                    Parser::Text => return Err("numeric features cannot be read as text".into()),
                };
                Ok(Value::Number(number))
            }
        }
    }
}

/// True for the spec's NA tokens (compared trimmed).
pub fn is_na(raw: &str, na_values: &[String]) -> bool {
    let raw = raw.trim();
    na_values.iter().any(|na| na == raw)
}

/// Reads `"$60,000.00 "`, `"1.234,50"` (decimal `,`), `"(1,200)"` (negative), `"EUR 12"`.
/// Thousands separators, currency symbols and codes, and spaces are ignored; anything else fails.
pub fn parse_number(raw: &str, decimal: char) -> Result<f64, String> {
    let not_a_number = || format!("{raw:?} is not a number");
    let thousands = if decimal == ',' { '.' } else { ',' };
    let mut s = raw.trim();
    // Plain numbers are the common case: no copy needed.
    if decimal == '.'
        && !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return s.parse::<f64>().map_err(|_| not_a_number());
    }
    let mut negative = false;
    if let Some(inner) = s.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        negative = true;
        s = inner;
    }
    // Cleaned digits go to a stack buffer: loan-file numbers are short.
    let mut buf = [0u8; 64];
    let mut len = 0;
    for c in s.chars() {
        let byte = match c {
            '0'..='9' | '-' | '+' => c as u8,
            c if c == decimal => b'.',
            c if c == thousands || c == ' ' || c == '\u{a0}' || c == '\'' || c == '_' => continue,
            '$' | '€' | '£' | '¥' | '₹' => continue,
            c if c.is_ascii_uppercase() => continue, // currency codes: USD, EUR, GBP...
            _ => return Err(not_a_number()),
        };
        if len == buf.len() {
            return Err(not_a_number());
        }
        buf[len] = byte;
        len += 1;
    }
    let clean = std::str::from_utf8(&buf[..len]).map_err(|_| not_a_number())?;
    if clean.is_empty() {
        return Err(not_a_number());
    }
    let value: f64 = clean.parse().map_err(|_| not_a_number())?;
    if !value.is_finite() {
        return Err(format!("{raw:?} is not a finite number"));
    }
    Ok(if negative { -value } else { value })
}

/// Reads `"13.5%"` (or a bare `"13.5"`) as 13.5.
pub fn parse_percent(raw: &str, decimal: char) -> Result<f64, String> {
    let s = raw.trim();
    parse_number(s.strip_suffix('%').unwrap_or(s), decimal)
}

/// Reads yes/no in the usual spellings: `Y/N`, `yes/no`, `true/false`, `T/F`, `1/0`.
pub fn parse_bool(raw: &str) -> Result<f64, String> {
    let s = raw.trim();
    let is = |spellings: &[&str]| spellings.iter().any(|w| w.eq_ignore_ascii_case(s));
    if is(&["y", "yes", "true", "t", "1", "1.0"]) {
        Ok(1.0)
    } else if is(&["n", "no", "false", "f", "0", "0.0"]) {
        Ok(0.0)
    } else {
        Err(format!(
            "{raw:?} is not a boolean (Y/N, yes/no, true/false, 1/0)"
        ))
    }
}

/// Parses a date by strftime `format`. Two-digit years (`%y`) below `pivot` are 20xx, the others
/// 19xx. Formats without a day (`%b-%Y`) mean the first of the month; a time part is ignored.
pub fn parse_date(raw: &str, format: &str, pivot: u32) -> Result<NaiveDate, String> {
    let raw = raw.trim();
    // ISO dates are the common case; chrono would re-read the format string for every value.
    if format == "%Y-%m-%d"
        && let Some(date) = iso_date(raw)
    {
        return Ok(date);
    }
    let mismatch =
        |e: chrono::ParseError| format!("{raw:?} does not match the date format {format:?}: {e}");
    let mut fields = Parsed::new();
    with_items(format, |items| {
        chrono::format::parse(&mut fields, raw, items.iter()).map_err(mismatch)
    })?;
    if fields.month().is_none()
        && fields.ordinal().is_none()
        && fields.isoweek().is_none()
        && fields.week_from_sun().is_none()
        && fields.week_from_mon().is_none()
        && fields.timestamp().is_none()
    {
        // A year alone (`%Y`: fiscal years such as 2006) means its first day.
        fields.set_month(1).map_err(mismatch)?;
    }
    if fields.day().is_none()
        && fields.ordinal().is_none()
        && fields.week_from_sun().is_none()
        && fields.week_from_mon().is_none()
        && fields.isoweek().is_none()
        && fields.timestamp().is_none()
    {
        fields.set_day(1).map_err(mismatch)?;
    }
    let date = fields.to_naive_date().map_err(mismatch)?;
    if !format.contains("%y") {
        return Ok(date);
    }
    let yy = date.year().rem_euclid(100) as u32;
    let year = if yy < pivot { 2000 + yy } else { 1900 + yy } as i32;
    date.with_year(year)
        .ok_or_else(|| format!("{raw:?} is not a valid date"))
}

/// Runs `f` on `format`'s parsed strftime items. A column is read with one format, so each thread
/// keeps the last one rather than re-reading the format string for every value.
fn with_items<T>(format: &str, f: impl FnOnce(&[Item<'static>]) -> T) -> T {
    thread_local! {
        static LAST: RefCell<(String, Vec<Item<'static>>)> = const { RefCell::new((String::new(), Vec::new())) };
    }
    LAST.with_borrow_mut(|(cached, items)| {
        if cached != format || items.is_empty() {
            // An invalid format becomes an item that fails every parse, with chrono's message.
            *items = StrftimeItems::new(format)
                .parse_to_owned()
                .unwrap_or_else(|_| vec![Item::Error]);
            format.clone_into(cached);
        }
        f(items)
    })
}

/// `YYYY-MM-DD` exactly, as chrono would read it with `%Y-%m-%d`; None for anything else
/// (chrono then decides, and explains a failure).
fn iso_date(raw: &str) -> Option<NaiveDate> {
    let b = raw.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(digits(0..4)? as i32, digits(5..7)?, digits(8..10)?)
}

fn date_to_number(
    date: NaiveDate,
    part: DatePart,
    application: Option<NaiveDate>,
) -> Result<Value<'static>, String> {
    Ok(match part {
        DatePart::Month => Value::Number(f64::from(date.month())),
        DatePart::Year => Value::Number(f64::from(date.year())),
        DatePart::DaysBeforeApplication => match application {
            Some(app) => Value::Number((app - date).num_days() as f64),
            None => Value::Missing,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain number column.
    fn plain() -> RawFormat {
        RawFormat {
            kind: FeatureKind::Numeric,
            parser: Parser::Number,
            date_format: None,
            date_part: None,
            decimal: '.',
            two_digit_year_pivot: 50,
            valid: None,
            missing_values: Vec::new(),
            map: BTreeMap::new(),
            derive: None,
        }
    }

    #[test]
    fn a_year_alone_is_its_first_day() {
        let d = NaiveDate::from_ymd_opt(2006, 1, 1).unwrap();
        assert_eq!(parse_date("2006", "%Y", 50), Ok(d));
        assert_eq!(parse_date(" 2006 ", "%Y", 50), Ok(d));
        let err = parse_date("1976A", "%Y", 50).unwrap_err();
        assert!(err.contains("1976A") && err.contains("%Y"), "{err}");
        assert_eq!(parse_date("98", "%y", 50).unwrap().year(), 1998);
    }

    #[test]
    fn column_missing_values_and_maps_apply_to_text_and_numbers_alike() {
        let na = ReadOptions::default().na_values;
        let jobs = RawFormat {
            missing_values: vec!["0".into()],
            map: [("999".to_owned(), "1000".to_owned())].into(),
            valid: Some([0.0, 5000.0]),
            ..plain()
        };
        assert_eq!(jobs.read("0", &na, None), Ok(Value::Missing));
        assert_eq!(
            jobs.read(" 0.0 ", &na, None),
            Ok(Value::Missing),
            "matched by number"
        );
        assert_eq!(jobs.read_number(0.0), Ok(Value::Missing), "a JSON 0 too");
        assert_eq!(jobs.read("N/A", &na, None), Ok(Value::Missing));
        assert_eq!(jobs.read("12", &na, None), Ok(Value::Number(12.0)));
        assert_eq!(jobs.read_number(999.0), Ok(Value::Number(1000.0)));
        assert_eq!(jobs.read("999.00", &na, None), Ok(Value::Number(1000.0)));
        assert!(jobs.read("6000", &na, None).is_err());
        let franchise = RawFormat {
            kind: FeatureKind::Categorical,
            parser: Parser::Text,
            map: [("0".to_owned(), "1".to_owned())].into(),
            ..plain()
        };
        assert_eq!(franchise.mapped(" 0 "), Some("1"));
        assert_eq!(franchise.mapped("2"), None);
        assert_eq!(
            franchise.read("0", &na, None),
            Ok(Value::Text("0")),
            "read takes mapped text"
        );
    }

    #[test]
    fn numbers_tolerate_currency_thousands_and_stray_spaces() {
        assert_eq!(parse_number("$60,000.00 ", '.'), Ok(60_000.0));
        assert_eq!(parse_number(" 1,234,567.5", '.'), Ok(1_234_567.5));
        assert_eq!(parse_number("€ 12", '.'), Ok(12.0));
        assert_eq!(parse_number("USD 1,000", '.'), Ok(1000.0));
        assert_eq!(parse_number("-3.25", '.'), Ok(-3.25));
        assert_eq!(parse_number("(1,200.00)", '.'), Ok(-1200.0));
        assert_eq!(
            parse_number("1e3", '.').ok(),
            None,
            "exponents are not loan-file numbers"
        );
    }

    #[test]
    fn numbers_follow_the_decimal_comma_locale() {
        assert_eq!(parse_number("1.234,50", ','), Ok(1234.5));
        assert_eq!(parse_number("€1.234.567,89", ','), Ok(1_234_567.89));
        assert_eq!(parse_number("12,5", ','), Ok(12.5));
        assert_eq!(parse_number("1 234,50", ','), Ok(1234.5));
    }

    #[test]
    fn garbage_is_a_parse_error_never_zero() {
        for bad in ["", "abc", "12 apples", "$", "--", "1.2.3", "inf", "NaN"] {
            assert!(parse_number(bad, '.').is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn percentages_read_with_or_without_the_sign() {
        assert_eq!(parse_percent("13.5%", '.'), Ok(13.5));
        assert_eq!(parse_percent(" 7% ", '.'), Ok(7.0));
        assert_eq!(parse_percent("13,5%", ','), Ok(13.5));
        assert_eq!(parse_percent("0.9", '.'), Ok(0.9));
        assert!(parse_percent("%", '.').is_err());
    }

    #[test]
    fn booleans_read_the_usual_spellings_and_refuse_others() {
        for t in ["Y", "yes", "TRUE", "t", "1"] {
            assert_eq!(parse_bool(t), Ok(1.0), "{t}");
        }
        for f in ["N", "No", "false", "F", "0"] {
            assert_eq!(parse_bool(f), Ok(0.0), "{f}");
        }
        assert!(parse_bool("maybe").is_err());
    }

    #[test]
    fn dates_parse_by_explicit_format() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(parse_date("2021-03-04", "%Y-%m-%d", 50), Ok(d(2021, 3, 4)));
        assert_eq!(parse_date("04/03/2021", "%d/%m/%Y", 50), Ok(d(2021, 3, 4)));
        assert_eq!(parse_date("Dec-2011", "%b-%Y", 50), Ok(d(2011, 12, 1)));
        assert_eq!(
            parse_date("2021-03-04 10:11:12", "%Y-%m-%d %H:%M:%S", 50),
            Ok(d(2021, 3, 4))
        );
        assert!(parse_date("2021-13-01", "%Y-%m-%d", 50).is_err());
        assert!(parse_date("2021-02-29", "%Y-%m-%d", 50).is_err());
        assert_eq!(
            parse_date(" 2024-02-29 ", "%Y-%m-%d", 50),
            Ok(d(2024, 2, 29))
        );
        assert_eq!(parse_date("2021-3-4", "%Y-%m-%d", 50), Ok(d(2021, 3, 4)));
        assert!(parse_date("yesterday", "%Y-%m-%d", 50).is_err());
    }

    #[test]
    fn two_digit_years_follow_the_pivot() {
        let year = |raw, pivot| parse_date(raw, "%b-%y", pivot).unwrap().year();
        assert_eq!(year("Mar-05", 30), 2005);
        assert_eq!(year("Mar-29", 30), 2029);
        assert_eq!(year("Mar-30", 30), 1930);
        assert_eq!(year("Nov-98", 30), 1998);
        assert_eq!(year("Mar-69", 70), 2069);
        assert_eq!(year("Mar-69", 50), 1969);
        assert_eq!(parse_date("01/02/75", "%d/%m/%y", 50).unwrap().year(), 1975);
    }

    #[test]
    fn dates_become_days_before_the_application_month_or_year() {
        let format = |part| RawFormat {
            kind: FeatureKind::Numeric,
            parser: Parser::Date,
            date_format: Some("%b-%y".into()),
            date_part: Some(part),
            decimal: '.',
            two_digit_year_pivot: 30,
            ..plain()
        };
        let app = NaiveDate::from_ymd_opt(2020, 3, 1);
        assert_eq!(
            format(DatePart::DaysBeforeApplication).parse("Mar-19", app),
            Ok(Value::Number(366.0))
        );
        assert_eq!(
            format(DatePart::DaysBeforeApplication).parse("Mar-19", None),
            Ok(Value::Missing)
        );
        assert_eq!(
            format(DatePart::Month).parse("Nov-98", app),
            Ok(Value::Number(11.0))
        );
        assert_eq!(
            format(DatePart::Year).parse("Nov-98", app),
            Ok(Value::Number(1998.0))
        );
    }

    #[test]
    fn na_tokens_are_compared_trimmed() {
        let na = ReadOptions::default().na_values;
        assert!(is_na(" N/A ", &na));
        assert!(is_na("", &na));
        assert!(!is_na("0", &na));
    }

    #[test]
    fn categorical_codes_stay_text_with_leading_zeros() {
        let format = RawFormat {
            kind: FeatureKind::Categorical,
            parser: Parser::Text,
            ..plain()
        };
        assert_eq!(format.parse(" 021 ", None), Ok(Value::Text("021")));
    }

    #[test]
    fn values_outside_the_plausible_range_are_refused_like_unparseable_ones() {
        let age = RawFormat {
            valid: Some([0.0, 120.0]),
            ..plain()
        };
        assert_eq!(age.parse("0", None), Ok(Value::Number(0.0)));
        assert_eq!(age.parse(" 120 ", None), Ok(Value::Number(120.0)));
        assert_eq!(
            age.parse("-4", None),
            Err("-4 is out of range: must be within [0, 120]".into())
        );
        assert!(age.plausible(120.5).unwrap_err().contains("out of range"));
        assert_eq!(age.plausible(37.0), Ok(37.0));
    }
}
