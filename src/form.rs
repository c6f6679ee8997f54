//! Recognise 项目支出绩效目标表 and 项目支出绩效自评表 in a sheet by their labels, never by fixed
//! addresses: any number of forms per sheet, shifted, with note rows, blank columns, label
//! variants and money in 元 or 万元.
//!
//! A form is anchored on its 项目名称 label. Its block of rows runs from its title (or header
//! lines) to the start of the next form. Within a block, each value is the first cell right of
//! its label that is not part of the label's own merge.

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::indicator::parse_with_name;
use crate::model::{
    Budget, CellRef, Execution, Form, FormKind, FundRow, Indicator, Issue, SourceRef, Sourced, Unit,
};
use crate::read::{Grid, GridCell, Sheet};
use crate::text::has;

/// Fold a label for comparison: no white space (inner spaces as in "其中：财政    资金"),
/// full-width forms to ASCII (（）：→ ():).
pub fn norm(s: &str) -> Cow<'_, str> {
    // Most cells need no folding: borrowed, not rebuilt a character at a time (this runs on
    // every cell of every form, several times).
    if !may_fold(s) || !s.chars().any(folds) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(fold(s))
}

/// `norm`, a character at a time.
fn fold(s: &str) -> String {
    s.chars().filter_map(fold_char).collect()
}

/// One character as `norm` leaves it (None: dropped).
fn fold_char(c: char) -> Option<char> {
    if c.is_whitespace() {
        return None;
    }
    Some(match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '【' | '〔' => '(',
        '】' | '〕' => ')',
        other => other,
    })
}

/// False when no character of `s` can fold, by its UTF-8 bytes alone: ASCII white space, and
/// the lead bytes of the other white space (U+0085, U+00A0: C2; U+1680: E1; U+2000–U+205F: E2;
/// U+3000: E3), of 【】〔〕 (E3) and of the full-width forms (EF). Chinese characters lead with
/// E4–E9, so most cells are ruled out without decoding a character.
fn may_fold(s: &str) -> bool {
    s.bytes().any(|b| MAY_FOLD[b as usize])
}

/// `may_fold`'s bytes as a table: one load a byte (this runs over every cell of every form).
static MAY_FOLD: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = matches!(b, 0x09..=0x0D | 0x20 | 0xC2 | 0xE1 | 0xE2 | 0xE3 | 0xEF);
        b += 1;
    }
    t
};

/// Whether `norm` drops or changes this character.
fn folds(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{FF01}'..='\u{FF5E}' | '【' | '〔' | '】' | '〕')
}

/// A label without a trailing colon or a (A)/(B)/(B/A)/(万元)-style suffix.
fn bare(label: &str) -> Cow<'_, str> {
    match norm(label) {
        Cow::Borrowed(b) => Cow::Borrowed(&b[..bare_len(b)]),
        Cow::Owned(mut o) => {
            o.truncate(bare_len(&o));
            Cow::Owned(o)
        }
    }
}

/// The length of `bare` within a folded label (a prefix of it).
fn bare_len(norm: &str) -> usize {
    let s = norm.trim_end_matches(':');
    match s.find('(') {
        Some(pos) if s.ends_with(')') && pos > 0 => pos,
        _ => s.len(),
    }
}

/// Words that are labels of the forms: a value cell never holds one of these.
const LABELS: &[&str] = &[
    "项目名称",
    "主管部门",
    "实施单位",
    "预算数",
    "其中:财政资金",
    "财政资金",
    "其他资金",
    "预算规模及资金用途",
    "资金用途",
    "绩效目标",
    "年度绩效目标",
    "项目资金",
    "年度总体目标",
    "预期目标",
    "实际完成情况",
    "一级指标",
    "二级指标",
    "三级指标",
    "单位名称",
    "预算单位",
];

fn is_label(text: &str) -> bool {
    let b = bare(text);
    LABELS.contains(&&*b)
}

/// One recognised form and what recognising it found wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct FormRead {
    pub form: Form,
    pub issues: Vec<Issue>,
}

/// The most forms one file may hold. A unit files a workbook of its projects — dozens, a few
/// hundred for the largest — and each 项目名称 starts a form: a 2 MB sheet of 400,000 such
/// cells made 400,000 forms, 2.4 GB, and two million issues, more rows than a sheet of
/// consolidated.xlsx can take.
pub const MAX_FORMS_PER_FILE: usize = 2_000;

