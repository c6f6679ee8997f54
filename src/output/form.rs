//! Write the official forms with rust_xlsxwriter: one layout, two uses — the blank template
//! handed to units (`jixiao template`) and filled forms built from a `Form` (samples, tests).
//! The reader (`crate::form`) recognises exactly what this writes, and much more.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use rust_xlsxwriter::{
    DataValidation, Format, FormatAlign, FormatBorder, Workbook, Worksheet, XlsxError,
};

use crate::model::{framework_pairs, Form, FormKind, FundRow, Indicator, FRAMEWORK};

/// Layout choices that real submissions vary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOptions {
    /// Merge 一级/二级指标 down over their rows (as the published form does).
    pub merge_categories: bool,
    /// Label variants: 全年预算数（A）, 全年执行数（B）, 执行率（B/A）, 年度指标值（A）, 实际完成值（B）.
    pub ab_labels: bool,
    /// 其中：本年财政拨款 instead of 当年.
    pub benian: bool,
    /// Write "其中：财政    资金" with the inner spaces of the published PDF.
    pub spaced_fiscal_label: bool,
    /// Blank, unlocked input cells with dropdowns; labels locked (the template).
    pub template: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            merge_categories: true,
            ab_labels: false,
            benian: false,
            spaced_fiscal_label: false,
            template: false,
        }
    }
}

/// The cell styles of the forms; each sink renders them its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Title,
    Label,
    Text,
    Money,
    Number,
    Percent,
    Plain,
}

/// Where a form is written: an xlsx worksheet, or an in-memory sheet for the .xls/.ods writers.
pub trait Sink {
    fn merge(
        &mut self,
        r1: u32,
        c1: u16,
        r2: u32,
        c2: u16,
        text: &str,
        style: Style,
    ) -> Result<(), XlsxError>;
    fn text(&mut self, r: u32, c: u16, text: &str, style: Style) -> Result<(), XlsxError>;
    /// A number, or a blank styled cell when None.
    fn number(&mut self, r: u32, c: u16, v: Option<f64>, style: Style) -> Result<(), XlsxError>;
    fn row_height(&mut self, _r: u32, _height: f64) -> Result<(), XlsxError> {
        Ok(())
    }
    fn list_validation(
        &mut self,
        _r1: u32,
        _c: u16,
        _r2: u32,
        _items: &[&str],
    ) -> Result<(), XlsxError> {
        Ok(())
    }
}

/// rust_xlsxwriter formats for each style.
pub struct XlsxSink<'a> {
    ws: &'a mut Worksheet,
    formats: [Format; 7],
}

impl<'a> XlsxSink<'a> {
    pub fn new(ws: &'a mut Worksheet, template: bool) -> Self {
        let cell = Format::new()
            .set_border(FormatBorder::Thin)
            .set_text_wrap()
            .set_align(FormatAlign::VerticalCenter)
            .set_font_name("宋体")
            .set_font_size(10);
        let input = if template {
            cell.clone().set_unlocked()
        } else {
            cell.clone()
        };
        let formats = [
            Format::new()
                .set_bold()
                .set_font_name("黑体")
                .set_font_size(16)
                .set_align(FormatAlign::Center)
                .set_align(FormatAlign::VerticalCenter),
            cell.clone().set_align(FormatAlign::Center).set_bold(),
            input.clone(),
            input.clone().set_num_format("#,##0.00"),
            input.clone().set_num_format("0.00"),
            input.set_num_format("0.00%"),
            Format::new().set_font_name("宋体").set_font_size(10),
        ];
        XlsxSink { ws, formats }
    }

    fn f(&self, style: Style) -> &Format {
        &self.formats[style as usize]
    }
}

