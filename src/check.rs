//! Per-form checks (问题清单): what a department must fix, each with a stable code, the cell,
//! and a Chinese message. Score disagreements come from `score`; this adds the rest.

use rust_decimal::Decimal;

use crate::indicator::{Unit, Value};
use crate::model::{Form, FormKind, Indicator, Issue, FRAMEWORK};
use crate::score::ProjectScore;

/// Every form needs these three.
const LEVEL1_REQUIRED: &[&str] = &["产出指标", "效益指标", "满意度指标"];

fn is_cost(ind: &Indicator) -> bool {
    ind.level1.value == "成本指标" || ind.level2.value.contains("成本")
}

/// All checks of one form; `score` is the form's scoring (self-evaluations).
pub fn check_form(form: &Form, score: Option<&ProjectScore>) -> Vec<Issue> {
    let mut out = Vec::new();
    let is_self = form.kind() == FormKind::SelfEval;
    let project = form.project_name().to_string();

    if project.trim().is_empty() {
        out.push(
            Issue::error("field.missing", "缺少项目名称")
                .at(form.project.as_ref().and_then(|p| p.cell)),
        );
    }
    match &form.unit {
        None => out.push(Issue::warning(
            "field.missing",
            if is_self {
                "缺少实施单位"
            } else {
                "缺少单位编码和名称（如“569301天津市科学技术协会”）"
            },
        )),
        Some(u) if u.value.code.is_none() && !is_self => {
            out.push(Issue::warning("field.unit_code_missing", "单位行缺少6位单位编码").at(u.cell))
        }
        _ => {}
    }

    let budget_total = if is_self {
        form.execution
            .as_ref()
            .and_then(|e| e.total.annual.as_ref())
            .map(|a| a.value)
    } else {
        form.budget.total.as_ref().map(|t| t.value)
    };
    if is_self {
        check_execution(form, score, &mut out);
    } else {
        check_budget(form, &mut out);
    }

    if form.indicators.is_empty() {
        out.push(Issue::error(
            "indicators.none",
            "未找到绩效指标表（一级指标/二级指标/三级指标/指标值）",
        ));
    }
    for required in LEVEL1_REQUIRED {
        if !form.indicators.is_empty()
            && !form.indicators.iter().any(|i| i.level1.value == *required)
        {
            out.push(Issue::warning(
                "indicators.category_missing",
                format!("缺少{required}，绩效指标应包含产出、效益和满意度三类指标"),
            ));
        }
    }
    for ind in &form.indicators {
        check_indicator(ind, is_self, budget_total, &mut out);
    }
    if let Some(s) = score {
        out.extend(s.issues.iter().cloned());
    }
    out.into_iter().map(|i| i.in_source(&form.source)).collect()
}

fn check_budget(form: &Form, out: &mut Vec<Issue>) {
    let b = &form.budget;
    let Some(total) = &b.total else {
        out.push(Issue::error("field.missing", "缺少预算数"));
        return;
    };
    if b.fiscal.is_none() {
        out.push(Issue::warning("field.missing", "缺少“其中：财政资金”").at(total.cell));
    }
    let fiscal = b.fiscal.as_ref().map(|f| f.value).unwrap_or_default();
    let other = b.other.as_ref().map(|o| o.value).unwrap_or_default();
    if fiscal + other != total.value {
        out.push(
            Issue::error(
                "budget.sum_mismatch",
                format!(
                    "财政资金 {} + 其他资金 {} = {}，与预算数 {} 不一致",
                    money(fiscal),
                    money(other),
                    money(fiscal + other),
                    money(total.value)
                ),
            )
            .at(total.cell),
        );
    }
}

fn money(d: Decimal) -> String {
    format!("{:.2}万元", d.round_dp(2))
}