/// The most indicator rows one form may hold (forms have a few dozen): a 2.4 MB sheet of
/// 300,000 rows under one 三级指标 header made a run of 2.9 GB and a report of thousands of
/// pages. Reading stops at the next row with an error of this code, which refuses the file.
pub const MAX_INDICATORS_PER_FORM: usize = 1_000;

/// The code of that error.
pub const TOO_MANY_INDICATORS: &str = "form.too_many_indicators";

/// The most indicator rows one file may hold: a unit's workbook of 300 projects of 50
/// indicators has 15,000. Each row held costs about 1 KB until the outputs are written.
pub const MAX_INDICATORS_PER_FILE: usize = 30_000;

/// What is left of a file's room for forms and indicator rows.
#[derive(Debug, Clone, Copy)]
pub struct Room {
    pub forms: usize,
    pub indicators: usize,
}

/// A sheet that would take a file past its room.
#[derive(Debug, Clone, PartialEq)]
pub enum TooMany {
    /// Forms: how many the sheet holds (counted before any is read).
    Forms(usize),
    /// Indicator rows in one form: the error naming the row reading stopped at.
    FormIndicators(Box<Issue>),
    /// Indicator rows in the file: found while reading, and reading stopped.
    Indicators,
}

/// Recognise every form in a sheet (none when one of them holds more than
/// `MAX_INDICATORS_PER_FORM` indicator rows: such a sheet is refused).
pub fn recognise(sheet: &Sheet, file: &Path) -> Vec<FormRead> {
    let room = Room {
        forms: usize::MAX,
        indicators: usize::MAX,
    };
    recognise_within(sheet, file, room).unwrap_or_default()
}

/// Recognise every form in a sheet within `room`, or say what the sheet has too many of.
pub fn recognise_within(sheet: &Sheet, file: &Path, room: Room) -> Result<Vec<FormRead>, TooMany> {
    let grid = &sheet.grid;
    let anchors: Vec<CellRef> = grid
        .iter()
        // '项' first: `bare` folds only spaces and punctuation, so 项目名称 keeps it.
        .filter(|(_, c)| c.anchor.is_none() && has(&c.text, "项") && bare(&c.text) == "项目名称")
        .map(|(at, _)| at)
        .collect();
    if anchors.len() > room.forms {
        return Err(TooMany::Forms(anchors.len()));
    }
    let end_row = grid.max_row().map(|r| r + 1).unwrap_or(0);
    // Block starts: the title above each anchor, never above the previous anchor.
    let mut starts = Vec::with_capacity(anchors.len());
    for (i, a) in anchors.iter().enumerate() {
        let floor = if i == 0 { 0 } else { anchors[i - 1].row + 1 };
        starts.push(block_start(grid, a.row, floor));
    }
    let mut out = Vec::with_capacity(anchors.len());
    let mut indicators = 0;
    for (i, anchor) in anchors.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(end_row);
        let block = Block::new(grid, starts[i], end);
        let source = SourceRef {
            file: file.to_path_buf(),
            sheet: sheet.name.clone(),
        };
        let read = block.read(*anchor, source);
        if let Some(issue) = read.issues.iter().find(|i| i.code == TOO_MANY_INDICATORS) {
            return Err(TooMany::FormIndicators(Box::new(issue.clone())));
        }
        indicators += read.form.indicators.len();
        if indicators > room.indicators {
            return Err(TooMany::Indicators);
        }
        out.push(read);
    }
    Ok(out)
}

fn is_title(text: &str) -> bool {
    is_title_norm(&norm(text))
}

fn is_title_norm(n: &str) -> bool {
    // A title ends in 表: one byte search rules out most cells before the substring tests
    // (this runs over a block's cells until the title is found).
    has(n, "表") && (has(n, "绩效目标表") || has(n, "绩效自评表") || has(n, "自评表"))
}

