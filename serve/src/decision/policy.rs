//! The decision policy: a versioned TOML file with score cutoffs (approve / review / decline),
//! hard rules on application fields that decide on their own with their own reason code, and
//! optional segments with their own cutoffs. Rules and segments read the fields as parsed for
//! the model (`"$17"` is 17), and are checked against the served model's schema whenever either
//! changes, so a rule never silently reads a field the model does not take. The file's version
//! and sha256 go with every decision.

use std::path::Path;

use riskloop_ingest::pipeline::Input;
use serde::Deserialize;

use super::schema::{FieldKind, InputSchema};
use crate::store::DecisionKind;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid policy {path}: {reason}")]
    Invalid { path: String, reason: String },
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub version: String,
    pub cutoffs: Cutoffs,
    #[serde(default)]
    pub rules: Vec<Rule>,
    #[serde(default)]
    pub segments: Vec<Segment>,
    /// A small share of would-be declines sent to review instead, so that outcomes arrive
    /// for applications the model would never let through (the data a retrain needs to see
    /// past its own cutoff).
    #[serde(default)]
    pub exploration: Option<Exploration>,
    #[serde(skip)]
    pub sha256: String,
    /// The text it was read from, as stored with the decisions it makes.
    #[serde(skip)]
    pub text: String,
}

/// Scores at or above `approve_min_score` approve; below `decline_below_score` decline; between,
/// review. An optional PD ceiling declines on probability alone.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Cutoffs {
    pub approve_min_score: i32,
    pub decline_below_score: i32,
    #[serde(default)]
    pub decline_above_pd: Option<f64>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub field: String,
    /// `<`, `<=`, `>`, `>=`, `==`, `!=`, `in`, `missing`.
    pub op: String,
    #[serde(default)]
    pub value: Option<toml::Value>,
    /// What a missing field (absent, `null`, an NA token) means for this condition: `skip`
    /// (the default: it does not hold) or `apply` (it holds). `op = "missing"` holds exactly
    /// when the field is missing.
    #[serde(default)]
    pub if_missing: IfMissing,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IfMissing {
    #[default]
    Skip,
    Apply,
}

/// A field's parsed value by name, as the decision core hands it to the policy
/// ([`super::Fields`]).
pub trait FieldValues {
    fn value(&self, field: &str) -> Option<&Input<'_>>;
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The rule's reason code, stored with the decision.
    pub code: String,
    pub description: String,
    pub decision: DecisionKind,
    #[serde(flatten)]
    pub when: Condition,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    pub name: String,
    pub cutoffs: Cutoffs,
    #[serde(flatten)]
    pub when: Condition,
}

/// `[exploration]`: `rate` of the declines by score (never by a hard rule), among those with a
/// probability of default up to `max_pd`, go to review, flagged with the reason code
/// `EXPLORATION`. Which ones is drawn from the decision id, so a replay draws the same.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Exploration {
    pub rate: f64,
    #[serde(default = "all_pd")]
    pub max_pd: f64,
}

fn all_pd() -> f64 {
    1.0
}

/// The reason code of an explored decision.
pub const EXPLORATION_CODE: &str = "EXPLORATION";

/// What the policy decided and, for a hard rule, which one.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub decision: DecisionKind,
    pub rule: Option<(String, String)>,
    pub segment: Option<String>,
}

pub const DEFAULT_POLICY: &str = r#"# riskloop decision policy. Edit and save: the server reloads it within seconds.
version = "default-1"

[cutoffs]
# Scores use 600 points at 50:1 good:bad odds and 20 points to double the odds.
approve_min_score = 560
decline_below_score = 520
"#;