fn check_execution(form: &Form, score: Option<&ProjectScore>, out: &mut Vec<Issue>) {
    let Some(ex) = &form.execution else {
        out.push(Issue::error(
            "field.missing",
            "未找到项目资金表（全年预算数/全年执行数）",
        ));
        return;
    };
    let (Some(annual), Some(executed)) = (&ex.total.annual, &ex.total.executed) else {
        out.push(Issue::error(
            "field.missing",
            "年度资金总额缺少全年预算数或全年执行数",
        ));
        return;
    };
    if executed.value > annual.value {
        out.push(
            Issue::error(
                "budget.executed_over_annual",
                format!(
                    "全年执行数 {} 大于全年预算数 {}（执行率 {}%），请核实",
                    money(executed.value),
                    money(annual.value),
                    score
                        .and_then(|s| s.budget.as_ref())
                        .and_then(|b| b.rate)
                        .map(|r| r.to_string())
                        .unwrap_or_default()
                ),
            )
            .at(executed.cell),
        );
    }
    let parts = [&ex.fiscal, &ex.carryover, &ex.other];
    if parts.iter().any(|p| p.annual.is_some()) {
        let sum: Decimal = parts
            .iter()
            .filter_map(|p| p.annual.as_ref())
            .map(|a| a.value)
            .sum();
        if sum != annual.value {
            out.push(
                Issue::warning(
                    "budget.sum_mismatch",
                    format!(
                        "财政拨款、上年结转和其他资金的全年预算数合计 {}，与年度资金总额 {} 不一致",
                        money(sum),
                        money(annual.value)
                    ),
                )
                .at(annual.cell),
            );
        }
    }
}

fn check_indicator(ind: &Indicator, is_self: bool, budget: Option<Decimal>, out: &mut Vec<Issue>) {
    let name = if ind.level3.value.is_empty() {
        "（未填三级指标）"
    } else {
        ind.level3.value.as_str()
    };
    let known = FRAMEWORK.iter().any(|(l1, _)| *l1 == ind.level1.value);
    if !ind.level1.value.is_empty() && !known {
        out.push(
            Issue::warning(
                "indicator.level1_unknown",
                format!(
                    "一级指标「{}」不在指标体系内（产出指标、效益指标、满意度指标、成本指标）",
                    ind.level1.value
                ),
            )
            .at(ind.level1.cell),
        );
    }
    if ind.level3.value.is_empty() {
        out.push(Issue::warning("field.missing", "缺少三级指标名称").at(ind.target.cell));
    }
    if ind.target.value.is_empty() {
        out.push(
            Issue::error(
                "indicator.target_missing",
                format!("「{name}」未填写指标值"),
            )
            .at(ind.level3.cell),
        );
    }
    if let Value::Unparsed { reason } = &ind.target_parsed.value {
        out.push(
            Issue::warning(
                "indicator.unparsed",
                format!("「{name}」的指标值「{}」无法识别：{reason}；已按原文保留，请按“≥8个”“≥90%”的格式填写", ind.target.value),
            )
            .at(ind.target.cell),
        );
    }
    for note in &ind.target_parsed.notes {
        out.push(
            Issue::warning(note.code, format!("「{name}」{}", note.message)).at(ind.target.cell),
        );
    }
    if let Some(q) = ind.target_parsed.quantity() {
        let rate_like = ["率", "比例", "满意度"].iter().any(|w| name.ends_with(w));
        if rate_like && matches!(q.unit, Unit::Count(_) | Unit::Money) {
            out.push(
                Issue::warning(
                    "indicator.unit_inconsistent",
                    format!(
                        "「{name}」是比率类指标，指标值「{}」的单位应为%",
                        ind.target.value
                    ),
                )
                .at(ind.target.cell),
            );
        }
        if is_cost(ind) && q.unit == Unit::Money {
            if let Some(b) = budget {
                if q.value > b {
                    out.push(
                        Issue::warning(
                            "indicator.cost_over_budget",
                            format!(
                                "成本指标「{name}」的指标值 {} 超过项目预算 {}",
                                money(q.value),
                                money(b)
                            ),
                        )
                        .at(ind.target.cell),
                    );
                }
            }
        }
    }
    if is_self {
        match &ind.actual {
            None => out.push(
                Issue::error(
                    "indicator.actual_missing",
                    format!("「{name}」未填写实际完成值"),
                )
                .at(ind.target.cell),
            ),
            Some(a) => {
                if let Some(Value::Unparsed { reason }) =
                    ind.actual_parsed.as_ref().map(|p| &p.value)
                {
                    out.push(
                        Issue::warning(
                            "indicator.actual_unparsed",
                            format!("「{name}」的实际完成值「{}」无法识别：{reason}", a.value),
                        )
                        .at(a.cell),
                    );
                }
            }
        }
        if ind.weight.is_none() {
            out.push(
                Issue::error("indicator.weight_missing", format!("「{name}」未填写分值"))
                    .at(ind.target.cell),
            );
        }
    }
}
