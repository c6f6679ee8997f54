//! The typed shape of what a form says, shared by every stage of the pipeline.
//!
//! Money is `Decimal` in 万元 (normalised at read time, exactly); scores are `Decimal` points.
//! Every value read from a form carries the cell it came from; the file and sheet are held once
//! per form (`Form::source`) because every value of one form shares them.

use std::fmt;
use std::path::PathBuf;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::indicator::Parsed;

mod indicators;
pub use indicators::{decoded as decoded_rows, Brief, Indicators};

/// A cell address, zero-based internally, printed A1-style ("B7").
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
pub struct CellRef {
    pub row: u32,
    pub col: u32,
}

impl CellRef {
    pub fn new(row: u32, col: u32) -> Self {
        CellRef { row, col }
    }

    /// Column letters for a zero-based column index: 0 → A, 25 → Z, 26 → AA.
    pub fn col_letters(col: u32) -> String {
        let mut n = col as u64 + 1;
        let mut out = Vec::new();
        while n > 0 {
            let rem = ((n - 1) % 26) as u8;
            out.push(b'A' + rem);
            n = (n - 1) / 26;
        }
        out.reverse();
        String::from_utf8(out).unwrap_or_default()
    }

    pub fn a1(&self) -> String {
        format!("{}{}", Self::col_letters(self.col), self.row + 1)
    }
}

impl fmt::Display for CellRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.a1())
    }
}

/// A value together with the cell it was read from (None for values the tool derived).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Sourced<T> {
    pub value: T,
    pub cell: Option<CellRef>,
}

impl<T> Sourced<T> {
    pub fn at(value: T, cell: CellRef) -> Self {
        Sourced {
            value,
            cell: Some(cell),
        }
    }

    pub fn derived(value: T) -> Self {
        Sourced { value, cell: None }
    }
}

/// Where a form lives: the file and the sheet. Cells are on each value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub struct SourceRef {
    pub file: PathBuf,
    pub sheet: String,
}

/// The indicator framework: 一级 with its 二级 categories. 成本指标 appears twice because both
/// placements occur and both are accepted: as a 二级 of 产出指标, and (2021 framework) as its own
/// 一级 with 经济/社会/生态环境成本指标.
pub const FRAMEWORK: &[(&str, &[&str])] = &[
    (
        "产出指标",
        &["数量指标", "质量指标", "时效指标", "成本指标"],
    ),
    (
        "效益指标",
        &[
            "经济效益指标",
            "社会效益指标",
            "生态效益指标",
            "可持续影响指标",
        ],
    ),
    ("满意度指标", &["服务对象满意度指标"]),
    (
        "成本指标",
        &["经济成本指标", "社会成本指标", "生态环境成本指标"],
    ),
];

/// Every (一级, 二级) pair of the framework.
pub fn framework_pairs() -> impl Iterator<Item = (&'static str, &'static str)> {
    FRAMEWORK
        .iter()
        .flat_map(|(l1, l2s)| l2s.iter().map(move |l2| (*l1, *l2)))
}

/// A budget unit (预算单位): a 6-digit code and a name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
pub struct Unit {
    pub code: Option<String>,
    pub name: String,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum FormKind {
    /// 项目支出绩效目标表
    Target,
    /// 项目支出绩效自评表
    #[serde(rename = "selfeval")]
    SelfEval,
}

impl FormKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FormKind::Target => "target",
            FormKind::SelfEval => "selfeval",
        }
    }

    /// The form's official name, as users read it.
    /// The kind as 项目汇总 and 指标明细 name it.
    pub fn short_zh(self) -> &'static str {
        match self {
            FormKind::Target => "绩效目标表",
            FormKind::SelfEval => "绩效自评表",
        }
    }

    pub fn title_zh(self) -> &'static str {
        match self {
            FormKind::Target => "项目支出绩效目标表",
            FormKind::SelfEval => "项目支出绩效自评表",
        }
    }
}

/// 预算规模 of a target table (all 万元).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub struct Budget {
    /// 预算数
    pub total: Option<Sourced<Decimal>>,
    /// 其中：财政资金
    pub fiscal: Option<Sourced<Decimal>>,
    /// 其他资金
    pub other: Option<Sourced<Decimal>>,
}

/// One row of the 项目资金 block of a self-evaluation (all 万元).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub struct FundRow {
    /// 年初预算数
    pub initial: Option<Sourced<Decimal>>,
    /// 全年预算数
    pub annual: Option<Sourced<Decimal>>,
    /// 全年执行数
    pub executed: Option<Sourced<Decimal>>,
    /// 分值 (only on 年度资金总额)
    pub weight: Option<Sourced<Decimal>>,
    /// 执行率 as the form states it, in percent
    pub rate_reported: Option<Sourced<Decimal>>,
    /// 得分 as the form states it
    pub score_reported: Option<Sourced<Decimal>>,
}

/// 项目资金 block of a self-evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub struct Execution {
    /// 年度资金总额
    pub total: FundRow,
    /// 其中：当年（本年）财政拨款
    pub fiscal: FundRow,
    /// 上年结转资金
    pub carryover: FundRow,
    /// 其他资金
    pub other: FundRow,
}