impl Sink for XlsxSink<'_> {
    fn merge(
        &mut self,
        r1: u32,
        c1: u16,
        r2: u32,
        c2: u16,
        text: &str,
        style: Style,
    ) -> Result<(), XlsxError> {
        let f = self.formats[style as usize].clone();
        if r1 == r2 && c1 == c2 {
            self.ws.write_string_with_format(r1, c1, text, &f)?;
        } else {
            self.ws.merge_range(r1, c1, r2, c2, text, &f)?;
        }
        Ok(())
    }

    fn text(&mut self, r: u32, c: u16, text: &str, style: Style) -> Result<(), XlsxError> {
        let f = self.f(style).clone();
        self.ws.write_string_with_format(r, c, text, &f)?;
        Ok(())
    }

    fn number(&mut self, r: u32, c: u16, v: Option<f64>, style: Style) -> Result<(), XlsxError> {
        let f = self.f(style).clone();
        match v {
            Some(x) => self.ws.write_number_with_format(r, c, x, &f)?,
            None => self.ws.write_blank(r, c, &f)?,
        };
        Ok(())
    }

    fn row_height(&mut self, r: u32, height: f64) -> Result<(), XlsxError> {
        self.ws.set_row_height(r, height)?;
        Ok(())
    }

    fn list_validation(
        &mut self,
        r1: u32,
        c: u16,
        r2: u32,
        items: &[&str],
    ) -> Result<(), XlsxError> {
        let dv = DataValidation::new().allow_list_strings(items)?;
        self.ws.add_data_validation(r1, c, r2, c, &dv)?;
        Ok(())
    }
}

/// Cursor over one form's rows, shifted by (row, col).
struct Pen<'a> {
    sink: &'a mut dyn Sink,
    row: u32,
    col: u16,
}

impl Pen<'_> {
    fn merge(
        &mut self,
        r: u32,
        c1: u16,
        r2: u32,
        c2: u16,
        text: &str,
        style: Style,
    ) -> Result<(), XlsxError> {
        self.sink.merge(
            self.row + r,
            self.col + c1,
            self.row + r2,
            self.col + c2,
            text,
            style,
        )
    }

    fn text(&mut self, r: u32, c: u16, text: &str, style: Style) -> Result<(), XlsxError> {
        self.sink.text(self.row + r, self.col + c, text, style)
    }

    fn num(&mut self, r: u32, c: u16, v: Option<Decimal>, style: Style) -> Result<(), XlsxError> {
        self.sink.number(
            self.row + r,
            self.col + c,
            v.and_then(|d| d.to_f64()),
            style,
        )
    }
}

fn s(v: &Option<crate::model::Sourced<String>>) -> &str {
    v.as_ref().map(|x| x.value.as_str()).unwrap_or("")
}

fn d(v: &Option<crate::model::Sourced<Decimal>>) -> Option<Decimal> {
    v.as_ref().map(|x| x.value)
}

/// Amounts are held in 万元; a form written in 元 shows them ×10000.
fn money(form: &Form, v: &Option<crate::model::Sourced<Decimal>>) -> Option<Decimal> {
    d(v).map(|x| {
        if form.money_in_yuan {
            x * Decimal::from(10_000)
        } else {
            x
        }
    })
}

fn unit_text(form: &Form) -> String {
    form.unit
        .as_ref()
        .map(|u| format!("{}{}", u.value.code.as_deref().unwrap_or(""), u.value.name))
        .unwrap_or_default()
}

/// Write one form with its top-left corner at (row, col); returns the first row after it.
pub fn write_form(
    sink: &mut dyn Sink,
    form: &Form,
    row: u32,
    col: u16,
    opts: &WriteOptions,
) -> Result<u32, XlsxError> {
    let mut pen = Pen { sink, row, col };
    let used = match form.kind() {
        FormKind::Target => write_target(&mut pen, form, opts)?,
        FormKind::SelfEval => write_selfeval(&mut pen, form, opts)?,
    };
    Ok(row + used)
}

fn default_title(form: &Form) -> String {
    match form.kind() {
        FormKind::Target => format!("{}绩效目标表", form.project_name()),
        FormKind::SelfEval => "项目支出绩效自评表".to_string(),
    }
}

