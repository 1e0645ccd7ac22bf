//! Derived features: a small expression over raw columns (`ratio(SBA_Appv, GrAppv)`,
//! `prefix(NAICS, 2)`, `in(FranchiseCode, "0", "1")`, `year(ApprovalDate)`), written in the spec
//! and stored as text in the pipeline. Batch and online read the operands with the same parsers
//! and evaluate them with [`Expression::eval`], so a derived value is the same both ways.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::parse::Value;
use crate::spec::FeatureKind;

/// A parsed expression with the text it was read from (which is what is stored).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Expression {
    text: String,
    function: Function,
    columns: Vec<String>,
}

/// How an expression reads its operands' raw values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    /// Numbers, read like a `parse = "number"` feature.
    Number,
    /// Text as written, trimmed.
    Text,
    /// Dates, read by the feature's `date_format`.
    Date,
}

#[derive(Clone, Debug, PartialEq)]
enum Function {
    Ratio,
    Difference,
    Log,
    Prefix(usize),
    /// 0-based start and length in characters.
    Substring(usize, usize),
    In(Vec<String>),
    Year,
    Month,
    DaysBetween,
}

/// One operand's value, read as [`Expression::operand`] says.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg<'a> {
    Missing,
    Number(f64),
    Text(&'a str),
    Date(NaiveDate),
}

const FUNCTIONS: &str = "ratio(a, b), difference(a, b), log(a), prefix(a, n), substring(a, start, length), \
     in(a, \"v1\", \"v2\", ...), year(a), month(a), days_between(a, b)";

impl Expression {
    pub fn parse(text: &str) -> Result<Self, String> {
        let tokens = tokenize(text)?;
        let (name, args) = match tokens.as_slice() {
            [Token::Word(name), Token::Open, inner @ .., Token::Close] => {
                (name, split_args(inner)?)
            }
            _ => {
                return Err(format!(
                    "{text:?} is not a function call; use one of {FUNCTIONS}"
                ));
            }
        };
        let arity = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(format!(
                    "{name}() takes {n} argument(s), got {}",
                    args.len()
                ))
            }
        };
        let column = |i: usize| match &args[i] {
            Token::Word(c) => Ok(c.clone()),
            other => Err(format!(
                "argument {} of {name}() must be a column name, got {other}",
                i + 1
            )),
        };
        let count = |i: usize| match &args[i] {
            Token::Integer(n) => Ok(*n),
            other => Err(format!(
                "argument {} of {name}() must be a whole number, got {other}",
                i + 1
            )),
        };
        let (function, columns) = match name.as_str() {
            "ratio" | "difference" | "days_between" => {
                arity(2)?;
                let function = match name.as_str() {
                    "ratio" => Function::Ratio,
                    "difference" => Function::Difference,
                    _ => Function::DaysBetween,
                };
                (function, vec![column(0)?, column(1)?])
            }
            "log" | "year" | "month" => {
                arity(1)?;
                let function = match name.as_str() {
                    "log" => Function::Log,
                    "year" => Function::Year,
                    _ => Function::Month,
                };
                (function, vec![column(0)?])
            }
            "prefix" => {
                arity(2)?;
                let n = count(1)?;
                if n == 0 {
                    return Err("prefix() needs a length of at least 1".into());
                }
                (Function::Prefix(n), vec![column(0)?])
            }
            "substring" => {
                arity(3)?;
                let (start, length) = (count(1)?, count(2)?);
                if start == 0 || length == 0 {
                    return Err(
                        "substring(a, start, length) counts from 1 and needs a length of at least 1"
                            .into(),
                    );
                }
                (Function::Substring(start - 1, length), vec![column(0)?])
            }
            "in" => {
                if args.len() < 2 {
                    return Err("in() takes a column and at least one value".into());
                }
                let values = args[1..]
                    .iter()
                    .map(|a| match a {
                        Token::Quoted(v) => Ok(v.clone()),
                        Token::Integer(n) => Ok(n.to_string()),
                        other => Err(format!("in() values must be quoted text, got {other}")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                (Function::In(values), vec![column(0)?])
            }
            other => {
                return Err(format!(
                    "unknown function `{other}`; use one of {FUNCTIONS}"
                ));
            }
        };
        Ok(Self {
            text: text.trim().to_owned(),
            function,
            columns,
        })
    }

    /// The raw columns it reads, in operand order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    pub fn operand(&self) -> Operand {
        match self.function {
            Function::Ratio | Function::Difference | Function::Log => Operand::Number,
            Function::Prefix(_) | Function::Substring(..) | Function::In(_) => Operand::Text,
            Function::Year | Function::Month | Function::DaysBetween => Operand::Date,
        }
    }

    /// The kind of feature its value is.
    pub fn kind(&self) -> FeatureKind {
        match self.function {
            Function::Prefix(_) | Function::Substring(..) => FeatureKind::Categorical,
            Function::In(_) => FeatureKind::Boolean,
            _ => FeatureKind::Numeric,
        }
    }

    /// The value from the operands (one per column). Any operand missing makes it missing, and
    /// so does a value the function has none for (a zero denominator, the log of 0).
    pub fn eval<'a>(&self, args: &[Arg<'a>]) -> Value<'a> {
        use Arg::{Date, Number, Text};
        let number = |v: f64| {
            if v.is_finite() {
                Value::Number(v)
            } else {
                Value::Missing
            }
        };
        match (&self.function, args) {
            (Function::Ratio, [Number(a), Number(b)]) if *b != 0.0 => number(a / b),
            (Function::Difference, [Number(a), Number(b)]) => number(a - b),
            (Function::Log, [Number(a)]) if *a > 0.0 => number(a.ln()),
            (Function::Prefix(n), [Text(t)]) => Value::Text(chars(t, 0, *n)),
            (Function::Substring(start, length), [Text(t)]) => {
                Value::Text(chars(t, *start, *length))
            }
            (Function::In(values), [Text(t)]) => {
                Value::Number(f64::from(u8::from(values.iter().any(|v| v == t))))
            }
            (Function::Year, [Date(d)]) => Value::Number(f64::from(d.year())),
            (Function::Month, [Date(d)]) => Value::Number(f64::from(d.month())),
            (Function::DaysBetween, [Date(a), Date(b)]) => {
                Value::Number((*b - *a).num_days() as f64)
            }
            _ => Value::Missing,
        }
    }
}

