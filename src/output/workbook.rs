//! consolidated.xlsx for the office: 单位汇总, 项目汇总, 指标明细, 问题清单, 图表, 运行信息.
//! Chinese headers, 万元 with 2 decimals, percentages, frozen headers, filters, highlighted
//! problems, A4 landscape print setup. rust_xlsxwriter writes every sheet's frame; the rows
//! of the three long sheets (项目汇总, 问题清单, 指标明细: a row per form, issue, indicator)
//! are written by hand and spliced in by `output::detail`, a unit's rows deflated once and
//! kept in the cache while the unit is unchanged.

use std::borrow::Cow;
use std::path::Path;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use rust_xlsxwriter::{
    Chart, ChartType, ConditionalFormatFormula, DocProperties, ExcelDateTime, Format, FormatAlign,
    FormatBorder, Workbook, Worksheet, XlsxError,
};

use crate::aggregate::{Aggregate, IssueRow, ProjectRow, UnitSummary};
use crate::model::Severity;
use crate::output::csv::{issue_fields, ISSUE_HEADERS};
use crate::output::detail::{self, SheetRows};
use crate::score::round2;

/// What 运行信息 says about the run.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    pub version: String,
    /// Seconds since the epoch (SOURCE_DATE_EPOCH, --timestamp, or the run's start).
    pub timestamp: i64,
    pub rules: String,
    pub inputs: Vec<String>,
}

struct Styles {
    header: Format,
    text: Format,
    money: Format,
    percent: Format,
    score: Format,
    int: Format,
    total_text: Format,
    total_money: Format,
    total_percent: Format,
    total_score: Format,
    total_int: Format,
    error_fill: Format,
    warn_fill: Format,
}

impl Styles {
    fn new() -> Styles {
        let base = Format::new()
            .set_font_name("宋体")
            .set_font_size(10)
            .set_border(FormatBorder::Thin);
        let total = base.clone().set_bold().set_background_color("#FFF2CC");
        Styles {
            header: base
                .clone()
                .set_bold()
                .set_text_wrap()
                .set_align(FormatAlign::Center)
                .set_align(FormatAlign::VerticalCenter)
                .set_background_color("#DDEBF7"),
            text: base.clone(),
            money: base.clone().set_num_format("#,##0.00"),
            percent: base.clone().set_num_format("0.00\"%\""),
            score: base.clone().set_num_format("0.00"),
            int: base.clone().set_num_format("0"),
            total_text: total.clone(),
            total_money: total.clone().set_num_format("#,##0.00"),
            total_percent: total.clone().set_num_format("0.00\"%\""),
            total_score: total.clone().set_num_format("0.00"),
            total_int: total.set_num_format("0"),
            error_fill: Format::new().set_background_color("#F8CBAD"),
            warn_fill: Format::new().set_background_color("#FFF2CC"),
        }
    }
}

/// Display width of text in a column (a Han character counts two).
fn width_of(s: &str) -> usize {
    s.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum()
}

/// A sheet writer that remembers column widths.
struct Table<'a> {
    /// None while measuring: the rows are written once to learn the column widths, so a
    /// constant-memory sheet (whose widths must precede its rows) still fits its contents.
    ws: Option<&'a mut Worksheet>,
    widths: Vec<usize>,
    cols: u16,
    /// False for constant-memory sheets, whose widths are set before the rows.
    auto_width: bool,
    row: u32,
}

impl<'a> Table<'a> {
    fn new(ws: &'a mut Worksheet, headers: &[&str], st: &Styles) -> Result<Self, XlsxError> {
        for (c, h) in headers.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, *h, &st.header)?;
        }
        ws.set_row_height(0, 30)?;
        Ok(Table {
            widths: headers.iter().map(|h| width_of(h).clamp(8, 40)).collect(),
            cols: headers.len() as u16,
            auto_width: true,
            ws: Some(ws),
            row: 1,
        })
    }

    /// A table that only measures: its `widths` after the rows are the columns' widths.
    fn measure(headers: &[&str]) -> Table<'static> {
        Table {
            widths: headers.iter().map(|h| width_of(h).clamp(8, 40)).collect(),
            cols: headers.len() as u16,
            auto_width: true,
            ws: None,
            row: 1,
        }
    }

    /// A constant-memory sheet whose column widths are `widths` (from a measuring pass).
    fn with_widths(
        ws: &'a mut Worksheet,
        headers: &[&str],
        widths: &[usize],
        st: &Styles,
    ) -> Result<Self, XlsxError> {
        for (c, w) in widths.iter().enumerate() {
            ws.set_column_width(c as u16, *w as f64 * 1.1)?;
        }
        let mut t = Table::new(ws, headers, st)?;
        t.auto_width = false;
        Ok(t)
    }

    fn fit(&mut self, c: u16, w: usize) {
        if let Some(x) = self.widths.get_mut(c as usize) {
            *x = (*x).max(w.min(60));
        }
    }

    fn text(&mut self, c: u16, s: &str, f: &Format) -> Result<(), XlsxError> {
        let s = &*detail::excel_text(s);
        self.fit(c, width_of(s) + 2);
        if let Some(ws) = self.ws.as_deref_mut() {
            ws.write_string_with_format(self.row, c, s, f)?;
        }
        Ok(())
    }

    fn num(&mut self, c: u16, v: Option<Decimal>, f: &Format) -> Result<(), XlsxError> {
        match v.and_then(|d| round2(d).to_f64()) {
            Some(x) => {
                self.fit(c, 12);
                if let Some(ws) = self.ws.as_deref_mut() {
                    ws.write_number_with_format(self.row, c, x, f)?;
                }
            }
            None => {
                if let Some(ws) = self.ws.as_deref_mut() {
                    ws.write_blank(self.row, c, f)?;
                }
            }
        }
        Ok(())
    }

    fn int(&mut self, c: u16, v: usize, f: &Format) -> Result<(), XlsxError> {
        if let Some(ws) = self.ws.as_deref_mut() {
            ws.write_number_with_format(self.row, c, v as f64, f)?;
        }
        Ok(())
    }

    fn next(&mut self) {
        self.row += 1;
    }

    /// Widths, frozen header, filter, row highlights (formula rule, fill) over every data row,
    /// and A4 landscape printing with the header repeated.
    fn finish(self, title: &str, highlights: &[(&str, &Format)]) -> Result<(), XlsxError> {
        let last_col = self.cols.saturating_sub(1);
        let Some(ws) = self.ws else { return Ok(()) };
        if self.auto_width {
            for (c, w) in self.widths.iter().enumerate() {
                ws.set_column_width(c as u16, *w as f64 * 1.1)?;
            }
        }
        ws.set_freeze_panes(1, 0)?;
        let last_row = self.row.saturating_sub(1).max(1);
        ws.autofilter(0, 0, last_row, last_col)?;
        if self.row > 1 {
            for (rule, fill) in highlights {
                let cf = ConditionalFormatFormula::new()
                    .set_rule(*rule)
                    .set_format(*fill);
                ws.add_conditional_format(1, 0, self.row - 1, last_col, &cf)?;
            }
        }
        print_setup(ws, title)
    }
}