/// The first row of a form: its title if one stands within six rows above 项目名称, else the
/// unit / 单位 / 年度 lines right above it.
fn block_start(grid: &Grid, anchor_row: u32, floor: u32) -> u32 {
    let lowest = anchor_row.saturating_sub(6).max(floor);
    for r in (lowest..anchor_row).rev() {
        if grid
            .row(r)
            .any(|(_, c)| c.anchor.is_none() && is_title(&c.text))
        {
            return r;
        }
    }
    let mut start = anchor_row;
    let lowest = anchor_row.saturating_sub(3).max(floor);
    for r in (lowest..anchor_row).rev() {
        let header_line = grid.row(r).any(|(_, c)| {
            let n = norm(&c.text);
            unit_line(&c.text).is_some() || n.starts_with("单位:") || year_of(&n).is_some()
        });
        if header_line {
            start = r;
        } else {
            break;
        }
    }
    start
}

/// "569301天津市科学技术协会" → ("569301", "天津市科学技术协会").
pub fn unit_line(text: &str) -> Option<(String, String)> {
    let t = text.trim();
    let digits: String = t.chars().take_while(|c| c.is_ascii_digit()).collect();
    if digits.len() != 6 {
        return None;
    }
    let name = t[digits.len()..]
        .trim()
        .trim_start_matches([':', '：', '-', ' '])
        .trim();
    if name.is_empty() || name.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((digits, name.to_string()))
}

/// A year written as 2023年 (first one) in a title, or (2023年度).
pub fn year_of(text: &str) -> Option<i32> {
    // Four ASCII digits right before a 年, not preceded by a fifth digit (byte-wise: the byte
    // before a multi-byte character is never an ASCII digit).
    let b = text.as_bytes();
    for (p, _) in text.match_indices('年') {
        let Some(digits) = p.checked_sub(4).map(|s| &b[s..p]) else {
            continue;
        };
        if !digits.iter().all(u8::is_ascii_digit) || (p > 4 && b[p - 5].is_ascii_digit()) {
            continue;
        }
        let y: i32 = std::str::from_utf8(digits).ok()?.parse().ok()?;
        if (1990..=2100).contains(&y) {
            return Some(y);
        }
    }
    None
}

/// A number from a cell: the cell's own number, or its text ("1,850.00", "185.00万元", "86.18%").
fn cell_number(cell: &GridCell) -> Option<Decimal> {
    if let Some(n) = cell.number {
        return Some(n);
    }
    let t: String = norm(&cell.text).chars().filter(|c| *c != ',').collect();
    let t = t
        .trim_end_matches('%')
        .trim_end_matches("万元")
        .trim_end_matches('元');
    Decimal::from_str(t).ok()
}

fn is_dash(text: &str) -> bool {
    matches!(&*norm(text), "-" | "—" | "——" | "/" | "\\" | "无")
}

/// Header columns of the indicator table.
#[derive(Debug, Default, Clone, Copy)]
struct IndicatorCols {
    level1: Option<u32>,
    level2: Option<u32>,
    level3: Option<u32>,
    description: Option<u32>,
    target: Option<u32>,
    actual: Option<u32>,
    weight: Option<u32>,
    score: Option<u32>,
    reason: Option<u32>,
}

/// Header columns of the 项目资金 block.
#[derive(Debug, Default, Clone, Copy)]
struct FundCols {
    initial: Option<u32>,
    annual: Option<u32>,
    executed: Option<u32>,
    weight: Option<u32>,
    rate: Option<u32>,
    score: Option<u32>,
}

/// A cell of a block as label lookups see it: folded once, not once per lookup.
struct Label<'g> {
    at: CellRef,
    /// `norm(text)`
    norm: Cow<'g, str>,
    /// `bare(text)` is `norm[..bare_len]`.
    bare_len: usize,
}

impl Label<'_> {
    fn bare(&self) -> &str {
        &self.norm[..self.bare_len]
    }
}

struct Block<'g> {
    grid: &'g Grid,
    start: u32,
    end: u32,
    /// The block's typed text cells (never merge fills, never numbers), in reading order.
    labels: Vec<Label<'g>>,
}

impl<'g> Block<'g> {
    fn new(grid: &'g Grid, start: u32, end: u32) -> Self {
        let mut labels = Vec::new();
        for r in start..end {
            for (c, cell) in grid.row(r) {
                // A number cell is never a label (every lookup below wants Chinese text).
                if cell.anchor.is_none() && cell.number.is_none() {
                    let norm = norm(&cell.text);
                    labels.push(Label {
                        at: CellRef::new(r, c),
                        bare_len: bare_len(&norm),
                        norm,
                    });
                }
            }
        }
        Block {
            grid,
            start,
            end,
            labels,
        }
    }