/// Target table: 7 columns. Returns rows used.
fn write_target(p: &mut Pen, form: &Form, opts: &WriteOptions) -> Result<u32, XlsxError> {
    let title = form
        .title
        .as_ref()
        .map(|t| t.value.clone())
        .unwrap_or_else(|| default_title(form));
    p.merge(0, 0, 0, 6, &title, Style::Title)?;
    p.merge(1, 0, 1, 4, &unit_text(form), Style::Text)?;
    let unit = if form.money_in_yuan {
        "单位：元"
    } else {
        "单位：万元"
    };
    p.merge(1, 5, 1, 6, unit, Style::Plain)?;
    p.text(2, 0, "项目名称", Style::Label)?;
    p.merge(2, 1, 2, 6, form.project_name(), Style::Text)?;
    p.merge(3, 0, 4, 0, "预算规模及资金用途", Style::Label)?;
    p.text(3, 1, "预算数", Style::Label)?;
    p.num(3, 2, money(form, &form.budget.total), Style::Money)?;
    let fiscal = if opts.spaced_fiscal_label {
        "其中：财政    资金"
    } else {
        "其中：财政资金"
    };
    p.text(3, 3, fiscal, Style::Label)?;
    p.num(3, 4, money(form, &form.budget.fiscal), Style::Money)?;
    p.text(3, 5, "其他资金", Style::Label)?;
    p.num(3, 6, money(form, &form.budget.other), Style::Money)?;
    p.merge(4, 1, 4, 6, s(&form.fund_use), Style::Text)?;
    p.text(5, 0, "绩效目标", Style::Label)?;
    p.merge(5, 1, 5, 6, s(&form.goals), Style::Text)?;
    p.sink.row_height(p.row + 5, 60.0)?;
    p.text(6, 0, "一级指标", Style::Label)?;
    p.text(6, 1, "二级指标", Style::Label)?;
    p.merge(6, 2, 6, 3, "三级指标", Style::Label)?;
    p.merge(6, 4, 6, 5, "绩效指标描述", Style::Label)?;
    p.text(6, 6, "指标值", Style::Label)?;
    let first = 7;
    write_categories(p, &form.indicators, first, opts)?;
    for (i, ind) in form.indicators.iter().enumerate() {
        let r = first + i as u32;
        p.merge(r, 2, r, 3, &ind.level3.value, Style::Text)?;
        p.merge(r, 4, r, 5, s(&ind.description), Style::Text)?;
        p.text(r, 6, &ind.target.value, Style::Text)?;
    }
    Ok(first + form.indicators.len() as u32)
}

/// Self-evaluation: 9 columns. Returns rows used.
fn write_selfeval(p: &mut Pen, form: &Form, opts: &WriteOptions) -> Result<u32, XlsxError> {
    let title = form
        .title
        .as_ref()
        .map(|t| t.value.clone())
        .unwrap_or_else(|| default_title(form));
    p.merge(0, 0, 0, 8, &title, Style::Title)?;
    let year = form
        .year
        .as_ref()
        .map(|y| format!("（{}年度）", y.value))
        .unwrap_or_else(|| "（    年度）".to_string());
    p.merge(1, 0, 1, 8, &year, Style::Plain)?;
    p.merge(2, 0, 2, 1, "项目名称", Style::Label)?;
    p.merge(2, 2, 2, 8, form.project_name(), Style::Text)?;
    p.merge(3, 0, 3, 1, "主管部门", Style::Label)?;
    p.merge(3, 2, 3, 4, s(&form.department), Style::Text)?;
    p.merge(3, 5, 3, 6, "实施单位", Style::Label)?;
    p.merge(3, 7, 3, 8, &unit_text(form), Style::Text)?;
    let funds = if form.money_in_yuan {
        "项目资金（元）"
    } else {
        "项目资金（万元）"
    };
    p.merge(4, 0, 8, 1, funds, Style::Label)?;
    let ab =
        |plain: &'static str, marked: &'static str| if opts.ab_labels { marked } else { plain };
    let headers = [
        "",
        "年初预算数",
        ab("全年预算数", "全年预算数（A）"),
        ab("全年执行数", "全年执行数（B）"),
        "分值",
        ab("执行率", "执行率（B/A）"),
        "得分",
    ];
    for (i, h) in headers.iter().enumerate() {
        p.text(4, 2 + i as u16, h, Style::Label)?;
    }
    let ex = form.execution.clone().unwrap_or_default();
    let fiscal = if opts.benian {
        "其中：本年财政拨款"
    } else {
        "其中：当年财政拨款"
    };
    let rows: [(&str, &FundRow); 4] = [
        ("年度资金总额", &ex.total),
        (fiscal, &ex.fiscal),
        ("上年结转资金", &ex.carryover),
        ("其他资金", &ex.other),
    ];
    for (i, (label, row)) in rows.iter().enumerate() {
        let r = 5 + i as u32;
        p.text(r, 2, label, Style::Label)?;
        p.num(r, 3, money(form, &row.initial), Style::Money)?;
        p.num(r, 4, money(form, &row.annual), Style::Money)?;
        p.num(r, 5, money(form, &row.executed), Style::Money)?;
        if i == 0 {
            p.num(r, 6, d(&row.weight), Style::Number)?;
            let rate = d(&row.rate_reported).map(|x| x / Decimal::ONE_HUNDRED);
            p.num(r, 7, rate, Style::Percent)?;
            p.num(r, 8, d(&row.score_reported), Style::Number)?;
        } else {
            for c in 6..=8 {
                p.text(r, c, "—", Style::Label)?;
            }
        }
    }
    p.merge(9, 0, 10, 1, "年度总体目标", Style::Label)?;
    p.merge(9, 2, 9, 5, "预期目标", Style::Label)?;
    p.merge(9, 6, 9, 8, "实际完成情况", Style::Label)?;
    p.merge(10, 2, 10, 5, s(&form.goals), Style::Text)?;
    p.merge(10, 6, 10, 8, s(&form.goals_actual), Style::Text)?;
    p.sink.row_height(p.row + 10, 60.0)?;
    let headers = [
        "一级指标",
        "二级指标",
        "三级指标",
        ab("年度指标值", "年度指标值（A）"),
        ab("实际完成值", "实际完成值（B）"),
        "分值",
        "得分",
    ];
    for (i, h) in headers.iter().enumerate() {
        p.text(11, i as u16, h, Style::Label)?;
    }
    p.merge(11, 7, 11, 8, "偏差原因分析及改进措施", Style::Label)?;
    let first = 12;
    write_categories(p, &form.indicators, first, opts)?;
    for (i, ind) in form.indicators.iter().enumerate() {
        let r = first + i as u32;
        p.text(r, 2, &ind.level3.value, Style::Text)?;
        p.text(r, 3, &ind.target.value, Style::Text)?;
        p.text(r, 4, s(&ind.actual), Style::Text)?;
        p.num(r, 5, d(&ind.weight), Style::Number)?;
        p.num(r, 6, d(&ind.score_reported), Style::Number)?;
        p.merge(r, 7, r, 8, s(&ind.reason), Style::Text)?;
    }
    let last = first + form.indicators.len() as u32;
    p.merge(last, 0, last, 4, "总分", Style::Label)?;
    p.num(last, 5, d(&form.total_weight_reported), Style::Number)?;
    p.num(last, 6, d(&form.total_reported), Style::Number)?;
    p.merge(last, 7, last, 8, "", Style::Text)?;
    Ok(last + 1)
}