impl Policy {
    pub fn parse(text: &str, path: &str) -> Result<Self, PolicyError> {
        let invalid = |reason: String| PolicyError::Invalid {
            path: path.to_owned(),
            reason,
        };
        let mut policy: Self = toml::from_str(text).map_err(|e| invalid(e.message().to_owned()))?;
        let check = |c: &Cutoffs, at: &str| {
            if c.decline_below_score > c.approve_min_score {
                return Err(invalid(format!(
                    "{at}: decline_below_score is above approve_min_score"
                )));
            }
            if c.decline_above_pd
                .is_some_and(|p| !(0.0..=1.0).contains(&p))
            {
                return Err(invalid(format!(
                    "{at}: decline_above_pd must be within [0, 1]"
                )));
            }
            Ok(())
        };
        check(&policy.cutoffs, "cutoffs")?;
        for s in &policy.segments {
            check(&s.cutoffs, &format!("segment `{}`", s.name))?;
            s.when
                .validate()
                .map_err(|r| invalid(format!("segment `{}`: {r}", s.name)))?;
        }
        for r in &policy.rules {
            r.when
                .validate()
                .map_err(|e| invalid(format!("rule `{}`: {e}", r.code)))?;
        }
        if let Some(e) = &policy.exploration
            && !((0.0..=0.2).contains(&e.rate) && (0.0..=1.0).contains(&e.max_pd))
        {
            return Err(invalid(
                "exploration: rate must be within [0, 0.2] and max_pd within [0, 1]".into(),
            ));
        }
        policy.sha256 = crate::digest::sha256_hex(text.as_bytes());
        policy.text = text.to_owned();
        Ok(policy)
    }

    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Whether every rule and segment reads a field `schema` has, with an operator and value
    /// of the field's type: checked when the policy or the served model changes, so that a
    /// rule can never silently see nothing. The error names the rule and the field.
    pub fn check_against(&self, schema: &InputSchema) -> Result<(), String> {
        let conditions = self
            .rules
            .iter()
            .map(|r| (format!("rule `{}`", r.code), &r.when))
            .chain(
                self.segments
                    .iter()
                    .map(|s| (format!("segment `{}`", s.name), &s.when)),
            );
        for (at, when) in conditions {
            when.check_against(schema).map_err(|reason| {
                format!("policy {} ({}): {at}: {reason}", self.version, self.sha256)
            })?;
        }
        Ok(())
    }

    /// Hard rules first (in file order), then the first matching segment's cutoffs, else the
    /// default; then exploration, for a decline by score whose `draw` (uniform in [0, 1),
    /// fixed by the decision) falls under the rate.
    pub fn decide(&self, values: &impl FieldValues, score: i32, pd: f64, draw: f64) -> Verdict {
        let verdict = self.decide_by_rules(values, score, pd);
        match self.exploration {
            Some(e)
                if verdict.decision == DecisionKind::Decline
                    && verdict.rule.is_none()
                    && draw < e.rate
                    && pd <= e.max_pd =>
            {
                Verdict {
                    decision: DecisionKind::Review,
                    rule: Some((
                        EXPLORATION_CODE.to_owned(),
                        "Would have been declined; sent to review at random so that the \
                         model can learn from its outcome"
                            .to_owned(),
                    )),
                    segment: verdict.segment,
                }
            }
            _ => verdict,
        }
    }

    fn decide_by_rules(&self, values: &impl FieldValues, score: i32, pd: f64) -> Verdict {
        if let Some(rule) = self.rules.iter().find(|r| r.when.matches(values)) {
            return Verdict {
                decision: rule.decision,
                rule: Some((rule.code.clone(), rule.description.clone())),
                segment: None,
            };
        }
        let segment = self.segments.iter().find(|s| s.when.matches(values));
        let cutoffs = segment.map_or(&self.cutoffs, |s| &s.cutoffs);
        let decision = if cutoffs.decline_above_pd.is_some_and(|max| pd > max)
            || score < cutoffs.decline_below_score
        {
            DecisionKind::Decline
        } else if score >= cutoffs.approve_min_score {
            DecisionKind::Approve
        } else {
            DecisionKind::Review
        };
        Verdict {
            decision,
            rule: None,
            segment: segment.map(|s| s.name.clone()),
        }
    }
}

impl Condition {
    fn validate(&self) -> Result<(), String> {
        match (self.op.as_str(), &self.value) {
            ("missing", _) => Ok(()),
            ("<" | "<=" | ">" | ">=", Some(v)) if as_number(v).is_some() => Ok(()),
            ("==" | "!=", Some(_)) => Ok(()),
            ("in", Some(toml::Value::Array(_))) => Ok(()),
            (op, _) => Err(format!(
                "operator `{op}` on field `{}` needs a suitable `value`",
                self.field
            )),
        }
    }