    /// The first typed text cell (never a merge fill) of the block that `pred` accepts.
    fn find(&self, pred: impl Fn(&Label) -> bool) -> Option<CellRef> {
        self.labels.iter().find(|l| pred(l)).map(|l| l.at)
    }

    /// The first cell right of a label that is not part of the label's merge; None if the next
    /// filled cell is another label.
    fn right_of(&self, label: CellRef) -> Option<(CellRef, &'g GridCell)> {
        for (c, cell) in self.grid.row(label.row) {
            if c <= label.col || cell.anchor == Some(label) {
                continue;
            }
            if is_label(&cell.text) {
                return None;
            }
            let here = CellRef::new(label.row, c);
            return Some((cell.origin(here), cell));
        }
        None
    }

    fn text_right_of(&self, label: Option<CellRef>) -> Option<Sourced<String>> {
        let (at, cell) = self.right_of(label?)?;
        Some(Sourced::at(cell.text.trim().to_string(), at))
    }

    fn number_at(
        &self,
        at: CellRef,
        cell: &GridCell,
        what: &str,
        scale: Decimal,
        issues: &mut Vec<Issue>,
    ) -> Option<Sourced<Decimal>> {
        if is_dash(&cell.text) {
            return None;
        }
        match cell_number(cell) {
            // Bounded so that no sum or score can overflow (see indicator::max_figure).
            Some(n) if n.abs() > crate::indicator::max_figure() => {
                issues.push(
                    Issue::error(
                        "field.out_of_range",
                        format!("「{what}」的数值「{}」超出合理范围，请核对", cell.text),
                    )
                    .at(Some(at)),
                );
                None
            }
            Some(n) => Some(Sourced::at((n * scale).normalize(), at)),
            None => {
                issues.push(
                    Issue::error(
                        "field.not_number",
                        format!("「{what}」应填写数字，实际填写为「{}」", cell.text),
                    )
                    .at(Some(at)),
                );
                None
            }
        }
    }

    fn number_right_of(
        &self,
        label: Option<CellRef>,
        what: &str,
        scale: Decimal,
        issues: &mut Vec<Issue>,
    ) -> Option<Sourced<Decimal>> {
        let (at, cell) = self.right_of(label?)?;
        self.number_at(at, cell, what, scale, issues)
    }

    fn read(&self, anchor: CellRef, source: SourceRef) -> FormRead {
        let mut issues = Vec::new();
        let mut form = Form {
            source: source.clone(),
            ..Default::default()
        };
        form.title = self
            .find(|l| is_title_norm(&l.norm))
            .and_then(|at| self.grid.get(at.row, at.col).map(|c| (at, c)))
            .map(|(at, c)| Sourced::at(c.text.trim().to_string(), at));
        let title_n = form
            .title
            .as_ref()
            .map(|t| norm(&t.value))
            .unwrap_or_default();
        let selfeval_labels = self
            .find(|l| {
                let b = l.bare();
                b == "实际完成值" || b == "全年执行数" || b == "实施单位"
            })
            .is_some();
        form.kind = Some(
            if has(&title_n, "自评") || (!has(&title_n, "目标表") && selfeval_labels) {
                FormKind::SelfEval
            } else {
                FormKind::Target
            },
        );
        form.project = self.text_right_of(Some(anchor));

        // Year: (2023年度) first, else the title.
        let year_cell = self.find(|l| {
            let n = &l.norm;
            has(n, "度") && has(n, "年度)") && year_of(n).is_some()
        });
        form.year = year_cell
            .and_then(|at| year_of(self.grid.text(at.row, at.col)).map(|y| Sourced::at(y, at)))
            .or_else(|| {
                let t = form.title.as_ref()?;
                Some(Sourced {
                    value: year_of(&t.value)?,
                    cell: t.cell,
                })
            });

        // Money unit: 单位：元 / 项目资金（元） / 金额单位：元.
        form.money_in_yuan = self
            .find(|l| {
                let n = &l.norm;
                // Most cells hold no 元: one byte search before the substring tests.
                has(n, "元") && (n.ends_with("单位:元") || has(n, "(元)") || has(n, "单位:元)"))
            })
            .is_some();
        let scale = if form.money_in_yuan {
            Decimal::new(1, 4)
        } else {
            Decimal::ONE
        };

        match form.kind() {
            FormKind::Target => self.read_target(&mut form, anchor, scale, &mut issues),
            FormKind::SelfEval => self.read_selfeval(&mut form, scale, &mut issues),
        }
        self.read_indicators(&mut form, &mut issues);
        let issues = issues.into_iter().map(|i| i.in_source(&source)).collect();
        FormRead { form, issues }
    }