/// `length` characters of `text` from character `start` (fewer if it is shorter).
fn chars(text: &str, start: usize, length: usize) -> &str {
    let byte = |n: usize| text.char_indices().nth(n).map_or(text.len(), |(i, _)| i);
    let from = byte(start);
    let to = from
        + text[from..]
            .char_indices()
            .nth(length)
            .map_or(text.len() - from, |(i, _)| i);
    &text[from..to]
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl TryFrom<String> for Expression {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)
    }
}

impl From<Expression> for String {
    fn from(e: Expression) -> String {
        e.text
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    /// A function or column name; a column with spaces or punctuation is written in backticks.
    Word(String),
    Quoted(String),
    Integer(usize),
    Open,
    Close,
    Comma,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Word(w) => write!(f, "`{w}`"),
            Token::Quoted(q) => write!(f, "{q:?}"),
            Token::Integer(n) => write!(f, "{n}"),
            Token::Open => f.write_str("`(`"),
            Token::Close => f.write_str("`)`"),
            Token::Comma => f.write_str("`,`"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | ',' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    _ => Token::Comma,
                });
            }
            '"' | '`' => {
                chars.next();
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some(end) if end == c => break,
                        Some(ch) => value.push(ch),
                        None => return Err(format!("{text:?}: unclosed {c}")),
                    }
                }
                tokens.push(if c == '"' {
                    Token::Quoted(value)
                } else {
                    Token::Word(value)
                });
            }
            c if c.is_ascii_digit() => {
                let mut digits = String::new();
                while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(d);
                    chars.next();
                }
                let n = digits
                    .parse()
                    .map_err(|_| format!("{digits} is too large"))?;
                tokens.push(Token::Integer(n));
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut word = String::new();
                while let Some(&w) = chars
                    .peek()
                    .filter(|w| w.is_alphanumeric() || matches!(w, '_' | '.'))
                {
                    word.push(w);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
            '/' | '-' | '*' | '+' => {
                return Err(format!(
                    "{text:?}: write arithmetic as a function: ratio(a, b) for a / b, \
                     difference(a, b) for a - b"
                ));
            }
            other => {
                return Err(format!(
                    "{text:?}: unexpected {other:?} (write a column name with spaces in backticks)"
                ));
            }
        }
    }
    Ok(tokens)
}

