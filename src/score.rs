//! The national scoring rules (单位自评), pure functions over parsed values and `Rules`.
//!
//! Rounding, decided and relied on everywhere: 四舍五入 (half away from zero) to 2 decimals.
//! The budget score is computed from the *exact* 执行率 and rounded once
//! (215457.6 / 250000 = 86.18304 % → score 8.618304 → 8.62); the rate itself is shown rounded
//! (86.18 %). Some published forms print 86.19 % from rounding twice; the tolerance of the
//! reported-vs-computed comparison (0.01) accepts that.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use crate::indicator::{Attainment, Date, Op, Parsed, Quantity, Unit, Value};
use crate::model::{CellRef, Form, FormKind, Issue, Sourced};
use crate::rules::Rules;

pub fn round2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

fn hundred() -> Decimal {
    Decimal::ONE_HUNDRED
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
pub enum Grade {
    #[serde(rename = "优")]
    Excellent,
    #[serde(rename = "良")]
    Good,
    #[serde(rename = "中")]
    Pass,
    #[serde(rename = "差")]
    Poor,
}

impl Grade {
    pub fn label(self) -> &'static str {
        match self {
            Grade::Excellent => "优",
            Grade::Good => "良",
            Grade::Pass => "中",
            Grade::Poor => "差",
        }
    }
}

pub fn grade(rules: &Rules, total: Decimal) -> Grade {
    if total >= rules.grades.excellent {
        Grade::Excellent
    } else if total >= rules.grades.good {
        Grade::Good
    } else if total >= rules.grades.pass {
        Grade::Pass
    } else {
        Grade::Poor
    }
}

/// How an indicator was scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Method {
    /// ≥ > =: proportional below the target.
    Positive,
    /// ≤ <: proportional above the target, 0 from twice the target on.
    Reverse,
    /// = 0: full when the actual is ≤ 0.
    EqualZero,
    /// A date: full when done by the deadline.
    Deadline,
    /// Several quantities: the mean of their attainment.
    Compound,
    /// Qualitative: the unit's score, checked against the band of the stated attainment.
    Band(Option<Attainment>),
    /// No actual value.
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct IndicatorOutcome {
    pub score: Decimal,
    /// None when the form does not say enough to tell.
    pub met: Option<bool>,
    pub method: Method,
    /// actual ≥ threshold × target on a positive indicator.
    pub over_achieved: bool,
    /// Below full marks or over-achieved: 偏差原因分析 must be filled.
    pub reason_required: bool,
    /// For banded scores: the band in points, and whether the reported score lay outside it.
    pub band: Option<(Decimal, Decimal)>,
    pub out_of_band: bool,
    /// The actual's unit cannot be compared with the target's (… % against 个).
    pub unit_mismatch: bool,
}

impl IndicatorOutcome {
    fn new(method: Method, score: Decimal, met: Option<bool>) -> Self {
        IndicatorOutcome {
            score,
            met,
            method,
            over_achieved: false,
            reason_required: false,
            band: None,
            out_of_band: false,
            unit_mismatch: false,
        }
    }
}

/// Score one indicator. `weight` is its 分值; `reported` the form's own 得分 (used only where
/// the rules let the unit choose, i.e. within a qualitative band).
pub fn score_indicator(
    rules: &Rules,
    target: &Parsed,
    actual: Option<&Parsed>,
    weight: Decimal,
    reported: Option<Decimal>,
) -> IndicatorOutcome {
    let weight = weight.max(Decimal::ZERO);
    let Some(actual) = actual.filter(|a| !matches!(a.value, Value::Empty)) else {
        let mut o = IndicatorOutcome::new(Method::Missing, Decimal::ZERO, Some(false));
        o.reason_required = weight > Decimal::ZERO;
        return o;
    };
    let mut out = match (&target.value, &actual.value) {
        (Value::Quantity(t), Value::Quantity(a)) => quantity(rules, t, a, weight),
        (Value::Quantity(t), Value::Compound(a)) if a.len() == 1 => {
            quantity(rules, t, &a[0], weight)
        }
        (Value::Compound(ts), Value::Compound(acts)) if ts.len() == acts.len() => {
            compound(rules, ts, acts, weight)
        }
        (Value::Deadline(t), Value::Deadline(a)) => {
            if on_time(a, t) {
                IndicatorOutcome::new(Method::Deadline, weight, Some(true))
            } else {
                banded(rules, Some(Attainment::Unmet), weight, reported)
            }
        }
        (_, Value::Qualitative { attainment }) => banded(rules, *attainment, weight, reported),
        _ => banded(rules, None, weight, reported),
    };
    if rules.over_achievement.deduct && out.over_achieved {
        let cut = round2(weight * rules.over_achievement.deduct_share / hundred());
        out.score = (out.score - cut).max(Decimal::ZERO);
    }
    out.reason_required |= out.score < weight || out.over_achieved;
    out
}