    fn read_unit_line(&self, before_row: u32) -> Option<Sourced<Unit>> {
        for r in self.start..before_row.min(self.end) {
            for (c, cell) in self.grid.row(r) {
                if cell.anchor.is_some() {
                    continue;
                }
                if let Some((code, name)) = unit_line(&cell.text) {
                    return Some(Sourced::at(
                        Unit {
                            code: Some(code),
                            name,
                        },
                        CellRef::new(r, c),
                    ));
                }
            }
        }
        None
    }

    fn unit_from_label(&self, labels: &[&str]) -> Option<Sourced<Unit>> {
        let at = self.find(|l| labels.contains(&l.bare()))?;
        let text = self.text_right_of(Some(at))?;
        let unit = match unit_line(&text.value) {
            Some((code, name)) => Unit {
                code: Some(code),
                name,
            },
            None => Unit {
                code: None,
                name: text.value.clone(),
            },
        };
        Some(Sourced {
            value: unit,
            cell: text.cell,
        })
    }

    fn read_target(
        &self,
        form: &mut Form,
        anchor: CellRef,
        scale: Decimal,
        issues: &mut Vec<Issue>,
    ) {
        form.unit = self
            .read_unit_line(anchor.row)
            .or_else(|| self.unit_from_label(&["单位名称", "预算单位", "单位"]));
        let total = self.find(|l| l.bare() == "预算数");
        let fiscal = self.find(|l| {
            let b = l.bare();
            b == "其中:财政资金" || b == "财政资金" || b == "其中:财政拨款"
        });
        let other = self.find(|l| {
            let b = l.bare();
            b == "其他资金" || b == "其中:其他资金"
        });
        form.budget = Budget {
            total: self.number_right_of(total, "预算数", scale, issues),
            fiscal: self.number_right_of(fiscal, "财政资金", scale, issues),
            other: self.number_right_of(other, "其他资金", scale, issues),
        };
        let goals = self.find(|l| matches!(l.bare(), "绩效目标" | "年度绩效目标" | "项目绩效目标"));
        form.goals = self.text_right_of(goals);
        // 资金用途: the text between the budget row and the goals row, right of the
        // 预算规模及资金用途 label (or its own 资金用途 label).
        let use_label = self.find(|l| l.bare() == "资金用途");
        form.fund_use = if use_label.is_some() {
            self.text_right_of(use_label)
        } else {
            let budget_row = [total, fiscal, other].iter().flatten().map(|c| c.row).max();
            let goals_row = goals.map(|g| g.row).unwrap_or(self.end);
            budget_row.and_then(|br| {
                (br + 1..goals_row.min(self.end)).find_map(|r| {
                    self.grid.row(r).find_map(|(c, cell)| {
                        (cell.anchor.is_none() && !is_label(&cell.text))
                            .then(|| Sourced::at(cell.text.trim().to_string(), CellRef::new(r, c)))
                    })
                })
            })
        };
    }

    fn read_selfeval(&self, form: &mut Form, scale: Decimal, issues: &mut Vec<Issue>) {
        let dept = self.find(|l| l.bare() == "主管部门");
        form.department = self.text_right_of(dept);
        form.unit = self
            .unit_from_label(&["实施单位"])
            .or_else(|| self.read_unit_line(self.end));
        form.execution = self.read_funds(scale, issues);
        // 年度总体目标: the row under 预期目标 / 实际完成情况.
        if let Some(h) = self.find(|l| l.bare() == "预期目标") {
            form.goals = self.below(h);
            let actual = self
                .grid
                .row(h.row)
                .find(|(c, cell)| {
                    *c > h.col && cell.anchor.is_none() && bare(&cell.text) == "实际完成情况"
                })
                .map(|(c, _)| CellRef::new(h.row, c));
            form.goals_actual = actual.and_then(|a| self.below(a));
        }
    }