/// The arguments between a call's parentheses: single tokens separated by commas.
fn split_args(inner: &[Token]) -> Result<Vec<Token>, String> {
    let mut args = Vec::new();
    for (i, part) in inner.split(|t| *t == Token::Comma).enumerate() {
        match part {
            [one] if !matches!(one, Token::Open | Token::Close) => args.push(one.clone()),
            [] => return Err(format!("argument {} is empty", i + 1)),
            _ => {
                return Err(format!(
                    "argument {} must be one column name, number or quoted value",
                    i + 1
                ));
            }
        }
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval<'a>(text: &str, args: &[Arg<'a>]) -> Value<'a> {
        Expression::parse(text).unwrap().eval(args)
    }

    #[test]
    fn functions_read_their_columns_and_say_their_kind() {
        let e = Expression::parse(" ratio(SBA_Appv, `Gross Approved`) ").unwrap();
        assert_eq!(e.columns(), ["SBA_Appv", "Gross Approved"]);
        assert_eq!(
            (e.operand(), e.kind()),
            (Operand::Number, FeatureKind::Numeric)
        );
        assert_eq!(e.to_string(), "ratio(SBA_Appv, `Gross Approved`)");
        let e = Expression::parse("prefix(NAICS, 2)").unwrap();
        assert_eq!(
            (e.operand(), e.kind()),
            (Operand::Text, FeatureKind::Categorical)
        );
        let e = Expression::parse("in(FranchiseCode, \"0\", \"1\")").unwrap();
        assert_eq!(
            (e.operand(), e.kind()),
            (Operand::Text, FeatureKind::Boolean)
        );
        let e = Expression::parse("days_between(opened, ApprovalDate)").unwrap();
        assert_eq!(
            (e.operand(), e.kind()),
            (Operand::Date, FeatureKind::Numeric)
        );
    }

    #[test]
    fn values_follow_each_function() {
        use Arg::{Date, Missing, Number, Text};
        assert_eq!(
            eval("ratio(a, b)", &[Number(3.0), Number(4.0)]),
            Value::Number(0.75)
        );
        assert_eq!(
            eval("ratio(a, b)", &[Number(3.0), Number(0.0)]),
            Value::Missing
        );
        assert_eq!(eval("ratio(a, b)", &[Missing, Number(1.0)]), Value::Missing);
        assert_eq!(
            eval("difference(a, b)", &[Number(3.0), Number(4.0)]),
            Value::Number(-1.0)
        );
        assert_eq!(eval("log(a)", &[Number(1.0)]), Value::Number(0.0));
        assert_eq!(eval("log(a)", &[Number(0.0)]), Value::Missing);
        assert_eq!(eval("prefix(a, 2)", &[Text("541110")]), Value::Text("54"));
        assert_eq!(eval("prefix(a, 9)", &[Text("54")]), Value::Text("54"));
        assert_eq!(
            eval("substring(a, 3, 2)", &[Text("541110")]),
            Value::Text("11")
        );
        assert_eq!(
            eval("substring(a, 2, 2)", &[Text("äöü")]),
            Value::Text("öü")
        );
        assert_eq!(
            eval("in(a, \"0\", \"1\")", &[Text("1")]),
            Value::Number(1.0)
        );
        assert_eq!(eval("in(a, 0, 1)", &[Text("7")]), Value::Number(0.0));
        let d = |y, m, day| Date(NaiveDate::from_ymd_opt(y, m, day).unwrap());
        assert_eq!(eval("year(a)", &[d(2006, 3, 1)]), Value::Number(2006.0));
        assert_eq!(eval("month(a)", &[d(2006, 3, 1)]), Value::Number(3.0));
        assert_eq!(
            eval("days_between(a, b)", &[d(2006, 3, 1), d(2006, 3, 31)]),
            Value::Number(30.0)
        );
    }

    #[test]
    fn malformed_expressions_say_what_is_wrong() {
        let err = |t: &str| Expression::parse(t).unwrap_err();
        assert!(err("SBA_Appv / GrAppv").contains("ratio(a, b) for a / b"));
        assert!(err("SBA_Appv").contains("not a function call"));
        assert!(err("ratio(a)").contains("takes 2 argument(s), got 1"));
        assert!(err("sqrt(a)").contains("unknown function `sqrt`"));
        assert!(err("prefix(a, b)").contains("must be a whole number"));
        assert!(err("prefix(\"a\", 2)").contains("must be a column name"));
        assert!(err("in(a)").contains("at least one value"));
        assert!(err("ratio(a, )").contains("argument 2 is empty"));
        assert!(err("prefix(`a, 2)").contains("unclosed"));
        assert!(err("substring(a, 0, 2)").contains("counts from 1"));
    }

    #[test]
    fn expressions_are_stored_as_their_text() {
        let e = Expression::parse("prefix(NAICS, 2)").unwrap();
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(json, "\"prefix(NAICS, 2)\"");
        assert_eq!(serde_json::from_str::<Expression>(&json).unwrap(), e);
        assert!(serde_json::from_str::<Expression>("\"nope(a)\"").is_err());
    }
}
