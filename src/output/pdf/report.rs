//! The content of a project report and of a unit's evaluation pack, laid out with `layout`.

use std::collections::BTreeSet;

use rust_decimal::Decimal;
use serde::Deserialize;

use super::layout::{rgb, Align, Cell, Column, Doc, Fonts, PageBody, TextStyle, MARGIN_X};
use crate::aggregate::{ProjectRow, UnitSummary};
use crate::model::{Form, FormKind, Severity, Sourced};
use crate::score::{round2, Method};

pub const DEFAULT_REPORT_TOML: &str = include_str!("../../../templates/report.toml");

/// The wording a bureau may change without recompiling.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Wording {
    pub office: String,
    pub target_title: String,
    pub selfeval_title: String,
    pub pack_title: String,
    pub pack_subtitle: String,
    pub footer: String,
}

impl Wording {
    pub fn default_wording() -> Wording {
        toml::from_str(DEFAULT_REPORT_TOML)
            .unwrap_or_else(|e| panic!("embedded report.toml is invalid: {e}"))
    }

    pub fn load(path: &std::path::Path) -> Result<Wording, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("无法读取报告模板 {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("报告模板 {} 格式错误: {e}", path.display()))
    }
}

fn money(v: &Option<Sourced<Decimal>>) -> String {
    v.as_ref()
        .map(|s| format!("{:.2}", round2(s.value)))
        .unwrap_or_default()
}

fn dec(v: Option<Decimal>) -> String {
    v.map(|d| format!("{:.2}", round2(d))).unwrap_or_default()
}

fn unit_label(p: &ProjectRow) -> String {
    format!("{}{}", p.unit_code.as_deref().unwrap_or(""), p.unit_name)
}

/// The title of one form's section.
pub fn section_title(form: &Form, w: &Wording) -> String {
    let suffix = match form.kind() {
        FormKind::Target => &w.target_title,
        FormKind::SelfEval => &w.selfeval_title,
    };
    format!("{}{}", form.project_name(), suffix)
}

const RED: (f32, f32, f32) = (0.75, 0.1, 0.1);

/// Lay out one project's forms (self-evaluation first, then the target table) on new pages.
pub fn project_pages(doc: &mut Doc, forms: &[&ProjectRow], w: &Wording) {
    for (n, p) in forms.iter().enumerate() {
        if n > 0 {
            doc.new_page();
        }
        form_section(doc, p, w);
    }
}

fn heading(doc: &mut Doc, text: &str) {
    doc.ensure(60.0);
    doc.space(6.0);
    doc.paragraph(text, &TextStyle::new(12.0).bold(), 0.0);
    doc.space(2.0);
}

fn form_section(doc: &mut Doc, p: &ProjectRow, w: &Wording) {
    let f = p.form();
    doc.centered(&section_title(f, w), &TextStyle::new(18.0).bold());
    let mut meta = format!("单位：{}", unit_label(p));
    if let Some(d) = &p.department {
        meta.push_str(&format!("　主管部门：{d}"));
    }
    if let Some(y) = &f.year {
        meta.push_str(&format!("　年度：{}", y.value));
    }
    meta.push_str("　金额单位：万元");
    doc.space(4.0);
    doc.centered(&meta, &TextStyle::new(9.5));
    doc.space(6.0);
    let width = doc.content_width();
    let body = 9.0;

    match f.kind() {
        FormKind::Target => {
            heading(doc, "一、预算规模及资金用途");
            let cols = [
                Column::new("预算数", width / 4.0, Align::Right),
                Column::new("其中：财政资金", width / 4.0, Align::Right),
                Column::new("其他资金", width / 4.0, Align::Right),
                Column::new("状态", width / 4.0, Align::Center),
            ];
            let status = if p.counted() {
                "有效"
            } else {
                "重复报送，未计入汇总"
            };
            let other = f
                .budget
                .other
                .as_ref()
                .map(|_| money(&f.budget.other))
                .unwrap_or_else(|| "0.00".into());
            doc.table(
                &cols,
                &[vec![
                    Cell::text(money(&f.budget.total)),
                    Cell::text(money(&f.budget.fiscal)),
                    Cell::text(other),
                    Cell::text(status),
                ]],
                body,
            );
            if let Some(u) = &f.fund_use {
                doc.space(4.0);
                doc.paragraph(
                    &format!("资金用途：{}", u.value),
                    &TextStyle::new(body),
                    0.0,
                );
            }
            heading(doc, "二、绩效目标");
            doc.paragraph(
                f.goals
                    .as_ref()
                    .map(|g| g.value.as_str())
                    .unwrap_or("（未填写）"),
                &TextStyle::new(body),
                0.0,
            );
            heading(doc, "三、绩效指标");
            let cols = [
                Column::new("一级指标", width * 0.12, Align::Center),
                Column::new("二级指标", width * 0.14, Align::Center),
                Column::new("三级指标", width * 0.24, Align::Left),
                Column::new("绩效指标描述", width * 0.28, Align::Left),
                Column::new("指标值", width * 0.22, Align::Left),
            ];
            let rows: Vec<Vec<Cell>> = f
                .indicators
                .iter()
                .map(|i| {
                    let mut target = Cell::text(&i.target.value);
                    if i.target_parsed.is_unparsed() {
                        target.color = Some(rgb(RED.0, RED.1, RED.2));
                    }
                    vec![
                        Cell::text(&i.level1.value),
                        Cell::text(&i.level2.value),
                        Cell::text(&i.level3.value),
                        Cell::text(
                            i.description
                                .as_ref()
                                .map(|d| d.value.as_str())
                                .unwrap_or(""),
                        ),
                        target,
                    ]
                })
                .collect();
            doc.table(&cols, &rows, body);
        }
        FormKind::SelfEval => selfeval_body(doc, p, width, body),
    }
    issues_block(doc, p, body);
}