    fn below(&self, header: CellRef) -> Option<Sourced<String>> {
        let r = header.row + 1;
        if r >= self.end {
            return None;
        }
        let cell = self.grid.get(r, header.col)?;
        Some(Sourced::at(
            cell.text.trim().to_string(),
            cell.origin(CellRef::new(r, header.col)),
        ))
    }

    fn read_funds(&self, scale: Decimal, issues: &mut Vec<Issue>) -> Option<Execution> {
        let header = self.find(|l| l.bare() == "全年预算数")?;
        let mut cols = FundCols::default();
        for (c, cell) in self.grid.row(header.row) {
            let b = bare(&cell.text);
            let slot = match &*b {
                "年初预算数" => &mut cols.initial,
                "全年预算数" => &mut cols.annual,
                "全年执行数" => &mut cols.executed,
                "分值" => &mut cols.weight,
                "执行率" => &mut cols.rate,
                "得分" => &mut cols.score,
                _ => continue,
            };
            slot.get_or_insert(c);
        }
        let first_col = [cols.initial, cols.annual, cols.executed]
            .iter()
            .flatten()
            .min()
            .copied()
            .unwrap_or(0);
        let mut ex = Execution::default();
        for r in header.row + 1..self.end {
            let label: String = self
                .grid
                .row(r)
                .filter(|(c, cell)| *c < first_col && !bare(&cell.text).starts_with("项目资金"))
                .map(|(_, cell)| bare(&cell.text))
                .collect();
            let slot = if has(&label, "年度资金总额") || label == "合计" {
                &mut ex.total
            } else if has(&label, "财政拨款") {
                &mut ex.fiscal
            } else if has(&label, "上年结转") {
                &mut ex.carryover
            } else if has(&label, "其他资金") {
                &mut ex.other
            } else {
                break;
            };
            let mut get = |col: Option<u32>, what: &str, s: Decimal| {
                let c = col?;
                let cell = self.grid.get(r, c)?;
                if cell.anchor.is_some_and(|a| a.col < first_col) {
                    return None;
                }
                self.number_at(cell.origin(CellRef::new(r, c)), cell, what, s, issues)
            };
            *slot = FundRow {
                initial: get(cols.initial, "年初预算数", scale),
                annual: get(cols.annual, "全年预算数", scale),
                executed: get(cols.executed, "全年执行数", scale),
                weight: get(cols.weight, "分值", Decimal::ONE),
                rate_reported: get(cols.rate, "执行率", Decimal::ONE).map(|mut s| {
                    // A percent-formatted cell holds the fraction (0.8618 for 86.18%).
                    let fraction = self
                        .grid
                        .get(r, cols.rate.unwrap_or(0))
                        .is_some_and(|c| c.number.is_some() && !c.text.contains('%'));
                    if fraction && s.value.abs() <= Decimal::TWO {
                        s.value = (s.value * Decimal::ONE_HUNDRED).normalize();
                    }
                    s
                }),
                score_reported: get(cols.score, "得分", Decimal::ONE),
            };
        }
        Some(ex)
    }