/// A cell of a spliced sheet (项目汇总, 问题清单) and the probe style it takes (`Slot`).
#[derive(Debug, Clone, PartialEq)]
enum Val<'a> {
    /// Text; a blank styled cell when empty.
    Text(Cow<'a, str>),
    /// A figure, rounded to 2 places before it gets here; blank when None.
    Num(Option<f64>),
    /// A count or a year.
    Int(f64),
}

/// The probe styles of 项目汇总, in the order of `PROJECT_PROBE`.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Text = 0,
    Int = 1,
    Money = 2,
    Percent = 3,
    Score = 4,
}

const PROJECT_PROBE: &[&str] = &["A2", "B2", "C2", "D2", "E2"];

type SheetCell<'a> = (Val<'a>, Slot);

impl Table<'_> {
    /// Widen the columns as writing `cells` with `text`, `num` and `int` would.
    fn measure_cells(&mut self, cells: &[SheetCell]) {
        for (c, (v, _)) in cells.iter().enumerate() {
            match v {
                Val::Text(s) => self.fit(c as u16, width_of(s) + 2),
                Val::Num(Some(_)) => self.fit(c as u16, 12),
                Val::Num(None) | Val::Int(_) => {}
            }
        }
        self.next();
    }
}

/// One row of a spliced sheet, as rust_xlsxwriter writes these cells (numbers as f64
/// prints them) but without positions (`detail::write_row`).
fn write_cells(out: &mut Vec<u8>, cells: &[SheetCell], styles: &[u32]) {
    out.extend_from_slice(b"<row>");
    for (v, slot) in cells {
        let style = styles.get(*slot as usize).copied().unwrap_or(0);
        match v {
            Val::Text(t) => detail::text_cell(out, style, t),
            Val::Num(x) => detail::value_cell(out, style, *x),
            Val::Int(x) => detail::value_cell(out, style, Some(*x)),
        }
    }
    out.extend_from_slice(b"</row>");
}

const PROJECT_HEADERS: [&str; 23] = [
    "单位编码",
    "单位名称",
    "项目名称",
    "表类型",
    "年度",
    "预算数（万元）",
    "财政资金（万元）",
    "其他资金（万元）",
    "全年预算数（万元）",
    "全年执行数（万元）",
    "执行率",
    "预算执行得分",
    "指标数",
    "量化指标数",
    "达成指标数",
    "总分",
    "等级",
    "错误",
    "警告",
    "提示",
    "状态",
    "来源文件",
    "工作表",
];

/// The 项目汇总 row of one form.
fn project_cells<'a>(p: &'a ProjectRow) -> Vec<SheetCell<'a>> {
    let f = p.form();
    let v = |x: &Option<crate::model::Sourced<Decimal>>| x.as_ref().map(|s| s.value);
    let num = |d: Option<Decimal>| Val::Num(d.and_then(|d| round2(d).to_f64()));
    let text = |s: &'a str| (Val::Text(Cow::Borrowed(s)), Slot::Text);
    let int = |n: usize| (Val::Int(n as f64), Slot::Int);
    let ex = f.execution.as_ref();
    let budget = p.score().and_then(|s| s.budget.as_ref());
    let status = match &p.superseded_by {
        Some(by) => format!("重复报送，已被 {} 替代", by.display()),
        None => "有效".to_string(),
    };
    let mut cells = vec![
        text(p.unit_code.as_deref().unwrap_or("")),
        text(&p.unit_name),
        text(f.project_name()),
        text(f.kind().short_zh()),
        match &f.year {
            Some(y) => int(y.value.max(0) as usize),
            None => text(""),
        },
        (num(v(&f.budget.total)), Slot::Money),
        (num(v(&f.budget.fiscal)), Slot::Money),
        (num(v(&f.budget.other)), Slot::Money),
        (num(ex.and_then(|e| v(&e.total.annual))), Slot::Money),
        (num(ex.and_then(|e| v(&e.total.executed))), Slot::Money),
        (num(budget.and_then(|b| b.rate)), Slot::Percent),
        (num(budget.map(|b| b.score)), Slot::Score),
        int(p.indicators),
        int(p.quantified),
        int(p.met),
        (num(p.score().map(|s| s.total)), Slot::Score),
        text(p.score().map(|s| s.grade.label()).unwrap_or("")),
    ];
    cells.extend(p.issues.iter().map(|n| int(*n)));
    cells.push((Val::Text(status.into()), Slot::Text));
    cells.push((Val::Text(p.file.display().to_string().into()), Slot::Text));
    cells.push(text(&f.source.sheet));
    cells
}

