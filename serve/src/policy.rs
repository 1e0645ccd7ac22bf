//! The decision policy: a versioned TOML file with score cutoffs (approve / review / decline),
//! hard rules on raw application fields that decide on their own with their own reason code, and
//! optional segments with their own cutoffs. The file's version and sha256 go with every decision.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use riskloop_ingest::application::{Application, Field};
use serde::Deserialize;

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
    #[serde(skip)]
    pub sha256: String,
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
        policy.sha256 = crate::digest::sha256_hex(text.as_bytes());
        Ok(policy)
    }

    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Hard rules first (in file order), then the first matching segment's cutoffs, else the default.
    pub fn decide(&self, application: &Application<'_>, score: i32, pd: f64) -> Verdict {
        if let Some(rule) = self.rules.iter().find(|r| r.when.matches(application)) {
            return Verdict {
                decision: rule.decision,
                rule: Some((rule.code.clone(), rule.description.clone())),
                segment: None,
            };
        }
        let segment = self.segments.iter().find(|s| s.when.matches(application));
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

    fn matches(&self, application: &Application<'_>) -> bool {
        let given = application.get(&self.field).filter(|v| !v.is_null());
        let Some(given) = given else {
            return self.op == "missing";
        };
        let Some(expected) = &self.value else {
            return false;
        };
        let number = |v: &Field| match v {
            Field::Number(n) => n.as_f64(),
            Field::Text(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        let equal = |e: &toml::Value| match (e, given) {
            (toml::Value::String(a), Field::Text(b)) => a == b,
            (toml::Value::Boolean(a), Field::Bool(b)) => a == b,
            (e, g) => as_number(e).zip(number(g)).is_some_and(|(a, b)| a == b),
        };
        match self.op.as_str() {
            "==" => equal(expected),
            "!=" => !equal(expected),
            "in" => matches!(expected, toml::Value::Array(items) if items.iter().any(equal)),
            op => match (number(given), as_number(expected)) {
                (Some(g), Some(e)) => match op {
                    "<" => g < e,
                    "<=" => g <= e,
                    ">" => g > e,
                    ">=" => g >= e,
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

/// The live policy, reloaded when its file changes; a broken edit is logged and the last good
/// policy keeps deciding.
#[derive(Debug)]
pub struct PolicyStore {
    path: PathBuf,
    current: RwLock<(Arc<Policy>, Option<SystemTime>)>,
}

impl PolicyStore {
    pub fn open(path: &Path) -> Result<Self, PolicyError> {
        let policy = Policy::load(path)?;
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        Ok(Self {
            path: path.to_owned(),
            current: RwLock::new((Arc::new(policy), modified)),
        })
    }

    pub fn current(&self) -> Arc<Policy> {
        self.current
            .read()
            .map(|g| g.0.clone())
            .unwrap_or_else(|p| p.into_inner().0.clone())
    }

    /// Reloads if the file changed since the last load. Returns the new version when it did.
    pub fn reload_if_changed(&self) -> Option<String> {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        let known = self.current.read().ok().and_then(|g| g.1);
        if modified.is_none() || modified == known {
            return None;
        }
        match Policy::load(&self.path) {
            Ok(policy) => {
                let version = policy.version.clone();
                if let Ok(mut guard) = self.current.write() {
                    *guard = (Arc::new(policy), modified);
                }
                tracing::info!(version, "policy reloaded");
                Some(version)
            }
            Err(err) => {
                tracing::error!(error = %err, "policy file changed but is invalid; keeping the previous policy");
                if let Ok(mut guard) = self.current.write() {
                    guard.1 = modified;
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
[[segments]]
name = "large"
field = "amount"
op = ">="
value = 10000
[segments.cutoffs]
approve_min_score = 650
decline_below_score = 600
"#;

    fn app(v: &serde_json::Value) -> Application<'_> {
        Application::from(v.as_object().unwrap())
    }

    #[test]
    fn rules_then_segments_then_default_cutoffs_decide() {
        let p = Policy::parse(POLICY, "t").unwrap();
        assert_eq!(p.sha256.len(), 64);
        let v = p.decide(&app(&json!({"age": 17, "amount": 100})), 800, 0.01);
        assert_eq!(v.decision, DecisionKind::Decline);
        assert_eq!(v.rule.unwrap().0, "UNDERAGE");
        assert_eq!(
            p.decide(&app(&json!({"age": 30, "amount": 100})), 620, 0.1)
                .decision,
            DecisionKind::Approve
        );
        assert_eq!(
            p.decide(&app(&json!({"age": "30", "amount": 100})), 580, 0.1)
                .decision,
            DecisionKind::Review
        );
        assert_eq!(
            p.decide(&app(&json!({"age": 30, "amount": 100})), 540, 0.1)
                .decision,
            DecisionKind::Decline
        );
        let large = p.decide(&app(&json!({"age": 30, "amount": 20000})), 620, 0.1);
        assert_eq!(
            (large.decision, large.segment.as_deref()),
            (DecisionKind::Review, Some("large"))
        );
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
        assert!(Policy::parse(DEFAULT_POLICY, "default").is_ok());
    }
}
