//! Scoring rules: national defaults compiled in, overridable by a TOML file (`--rules`).

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};

use crate::indicator::Attainment;

/// The default rules, the same file as `templates/rules.toml`.
pub const DEFAULT_RULES_TOML: &str = include_str!("../templates/rules.toml");

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// 一级指标 name → 分值; the key `budget` is 预算执行率.
    #[serde(deserialize_with = "decimal_map")]
    pub weights: BTreeMap<String, Decimal>,
    pub budget: BudgetRules,
    pub qualitative: Bands,
    pub grades: Grades,
    pub over_achievement: OverAchievement,
    pub tolerance: Tolerance,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetRules {
    pub cap_at_weight: bool,
}

/// Percent of 分值, inclusive, per stated attainment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bands {
    #[serde(deserialize_with = "decimal_pair")]
    pub met: (Decimal, Decimal),
    #[serde(deserialize_with = "decimal_pair")]
    pub partial: (Decimal, Decimal),
    #[serde(deserialize_with = "decimal_pair")]
    pub unmet: (Decimal, Decimal),
}

impl Bands {
    pub fn of(&self, a: Attainment) -> (Decimal, Decimal) {
        match a {
            Attainment::Met => self.met,
            Attainment::Partial => self.partial,
            Attainment::Unmet => self.unmet,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grades {
    #[serde(deserialize_with = "decimal")]
    pub excellent: Decimal,
    #[serde(deserialize_with = "decimal")]
    pub good: Decimal,
    #[serde(deserialize_with = "decimal")]
    pub pass: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverAchievement {
    /// Percent of the target.
    #[serde(deserialize_with = "decimal")]
    pub threshold: Decimal,
    pub deduct: bool,
    /// Percent of 分值 taken off when `deduct`.
    #[serde(deserialize_with = "decimal")]
    pub deduct_share: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    #[serde(deserialize_with = "decimal")]
    pub score: Decimal,
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("无法读取评分规则文件 {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("评分规则文件 {path} 格式错误: {message}")]
    Parse { path: String, message: String },
}

impl Rules {
    /// The compiled-in national defaults.
    pub fn national() -> Rules {
        // The embedded file is tested to parse; fall back to nothing would hide a build error.
        Self::from_toml(DEFAULT_RULES_TOML, "templates/rules.toml")
            .unwrap_or_else(|e| panic!("embedded rules.toml is invalid: {e}"))
    }

    pub fn from_toml(text: &str, path: &str) -> Result<Rules, RulesError> {
        toml::from_str(text).map_err(|e| RulesError::Parse {
            path: path.to_string(),
            message: e.to_string(),
        })
    }

    pub fn load(path: &Path) -> Result<Rules, RulesError> {
        let text = std::fs::read_to_string(path).map_err(|source| RulesError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    pub fn budget_weight(&self) -> Decimal {
        self.weights.get("budget").copied().unwrap_or(Decimal::TEN)
    }

    /// The default 分值 of a 一级指标, if the rules name it.
    pub fn level1_weight(&self, level1: &str) -> Option<Decimal> {
        self.weights.get(level1).copied()
    }
}

/// A TOML number or string, read exactly: floats go through their shortest decimal text
/// (0.01 stays 0.01), never through binary arithmetic.
#[derive(Deserialize)]
#[serde(untagged)]
enum Num {
    Int(i64),
    Float(f64),
    Str(String),
}

impl Num {
    fn to_decimal<E: serde::de::Error>(&self) -> Result<Decimal, E> {
        let text = match self {
            Num::Int(i) => return Ok(Decimal::from(*i)),
            Num::Float(f) => f.to_string(),
            Num::Str(s) => s.clone(),
        };
        Decimal::from_str(text.trim()).map_err(|_| E::custom(format!("「{text}」不是数值")))
    }
}

fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    Num::deserialize(d)?.to_decimal()
}

fn decimal_pair<'de, D: Deserializer<'de>>(d: D) -> Result<(Decimal, Decimal), D::Error> {
    let [lo, hi] = <[Num; 2]>::deserialize(d)?;
    Ok((lo.to_decimal()?, hi.to_decimal()?))
}

fn decimal_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Decimal>, D::Error> {
    BTreeMap::<String, Num>::deserialize(d)?
        .into_iter()
        .map(|(k, v)| Ok((k, v.to_decimal()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn embedded_defaults_are_the_national_rules() {
        let r = Rules::national();
        assert_eq!(r.budget_weight(), dec!(10));
        assert_eq!(r.level1_weight("产出指标"), Some(dec!(50)));
        assert_eq!(r.level1_weight("效益指标"), Some(dec!(30)));
        assert_eq!(r.level1_weight("满意度指标"), Some(dec!(10)));
        assert_eq!(r.qualitative.partial, (dec!(60), dec!(80)));
        assert_eq!(r.over_achievement.threshold, dec!(130));
        assert_eq!(r.tolerance.score, dec!(0.01));
        assert_eq!(r.grades.excellent, dec!(90));
    }

    #[test]
    fn floats_are_read_exactly_and_errors_are_chinese() {
        let text = DEFAULT_RULES_TOML.replace("score = 0.01", "score = 0.1");
        assert_eq!(
            Rules::from_toml(&text, "x").unwrap().tolerance.score,
            dec!(0.1)
        );
        let bad = DEFAULT_RULES_TOML.replace("threshold = 130", "threshold = \"abc\"");
        let err = Rules::from_toml(&bad, "x.toml").unwrap_err().to_string();
        assert!(err.contains("格式错误"), "{err}");
    }
}