/// 一级 and 二级指标 in columns 0 and 1: merged down over equal runs, or one per row.
fn write_categories(
    p: &mut Pen,
    inds: &[Indicator],
    first: u32,
    opts: &WriteOptions,
) -> Result<(), XlsxError> {
    let level1 = |i: &Indicator| match i.level1_weight {
        Some(w) => format!("{}（{}分）", i.level1.value, w),
        None => i.level1.value.clone(),
    };
    for (col, key) in [(0u16, 0usize), (1, 1)] {
        let value = |i: &Indicator| {
            if key == 0 {
                level1(i)
            } else {
                i.level2.value.clone()
            }
        };
        let mut i = 0;
        while i < inds.len() {
            let v = value(&inds[i]);
            let mut j = i + 1;
            // 二级 runs never cross a 一级 boundary.
            while opts.merge_categories
                && j < inds.len()
                && value(&inds[j]) == v
                && (key == 0 || level1(&inds[j]) == level1(&inds[i]))
            {
                j += 1;
            }
            let (r1, r2) = (first + i as u32, first + j as u32 - 1);
            p.merge(
                r1,
                col,
                r2,
                col,
                &v,
                if opts.template {
                    Style::Text
                } else {
                    Style::Label
                },
            )?;
            i = j;
        }
    }
    if opts.template && !inds.is_empty() {
        let last = p.row + first + inds.len() as u32 - 1;
        // Dropdowns from the framework (二级 names once each: 成本指标 is in two groups).
        let level1: Vec<&str> = FRAMEWORK.iter().map(|(l1, _)| *l1).collect();
        let mut level2: Vec<&str> = framework_pairs().map(|(_, l2)| l2).collect();
        let mut seen = std::collections::HashSet::new();
        level2.retain(|l2| seen.insert(*l2));
        p.sink
            .list_validation(p.row + first, p.col, last, &level1)?;
        p.sink
            .list_validation(p.row + first, p.col + 1, last, &level2)?;
    }
    Ok(())
}

