//! The sample submissions under `samples/`, made by code (`jixiao samples --out samples`):
//! the five seed target tables of shared/seed, the same five projects as self-evaluations with
//! invented actuals, layout variants, other formats, and broken files.

use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Workbook, XlsxError};
use serde::Deserialize;

use crate::indicator::{parse_with_name, Value};
use crate::model::{Budget, Execution, Form, FormKind, FundRow, Indicator, Sourced, Unit};
use crate::output::form::{setup_sheet, write_form, Sink, WriteOptions, XlsxSink};
use crate::output::legacy::{encrypted_xlsx_bytes, ods_bytes, xls_bytes, CellSheet, Val};
use crate::rules::Rules;
use crate::score::score_form;

const SEED_JSON: &str = include_str!("../samples/src/seed_targets.json");

#[derive(Deserialize)]
struct SeedTable {
    title: String,
    unit_code: String,
    unit_name: String,
    project: String,
    budget: String,
    fiscal: String,
    other: Option<String>,
    fund_use: String,
    goals: String,
    indicators: Vec<SeedIndicator>,
}

#[derive(Deserialize)]
struct SeedIndicator {
    level1: String,
    level2: String,
    level3: String,
    description: String,
    target: String,
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap_or_default()
}

fn text(s: &str) -> Sourced<String> {
    Sourced::derived(s.to_string())
}

fn num(d: Decimal) -> Option<Sourced<Decimal>> {
    Some(Sourced::derived(d))
}