    fn check_against(&self, schema: &InputSchema) -> Result<(), String> {
        let field = schema
            .field(&self.field)
            .filter(|_| schema.position(&self.field).is_some());
        let Some(field) = field else {
            let known: Vec<&str> = schema
                .fields
                .iter()
                .filter(|f| schema.position(&f.name).is_some())
                .map(|f| f.name.as_str())
                .collect();
            return Err(format!(
                "field `{}` is not one the served model reads (it reads: {})",
                self.field,
                known.join(", ")
            ));
        };
        let kind_of = |v: &toml::Value| match v {
            toml::Value::String(_) => Some(FieldKind::String),
            toml::Value::Boolean(_) => Some(FieldKind::Boolean),
            toml::Value::Integer(_) | toml::Value::Float(_) => Some(FieldKind::Number),
            _ => None,
        };
        let fits = |v: &toml::Value| match (kind_of(v), field.kind) {
            (Some(FieldKind::String), FieldKind::String) => true,
            (Some(FieldKind::Boolean), FieldKind::Boolean) => true,
            // A code written as an integer (a ZIP, a region) compares with the text's digits.
            (Some(FieldKind::Number), FieldKind::String) => v.is_integer(),
            (Some(FieldKind::Number), kind) => kind.is_numeric(),
            _ => false,
        };
        let values: Vec<&toml::Value> = match (&self.value, self.op.as_str()) {
            (_, "missing") => return Ok(()),
            (Some(toml::Value::Array(items)), "in") => items.iter().collect(),
            (Some(v), _) => vec![v],
            (None, _) => Vec::new(),
        };
        let numeric_op = matches!(self.op.as_str(), "<" | "<=" | ">" | ">=");
        if numeric_op && !field.kind.is_numeric() {
            return Err(format!(
                "`{}` compares with `{}`, but field `{}` is a {}",
                self.field, self.op, self.field, field.kind
            ));
        }
        if let Some(v) = values.iter().find(|v| !fits(v)) {
            return Err(format!(
                "field `{}` is a {}, compared with {v}",
                self.field, field.kind
            ));
        }
        Ok(())
    }

    fn matches(&self, values: &impl FieldValues) -> bool {
        let given = values.value(&self.field).filter(|v| **v != Input::Missing);
        let Some(given) = given else {
            return self.op == "missing" || self.if_missing == IfMissing::Apply;
        };
        let Some(expected) = &self.value else {
            return false;
        };
        let equal = |e: &toml::Value| match (e, given) {
            (toml::Value::String(a), Input::Text(b)) => a == b.as_ref(),
            (toml::Value::Boolean(a), Input::Number(b)) => f64::from(u8::from(*a)) == *b,
            // A code sent as a JSON integer is read as its digits.
            (toml::Value::Integer(a), Input::Text(b)) => b.as_ref() == a.to_string(),
            (e, Input::Number(b)) => as_number(e).is_some_and(|a| a == *b),
            _ => false,
        };
        match self.op.as_str() {
            "==" => equal(expected),
            "!=" => !equal(expected),
            "in" => matches!(expected, toml::Value::Array(items) if items.iter().any(equal)),
            op => match (given, as_number(expected)) {
                (Input::Number(g), Some(e)) => match op {
                    "<" => *g < e,
                    "<=" => *g <= e,
                    ">" => *g > e,
                    ">=" => *g >= e,
                    _ => false,
                },
                _ => false,
            },
        }
    }
}