/// Column widths and A4 print setup for a sheet holding forms of one kind.
pub fn setup_sheet(ws: &mut Worksheet, kind: FormKind) -> Result<(), XlsxError> {
    let widths: &[f64] = match kind {
        FormKind::Target => &[14.0, 14.0, 14.0, 14.0, 14.0, 12.0, 16.0],
        FormKind::SelfEval => &[12.0, 14.0, 22.0, 14.0, 14.0, 12.0, 10.0, 14.0, 14.0],
    };
    for (i, w) in widths.iter().enumerate() {
        ws.set_column_width(i as u16, *w)?;
    }
    ws.set_paper_size(9);
    if kind == FormKind::SelfEval {
        ws.set_landscape();
    }
    ws.set_print_fit_to_pages(1, 0);
    ws.set_print_center_horizontally(true);
    Ok(())
}

/// A blank form: the template handed to units.
pub fn blank_form(kind: FormKind) -> Form {
    let rows: &[(&str, &str)] = &[
        ("产出指标", "数量指标"),
        ("产出指标", "质量指标"),
        ("产出指标", "时效指标"),
        ("产出指标", "成本指标"),
        ("效益指标", "社会效益指标"),
        ("效益指标", "可持续影响指标"),
        ("满意度指标", "服务对象满意度指标"),
    ];
    let mut indicators: Vec<Indicator> = rows
        .iter()
        .map(|(l1, l2)| Indicator {
            level1: crate::model::Sourced::derived(l1.to_string()),
            level2: crate::model::Sourced::derived(l2.to_string()),
            ..Default::default()
        })
        .collect();
    // Spare rows for units with more indicators.
    indicators.extend((0..8).map(|_| Indicator::default()));
    Form {
        kind: Some(kind),
        indicators: indicators.into(),
        ..Default::default()
    }
}

/// The template workbook: the form on a protected sheet plus 填报说明.
pub fn template_workbook(kind: FormKind) -> Result<Workbook, XlsxError> {
    let mut wb = Workbook::new();
    let form = blank_form(kind);
    let opts = WriteOptions {
        merge_categories: false,
        template: true,
        ..Default::default()
    };
    {
        let ws = wb.add_worksheet();
        ws.set_name(kind.title_zh())?;
        setup_sheet(ws, kind)?;
        write_form(&mut XlsxSink::new(ws, true), &form, 0, 0, &opts)?;
        // Labels are locked; input cells were written unlocked.
        ws.protect();
    }
    let help = wb.add_worksheet();
    help.set_name("填报说明")?;
    help.set_column_width(0, 100)?;
    let lines = instructions(kind);
    let wrap = Format::new()
        .set_text_wrap()
        .set_font_name("宋体")
        .set_font_size(11);
    for (i, line) in lines.iter().enumerate() {
        help.write_string_with_format(i as u32, 0, *line, &wrap)?;
    }
    Ok(wb)
}

fn instructions(kind: FormKind) -> Vec<&'static str> {
    let mut v = vec![
        "填报说明",
        "1. 请勿修改表格中的标签文字（如“项目名称”“预算数”“一级指标”），系统按标签识别表格。",
        "2. 金额单位为万元，保留两位小数；如以元填报，请将“单位：万元”改为“单位：元”。",
        "3. 一级指标从下拉列表选择：产出指标、效益指标、满意度指标（2021年框架下成本指标可单列为一级指标）。",
        "4. 指标值请写明比较符号、数值和计量单位，如“≥8个”“≥90%”“≤185万元”；定性指标可写“提升”“效果明显”等。",
        "5. 完成时限类指标请写明日期，如“2023年底前完成”“2023年12月31日前”。",
    ];
    if kind == FormKind::SelfEval {
        v.extend([
            "6. 预算执行率得分 = 全年执行数 / 全年预算数 × 分值（保留两位小数，不超过分值）。",
            "7. 正向指标：实际值达到目标值得满分，否则按实际值/目标值×分值计分；反向指标（≤）超出目标值按比例扣分。",
            "8. 定性指标按“达成年度指标（80%–100%）”“部分达成年度指标并具有一定效果（60%–80%）”“未达成年度指标且效果较差（0–60%）”三档计分。",
            "9. 未得满分或超额完成（达到目标值130%以上）的指标，须填写偏差原因分析及改进措施。",
        ]);
    }
    v
}