/// The 问题清单 row of one issue: the columns of issues.csv.
fn issue_cells(row: &IssueRow) -> Vec<SheetCell<'static>> {
    issue_fields(row)
        .into_iter()
        .map(|v| (Val::Text(v.into()), Slot::Text))
        .collect()
}

/// 项目汇总's rows: every form of the run, grouped by unit.
struct ProjectSheet<'a> {
    groups: Vec<Vec<&'a ProjectRow<'a>>>,
    rows: u64,
}

impl<'a> ProjectSheet<'a> {
    /// `max`: the rows a worksheet takes, which no group exceeds.
    fn new(agg: &'a Aggregate, max: u64) -> Self {
        ProjectSheet {
            groups: detail::unit_groups(agg.projects.iter(), |_| 1, max),
            rows: agg.projects.len() as u64,
        }
    }
}

impl SheetRows for ProjectSheet<'_> {
    fn name(&self) -> &str {
        "项目汇总"
    }
    fn probe(&self) -> &[&str] {
        PROJECT_PROBE
    }
    fn rows(&self) -> u64 {
        self.rows
    }
    fn groups(&self) -> usize {
        self.groups.len()
    }
    fn group_rows(&self, g: usize) -> u64 {
        self.groups[g].len() as u64
    }
    fn key(&self, g: usize, h: &mut blake3::Hasher) {
        detail::key_rows(&self.groups[g], h);
    }
    fn write(&self, g: usize, styles: &[u32], out: &mut Vec<u8>) {
        for p in &self.groups[g] {
            write_cells(out, &project_cells(p), styles);
        }
    }
}

/// 问题清单's rows (sorted by severity, then unit): grouped by severity and unit.
struct IssueSheet<'a> {
    groups: Vec<&'a [IssueRow]>,
    rows: u64,
}

impl<'a> IssueSheet<'a> {
    /// `max`: the rows a worksheet takes; a unit's issues of one severity past it are cut into
    /// several groups.
    fn new(issues: &'a [IssueRow], max: u64) -> Self {
        let max = usize::try_from(max).unwrap_or(usize::MAX).max(1);
        let groups = issues
            .chunk_by(|a, b| a.issue.severity == b.issue.severity && a.unit_code == b.unit_code)
            .flat_map(|g| g.chunks(max))
            .collect();
        IssueSheet {
            groups,
            rows: issues.len() as u64,
        }
    }
}

impl SheetRows for IssueSheet<'_> {
    fn name(&self) -> &str {
        "问题清单"
    }
    fn probe(&self) -> &[&str] {
        &["A2"]
    }
    fn rows(&self) -> u64 {
        self.rows
    }
    fn groups(&self) -> usize {
        self.groups.len()
    }
    fn group_rows(&self, g: usize) -> u64 {
        self.groups[g].len() as u64
    }
    fn key(&self, g: usize, h: &mut blake3::Hasher) {
        for row in self.groups[g] {
            for field in issue_fields(row) {
                h.update(&(field.len() as u64).to_le_bytes());
                h.update(field.as_bytes());
            }
        }
    }
    fn write(&self, g: usize, styles: &[u32], out: &mut Vec<u8>) {
        for row in self.groups[g] {
            write_cells(out, &issue_cells(row), styles);
        }
    }
    fn group_word(&self) -> &str {
        "组"
    }
}

/// The frame of a spliced sheet in `t` (header and widths written): a probe row of blank
/// cells in each of `probe`'s formats when there are rows, and the filter and highlights
/// sized for every row.
fn spliced_frame(
    mut t: Table,
    title: &str,
    probe: &[&Format],
    rows: usize,
    highlights: &[(&str, &Format)],
) -> Result<(), XlsxError> {
    if rows > 0 {
        for (c, f) in probe.iter().enumerate() {
            t.num(c as u16, None, f)?;
        }
    }
    t.row = u32::try_from(rows)
        .unwrap_or(u32::MAX)
        .saturating_add(1)
        .min(1_048_576);
    t.finish(title, highlights)
}

fn print_setup(ws: &mut Worksheet, title: &str) -> Result<(), XlsxError> {
    ws.set_paper_size(9);
    ws.set_landscape();
    ws.set_print_fit_to_pages(1, 0);
    ws.set_repeat_rows(0, 0)?;
    ws.set_header(format!("&C&\"黑体,Bold\"&12{title}"));
    ws.set_footer("&C第 &P 页 共 &N 页");
    Ok(())
}