/// One row of the indicator table.
#[derive(Debug, Clone, PartialEq, Default, Serialize, serde::Deserialize)]
pub struct Indicator {
    /// 一级指标, as a category name ("产出指标(50分)" gives "产出指标").
    pub level1: Sourced<String>,
    /// A weight written into the 一级指标 label ("产出指标(50分)" → 50).
    pub level1_weight: Option<Decimal>,
    pub level2: Sourced<String>,
    pub level3: Sourced<String>,
    /// 绩效指标描述 (target tables only)
    pub description: Option<Sourced<String>>,
    /// 指标值 / 年度指标值, as written (trimmed)
    pub target: Sourced<String>,
    pub target_parsed: Parsed,
    /// 实际完成值 (self-evaluations only)
    pub actual: Option<Sourced<String>>,
    pub actual_parsed: Option<Box<Parsed>>,
    /// 分值
    pub weight: Option<Sourced<Decimal>>,
    /// 得分 as the form states it
    pub score_reported: Option<Sourced<Decimal>>,
    /// 得分 recomputed by the rules (filled by `score`)
    pub score: Option<Decimal>,
    /// 偏差原因分析及改进措施
    pub reason: Option<Sourced<String>>,
}

impl Default for Sourced<String> {
    fn default() -> Self {
        Sourced::derived(String::new())
    }
}

/// One recognised form: a project's target table or self-evaluation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, serde::Deserialize)]
pub struct Form {
    pub kind: Option<FormKind>,
    pub source: SourceRef,
    /// The title cell as written.
    pub title: Option<Sourced<String>>,
    pub unit: Option<Sourced<Unit>>,
    /// 主管部门 (self-evaluations)
    pub department: Option<Sourced<String>>,
    pub project: Option<Sourced<String>>,
    pub year: Option<Sourced<i32>>,
    /// The money unit the form was written in; amounts below are already in 万元.
    pub money_in_yuan: bool,
    /// Target tables: 预算数 / 财政资金 / 其他资金.
    pub budget: Budget,
    /// Target tables: 资金用途.
    pub fund_use: Option<Sourced<String>>,
    /// Target tables: 绩效目标; self-evaluations: 年度总体目标 预期目标.
    pub goals: Option<Sourced<String>>,
    /// Self-evaluations: 年度总体目标 实际完成情况.
    pub goals_actual: Option<Sourced<String>>,
    /// Self-evaluations: 项目资金 block.
    pub execution: Option<Execution>,
    /// The rows, kept encoded while a cached result's are not looked at (`Indicators`).
    pub indicators: Indicators,
    /// 总分 as the form states it (self-evaluations).
    pub total_weight_reported: Option<Sourced<Decimal>>,
    pub total_reported: Option<Sourced<Decimal>>,
}

impl Form {
    pub fn kind(&self) -> FormKind {
        self.kind.unwrap_or(FormKind::Target)
    }

    pub fn project_name(&self) -> &str {
        self.project
            .as_ref()
            .map(|p| p.value.as_str())
            .unwrap_or("")
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Severity::Error => "错误",
            Severity::Warning => "警告",
            Severity::Info => "提示",
        }
    }
}

/// A finding about a file or form: what users act on. `code` is stable (scripts filter on it);
/// `message` is Chinese and names what to fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Issue {
    pub severity: Severity,
    #[serde(deserialize_with = "static_code")]
    pub code: Code,
    pub file: Option<PathBuf>,
    pub sheet: Option<String>,
    pub cell: Option<CellRef>,
    pub message: String,
}

impl Issue {
    pub fn new(severity: Severity, code: &'static str, message: impl Into<String>) -> Self {
        Issue {
            severity,
            code,
            file: None,
            sheet: None,
            cell: None,
            message: message.into(),
        }
    }

    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, message)
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, message)
    }

    pub fn info(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Info, code, message)
    }

    pub fn at(mut self, cell: Option<CellRef>) -> Self {
        self.cell = cell;
        self
    }

    /// Attach file and sheet (kept if already set).
    pub fn in_source(mut self, source: &SourceRef) -> Self {
        if self.file.is_none() {
            self.file = Some(source.file.clone());
        }
        if self.sheet.is_none() && !source.sheet.is_empty() {
            self.sheet = Some(source.sheet.clone());
        }
        self
    }

    pub fn in_file(mut self, file: &std::path::Path) -> Self {
        self.file = Some(file.to_path_buf());
        self
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.severity.label_zh(), self.code)?;
        if let Some(file) = &self.file {
            write!(f, " {}", file.display())?;
        }
        if let Some(sheet) = &self.sheet {
            write!(f, " 工作表「{sheet}」")?;
        }
        if let Some(cell) = &self.cell {
            write!(f, " {cell}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A stable issue or note code. Spelled through an alias on purpose: serde's derive would
/// read a literal `&'static str` field as borrowed from the input and demand `'de: 'static`,
/// even with `deserialize_with`.
pub type Code = &'static str;

/// An issue or note code read back from the cache, interned (`static_str`).
pub fn static_code<'de, D: serde::Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    <String as serde::Deserialize>::deserialize(d).map(static_str)
}

/// An issue code read back from the cache as the `&'static str` the code base compares. Codes
/// are a few dozen constants, so each distinct one is kept once for the process's life.
fn static_str(code: String) -> &'static str {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static SEEN: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let Ok(mut seen) = SEEN.get_or_init(|| Mutex::new(HashSet::new())).lock() else {
        return "cache.code";
    };
    if let Some(known) = seen.get(code.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(code.into_boxed_str());
    seen.insert(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a1_addresses() {
        assert_eq!(CellRef::new(0, 0).a1(), "A1");
        assert_eq!(CellRef::new(6, 1).a1(), "B7");
        assert_eq!(CellRef::new(0, 25).a1(), "Z1");
        assert_eq!(CellRef::new(0, 26).a1(), "AA1");
        assert_eq!(CellRef::new(1_048_575, 16_383).a1(), "XFD1048576");
    }
}