/// The five target tables of the seed, exactly as published.
pub fn seed_targets() -> Vec<Form> {
    let tables: Vec<SeedTable> = serde_json::from_str(SEED_JSON).unwrap_or_default();
    tables
        .into_iter()
        .map(|t| {
            let year = crate::form::year_of(&t.title);
            Form {
                kind: Some(FormKind::Target),
                title: Some(text(&t.title)),
                unit: Some(Sourced::derived(Unit {
                    code: Some(t.unit_code),
                    name: t.unit_name,
                })),
                project: Some(text(&t.project)),
                year: year.map(Sourced::derived),
                budget: Budget {
                    total: num(dec(&t.budget)),
                    fiscal: num(dec(&t.fiscal)),
                    other: t.other.as_deref().map(dec).and_then(num),
                },
                fund_use: Some(text(&t.fund_use)),
                goals: Some(text(&t.goals)),
                indicators: t
                    .indicators
                    .into_iter()
                    .map(|i| Indicator {
                        target_parsed: parse_with_name(&i.target, Some(&i.level3)),
                        level1: text(&i.level1),
                        level2: text(&i.level2),
                        level3: text(&i.level3),
                        description: Some(text(&i.description)),
                        target: text(&i.target),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }
        })
        .collect()
}

/// What a met target reads like as an actual: the figure without its operator.
fn met_actual(ind: &Indicator) -> String {
    match &ind.target_parsed.value {
        Value::Quantity(q) => format!("{}{}", q.number.normalize(), written_unit(q)),
        Value::Compound(qs) => qs
            .iter()
            .map(|q| {
                format!(
                    "{}{}{}",
                    q.label.as_deref().unwrap_or(""),
                    q.number.normalize(),
                    written_unit(q)
                )
            })
            .collect::<Vec<_>>()
            .join("，"),
        Value::Deadline(d) => format!(
            "{}年{}月完成",
            d.year.unwrap_or(2023),
            d.month.saturating_sub(1).max(1)
        ),
        _ => "达成预期指标".to_string(),
    }
}

fn written_unit(q: &crate::indicator::Quantity) -> &str {
    // 百分之百 reads back as a figure in %.
    if q.unit_written == "百分之" {
        "%"
    } else {
        &q.unit_written
    }
}

/// Split a category's weight over its indicators to the cent, the remainder on the last.
fn spread(total: Decimal, n: usize) -> Vec<Decimal> {
    if n == 0 {
        return Vec::new();
    }
    let each = (total / Decimal::from(n as u64))
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::ToZero);
    let mut v = vec![each; n];
    if let Some(last) = v.last_mut() {
        *last = total - each * Decimal::from(n as u64 - 1);
    }
    v
}

/// (project, 三级指标) → (actual, reason, reported score as a share of 分值 for qualitative).
const OVERRIDES: &[(usize, &str, &str, &str)] = &[
    // An unmet quantitative indicator.
    (
        0,
        "完成项目数量",
        "6个",
        "受疫情影响2个项目延期至下年度实施，已督促承担单位加快进度。",
    ),
    // Over-achievement above 130 %.
    (
        1,
        "组织学术交流活动场数",
        "45场次",
        "学会自主组织活动增多，实际完成超出年初目标，下年度将科学合理设定目标值。",
    ),
    // A qualitative indicator only partly reached.
    (
        1,
        "营造良好学术氛围",
        "部分达成",
        "学术交流覆盖面仍需扩大，下年度增加基层学会参与。",
    ),
    // A reverse indicator over its target.
    (
        3,
        "物业安保服务人员数",
        "90人次",
        "新增展区开放后安保力量需求增加，下年度将优化排班控制人数。",
    ),
];

/// The five projects as self-evaluations for 2023, scored by the rules on the form.
pub fn seed_selfevals(rules: &Rules) -> Vec<Form> {
    let executed = ["180.25", "872.6", "149.8", "777", "530.12"];
    let dept = "天津市科学技术协会";
    seed_targets()
        .into_iter()
        .enumerate()
        .map(|(p, t)| {
            let mut f = Form {
                kind: Some(FormKind::SelfEval),
                title: Some(text("项目支出绩效自评表")),
                year: Some(Sourced::derived(2023)),
                unit: t.unit.clone(),
                department: Some(text(dept)),
                project: t.project.clone(),
                // The 编制外长聘人员 project is filed in 元 with the (A)/(B) labels.
                money_in_yuan: p == 2,
                goals: t.goals.clone(),
                goals_actual: Some(text(
                    "已按计划推进并基本完成年度绩效目标，项目资金使用规范。",
                )),
                ..Default::default()
            };
            let budget = t.budget.total.as_ref().map(|b| b.value).unwrap_or_default();
            let exec = dec(executed[p]);
            f.execution = Some(Execution {
                total: FundRow {
                    initial: num(budget),
                    annual: num(budget),
                    executed: num(exec),
                    weight: num(Decimal::TEN),
                    ..Default::default()
                },
                fiscal: FundRow {
                    initial: num(budget),
                    annual: num(budget),
                    executed: num(exec),
                    ..Default::default()
                },
                ..Default::default()
            });
            let weights = |l1: &str| match l1 {
                "产出指标" => Decimal::from(50),
                "效益指标" => Decimal::from(30),
                _ => Decimal::from(10),
            };
            let mut counts: Vec<(String, usize)> = Vec::new();
            for i in &t.indicators {
                match counts.iter_mut().find(|(k, _)| *k == i.level1.value) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((i.level1.value.clone(), 1)),
                }
            }
            let mut shares: Vec<(String, Vec<Decimal>)> = counts
                .iter()
                .map(|(k, n)| (k.clone(), spread(weights(k), *n)))
                .collect();
            for ind in &t.indicators {
                let mut i = ind.clone();
                i.description = None;
                let share = shares
                    .iter_mut()
                    .find(|(k, _)| *k == i.level1.value)
                    .and_then(|(_, v)| {
                        if v.is_empty() {
                            None
                        } else {
                            Some(v.remove(0))
                        }
                    })
                    .unwrap_or_default();
                i.weight = num(share);
                let over = OVERRIDES
                    .iter()
                    .find(|(proj, l3, _, _)| *proj == p && *l3 == i.level3.value);
                let (actual, reason) = match over {
                    Some((_, _, a, r)) => (a.to_string(), Some(text(r))),
                    None => (met_actual(&i), None),
                };
                i.actual_parsed = Some(Box::new(parse_with_name(&actual, Some(&i.level3.value))));
                i.actual = Some(text(&actual));
                i.reason = reason;
                // Partly reached: the unit gives 70 % of 分值, inside the 60–80 % band.
                if actual == "部分达成" {
                    i.score_reported = num((share * Decimal::new(7, 1)).round_dp(2));
                }
                f.indicators.push(i);
            }
            // The form carries the scores the rules give (what a careful unit writes).
            if let Some(s) = score_form(rules, &f) {
                for (ind, o) in f.indicators.iter_mut().zip(&s.indicators) {
                    ind.score_reported = num(o.score);
                }
                if let (Some(ex), Some(b)) = (f.execution.as_mut(), &s.budget) {
                    ex.total.rate_reported = b.rate.and_then(num);
                    ex.total.score_reported = num(b.score);
                }
                f.total_weight_reported = num(Decimal::ONE_HUNDRED);
                f.total_reported = num(s.total);
            }
            f
        })
        .collect()
}

/// A sheet name Excel accepts: at most 31 characters, none of []:*?/\.
pub fn sheet_name(name: &str, index: usize) -> String {
    let cleaned: String = name
        .chars()
        .filter(|c| !matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\'))
        .take(28)
        .collect();
    if cleaned.is_empty() {
        format!("Sheet{}", index + 1)
    } else {
        cleaned
    }
}

fn options_for(form: &Form) -> WriteOptions {
    WriteOptions {
        ab_labels: form.money_in_yuan,
        spaced_fiscal_label: true,
        ..Default::default()
    }
}

/// A workbook with one form per sheet, or all stacked on one sheet, as xlsx bytes.
/// `shift` puts a note row on top and starts every form one column right.
pub fn xlsx_bytes(forms: &[Form], stacked: bool, shift: bool) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    // A fixed creation time keeps the generated files byte-identical from run to run.
    let props = DocProperties::new()
        .set_author("jixiao samples")
        .set_creation_datetime(&ExcelDateTime::from_ymd(2024, 1, 1)?);
    wb.set_properties(&props);
    if stacked {
        let ws = wb.add_worksheet();
        ws.set_name("全部项目")?;
        setup_sheet(
            ws,
            forms.first().map(|f| f.kind()).unwrap_or(FormKind::Target),
        )?;
        let mut sink = XlsxSink::new(ws, false);
        write_all(&mut sink, forms, stacked, shift)?;
    } else {
        for (i, f) in forms.iter().enumerate() {
            let ws = wb.add_worksheet();
            ws.set_name(sheet_name(f.project_name(), i))?;
            setup_sheet(ws, f.kind())?;
            let mut sink = XlsxSink::new(ws, false);
            write_all(&mut sink, std::slice::from_ref(f), false, shift)?;
        }
    }
    wb.save_to_buffer()
}