    fn read_indicators(&self, form: &mut Form, issues: &mut Vec<Issue>) {
        let Some(header) = self.find(|l| l.bare() == "三级指标") else {
            return;
        };
        let mut cols = IndicatorCols::default();
        for (c, cell) in self.grid.row(header.row) {
            let b = bare(&cell.text);
            let slot = if has(&b, "实际完成") || b == "实际值" || b == "完成值" {
                &mut cols.actual
            } else if has(&b, "指标值") || has(&b, "目标值") {
                &mut cols.target
            } else if has(&b, "描述") || has(&b, "解释") || b == "指标内容" {
                &mut cols.description
            } else if b.starts_with("一级指标") {
                &mut cols.level1
            } else if b.starts_with("二级指标") {
                &mut cols.level2
            } else if b.starts_with("三级指标") {
                &mut cols.level3
            } else if has(&b, "分值") || b == "权重" {
                &mut cols.weight
            } else if has(&b, "得分") {
                &mut cols.score
            } else if has(&b, "偏差") || has(&b, "原因") || has(&b, "改进措施") {
                &mut cols.reason
            } else {
                continue;
            };
            slot.get_or_insert(c);
        }
        let is_self = form.kind() == FormKind::SelfEval;
        // Room for a form's usual rows up front: growing a vector of indicators copies them.
        let rows = self.end.saturating_sub(header.row + 1) as usize;
        form.indicators.reserve(rows.min(64));
        // 一级/二级 of the row above, borrowed from the grid: copied only into an indicator.
        let mut last1: Option<(CellRef, &str)> = None;
        let mut last2: Option<(CellRef, &str)> = None;
        for r in header.row + 1..self.end {
            let cell_at = |col: Option<u32>| -> Option<(CellRef, &'g GridCell)> {
                let c = col?;
                let cell = self.grid.get(r, c)?;
                Some((cell.origin(CellRef::new(r, c)), cell))
            };
            let str_at = |col: Option<u32>| -> Option<(CellRef, &'g str)> {
                let (at, cell) = cell_at(col)?;
                let t = cell.text.trim();
                (!t.is_empty()).then_some((at, t))
            };
            let text_at = |col: Option<u32>| -> Option<Sourced<String>> {
                str_at(col).map(|(at, t)| Sourced::at(t.to_string(), at))
            };
            // The row's text, folded and run together: its first four characters, as many as
            // the longest prefix tested below (on the stack: this runs for every row).
            let mut buf = [0u8; 16];
            let mut len = 0;
            for ch in self
                .grid
                .row(r)
                .flat_map(|(_, c)| c.text.chars().filter_map(fold_char))
                .take(4)
            {
                len += ch.encode_utf8(&mut buf[len..]).len();
            }
            let row_text = std::str::from_utf8(&buf[..len]).unwrap_or_default();
            if row_text.starts_with("总分") || row_text.starts_with("合计") {
                let w = cell_at(cols.weight);
                let s = cell_at(cols.score);
                form.total_weight_reported =
                    w.and_then(|(at, c)| self.number_at(at, c, "总分分值", Decimal::ONE, issues));
                form.total_reported =
                    s.and_then(|(at, c)| self.number_at(at, c, "总分", Decimal::ONE, issues));
                break;
            }
            if ["备注", "说明", "填表说明", "填报说明", "注:"]
                .iter()
                .any(|p| row_text.starts_with(p))
            {
                break;
            }
            let level3 = text_at(cols.level3);
            let target = text_at(cols.target);
            let actual = if is_self { text_at(cols.actual) } else { None };
            if level3.is_none() && target.is_none() && actual.is_none() {
                continue;
            }
            if form.indicators.len() == MAX_INDICATORS_PER_FORM {
                issues.push(
                    Issue::error(
                        TOO_MANY_INDICATORS,
                        format!("绩效指标超过 {MAX_INDICATORS_PER_FORM} 行，不像是一张绩效表，疑似异常或恶意文件"),
                    )
                    .at(Some(CellRef::new(r, header.col))),
                );
                break;
            }
            // A blank 一级/二级 cell means "same as above" (unmerged forms, ods, xlsb).
            let level1 = str_at(cols.level1).or(last1);
            let level2 = str_at(cols.level2).or(last2);
            last1 = level1;
            last2 = level2;
            let (l1_name, l1_weight) = level1.map(|(_, t)| split_weight(t)).unwrap_or_default();
            let level3 = level3.unwrap_or_default();
            let target = target.unwrap_or_default();
            let target_parsed = parse_with_name(&target.value, Some(&level3.value));
            let actual_parsed = actual
                .as_ref()
                .map(|a| Box::new(parse_with_name(&a.value, Some(&level3.value))));
            let num = |col: Option<u32>, what: &str, issues: &mut Vec<Issue>| {
                let (at, cell) = cell_at(col)?;
                self.number_at(at, cell, what, Decimal::ONE, issues)
            };
            let ind = Indicator {
                level1: Sourced {
                    value: l1_name,
                    cell: level1.map(|(at, _)| at),
                },
                level1_weight: l1_weight,
                level2: level2
                    .map(|(at, t)| Sourced::at(t.to_string(), at))
                    .unwrap_or_default(),
                level3,
                description: if is_self {
                    None
                } else {
                    text_at(cols.description)
                },
                target,
                target_parsed,
                actual,
                actual_parsed,
                weight: if is_self {
                    num(cols.weight, "分值", issues)
                } else {
                    None
                },
                score_reported: if is_self {
                    num(cols.score, "得分", issues)
                } else {
                    None
                },
                score: None,
                reason: if is_self { text_at(cols.reason) } else { None },
            };
            form.indicators.push(ind);
        }
        // A province holds a million of these until the outputs are written: no slack.
        form.indicators.shrink_to_fit();
    }
}