/// Compare units; a unitless actual is read in the target's written unit (`105` against
/// `≥100万人次` means 105万人次).
fn actual_value(t: &Quantity, a: &Quantity) -> (Decimal, bool) {
    match (&t.unit, &a.unit) {
        (_, Unit::None) => (a.number * t.scale(), false),
        (tu, au) if tu == au => (a.value, false),
        (Unit::None, _) => (a.value, false),
        _ => (a.value, true),
    }
}

fn quantity(rules: &Rules, t: &Quantity, a: &Quantity, weight: Decimal) -> IndicatorOutcome {
    let (actual, mismatch) = actual_value(t, a);
    let target = t.value;
    let mut out = if t.op.is_reverse() {
        let score = if actual <= target {
            weight
        } else if target <= Decimal::ZERO || actual >= target * Decimal::TWO {
            Decimal::ZERO
        } else {
            round2((Decimal::ONE - (actual - target) / target) * weight)
        };
        let met = actual <= target;
        IndicatorOutcome::new(Method::Reverse, clamp(score, weight), Some(met))
    } else if t.op == Op::Eq && target.is_zero() {
        let met = actual <= Decimal::ZERO;
        let score = if met { weight } else { Decimal::ZERO };
        IndicatorOutcome::new(Method::EqualZero, score, Some(met))
    } else {
        let met = actual >= target;
        let score = if met || target <= Decimal::ZERO {
            weight
        } else {
            round2(actual / target * weight)
        };
        let mut o = IndicatorOutcome::new(Method::Positive, clamp(score, weight), Some(met));
        o.over_achieved = target > Decimal::ZERO
            && actual * hundred() >= target * rules.over_achievement.threshold;
        o
    };
    out.unit_mismatch = mismatch;
    out
}

/// Several quantities in one cell: each is scored on its own share of 分值; the mean
/// attainment decides the score.
fn compound(
    rules: &Rules,
    ts: &[Quantity],
    acts: &[Quantity],
    weight: Decimal,
) -> IndicatorOutcome {
    let n = Decimal::from(ts.len() as u64);
    let mut total = Decimal::ZERO;
    let mut met = true;
    let mut over = false;
    let mut mismatch = false;
    for (t, a) in ts.iter().zip(acts) {
        let part = quantity(rules, t, a, Decimal::ONE);
        total += part.score;
        met &= part.met == Some(true);
        over |= part.over_achieved;
        mismatch |= part.unit_mismatch;
    }
    let mut o = IndicatorOutcome::new(
        Method::Compound,
        clamp(round2(total / n * weight), weight),
        Some(met),
    );
    o.over_achieved = over;
    o.unit_mismatch = mismatch;
    o
}

fn on_time(actual: &Date, deadline: &Date) -> bool {
    let year = |d: &Date, other: &Date| d.year.or(other.year).unwrap_or(0);
    (year(actual, deadline), actual.month, actual.day)
        <= (year(deadline, actual), deadline.month, deadline.day)
}

/// Qualitative: the unit picks a score within the band of the attainment it states.
/// Without a reported score: full for 达成, the band's floor otherwise.
fn banded(
    rules: &Rules,
    attainment: Option<Attainment>,
    weight: Decimal,
    reported: Option<Decimal>,
) -> IndicatorOutcome {
    let (lo, hi) = match attainment {
        Some(a) => {
            let (lo, hi) = rules.qualitative.of(a);
            (
                round2(weight * lo / hundred()),
                round2(weight * hi / hundred()),
            )
        }
        None => (Decimal::ZERO, weight),
    };
    let tol = rules.tolerance.score;
    let (score, out_of_band) = match reported {
        Some(r) => (r.clamp(lo, hi), r < lo - tol || r > hi + tol),
        None if attainment == Some(Attainment::Met) => (hi, false),
        None => (lo, false),
    };
    let mut o = IndicatorOutcome::new(
        Method::Band(attainment),
        clamp(score, weight),
        attainment.map(|a| a == Attainment::Met),
    );
    o.band = Some((lo, hi));
    o.out_of_band = attainment.is_some() && out_of_band;
    o
}