fn write_all(
    sink: &mut dyn Sink,
    forms: &[Form],
    stacked: bool,
    shift: bool,
) -> Result<(), XlsxError> {
    let (mut row, col) = if shift {
        sink.text(
            0,
            0,
            "注：本表由预算单位填报，金额保留两位小数。",
            crate::output::form::Style::Plain,
        )?;
        (2, 1)
    } else {
        (0, 0)
    };
    for f in forms {
        row = write_form(sink, f, row, col, &options_for(f))?;
        if stacked {
            row += 3;
        }
    }
    Ok(())
}

/// The same layout as in-memory sheets, for the .xls/.ods writers.
pub fn cell_sheets(forms: &[Form]) -> Result<Vec<CellSheet>, XlsxError> {
    forms
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut s = CellSheet::new(&sheet_name(f.project_name(), i));
            write_form(&mut s, f, 0, 0, &options_for(f))?;
            Ok(s)
        })
        .collect()
}

fn unit_dir(form: &Form) -> String {
    form.unit
        .as_ref()
        .map(|u| format!("{}{}", u.value.code.as_deref().unwrap_or(""), u.value.name))
        .unwrap_or_else(|| "未知单位".to_string())
}

fn write(dir: &Path, rel: &str, bytes: &[u8], out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&path, bytes)?;
    out.push(path);
    Ok(())
}

fn io(e: XlsxError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Write every sample under `dir`; returns the files written.
pub fn generate(dir: &Path, rules: &Rules) -> std::io::Result<Vec<PathBuf>> {
    let targets = seed_targets();
    let selfevals = seed_selfevals(rules);
    let mut out = Vec::new();
    let mut units: Vec<String> = targets.iter().map(unit_dir).collect();
    units.dedup();
    for unit in &units {
        let t: Vec<Form> = targets
            .iter()
            .filter(|f| unit_dir(f) == *unit)
            .cloned()
            .collect();
        let s: Vec<Form> = selfevals
            .iter()
            .filter(|f| unit_dir(f) == *unit)
            .cloned()
            .collect();
        write(
            dir,
            &format!("{unit}/项目支出绩效目标表.xlsx"),
            &xlsx_bytes(&t, false, false).map_err(io)?,
            &mut out,
        )?;
        write(
            dir,
            &format!("{unit}/2023年度项目支出绩效自评表.xlsx"),
            &xlsx_bytes(&s, false, false).map_err(io)?,
            &mut out,
        )?;
    }
    // Variants of the same submissions: stacked on one sheet, shifted under a note row, and
    // the other formats units save.
    write(
        dir,
        "variants/stacked/全部目标表（同一工作表）.xlsx",
        &xlsx_bytes(&targets, true, false).map_err(io)?,
        &mut out,
    )?;
    write(
        dir,
        "variants/shifted/自评表（上方有说明行）.xlsx",
        &xlsx_bytes(&selfevals, true, true).map_err(io)?,
        &mut out,
    )?;
    let t_sheets = cell_sheets(&targets).map_err(io)?;
    let s_sheets = cell_sheets(&selfevals).map_err(io)?;
    write(
        dir,
        "variants/xls/目标表.xls",
        &xls_bytes(&t_sheets, false)?,
        &mut out,
    )?;
    write(
        dir,
        "variants/xls/自评表.xls",
        &xls_bytes(&s_sheets, false)?,
        &mut out,
    )?;
    write(
        dir,
        "variants/ods/目标表.ods",
        &ods_bytes(&t_sheets)?,
        &mut out,
    )?;
    write(
        dir,
        "variants/ods/自评表.ods",
        &ods_bytes(&s_sheets)?,
        &mut out,
    )?;
    // Broken submissions: each must give one clear error and never stop the run.
    let good = xlsx_bytes(&targets[..1], false, false).map_err(io)?;
    write(
        dir,
        "bad/截断的工作簿.xlsx",
        &good[..good.len() / 2],
        &mut out,
    )?;
    write(
        dir,
        "bad/加密的工作簿.xlsx",
        &encrypted_xlsx_bytes()?,
        &mut out,
    )?;
    let mut one = CellSheet::new("Sheet1");
    one.cells.insert((0, 0), Val::Text("项目名称".into()));
    write(
        dir,
        "bad/加密的工作簿.xls",
        &xls_bytes(&[one], true)?,
        &mut out,
    )?;
    write(
        dir,
        "bad/其实是文本文件.xlsx",
        "项目名称,预算数\n科普经费,900\n".as_bytes(),
        &mut out,
    )?;
    Ok(out)
}