fn selfeval_body(doc: &mut Doc, p: &ProjectRow, width: f32, body: f32) {
    let f = p.form();
    let score = p.score();
    heading(doc, "一、项目资金执行情况");
    let cols = [
        Column::new("项目资金", width * 0.22, Align::Left),
        Column::new("年初预算数", width * 0.13, Align::Right),
        Column::new("全年预算数", width * 0.13, Align::Right),
        Column::new("全年执行数", width * 0.13, Align::Right),
        Column::new("分值", width * 0.1, Align::Right),
        Column::new("执行率", width * 0.14, Align::Right),
        Column::new("得分", width * 0.15, Align::Right),
    ];
    let ex = f.execution.clone().unwrap_or_default();
    let b = score.and_then(|s| s.budget.as_ref());
    let mut rows = vec![vec![
        Cell::text("年度资金总额"),
        Cell::text(money(&ex.total.initial)),
        Cell::text(money(&ex.total.annual)),
        Cell::text(money(&ex.total.executed)),
        Cell::text(dec(b.map(|b| b.weight))),
        Cell::text(
            b.and_then(|b| b.rate)
                .map(|r| format!("{r:.2}%"))
                .unwrap_or_default(),
        ),
        Cell::text(dec(b.map(|b| b.score))),
    ]];
    for (label, row) in [
        ("其中：财政拨款", &ex.fiscal),
        ("上年结转资金", &ex.carryover),
        ("其他资金", &ex.other),
    ] {
        if row.annual.is_some() || row.executed.is_some() {
            rows.push(vec![
                Cell::text(label),
                Cell::text(money(&row.initial)),
                Cell::text(money(&row.annual)),
                Cell::text(money(&row.executed)),
                Cell::text("—"),
                Cell::text("—"),
                Cell::text("—"),
            ]);
        }
    }
    doc.table(&cols, &rows, body);

    heading(doc, "二、年度总体目标完成情况");
    doc.paragraph(
        &format!(
            "预期目标：{}",
            f.goals
                .as_ref()
                .map(|g| g.value.as_str())
                .unwrap_or("（未填写）")
        ),
        &TextStyle::new(body),
        0.0,
    );
    doc.space(3.0);
    doc.paragraph(
        &format!(
            "实际完成情况：{}",
            f.goals_actual
                .as_ref()
                .map(|g| g.value.as_str())
                .unwrap_or("（未填写）")
        ),
        &TextStyle::new(body),
        0.0,
    );

    heading(doc, "三、绩效指标完成情况");
    let cols = [
        Column::new("一级指标", width * 0.1, Align::Center),
        Column::new("二级指标", width * 0.12, Align::Center),
        Column::new("三级指标", width * 0.2, Align::Left),
        Column::new("年度指标值", width * 0.16, Align::Left),
        Column::new("实际完成值", width * 0.16, Align::Left),
        Column::new("分值", width * 0.07, Align::Right),
        Column::new("得分", width * 0.07, Align::Right),
        Column::new("复核得分", width * 0.07, Align::Right),
        Column::new("达成", width * 0.05, Align::Center),
    ];
    let red = rgb(RED.0, RED.1, RED.2);
    let pink = rgb(0.99, 0.89, 0.87);
    let rows: Vec<Vec<Cell>> = f
        .indicators
        .iter()
        .enumerate()
        .map(|(n, i)| {
            let o = score.and_then(|s| s.indicators.get(n));
            let met = match o.map(|o| (o.met, o.method)) {
                Some((_, Method::Missing)) => "未填",
                Some((Some(true), _)) => "是",
                Some((Some(false), _)) => "否",
                _ => "—",
            };
            let unmet = met == "否" || met == "未填";
            let mut cells = vec![
                Cell::text(&i.level1.value),
                Cell::text(&i.level2.value),
                Cell::text(&i.level3.value),
                Cell::text(&i.target.value),
                Cell::text(i.actual.as_ref().map(|a| a.value.as_str()).unwrap_or("")),
                Cell::text(dec(i.weight.as_ref().map(|w| w.value))),
                Cell::text(dec(i.score_reported.as_ref().map(|w| w.value))),
                Cell::text(dec(i.score)),
                Cell::text(met),
            ];
            if unmet {
                for c in &mut cells {
                    c.fill = Some(pink.clone());
                }
                cells[8].color = Some(red.clone());
            }
            cells
        })
        .collect();
    doc.table(&cols, &rows, body);

    if let Some(s) = score {
        heading(doc, "四、评分结果");
        // Score per 一级指标 against its weight, as bars.
        let mut groups: Vec<(String, Decimal, Decimal)> = Vec::new();
        if let Some(b) = &s.budget {
            groups.push(("预算执行率".into(), b.score, b.weight));
        }
        for (i, o) in f.indicators.iter().zip(&s.indicators) {
            let w = i.weight.as_ref().map(|w| w.value).unwrap_or_default();
            match groups.iter_mut().find(|(k, _, _)| *k == i.level1.value) {
                Some((_, sc, wt)) => {
                    *sc += o.score;
                    *wt += w;
                }
                None => groups.push((i.level1.value.clone(), o.score, w)),
            }
        }
        bars(doc, &groups, width);
        doc.space(6.0);
        let total = format!("总分：{:.2}　　等级：{}", round2(s.total), s.grade.label());
        doc.paragraph(&total, &TextStyle::new(13.0).bold(), 0.0);
        if let Some(r) = &f.total_reported {
            if (r.value - s.total).abs() > Decimal::new(1, 2) {
                doc.paragraph(
                    &format!(
                        "（表内填报总分 {:.2}，与按评分规则复核的结果不一致）",
                        round2(r.value)
                    ),
                    &TextStyle::new(body).color(red.clone()),
                    0.0,
                );
            }
        }
    }

    let reasons: Vec<(String, String)> = f
        .indicators
        .iter()
        .filter_map(|i| {
            i.reason
                .as_ref()
                .map(|r| (i.level3.value.clone(), r.value.clone()))
        })
        .filter(|(_, r)| !r.trim().is_empty())
        .collect();
    if !reasons.is_empty() {
        heading(doc, "五、偏差原因分析及改进措施");
        for (name, reason) in reasons {
            doc.paragraph(&format!("「{name}」：{reason}"), &TextStyle::new(body), 0.0);
            doc.space(2.0);
        }
    }
}