const UNIT_HEADERS: &[&str] = &[
    "主管部门",
    "单位编码",
    "单位名称",
    "项目数",
    "预算数（万元）",
    "财政资金（万元）",
    "其他资金（万元）",
    "全年预算数（万元）",
    "全年执行数（万元）",
    "执行率",
    "指标数",
    "量化指标数",
    "自评指标数",
    "达成指标数",
    "达成率",
    "平均分",
    "加权平均分",
    "优",
    "良",
    "中",
    "差",
    "错误",
    "警告",
    "提示",
];

fn unit_row(t: &mut Table, u: &UnitSummary, total: bool, st: &Styles) -> Result<(), XlsxError> {
    let (tx, m, p, s, i) = if total {
        (
            &st.total_text,
            &st.total_money,
            &st.total_percent,
            &st.total_score,
            &st.total_int,
        )
    } else {
        (&st.text, &st.money, &st.percent, &st.score, &st.int)
    };
    t.text(0, u.department.as_deref().unwrap_or(""), tx)?;
    t.text(1, u.code.as_deref().unwrap_or(""), tx)?;
    t.text(2, &u.name, tx)?;
    t.int(3, u.projects, i)?;
    t.num(4, Some(u.budget_total), m)?;
    t.num(5, Some(u.fiscal_total), m)?;
    t.num(6, Some(u.other_total), m)?;
    t.num(7, Some(u.annual_budget_total), m)?;
    t.num(8, Some(u.executed_total), m)?;
    t.num(9, u.execution_rate(), p)?;
    t.int(10, u.indicators, i)?;
    t.int(11, u.quantified, i)?;
    t.int(12, u.selfeval_indicators, i)?;
    t.int(13, u.indicators_met, i)?;
    t.num(14, u.attainment_rate(), p)?;
    t.num(15, u.score_mean(), s)?;
    t.num(16, u.score_mean_weighted(), s)?;
    for (k, g) in u.grades.iter().enumerate() {
        t.int(17 + k as u16, *g, i)?;
    }
    for (k, n) in u.issues.iter().enumerate() {
        t.int(21 + k as u16, *n, i)?;
    }
    t.next();
    Ok(())
}

/// Write consolidated.xlsx to `path`.
pub fn write_workbook(path: &Path, agg: &Aggregate, info: &RunInfo) -> Result<(), XlsxError> {
    start_workbook(agg, info)?.finish(path, agg, info, None)
}

/// consolidated.xlsx in two halves, so its big sheets are written while the PDFs render:
/// `start_workbook` writes 项目汇总 and 指标明细 (nothing rendering adds appears there);
/// `finish` fills 单位汇总 (its 合计 counts every issue, the PDFs' too), writes 问题清单,
/// 图表 and 运行信息, and saves.
pub struct WorkbookDraft {
    wb: Workbook,
    st: Styles,
    /// Data rows a worksheet takes before a long sheet goes on in the next (Excel's limit).
    max_rows: u64,
}

pub fn start_workbook(agg: &Aggregate, info: &RunInfo) -> Result<WorkbookDraft, XlsxError> {
    start_workbook_with(agg, info, detail::MAX_ROWS)
}

/// The long sheets' worksheets: a part's name and rows for each (one for a sheet that fits).
fn worksheets(sheet: &dyn SheetRows, max_rows: u64) -> Result<Vec<(String, u64)>, XlsxError> {
    Ok(detail::parts(sheet, max_rows)
        .map_err(XlsxError::ParameterError)?
        .iter()
        .map(|p| (p.name().to_string(), p.rows()))
        .collect())
}

fn start_workbook_with(
    agg: &Aggregate,
    info: &RunInfo,
    max_rows: u64,
) -> Result<WorkbookDraft, XlsxError> {
    let st = Styles::new();
    let mut wb = Workbook::new();
    // zlib level 2 (rust_xlsxwriter's default is 6): a million-row 指标明细 was a third of
    // the workbook's time in deflate; the file is a few per cent larger.
    wb.set_zip_compression_level(2);
    let created = ExcelDateTime::from_timestamp(info.timestamp)?;
    wb.set_properties(
        &DocProperties::new()
            .set_title("预算绩效汇总表")
            .set_author("jixiao")
            .set_creation_datetime(&created),
    );

    // 单位汇总 comes first in the workbook; it is filled by `finish`.
    wb.add_worksheet().set_name("单位汇总")?;

    // 项目汇总: one row per form (50,000 in a province): the frame, widths from a measuring
    // pass; `finish` splices the rows in.
    {
        let mut m = Table::measure(&PROJECT_HEADERS);
        for p in &agg.projects {
            m.measure_cells(&project_cells(p));
        }
        for (name, rows) in worksheets(&ProjectSheet::new(agg, max_rows), max_rows)? {
            let ws = wb.add_worksheet_with_constant_memory()?;
            ws.set_name(&name)?;
            spliced_frame(
                Table::with_widths(ws, &PROJECT_HEADERS, &m.widths, &st)?,
                &name,
                &[&st.text, &st.int, &st.money, &st.percent, &st.score],
                rows as usize,
                &[
                    ("=$R2>0", &st.error_fill),
                    ("=$U2<>\"有效\"", &st.warn_fill),
                ],
            )?;
        }
    }

    // 指标明细: the frame only (header, widths, filter and highlight over every row, print
    // setup) and a probe row telling the style ids; `finish` splices the rows in
    // (output::detail says why).
    for (name, rows) in worksheets(&detail::DetailRows::new(agg, max_rows), max_rows)? {
        let ws = wb.add_worksheet_with_constant_memory()?;
        ws.set_name(&name)?;
        for (c, w) in detail::WIDTHS.iter().enumerate() {
            ws.set_column_width(c as u16, *w as f64)?;
        }
        let mut t = Table::new(ws, &detail::HEADERS, &st)?;
        t.auto_width = false;
        spliced_frame(
            t,
            &name,
            &[&st.text, &st.score],
            rows as usize,
            &[("=OR($P2=\"否\",$P2=\"未填报\")", &st.warn_fill)],
        )?;
    }

    Ok(WorkbookDraft { wb, st, max_rows })
}

