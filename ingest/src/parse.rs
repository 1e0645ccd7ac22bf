//! Raw value parsers, shared by the batch ETL and the online path so both read a value the same.
//!
//! A value that does not parse is an error here; the ETL counts it per column as a parse failure
//! (and treats the value as missing), the server refuses the application naming the field.

use std::cell::RefCell;

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::spec::{DatePart, Feature, FeatureKind, Parser, ReadOptions};

/// What one raw value turned into.
#[derive(Clone, Debug, PartialEq)]
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
}

impl RawFormat {
    pub fn of(feature: &Feature, read: &ReadOptions) -> Self {
        Self {
            kind: feature.kind,
            parser: feature.parser(),
            date_format: feature.date_format.clone(),
            date_part: feature.date_part,
            decimal: read.decimal,
            two_digit_year_pivot: read.two_digit_year_pivot,
            valid: feature.valid,
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
                self.plausible(number).map(Value::Number)
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
            valid: None,
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
            date_format: None,
            date_part: None,
            decimal: '.',
            two_digit_year_pivot: 50,
            valid: None,
        };
        assert_eq!(format.parse(" 021 ", None), Ok(Value::Text("021")));
    }

    #[test]
    fn values_outside_the_plausible_range_are_refused_like_unparseable_ones() {
        let age = RawFormat {
            kind: FeatureKind::Numeric,
            parser: Parser::Number,
            date_format: None,
            date_part: None,
            decimal: '.',
            two_digit_year_pivot: 50,
            valid: Some([0.0, 120.0]),
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