/// Horizontal bars: score against weight for each group.
fn bars(doc: &mut Doc, groups: &[(String, Decimal, Decimal)], width: f32) {
    let row_h = 18.0;
    doc.ensure(groups.len() as f32 * row_h + 10.0);
    let label_w = 80.0;
    let bar_w = width - label_w - 90.0;
    for (label, score, weight) in groups {
        doc.space(row_h);
        let y = doc.y;
        doc.draw_text(MARGIN_X, y + 5.0, label, &TextStyle::new(9.0));
        let x = MARGIN_X + label_w;
        doc.fill_rect(x, y + 2.0, bar_w, 11.0, rgb(0.92, 0.92, 0.92));
        let share = if *weight > Decimal::ZERO {
            use rust_decimal::prelude::ToPrimitive;
            (*score / *weight).to_f32().unwrap_or(0.0).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let color = if share >= 0.999 {
            rgb(0.27, 0.51, 0.71)
        } else {
            rgb(0.85, 0.45, 0.2)
        };
        doc.fill_rect(x, y + 2.0, bar_w * share, 11.0, color);
        doc.stroke_rect(x, y + 2.0, bar_w, 11.0, rgb(0.5, 0.5, 0.5));
        doc.draw_text(
            x + bar_w + 6.0,
            y + 5.0,
            &format!("{:.2} / {:.2}", round2(*score), round2(*weight)),
            &TextStyle::new(9.0),
        );
    }
}

fn issues_block(doc: &mut Doc, p: &ProjectRow, body: f32) {
    let issues: Vec<_> = p
        .processed
        .issues
        .iter()
        .filter(|i| i.severity != Severity::Info)
        .collect();
    heading(doc, "审核发现的问题");
    if issues.is_empty() {
        doc.paragraph("未发现需要修改的问题。", &TextStyle::new(body), 0.0);
        return;
    }
    let width = doc.content_width();
    let cols = [
        Column::new("严重程度", width * 0.1, Align::Center),
        Column::new("单元格", width * 0.1, Align::Center),
        Column::new("问题描述", width * 0.8, Align::Left),
    ];
    let red = rgb(RED.0, RED.1, RED.2);
    let rows: Vec<Vec<Cell>> = issues
        .iter()
        .map(|i| {
            let mut sev = Cell::text(i.severity.label_zh());
            if i.severity == Severity::Error {
                sev.color = Some(red.clone());
            }
            vec![
                sev,
                Cell::text(i.cell.map(|c| c.a1()).unwrap_or_default()),
                Cell::text(&i.message),
            ]
        })
        .collect();
    doc.table(&cols, &rows, body);
}

/// A unit's pack: cover, contents (with page numbers), then every project report.
/// `reports` holds each project's title and laid-out pages. Returns the pages and, for the
/// outline, each project's first page (1-based).
pub fn pack_pages(
    fonts: &Fonts,
    unit: &UnitSummary,
    year: Option<i32>,
    reports: &[(String, Vec<PageBody>)],
    w: &Wording,
) -> (Vec<PageBody>, Vec<(String, usize)>, BTreeSet<char>) {
    let mut missing = BTreeSet::new();
    // Cover.
    let mut cover = Doc::new(fonts);
    cover.space(150.0);
    let year_text = year.map(|y| y.to_string()).unwrap_or_else(|| "    ".into());
    cover.centered(
        &w.pack_title.replace("{year}", &year_text),
        &TextStyle::new(22.0).bold(),
    );
    cover.space(10.0);
    cover.centered(&w.pack_subtitle, &TextStyle::new(14.0));
    cover.space(60.0);
    let unit_line = format!("{}{}", unit.code.as_deref().unwrap_or(""), unit.name);
    cover.centered(&format!("预算单位：{unit_line}"), &TextStyle::new(14.0));
    if let Some(d) = &unit.department {
        cover.centered(&format!("主管部门：{d}"), &TextStyle::new(12.0));
    }
    cover.space(30.0);
    let facts = [
        format!("项目数：{}", unit.projects),
        format!("预算数合计：{:.2} 万元", round2(unit.budget_total)),
        format!(
            "全年预算数：{:.2} 万元　全年执行数：{:.2} 万元　执行率：{}",
            round2(unit.annual_budget_total),
            round2(unit.executed_total),
            unit.execution_rate()
                .map(|r| format!("{r:.2}%"))
                .unwrap_or_else(|| "—".into())
        ),
        format!(
            "自评等级：优 {}　良 {}　中 {}　差 {}",
            unit.grades[0], unit.grades[1], unit.grades[2], unit.grades[3]
        ),
    ];
    for f in &facts {
        cover.centered(f, &TextStyle::new(11.0));
        cover.space(4.0);
    }
    cover.space(80.0);
    cover.centered(&w.office, &TextStyle::new(12.0));
    missing.extend(cover.missing.iter().copied());
    let cover_pages = cover.pages;

    // Contents: its length depends only on the number of entries, so lay it out once to count
    // its pages, then again with the real numbers.
    let contents = |first_report_page: usize| {
        let mut d = Doc::new(fonts);
        d.centered("目　录", &TextStyle::new(16.0).bold());
        d.space(10.0);
        let mut page = first_report_page;
        let mut entries = Vec::new();
        let width = d.content_width();
        let cols = [
            Column::new("序号", width * 0.08, Align::Center),
            Column::new("项目", width * 0.78, Align::Left),
            Column::new("页码", width * 0.14, Align::Right),
        ];
        let mut rows = Vec::new();
        for (i, (title, pages)) in reports.iter().enumerate() {
            rows.push(vec![
                Cell::text((i + 1).to_string()),
                Cell::text(title),
                Cell::text(page.to_string()),
            ]);
            entries.push((title.clone(), page));
            page += pages.len();
        }
        d.table(&cols, &rows, 10.0);
        (d, entries)
    };
    let (probe, _) = contents(0);
    let first = cover_pages.len() + probe.pages.len() + 1;
    let (toc, entries) = contents(first);
    missing.extend(toc.missing.iter().copied());
    let mut pages = cover_pages;
    pages.extend(toc.pages);
    for (_, body) in reports {
        pages.extend(body.iter().cloned());
    }
    (pages, entries, missing)
}