impl WorkbookDraft {
    /// Finish and save at `path`; 指标明细's pieces are reused from and kept in `pieces`.
    pub fn finish(
        self,
        path: &Path,
        agg: &Aggregate,
        info: &RunInfo,
        pieces: Option<detail::PiecesCache>,
    ) -> Result<(), XlsxError> {
        let WorkbookDraft {
            mut wb,
            st,
            max_rows,
        } = self;
        // 单位汇总: units grouped by 主管部门 with subtotals, then 合计.
        {
            let ws = wb.worksheet_from_name("单位汇总")?;
            let mut t = Table::new(ws, UNIT_HEADERS, &st)?;
            let mut current: Option<&str> = None;
            for u in &agg.units {
                if !agg.departments.is_empty() && u.department.as_deref() != current {
                    if let Some(d) =
                        current.and_then(|c| agg.departments.iter().find(|x| x.name == c))
                    {
                        let mut sub = d.clone();
                        sub.name = format!("{}小计", d.name);
                        unit_row(&mut t, &sub, true, &st)?;
                    }
                    current = u.department.as_deref();
                }
                unit_row(&mut t, u, false, &st)?;
            }
            if let Some(d) = current.and_then(|c| agg.departments.iter().find(|x| x.name == c)) {
                let mut sub = d.clone();
                sub.name = format!("{}小计", d.name);
                unit_row(&mut t, &sub, true, &st)?;
            }
            unit_row(&mut t, &agg.total, true, &st)?;
            t.finish("单位汇总", &[("=$V2>0", &st.error_fill)])?;
        }

        // 问题清单: the same columns as issues.csv; the frame, rows spliced in below.
        {
            let mut m = Table::measure(ISSUE_HEADERS);
            for row in &agg.issues {
                m.measure_cells(&issue_cells(row));
            }
            let error = format!("=$A2=\"{}\"", Severity::Error.label_zh());
            let warning = format!("=$A2=\"{}\"", Severity::Warning.label_zh());
            for (name, rows) in worksheets(&IssueSheet::new(&agg.issues, max_rows), max_rows)? {
                let ws = wb.add_worksheet_with_constant_memory()?;
                ws.set_name(&name)?;
                spliced_frame(
                    Table::with_widths(ws, ISSUE_HEADERS, &m.widths, &st)?,
                    &name,
                    &[&st.text],
                    rows as usize,
                    &[(&error, &st.error_fill), (&warning, &st.warn_fill)],
                )?;
            }
        }

        charts(&mut wb, agg, &st)?;
        run_info(&mut wb, agg, info, &st)?;
        let projects = ProjectSheet::new(agg, max_rows);
        let issues = IssueSheet::new(&agg.issues, max_rows);
        let indicators = detail::DetailRows::new(agg, max_rows);
        // 指标明细 last: the biggest part, so that only it and the directory can need ZIP64.
        // Each long sheet in the parts its frames were made for (`worksheets`).
        let mut parts = Vec::new();
        for sheet in [
            &projects as &dyn SheetRows,
            &issues as &dyn SheetRows,
            &indicators as &dyn SheetRows,
        ] {
            parts.extend(detail::parts(sheet, max_rows).map_err(XlsxError::ParameterError)?);
        }
        let sheets: Vec<&dyn SheetRows> = parts
            .iter()
            .map(|p| p as &dyn SheetRows)
            .filter(|s| s.rows() > 0)
            .collect();
        if sheets.is_empty() {
            return wb.save(path);
        }
        let frame = path.with_extension("frame.xlsx");
        wb.save(&frame)?;
        let spliced = detail::splice(&frame, path, &sheets, pieces);
        let _ = std::fs::remove_file(&frame);
        spliced.map_err(XlsxError::ParameterError)
    }
}

