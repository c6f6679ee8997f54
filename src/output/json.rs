//! The machine-readable shapes of DESIGN.md. Names are stable: scripts outside read them.

use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::model::{Form, FormKind, Issue, Sourced};
use crate::process::{FileResult, Processed};
use crate::score::round2;

/// A decimal string with 2 decimals ("185.00"), or null.
pub fn dec2(d: Option<Decimal>) -> Value {
    match d {
        Some(d) => Value::String(format!("{:.2}", round2(d))),
        None => Value::Null,
    }
}

fn val(v: &Option<Sourced<Decimal>>) -> Option<Decimal> {
    v.as_ref().map(|s| s.value)
}

pub fn issue_json(i: &Issue) -> Value {
    json!({
        "severity": i.severity.as_str(),
        "code": i.code,
        "sheet": i.sheet,
        "cell": i.cell.map(|c| c.a1()),
        "message": i.message,
    })
}

fn budget_json(form: &Form) -> Value {
    let (total, fiscal, other) = match (form.kind(), &form.execution) {
        (FormKind::SelfEval, Some(ex)) => (
            val(&ex.total.annual),
            val(&ex.fiscal.annual),
            val(&ex.other.annual),
        ),
        (FormKind::SelfEval, None) => (None, None, None),
        (FormKind::Target, _) => (
            val(&form.budget.total),
            val(&form.budget.fiscal),
            val(&form.budget.other),
        ),
    };
    // A blank 其他资金 next to a stated 预算数 is zero.
    let other = other.or(total.map(|_| Decimal::ZERO));
    json!({"total": dec2(total), "fiscal": dec2(fiscal), "other": dec2(other)})
}

pub fn form_json(p: &Processed) -> Value {
    let f = &p.form;
    let unit = f.unit.as_ref().map(|u| &u.value);
    let execution = match (
        &f.execution,
        p.score.as_ref().and_then(|s| s.budget.as_ref()),
    ) {
        (Some(ex), b) => json!({
            "annual_budget": dec2(val(&ex.total.annual)),
            "executed": dec2(val(&ex.total.executed)),
            "rate": dec2(b.and_then(|b| b.rate)),
            "score": dec2(b.map(|b| b.score)),
        }),
        (None, _) => Value::Null,
    };
    let indicators: Vec<Value> = f
        .indicators
        .iter()
        .map(|i| {
            json!({
                "level1": i.level1.value,
                "level2": i.level2.value,
                "level3": i.level3.value,
                "target": i.target.value,
                "actual": i.actual.as_ref().map(|a| a.value.clone()),
                "weight": dec2(val(&i.weight)),
                "score_reported": dec2(val(&i.score_reported)),
                "score": dec2(i.score),
            })
        })
        .collect();
    json!({
        "kind": f.kind().as_str(),
        "sheet": f.source.sheet,
        "unit_code": unit.and_then(|u| u.code.clone()),
        "unit_name": unit.map(|u| u.name.clone()),
        "project": f.project.as_ref().map(|p| p.value.clone()),
        "year": f.year.as_ref().map(|y| y.value),
        "budget": budget_json(f),
        "execution": execution,
        "indicators": indicators,
        "score_total": dec2(p.score.as_ref().map(|s| s.total)),
        "grade": p.score.as_ref().map(|s| s.grade.label()),
    })
}

/// `jixiao inspect FILE --json`.
pub fn inspect_json(r: &FileResult) -> Value {
    json!({
        "file": r.path.display().to_string(),
        "forms": r.forms.iter().map(form_json).collect::<Vec<_>>(),
        "issues": r.all_issues().map(issue_json).collect::<Vec<_>>(),
    })
}

/// `OUT/summary.json`.
pub fn summary_json(agg: &crate::aggregate::Aggregate) -> Value {
    let units: Vec<Value> = agg
        .units
        .iter()
        .map(|u| {
            json!({
                "code": u.code,
                "name": u.name,
                "projects": u.projects,
                "budget_total": dec2(Some(u.budget_total)),
                "fiscal_total": dec2(Some(u.fiscal_total)),
                "other_total": dec2(Some(u.other_total)),
                "annual_budget_total": dec2(Some(u.annual_budget_total)),
                "executed_total": dec2(Some(u.executed_total)),
                "execution_rate": dec2(u.execution_rate()),
                "indicators": u.indicators,
                "indicators_met": u.indicators_met,
                "score_mean": dec2(u.score_mean()),
                "grades": {"优": u.grades[0], "良": u.grades[1], "中": u.grades[2], "差": u.grades[3]},
            })
        })
        .collect();
    json!({
        "files": {"read": agg.files.read, "rejected": agg.files.rejected, "skipped": agg.files.skipped},
        "units": units,
        "issues": {"error": agg.total.issues[0], "warning": agg.total.issues[1], "info": agg.total.issues[2]},
    })
}