/// "产出指标(50分)" → ("产出指标", Some(50)); "效益指标" → ("效益指标", None).
pub fn split_weight(label: &str) -> (String, Option<Decimal>) {
    let n = norm(label);
    if let Some(pos) = n.find('(') {
        let inner = n[pos + 1..].trim_end_matches(')');
        let digits = inner.trim_end_matches('分');
        let weight = Decimal::from_str(digits).ok();
        return (n[..pos].to_string(), weight);
    }
    (n.into_owned(), None)
}

/// A unit code from the file name or a parent folder ("569301天津市科学技术协会/…").
pub fn unit_from_path(path: &Path) -> Option<Unit> {
    let stem = path.file_stem().map(|s| s.to_string_lossy().to_string());
    let parents = path
        .ancestors()
        .skip(1)
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().to_string()));
    stem.into_iter().chain(parents).find_map(|name| {
        let digits: String = name.chars().take_while(|c| c.is_ascii_digit()).collect();
        (digits.len() == 6).then(|| {
            let rest = name[6..].trim_start_matches(['-', '_', ' ']).to_string();
            Unit {
                code: Some(digits),
                name: rest,
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_fold_spaces_and_widths() {
        assert_eq!(bare("其中：财政    资金"), "其中:财政资金");
        assert_eq!(bare("全年预算数（A）"), "全年预算数");
        assert_eq!(bare("执行率（B/A）"), "执行率");
        assert_eq!(bare("项目名称："), "项目名称");
    }

    /// The copy-whole path of `norm` gives what folding character by character gives.
    #[test]
    fn norm_fast_path_is_the_fold() {
        for s in [
            "项目名称",
            "其中：财政    资金",
            "≥95%",
            "【一级】〔二级〕",
            "\u{3000}全角空格",
            "a\tb\nc",
            "ＡＢＣ１２３",
            "",
            "纯中文不需要折叠",
            "ascii only",
            "顿号、句号。",
            "\u{85}a\u{a0}b\u{1680}c\u{2003}d\u{2028}e\u{202f}f\u{205f}g\u{3000}h",
            "（全角括号）：，",
            "\u{FF5E}\u{FF5F}",
        ] {
            assert_eq!(norm(s), fold(s), "{s:?}");
        }
        // Every character that folds is caught by the byte test.
        for c in (0..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter(|c| folds(*c))
        {
            assert!(may_fold(c.encode_utf8(&mut [0; 4])), "{c:?}");
        }
    }

    #[test]
    fn unit_lines_and_years() {
        assert_eq!(
            unit_line("569301天津市科学技术协会"),
            Some(("569301".into(), "天津市科学技术协会".into()))
        );
        assert_eq!(unit_line("5693011"), None);
        assert_eq!(unit_line("单位：万元"), None);
        assert_eq!(year_of("(2023年度)"), Some(2023));
        assert_eq!(year_of("3.2023年天津科学技术馆"), Some(2023));
        assert_eq!(year_of("12023年"), None);
        assert_eq!(year_of("1800年，2024年"), Some(2024));
        assert_eq!(year_of("二〇二三年"), None);
        assert_eq!(year_of("科普经费绩效目标表"), None);
        assert_eq!(
            split_weight("产出指标（50分）"),
            ("产出指标".into(), Some(Decimal::from(50)))
        );
    }

    #[test]
    fn unit_from_folder() {
        let u = unit_from_path(Path::new("in/644201天津科学技术馆/a.xlsx")).unwrap();
        assert_eq!(u.code.as_deref(), Some("644201"));
        assert_eq!(u.name, "天津科学技术馆");
        assert!(unit_from_path(Path::new("in/x/a.xlsx")).is_none());
    }
}