/// 图表: budget and execution by unit, grade distribution, attainment by 一级指标.
fn charts(wb: &mut Workbook, agg: &Aggregate, st: &Styles) -> Result<(), XlsxError> {
    let ws = wb.add_worksheet();
    ws.set_name("图表")?;
    // Small data tables the charts draw from.
    ws.write_string_with_format(0, 0, "等级", &st.header)?;
    ws.write_string_with_format(0, 1, "项目数", &st.header)?;
    for (k, g) in ["优", "良", "中", "差"].iter().enumerate() {
        ws.write_string_with_format(1 + k as u32, 0, *g, &st.text)?;
        ws.write_number_with_format(1 + k as u32, 1, agg.total.grades[k] as f64, &st.int)?;
    }
    ws.write_string_with_format(6, 0, "一级指标", &st.header)?;
    ws.write_string_with_format(6, 1, "达成率（%）", &st.header)?;
    let mut level1: Vec<(String, usize, usize)> = Vec::new();
    for c in &agg.categories {
        match level1.iter_mut().find(|(l, _, _)| *l == c.level1) {
            Some((_, n, m)) => {
                *n += c.selfeval_indicators;
                *m += c.met;
            }
            None => level1.push((c.level1.clone(), c.selfeval_indicators, c.met)),
        }
    }
    for (k, (l, n, m)) in level1.iter().enumerate() {
        let r = 7 + k as u32;
        ws.write_string_with_format(r, 0, detail::excel_text(l), &st.text)?;
        let rate = if *n > 0 {
            *m as f64 * 100.0 / *n as f64
        } else {
            0.0
        };
        ws.write_number_with_format(r, 1, (rate * 100.0).round() / 100.0, &st.score)?;
    }
    ws.set_column_width(0, 24)?;
    for c in 1..4 {
        ws.set_column_width(c, 14)?;
    }

    // Per unit (no subtotals) for the budget chart.
    let base = 8 + level1.len() as u32;
    for (c, h) in ["单位", "全年预算数", "全年执行数", "预算数（目标表）"]
        .iter()
        .enumerate()
    {
        ws.write_string_with_format(base, c as u16, *h, &st.header)?;
    }
    for (k, u) in agg.units.iter().enumerate() {
        let r = base + 1 + k as u32;
        ws.write_string_with_format(r, 0, detail::excel_text(&u.name), &st.text)?;
        for (c, v) in [u.annual_budget_total, u.executed_total, u.budget_total]
            .iter()
            .enumerate()
        {
            ws.write_number_with_format(
                r,
                1 + c as u16,
                round2(*v).to_f64().unwrap_or(0.0),
                &st.money,
            )?;
        }
    }
    if !agg.units.is_empty() {
        let last = base + agg.units.len() as u32;
        let mut chart = Chart::new(ChartType::Column);
        chart.title().set_name("各单位预算与执行（万元）");
        for (c, name) in [
            (1u16, "全年预算数"),
            (2, "全年执行数"),
            (3, "预算数（目标表）"),
        ] {
            chart
                .add_series()
                .set_name(name)
                .set_categories(("图表", base + 1, 0, last, 0))
                .set_values(("图表", base + 1, c, last, c));
        }
        chart.y_axis().set_min(0);
        chart.set_width(720).set_height(360);
        ws.insert_chart(0, 5, &chart)?;
    }
    let mut grades = Chart::new(ChartType::Column);
    grades.title().set_name("自评等级分布");
    grades
        .add_series()
        .set_name("项目数")
        .set_categories(("图表", 1, 0, 4, 0))
        .set_values(("图表", 1, 1, 4, 1));
    grades.y_axis().set_min(0);
    grades.set_width(480).set_height(300);
    ws.insert_chart(20, 5, &grades)?;
    if !level1.is_empty() {
        let last = 7 + level1.len() as u32 - 1;
        let mut att = Chart::new(ChartType::Column);
        att.title().set_name("各一级指标达成率（%）");
        att.add_series()
            .set_name("达成率")
            .set_categories(("图表", 7, 0, last, 0))
            .set_values(("图表", 7, 1, last, 1));
        att.y_axis().set_min(0).set_max(100);
        att.set_width(480).set_height(300);
        ws.insert_chart(20, 13, &att)?;
    }
    print_setup(ws, "图表")?;
    Ok(())
}