fn clamp(score: Decimal, weight: Decimal) -> Decimal {
    score.clamp(Decimal::ZERO, weight)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct BudgetOutcome {
    /// 执行率 in percent, rounded for display; None when 全年预算数 is 0 or missing.
    pub rate: Option<Decimal>,
    pub score: Decimal,
    pub weight: Decimal,
    pub over_100: bool,
}

/// 预算执行率 score: 执行率 × 分值, from the exact rate, rounded once, capped at 分值.
pub fn score_budget(
    rules: &Rules,
    annual: Decimal,
    executed: Decimal,
    weight: Decimal,
) -> BudgetOutcome {
    if annual <= Decimal::ZERO {
        return BudgetOutcome {
            rate: None,
            score: Decimal::ZERO,
            weight,
            over_100: false,
        };
    }
    let rate = executed / annual;
    let mut score = round2(rate * weight).max(Decimal::ZERO);
    if rules.budget.cap_at_weight {
        score = score.min(weight);
    }
    BudgetOutcome {
        rate: Some(round2(rate * hundred())),
        score,
        weight,
        over_100: rate > Decimal::ONE,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ProjectScore {
    pub budget: Option<BudgetOutcome>,
    /// One per `Form::indicators`, in order.
    pub indicators: Vec<IndicatorOutcome>,
    pub total: Decimal,
    pub grade: Grade,
    /// Disagreements with the form and what the rules require of it.
    pub issues: Vec<Issue>,
}

fn reported(v: &Option<Sourced<Decimal>>) -> Option<Decimal> {
    v.as_ref().map(|s| s.value)
}

fn cell<T>(v: &Option<Sourced<T>>) -> Option<CellRef> {
    v.as_ref().and_then(|s| s.cell)
}

/// Score a self-evaluation form (target tables have nothing to score: None).
pub fn score_form(rules: &Rules, form: &Form) -> Option<ProjectScore> {
    if form.kind() != FormKind::SelfEval {
        return None;
    }
    let tol = rules.tolerance.score;
    let mut issues = Vec::new();
    let differs = |a: Decimal, b: Decimal| (a - b).abs() > tol;

    let budget = form.execution.as_ref().map(|ex| {
        let row = &ex.total;
        let weight = reported(&row.weight).unwrap_or_else(|| rules.budget_weight());
        let annual = reported(&row.annual).unwrap_or_default();
        let executed = reported(&row.executed).unwrap_or_default();
        let b = score_budget(rules, annual, executed, weight);
        if let (Some(r), Some(rate)) = (reported(&row.rate_reported), b.rate) {
            if differs(r, rate) {
                issues.push(
                    Issue::warning(
                        "score.rate_mismatch",
                        format!("表内执行率 {r}% 与按全年执行数/全年预算数计算的 {rate}% 不一致"),
                    )
                    .at(cell(&row.rate_reported)),
                );
            }
        }
        if let Some(r) = reported(&row.score_reported) {
            if differs(r, b.score) {
                issues.push(
                    Issue::warning(
                        "score.budget_mismatch",
                        format!(
                            "预算执行率得分填报为 {r}，按规则应为 {}（执行率×分值{}，保留两位小数）",
                            b.score, b.weight
                        ),
                    )
                    .at(cell(&row.score_reported)),
                );
            }
        }
        b
    });

    let mut outcomes = Vec::with_capacity(form.indicators.len());
    for ind in &form.indicators {
        let weight = reported(&ind.weight).unwrap_or_default();
        let rep = reported(&ind.score_reported);
        let o = score_indicator(
            rules,
            &ind.target_parsed,
            ind.actual_parsed.as_deref(),
            weight,
            rep,
        );
        let name = &ind.level3.value;
        let at = cell(&ind.score_reported)
            .or(cell(&ind.actual))
            .or(ind.target.cell);
        if o.out_of_band {
            let (lo, hi) = o.band.unwrap_or_default();
            let label = match o.method {
                Method::Band(Some(a)) => a.label_zh(),
                _ => "",
            };
            issues.push(
                Issue::warning(
                    "score.out_of_band",
                    format!(
                        "「{name}」实际完成情况为「{label}」，得分应在分值的 {}–{}%（{lo}–{hi} 分）之间，表内得分 {}",
                        band_pct(rules, o.method).0,
                        band_pct(rules, o.method).1,
                        rep.unwrap_or_default()
                    ),
                )
                .at(at),
            );
        } else if let Some(r) = rep {
            if differs(r, o.score) {
                issues.push(
                    Issue::warning(
                        "score.mismatch",
                        format!("「{name}」得分填报为 {r}，按评分规则应为 {}", o.score),
                    )
                    .at(at),
                );
            }
        }
        if o.unit_mismatch {
            issues.push(
                Issue::warning(
                    "indicator.unit_mismatch",
                    format!(
                        "「{name}」实际完成值「{}」与年度指标值「{}」计量单位不一致",
                        ind.actual.as_ref().map(|a| a.value.as_str()).unwrap_or(""),
                        ind.target.value
                    ),
                )
                .at(cell(&ind.actual)),
            );
        }
        let has_reason = ind
            .reason
            .as_ref()
            .is_some_and(|r| !r.value.trim().is_empty());
        if o.reason_required && !has_reason && o.method != Method::Missing {
            let why = if o.over_achieved {
                format!(
                    "实际完成值达到目标值的{}%以上（超额完成）",
                    rules.over_achievement.threshold
                )
            } else {
                format!("未得满分（{} / {}）", o.score, weight)
            };
            issues.push(
                Issue::warning(
                    "score.reason_missing",
                    format!("「{name}」{why}，须填写偏差原因分析及改进措施"),
                )
                .at(cell(&ind.reason).or(cell(&ind.actual))),
            );
        }
        outcomes.push(o);
    }

    let total = budget.as_ref().map(|b| b.score).unwrap_or_default()
        + outcomes.iter().map(|o| o.score).sum::<Decimal>();
    if let Some(r) = reported(&form.total_reported) {
        if differs(r, total) {
            issues.push(
                Issue::warning(
                    "score.total_mismatch",
                    format!("总分填报为 {r}，按评分规则重新计算为 {total}"),
                )
                .at(cell(&form.total_reported)),
            );
        }
    }
    issues.extend(weight_notes(rules, form, budget.as_ref()));
    let issues = issues
        .into_iter()
        .map(|i| i.in_source(&form.source))
        .collect();
    Some(ProjectScore {
        budget,
        indicators: outcomes,
        total,
        grade: grade(rules, total),
        issues,
    })
}

fn band_pct(rules: &Rules, m: Method) -> (Decimal, Decimal) {
    match m {
        Method::Band(Some(a)) => rules.qualitative.of(a),
        _ => (Decimal::ZERO, hundred()),
    }
}

/// A form whose 分值 differ from the rules is accepted and noted; a total other than 100 is
/// worth a warning.
fn weight_notes(rules: &Rules, form: &Form, budget: Option<&BudgetOutcome>) -> Vec<Issue> {
    let mut sums: Vec<(&str, Decimal)> = Vec::new();
    for ind in &form.indicators {
        let w = reported(&ind.weight).unwrap_or_default();
        match sums.iter_mut().find(|(k, _)| *k == ind.level1.value) {
            Some((_, s)) => *s += w,
            None => sums.push((ind.level1.value.as_str(), w)),
        }
    }
    let mut out = Vec::new();
    for (level1, sum) in &sums {
        if let Some(expected) = rules.level1_weight(level1) {
            if *sum != expected {
                out.push(Issue::info(
                    "score.weights_differ",
                    format!("「{level1}」分值合计 {sum}，与评分规则默认的 {expected} 分不同（已按表内分值计分）"),
                ));
            }
        }
    }
    let total: Decimal = budget.map(|b| b.weight).unwrap_or_default()
        + sums.iter().map(|(_, s)| *s).sum::<Decimal>();
    if !form.indicators.is_empty() && total != hundred() {
        out.push(
            Issue::warning(
                "score.weights_total",
                format!("预算执行率与各项指标分值合计为 {total} 分，应为 100 分"),
            )
            .at(cell(&form.total_weight_reported)),
        );
    }
    out
}

#[cfg(test)]
mod tests;