fn as_number(v: &toml::Value) -> Option<f64> {
    match v {
        toml::Value::Integer(i) => Some(*i as f64),
        toml::Value::Float(f) => Some(*f),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::borrow::Cow;
    use std::collections::HashMap;

    use super::*;

    const POLICY: &str = r#"
version = "p-7"
[cutoffs]
approve_min_score = 600
decline_below_score = 550
[[rules]]
code = "UNDERAGE"
description = "Applicant under 18"
decision = "decline"
field = "age"
op = "<"
value = 18
[[rules]]
code = "NO_INCOME"
description = "Income unknown"
decision = "review"
field = "income"
op = "<"
value = 0
if_missing = "apply"
[[segments]]
name = "large"
field = "amount"
op = ">="
value = 10000
[segments.cutoffs]
approve_min_score = 650
decline_below_score = 600
"#;

    /// Parsed values by name, as the decision core would hand them over.
    pub(crate) struct Values(HashMap<&'static str, Input<'static>>);

    impl FieldValues for Values {
        fn value(&self, field: &str) -> Option<&Input<'_>> {
            self.0.get(field)
        }
    }

    pub(crate) fn values(fields: &[(&'static str, Input<'static>)]) -> Values {
        let mut all: HashMap<_, _> = fields.iter().cloned().collect();
        all.entry("income").or_insert(Input::Number(1000.0));
        Values(all)
    }

    #[test]
    fn rules_then_segments_then_default_cutoffs_decide() {
        use Input::Number as N;
        let p = Policy::parse(POLICY, "t").unwrap();
        assert_eq!(p.sha256.len(), 64);
        let v = p.decide(
            &values(&[("age", N(17.0)), ("amount", N(100.0))]),
            800,
            0.01,
            1.0,
        );
        assert_eq!(v.decision, DecisionKind::Decline);
        assert_eq!(v.rule.unwrap().0, "UNDERAGE");
        let decide = |fields: &[(&'static str, Input<'static>)], score| {
            p.decide(&values(fields), score, 0.1, 1.0).decision
        };
        let adult = [("age", N(30.0)), ("amount", N(100.0))];
        assert_eq!(decide(&adult, 620), DecisionKind::Approve);
        assert_eq!(decide(&adult, 580), DecisionKind::Review);
        assert_eq!(decide(&adult, 540), DecisionKind::Decline);
        let large = p.decide(
            &values(&[("age", N(30.0)), ("amount", N(20000.0))]),
            620,
            0.1,
            1.0,
        );
        assert_eq!(
            (large.decision, large.segment.as_deref()),
            (DecisionKind::Review, Some("large"))
        );
        // A missing age does not make an applicant under 18 (`skip`); a missing income is
        // reviewed (`apply`).
        assert_eq!(
            decide(&[("age", Input::Missing), ("amount", N(100.0))], 620),
            DecisionKind::Approve
        );
        let no_income = p.decide(
            &values(&[("age", N(30.0)), ("income", Input::Missing)]),
            620,
            0.1,
            1.0,
        );
        assert_eq!(no_income.rule.unwrap().0, "NO_INCOME");
    }

    #[test]
    fn text_and_codes_compare_as_parsed() {
        let p = Policy::parse(
            r#"version = "t"
[cutoffs]
approve_min_score = 600
decline_below_score = 500
[[rules]]
code = "R"
description = "region"
decision = "decline"
field = "region"
op = "in"
value = ["north", 1234]
"#,
            "t",
        )
        .unwrap();
        let region = |v: Input<'static>| {
            p.decide(&values(&[("region", v)]), 700, 0.1, 1.0)
                .rule
                .is_some()
        };
        assert!(region(Input::Text(Cow::Borrowed("north"))));
        assert!(region(Input::Text(Cow::Borrowed("1234"))));
        assert!(!region(Input::Text(Cow::Borrowed("south"))));
        assert!(!region(Input::Missing));
    }

    #[test]
    fn malformed_policies_name_the_problem() {
        let err = Policy::parse("version = 1\n", "p.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("p.toml"), "{err}");
        let bad = POLICY.replace("decline_below_score = 550", "decline_below_score = 700");
        assert!(
            Policy::parse(&bad, "p")
                .unwrap_err()
                .to_string()
                .contains("decline_below_score")
        );
        let bad = POLICY.replace("op = \"<\"", "op = \"~\"");
        assert!(
            Policy::parse(&bad, "p")
                .unwrap_err()
                .to_string()
                .contains("`~`")
        );
        let bad = POLICY.replace("if_missing = \"apply\"", "if_missing = \"maybe\"");
        assert!(Policy::parse(&bad, "p").is_err());
        assert!(Policy::parse(DEFAULT_POLICY, "default").is_ok());
    }

    #[test]
    fn exploration_sends_a_drawn_share_of_score_declines_to_review_and_never_a_rule_decline() {
        use Input::Number as N;
        let text = format!("{POLICY}\n[exploration]\nrate = 0.1\nmax_pd = 0.5\n");
        let p = Policy::parse(&text, "t").unwrap();
        let adult = values(&[("age", N(30.0)), ("amount", N(100.0))]);
        let explored = p.decide(&adult, 500, 0.3, 0.05);
        assert_eq!(explored.decision, DecisionKind::Review);
        assert_eq!(explored.rule.unwrap().0, EXPLORATION_CODE);
        assert_eq!(
            p.decide(&adult, 500, 0.3, 0.15).decision,
            DecisionKind::Decline
        );
        assert_eq!(
            p.decide(&adult, 500, 0.6, 0.05).decision,
            DecisionKind::Decline,
            "max_pd"
        );
        let minor = values(&[("age", N(17.0)), ("amount", N(100.0))]);
        assert_eq!(p.decide(&minor, 500, 0.3, 0.0).rule.unwrap().0, "UNDERAGE");
        // The draw a decision id gives is uniform: about a tenth of ids fall under 0.1.
        let under = (0..10_000)
            .filter(|i| crate::decision::draw(&format!("id-{i}")) < 0.1)
            .count();
        assert!((850..1150).contains(&under), "{under}");
        let bad = format!("{POLICY}\n[exploration]\nrate = 0.5\n");
        assert!(Policy::parse(&bad, "t").is_err());
    }
}