/// Seconds since the epoch → "2026-11-24 07:30:00" in 北京时间 (UTC+8).
pub fn beijing_time(ts: i64) -> String {
    let secs = ts + 8 * 3600;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn run_info(
    wb: &mut Workbook,
    agg: &Aggregate,
    info: &RunInfo,
    st: &Styles,
) -> Result<(), XlsxError> {
    let ws = wb.add_worksheet();
    ws.set_name("运行信息")?;
    let indicators = agg.counted_indicators();
    let rows: Vec<(&str, String)> = vec![
        ("程序版本", format!("jixiao {}", info.version)),
        (
            "生成时间",
            format!("{}（北京时间）", beijing_time(info.timestamp)),
        ),
        ("评分规则", info.rules.clone()),
        ("输入目录", info.inputs.join("；")),
        ("读取文件数", agg.files.read.to_string()),
        ("拒收文件数", agg.files.rejected.to_string()),
        ("跳过文件数", agg.files.skipped.to_string()),
        ("单位数", agg.units.len().to_string()),
        ("表数（有效）", agg.counted().count().to_string()),
        (
            "重复报送（未计入）",
            agg.projects
                .iter()
                .filter(|p| !p.counted())
                .count()
                .to_string(),
        ),
        ("指标数", indicators.to_string()),
        ("错误", agg.total.issues[0].to_string()),
        ("警告", agg.total.issues[1].to_string()),
        ("提示", agg.total.issues[2].to_string()),
    ];
    ws.write_string_with_format(0, 0, "项目", &st.header)?;
    ws.write_string_with_format(0, 1, "内容", &st.header)?;
    for (i, (k, v)) in rows.iter().enumerate() {
        ws.write_string_with_format(1 + i as u32, 0, *k, &st.text)?;
        ws.write_string_with_format(1 + i as u32, 1, detail::excel_text(v), &st.text)?;
    }
    ws.set_column_width(0, 20)?;
    ws.set_column_width(1, 80)?;
    print_setup(ws, "运行信息")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spliced rows are rust_xlsxwriter's cells without positions: texts (escaped, blank when
    /// empty), figures and counts as f64 prints them, blanks, each in its slot's style.
    #[test]
    fn spliced_rows_are_what_rust_xlsxwriter_writes_without_positions() {
        let st = Styles::new();
        let slots = [&st.text, &st.int, &st.money, &st.percent, &st.score];
        let rows: Vec<Vec<SheetCell>> = vec![
            vec![
                (Val::Text("中文 & <项目>".into()), Slot::Text),
                (Val::Text("".into()), Slot::Text),
                (Val::Int(2023.0), Slot::Int),
                (Val::Num(Some(1234567.89)), Slot::Money),
                (Val::Num(None), Slot::Money),
                (Val::Num(Some(96.5)), Slot::Percent),
                (Val::Num(Some(0.1)), Slot::Score),
                (Val::Num(Some(-2.0)), Slot::Score),
                (Val::Text(" 前后空格 ".into()), Slot::Text),
                (Val::Int(0.0), Slot::Int),
                (Val::Num(Some(1e-7)), Slot::Money),
                (Val::Num(Some(1e21)), Slot::Money),
            ],
            vec![(Val::Text("_x0041_".into()), Slot::Text)],
        ];
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet_with_constant_memory().unwrap();
        for (c, f) in slots.iter().enumerate() {
            ws.write_blank(0, c as u16, f).unwrap();
        }
        for (r, cells) in rows.iter().enumerate() {
            for (c, (v, slot)) in cells.iter().enumerate() {
                let (r, c, f) = (r as u32 + 1, c as u16, slots[*slot as usize]);
                match v {
                    Val::Text(t) => ws.write_string_with_format(r, c, t.as_ref(), f),
                    Val::Num(Some(x)) | Val::Int(x) => ws.write_number_with_format(r, c, *x, f),
                    Val::Num(None) => ws.write_blank(r, c, f),
                }
                .unwrap();
            }
        }
        let bytes = wb.save_to_buffer().unwrap();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut xml = String::new();
        std::io::Read::read_to_string(
            &mut zip.by_name("xl/worksheets/sheet1.xml").unwrap(),
            &mut xml,
        )
        .unwrap();
        // The styles rust_xlsxwriter gave the slots, read off row 1.
        let first = &xml[xml.find("<row r=\"1\"").unwrap()..xml.find("<row r=\"2\"").unwrap()];
        let styles: Vec<u32> = first
            .split(" s=\"")
            .skip(1)
            .map(|s| s[..s.find('"').unwrap()].parse().unwrap())
            .collect();
        assert_eq!(styles.len(), slots.len());
        let reference = &xml[xml.find("<row r=\"2\"").unwrap()..xml.find("</sheetData>").unwrap()];
        let mut ours = Vec::new();
        for cells in &rows {
            write_cells(&mut ours, cells, &styles);
        }
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            detail::positionless(reference)
        );
    }

    /// The seed's forms, each `copies` times, a file each, processed: `unit(i)` gives file i's
    /// unit code and name (its folder is named by them).
    fn seed_files(
        copies: usize,
        unit: impl Fn(usize) -> (String, String),
    ) -> Vec<crate::process::FileResult> {
        let rules = crate::rules::Rules::national();
        let mut seed = crate::samples::seed_targets();
        seed.extend(crate::samples::seed_selfevals(&rules));
        let forms: Vec<_> = (0..copies).flat_map(|_| seed.iter()).collect();
        forms
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let mut f = (*f).clone();
                let (code, name) = unit(i);
                let path = std::path::PathBuf::from(format!("{code}{name}/表{i}.xlsx"));
                let unit = crate::model::Unit {
                    code: Some(code),
                    name,
                };
                f.unit = Some(crate::model::Sourced::derived(unit));
                let bytes = crate::samples::xlsx_bytes(&[f], false, false).unwrap();
                let wb = crate::read::read_bytes(bytes, &Default::default()).unwrap();
                crate::process::process_workbook(&path, &wb, &rules)
            })
            .collect()
    }

    /// A worksheet's rows below its header, as text.
    fn data_rows<R: std::io::Read + std::io::Seek>(
        book: &mut calamine::Sheets<R>,
        sheet: &str,
    ) -> Vec<Vec<String>> {
        use calamine::Reader;
        book.worksheet_range(sheet)
            .unwrap()
            .rows()
            .skip(1)
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect()
    }

    /// consolidated.xlsx of `agg` written with worksheets of at most `max_rows` rows, in `dir`.
    fn written_with(agg: &Aggregate, max_rows: u64, dir: &Path) -> std::path::PathBuf {
        let path = dir.join(format!("consolidated{max_rows}.xlsx"));
        let info = RunInfo::default();
        start_workbook_with(agg, &info, max_rows)
            .unwrap()
            .finish(&path, agg, &info, None)
            .unwrap();
        path
    }

    /// A sheet longer than a worksheet holds goes on in 指标明细(2), (3), …, cut between
    /// units, every row written once and in order.
    #[test]
    fn long_sheets_go_on_in_further_worksheets() {
        use calamine::Reader;
        // One file per form, each in a unit of its own: many small groups to cut between.
        let results = seed_files(1, |i| (format!("{}", 100_001 + i), format!("单位{i}")));
        let agg = crate::aggregate::aggregate(&results, &[], 0, None, &|_| None);
        let indicators = detail::DetailRows::new(&agg, detail::MAX_ROWS);
        let largest = (0..indicators.groups())
            .map(|g| indicators.group_rows(g))
            .max()
            .unwrap();
        let total = agg.counted_indicators() as u64;
        assert!(total > 2 * largest, "several worksheets' worth");

        let dir = tempfile::tempdir().unwrap();
        let path = written_with(&agg, largest, dir.path());
        let mut book = calamine::open_workbook_auto(&path).unwrap();
        let names = book.sheet_names();
        let parts: Vec<&String> = names
            .iter()
            .filter(|n| n.starts_with(detail::SHEET))
            .collect();
        assert!(parts.len() >= 3, "{names:?}");
        assert_eq!(parts[0], detail::SHEET);
        assert_eq!(parts[1], &format!("{}(2)", detail::SHEET));
        // Every row once, in order, none past the limit; each part headed like the first.
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut header = None;
        for name in &parts {
            let range = book.worksheet_range(name).unwrap();
            let mut it = range
                .rows()
                .map(|r| r.iter().map(|c| c.to_string()).collect());
            let head: Vec<String> = it.next().unwrap();
            assert_eq!(header.get_or_insert_with(|| head.clone()), &head);
            let body: Vec<Vec<String>> = it.collect();
            assert!(!body.is_empty() && body.len() as u64 <= largest, "{name}");
            rows.extend(body);
        }
        assert_eq!(rows.len() as u64, total);
        // In order (units by code), and a unit's rows are never cut: each part after the
        // first begins a unit.
        let codes: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
        assert!(codes.windows(2).all(|w| w[0] <= w[1]), "{codes:?}");
        let mut at = 0;
        for pair in parts.windows(2) {
            at += book.worksheet_range(pair[0]).unwrap().height() - 1;
            assert_ne!(codes[at - 1], codes[at], "{} begins a unit", pair[1]);
        }
        // A form with more rows than a worksheet holds cannot be written.
        let err = start_workbook_with(&agg, &RunInfo::default(), largest - 1)
            .err()
            .unwrap();
        assert!(err.to_string().contains("超过 Excel"), "{err}");
    }

    /// One unit sending more rows than a worksheet holds goes on in the next worksheet, cut
    /// between its forms (项目汇总, 问题清单 and 指标明细 alike), rather than failing the
    /// night's workbook.
    #[test]
    fn a_unit_longer_than_a_worksheet_goes_on_in_the_next() {
        use calamine::Reader;
        // One unit, a file per form, each form sent in four files (the copies are duplicates:
        // rows of 项目汇总 and 问题清单, not of 指标明细).
        let results = seed_files(4, |_| ("100001".into(), "单位".into()));
        let agg = crate::aggregate::aggregate(&results, &[], 0, None, &|_| None);
        let largest_form = agg
            .counted()
            .map(|p| p.form().indicators.len() as u64)
            .max()
            .unwrap();
        let total = agg.counted_indicators() as u64;
        assert!(total > 2 * largest_form, "{total} {largest_form}");
        assert!(
            agg.projects.len() as u64 > largest_form,
            "{}",
            agg.projects.len()
        );
        assert!(
            agg.issues.len() as u64 > largest_form,
            "{}",
            agg.issues.len()
        );

        let dir = tempfile::tempdir().unwrap();
        let path = written_with(&agg, largest_form, dir.path());
        let mut book = calamine::open_workbook_auto(&path).unwrap();
        let names = book.sheet_names();
        // Each sheet's parts: every row once and in order, none past the limit.
        let body = |book: &mut calamine::Sheets<_>, sheet: &str| -> Vec<Vec<String>> {
            let parts: Vec<String> = names
                .iter()
                .filter(|n| *n == sheet || n.starts_with(&format!("{sheet}(")))
                .cloned()
                .collect();
            let mut rows = Vec::new();
            for name in &parts {
                let body = data_rows(book, name);
                assert!(
                    !body.is_empty() && body.len() as u64 <= largest_form,
                    "{name}: {}",
                    body.len()
                );
                rows.extend(body);
            }
            assert!(parts.len() >= 2, "{sheet} in several worksheets: {names:?}");
            rows
        };
        let details = body(&mut book, detail::SHEET);
        assert_eq!(details.len() as u64, total);
        assert!(details.iter().all(|r| r[0] == "100001"));
        let projects = body(&mut book, "项目汇总");
        assert_eq!(projects.len(), agg.projects.len());
        let issues = body(&mut book, "问题清单");
        assert_eq!(issues.len(), agg.issues.len());
        // The rows are those of the sheets written whole (a worksheet without the limit).
        let whole = written_with(&agg, detail::MAX_ROWS, dir.path());
        let mut one = calamine::open_workbook_auto(&whole).unwrap();
        for (sheet, rows) in [
            (detail::SHEET, &details),
            ("项目汇总", &projects),
            ("问题清单", &issues),
        ] {
            assert_eq!(&data_rows(&mut one, sheet), rows, "{sheet}");
        }
    }

    #[test]
    fn beijing_time_from_epoch() {
        assert_eq!(beijing_time(0), "1970-01-01 08:00:00");
        assert_eq!(beijing_time(1_700_000_000), "2023-11-15 06:13:20");
        assert_eq!(beijing_time(951_782_400), "2000-02-29 08:00:00");
    }
}
