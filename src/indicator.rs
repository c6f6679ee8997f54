//! The 指标值 grammar: what a target value (or an actual value) written in a form means.
//!
//! ```text
//! value     := deadline | segment ( SEP segment )*          SEP := ， , ； ; 。
//! segment   := label? op? number multiplier? unit? postop? tail?
//! op        := ≥ ≤ > < = >= <= | 不少于 不低于 至少 达到 达 … | 不超过 不高于 … | 大于 低于 …
//! number    := digits ( ',' 3digits )* ( '.' digits )? | 百分之 (digits | 中文数字) | 百分之百
//! multiplier:= 万 | 亿
//! unit      := % 百分比 元 人次 场次 个 场 项 … (longest match)
//! postop    := 以上 及以上 | 以内 以下 及以下 之内
//! ```
//! A segment with no number is plain text; a value whose segments hold no number at all is
//! qualitative. Full-width digits, letters and operators are folded to ASCII first.
//!
//! **Normal form** (decided here, relied on by `score`): `value` is in the base unit with the
//! multiplier applied — `≥100万人次` is ≥ 1 000 000 人次, `1万场` is 10 000 场 — except money,
//! which is always in 万元 (`≤185万元` → 185 万元, `250000元` → 25 万元). Percentages are in
//! percent (`≥90%` → 90 %). `number` keeps the figure as written (100 for 100万人次).
//! A value with no operator means equal (`156.5万元` → = 156.5 万元).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::text::has;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub enum Op {
    Ge,
    Gt,
    Eq,
    Le,
    Lt,
}

impl Op {
    /// ≤ and < are reverse indicators (smaller is better).
    pub fn is_reverse(self) -> bool {
        matches!(self, Op::Le | Op::Lt)
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Op::Ge => "≥",
            Op::Gt => ">",
            Op::Eq => "=",
            Op::Le => "≤",
            Op::Lt => "<",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// A normalised unit. Money is always 万元; counts and durations keep their written unit
/// without the 万/亿 multiplier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub enum Unit {
    Percent,
    /// 万元
    Money,
    /// 个 场 人次 项 期 人 次 件 套 部 月 天 年 …
    Count(String),
    None,
}

impl Unit {
    pub fn label(&self) -> &str {
        match self {
            Unit::Percent => "%",
            Unit::Money => "万元",
            Unit::Count(u) => u,
            Unit::None => "",
        }
    }
}

/// One quantity: `label op value unit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Quantity {
    /// Text before the operator ("主场活动"), if any.
    pub label: Option<String>,
    pub op: Op,
    /// Whether the operator was written (else `=` is assumed).
    pub op_written: bool,
    /// The figure as written, without multiplier ("100" in 100万人次).
    pub number: Decimal,
    /// The figure in the normal form (see the module doc).
    pub value: Decimal,
    pub unit: Unit,
    /// The unit as written, with its multiplier ("万人次", "百分比", "万元").
    pub unit_written: String,
}

impl Quantity {
    /// The factor from the written figure to the normal form (10000 for 万人次).
    pub fn scale(&self) -> Decimal {
        if self.number.is_zero() {
            Decimal::ONE
        } else {
            self.value / self.number
        }
    }
}

/// A calendar date; `year` is None when the form wrote only a month ("12月底前").
/// A month without a day means its last day; 上旬/中旬/下旬 mean the 10th/20th/last day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub struct Date {
    pub year: Option<i32>,
    pub month: u32,
    pub day: u32,
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.year {
            Some(y) => write!(f, "{y:04}-{:02}-{:02}", self.month, self.day),
            None => write!(f, "--{:02}-{:02}", self.month, self.day),
        }
    }
}

/// How far a qualitative actual says the target was reached (the three national bands).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub enum Attainment {
    /// 达成年度指标
    Met,
    /// 部分达成年度指标并具有一定效果
    Partial,
    /// 未达成年度指标且效果较差
    Unmet,
}

impl Attainment {
    pub fn label_zh(self) -> &'static str {
        match self {
            Attainment::Met => "达成年度指标",
            Attainment::Partial => "部分达成年度指标并具有一定效果",
            Attainment::Unmet => "未达成年度指标且效果较差",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Value {
    /// Nothing written.
    Empty,
    Quantity(Quantity),
    /// Two or more quantities in one cell ("主场活动2场，带动全市开展活动不少于1万场").
    Compound(Vec<Quantity>),
    /// A date by which (target) or on which (actual) something is done.
    Deadline(Date),
    /// Words only ("提升", "按合同规定实施"); for actuals, the band the words state, if any.
    Qualitative {
        attainment: Option<Attainment>,
    },
    /// Reported, never dropped: the text stays as written in the indicator's 指标值 or
    /// 实际完成值 (the parse does not keep a second copy: a province holds a million).
    Unparsed {
        reason: String,
    },
}

/// Something the parser had to assume, reported as a warning by `check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Note {
    #[serde(deserialize_with = "crate::model::static_code")]
    pub code: crate::model::Code,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Parsed {
    pub value: Value,
    pub notes: Vec<Note>,
}

impl Default for Parsed {
    fn default() -> Self {
        Parsed {
            value: Value::Empty,
            notes: Vec::new(),
        }
    }
}

impl Parsed {
    /// The first (or only) quantity, if the value has any.
    pub fn quantity(&self) -> Option<&Quantity> {
        match &self.value {
            Value::Quantity(q) => Some(q),
            Value::Compound(qs) => qs.first(),
            _ => None,
        }
    }

    pub fn is_unparsed(&self) -> bool {
        matches!(self.value, Value::Unparsed { .. })
    }
}

/// Parse a 指标值 or 实际完成值 with no indicator name to help.
pub fn parse(text: &str) -> Parsed {
    parse_with_name(text, None)
}

/// Parse a value; `name` is the 三级指标, used when a figure is followed by the indicator's
/// own name instead of a unit (`≥90科技馆正常运转率`).
pub fn parse_with_name(text: &str, name: Option<&str>) -> Parsed {
    let trimmed = text.trim();
    let mut notes = Vec::new();
    let value = if trimmed.is_empty() {
        Value::Empty
    } else {
        let chars = normalise(trimmed);
        parse_value(&chars, name, &mut notes)
    };
    Parsed { value, notes }
}

/// Fold full-width forms to ASCII, unify operator glyphs, drop white space; ">=", "<=" and
/// "==" become one glyph so the rest of the grammar sees single operators. One pass (this runs
/// on every 指标值 and actual): a pair is folded as its second character arrives, left to right,
/// so ">==" is "≥=" and "===" is "==" (a test holds it to the two-pass fold).
fn normalise(text: &str) -> Vec<char> {
    let mut out: Vec<char> = Vec::with_capacity(text.len());
    // The last character pushed may pair with the next one (it is not itself a folded pair).
    let mut open = false;
    for c in text.chars() {
        let c = fold_glyph(c);
        if c.is_whitespace() {
            continue;
        }
        if open && c == '=' {
            if let Some(last) = out.last_mut() {
                match *last {
                    '>' => *last = '≥',
                    '<' => *last = '≤',
                    _ => {} // "==" is "="
                }
                open = false;
                continue;
            }
        }
        open = matches!(c, '>' | '<' | '=');
        out.push(c);
    }
    out
}

/// One character as the grammar reads it.
fn fold_glyph(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '≧' | '⩾' => '≥',
        '≦' | '⩽' => '≤',
        // (full-width ；～－ are folded by the range above)
        '〜' => '~',
        '—' | '–' => '-',
        other => other,
    }
}

fn parse_value(chars: &[char], name: Option<&str>, notes: &mut Vec<Note>) -> Value {
    if let Some(date) = parse_deadline(chars) {
        return Value::Deadline(date);
    }
    let mut quantities = Vec::new();
    for segment in split_segments(chars) {
        match parse_segment(segment, name, notes) {
            Ok(Some(q)) => quantities.push(q),
            Ok(None) => {}
            Err(reason) => return Value::Unparsed { reason },
        }
    }
    match quantities.len() {
        0 => {
            if chars.iter().any(|c| c.is_ascii_digit()) {
                Value::Unparsed {
                    reason: "含有数字但无法识别数值".to_string(),
                }
            } else if chars.iter().any(|c| is_cjk(*c) || c.is_alphabetic()) {
                Value::Qualitative {
                    attainment: classify_attainment(&chars.iter().collect::<String>()),
                }
            } else {
                Value::Unparsed {
                    reason: "既无数值也无文字".to_string(),
                }
            }
        }
        1 => quantities
            .pop()
            .map(Value::Quantity)
            .unwrap_or(Value::Empty),
        _ => Value::Compound(quantities),
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}')
}

/// Split on clause separators; a comma between digits followed by exactly three digits is a
/// thousands separator, not a split.
fn split_segments(chars: &[char]) -> Vec<&[char]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 0..chars.len() {
        let c = chars[i];
        let split = match c {
            ';' | '。' => true,
            ',' => !is_thousands_comma(chars, i),
            _ => false,
        };
        if split {
            if i > start {
                out.push(&chars[start..i]);
            }
            start = i + 1;
        }
    }
    if start < chars.len() {
        out.push(&chars[start..]);
    }
    out
}

fn is_thousands_comma(chars: &[char], i: usize) -> bool {
    let before = i > 0 && chars[i - 1].is_ascii_digit();
    let three = chars.len() >= i + 4 && chars[i + 1..i + 4].iter().all(|c| c.is_ascii_digit());
    let after_ok = chars.get(i + 4).is_none_or(|c| !c.is_ascii_digit());
    before && three && after_ok
}

/// Operator words and glyphs that may stand right before a number; longest first.
const PREFIX_OPS: &[(&str, Op)] = &[
    ("大于或等于", Op::Ge),
    ("小于或等于", Op::Le),
    ("大于等于", Op::Ge),
    ("小于等于", Op::Le),
    ("不少于", Op::Ge),
    ("不低于", Op::Ge),
    ("不小于", Op::Ge),
    ("不超过", Op::Le),
    ("不高于", Op::Le),
    ("不多于", Op::Le),
    ("不大于", Op::Le),
    ("控制在", Op::Le),
    ("至少", Op::Ge),
    ("达到", Op::Ge),
    ("至多", Op::Le),
    ("大于", Op::Gt),
    ("高于", Op::Gt),
    ("超过", Op::Gt),
    ("多于", Op::Gt),
    ("小于", Op::Lt),
    ("低于", Op::Lt),
    ("少于", Op::Lt),
    ("等于", Op::Eq),
    ("≥", Op::Ge),
    ("≤", Op::Le),
    (">", Op::Gt),
    ("<", Op::Lt),
    ("=", Op::Eq),
    ("达", Op::Ge),
    ("为", Op::Eq),
];

/// Operator words that follow a figure ("10人以上"); longest first.
const POSTFIX_OPS: &[(&str, Op)] = &[
    ("及以上", Op::Ge),
    ("及以下", Op::Le),
    ("以上", Op::Ge),
    ("以内", Op::Le),
    ("以下", Op::Le),
    ("之内", Op::Le),
];

/// Units recognised after a figure (and its 万/亿); longest match wins.
const UNITS: &[&str] = &[
    "百分比",
    "百分点",
    "工作日",
    "平方米",
    "人次",
    "场次",
    "个月",
    "小时",
    "分钟",
    "课时",
    "学时",
    "公里",
    "千米",
    "人天",
    "家次",
    "户次",
    "台套",
    "篇次",
    "册次",
    "批次",
    "元",
    "%",
    "‰",
    "个",
    "场",
    "项",
    "期",
    "人",
    "次",
    "件",
    "套",
    "部",
    "月",
    "天",
    "日",
    "年",
    "周",
    "户",
    "家",
    "所",
    "名",
    "台",
    "册",
    "本",
    "篇",
    "处",
    "米",
    "份",
    "批",
    "类",
    "门",
    "座",
    "辆",
    "条",
    "张",
    "幅",
    "间",
    "栋",
    "株",
    "棵",
    "头",
    "只",
    "亩",
    "吨",
    "分",
    "例",
    "支",
    "种",
    "档",
    "组",
    "轮",
    "千元",
    "季",
    "卷",
    "字",
    "GB",
    "TB",
    "km",
];

/// The units that begin with `c`, in the order of `UNITS` (a figure is followed by a unit, if
/// at all, so only these can match: grouped once, not tried all eighty for every figure).
fn units_starting_with(c: char) -> &'static [&'static str] {
    static BY_FIRST: OnceLock<HashMap<char, Vec<&'static str>>> = OnceLock::new();
    let by_first = BY_FIRST.get_or_init(|| grouped(UNITS, |u| u.chars().next()));
    by_first.get(&c).map_or(&[], Vec::as_slice)
}

/// The operator words that end with `c`, in the order of `PREFIX_OPS` (longest first).
fn prefix_ops_ending_with(c: char) -> &'static [(&'static str, Op)] {
    static BY_LAST: OnceLock<HashMap<char, Vec<(&'static str, Op)>>> = OnceLock::new();
    let by_last = BY_LAST.get_or_init(|| grouped(PREFIX_OPS, |(w, _)| w.chars().next_back()));
    by_last.get(&c).map_or(&[], Vec::as_slice)
}

/// A word table grouped by one character of each entry, each group in the table's order.
fn grouped<T: Copy>(table: &[T], key: impl Fn(&T) -> Option<char>) -> HashMap<char, Vec<T>> {
    let mut m: HashMap<char, Vec<T>> = HashMap::new();
    for entry in table {
        if let Some(c) = key(entry) {
            m.entry(c).or_default().push(*entry);
        }
    }
    m
}

fn starts_with(chars: &[char], pat: &str) -> bool {
    pat.chars()
        .enumerate()
        .all(|(i, p)| chars.get(i) == Some(&p))
}

fn ends_with(chars: &[char], pat: &str) -> bool {
    // From the end: a word that does not end the text differs there first, mostly.
    let mut rest = chars;
    for p in pat.chars().rev() {
        match rest.split_last() {
            Some((c, before)) if *c == p => rest = before,
            _ => return false,
        }
    }
    true
}

/// Parse one segment. `Ok(None)`: words only. `Err`: a figure the grammar cannot read.
fn parse_segment(
    seg: &[char],
    name: Option<&str>,
    notes: &mut Vec<Note>,
) -> Result<Option<Quantity>, String> {
    let Some((start, number, len)) = find_number(seg)? else {
        return Ok(None);
    };
    let is_percent_words = starts_with(&seg[start..], "百分之");

    // Operator and label before the figure.
    let mut prefix = &seg[..start];
    let mut op = None;
    let candidates = prefix
        .last()
        .map_or(&[][..], |&c| prefix_ops_ending_with(c));
    for (word, o) in candidates {
        if ends_with(prefix, word) {
            op = Some(*o);
            prefix = &prefix[..prefix.len() - word.chars().count()];
            break;
        }
    }
    let label: String = prefix
        .iter()
        .collect::<String>()
        .trim_end_matches([':', '：'])
        .to_string();
    if label.chars().any(|c| c.is_ascii_digit()) {
        return Err("一个分句中有多个数值".to_string());
    }

    let mut rest = &seg[start + len..];
    let mut value = number;
    let mut unit_written = String::new();
    let unit;
    if is_percent_words {
        unit = Unit::Percent;
        unit_written.push_str("百分之");
    } else {
        let mut multiplier = Decimal::ONE;
        if let Some(&m) = rest.first() {
            let factor = match m {
                '万' => Some(Decimal::from(10_000)),
                '亿' => Some(Decimal::from(100_000_000)),
                _ => None,
            };
            if let Some(f) = factor {
                multiplier = f;
                unit_written.push(m);
                rest = &rest[1..];
            }
        }
        let matched = rest
            .first()
            .map_or(&[][..], |&c| units_starting_with(c))
            .iter()
            .filter(|u| starts_with(rest, u))
            .max_by_key(|u| u.chars().count());
        match matched {
            Some(u) => {
                unit_written.push_str(u);
                rest = &rest[u.chars().count()..];
                unit = match *u {
                    "%" | "百分比" | "百分点" => Unit::Percent,
                    "元" => Unit::Money,
                    "千元" => {
                        multiplier *= Decimal::from(1_000);
                        Unit::Money
                    }
                    other => Unit::Count(other.to_string()),
                };
            }
            None if rest.is_empty()
                || POSTFIX_OPS.iter().any(|(w, _)| starts_with(rest, w))
                || matches!(rest.first(), Some('-' | '~' | '至' | '到')) =>
            {
                unit = Unit::None;
            }
            None => {
                // The whole tail is the indicator's name or an unknown unit.
                unit = infer_unit(rest, name, notes);
                rest = &[];
            }
        }
        value = match unit {
            // Money is normalised to 万元: 元 × multiplier / 10000.
            Unit::Money => checked(number.checked_mul(multiplier))? / Decimal::from(10_000),
            _ => checked(number.checked_mul(multiplier))?,
        };
    }

    let mut op_written = op.is_some();
    for (word, o) in POSTFIX_OPS {
        if starts_with(rest, word) {
            if op.is_none() {
                op = Some(*o);
                op_written = true;
            }
            rest = &rest[word.chars().count()..];
            break;
        }
    }
    if let Some(c) = rest.first() {
        if matches!(c, '-' | '~' | '至' | '到') && rest.iter().any(|c| c.is_ascii_digit()) {
            return Err("区间值（如 90%-95%）无法按单一目标计分".to_string());
        }
    }
    if rest.iter().any(|c| c.is_ascii_digit()) {
        return Err("一个分句中有多个数值".to_string());
    }
    if value.abs() > max_figure() || number.abs() > max_figure() {
        return Err("数值超出合理范围（超过 10 的 15 次方）".to_string());
    }
    Ok(Some(Quantity {
        label: (!label.is_empty()).then_some(label),
        op: op.unwrap_or(Op::Eq),
        op_written,
        number,
        value: value.normalize(),
        unit,
        unit_written,
    }))
}

/// The largest figure a form may hold (10^15): far beyond any budget in 万元 or any count, and
/// small enough that scoring and summing millions of them can never overflow a Decimal.
pub fn max_figure() -> Decimal {
    Decimal::from(1_000_000_000_000_000u64)
}

fn checked(v: Option<Decimal>) -> Result<Decimal, String> {
    v.ok_or_else(|| "数值超出范围".to_string())
}

/// No known unit follows the figure: the tail may be the indicator's own name
/// (`≥90科技馆正常运转率`), an unknown unit, or nothing.
fn infer_unit(tail: &[char], name: Option<&str>, notes: &mut Vec<Note>) -> Unit {
    if tail.is_empty() {
        return Unit::None;
    }
    let tail_s: String = tail.iter().collect();
    let is_name = name.is_some_and(|n| {
        let n: String = normalise(n).into_iter().collect();
        !n.is_empty() && (n == tail_s || n.contains(&tail_s) || tail_s.contains(&n))
    });
    if is_name || tail_s.ends_with('率') {
        let rate = tail_s.ends_with('率') || name.is_some_and(|n| n.trim().ends_with('率'));
        notes.push(Note {
            code: "indicator.unit_inferred",
            message: if rate {
                format!("数值后写的是指标名称「{tail_s}」而非计量单位，已按百分比（%）理解，请改写为带单位的指标值")
            } else {
                format!("数值后写的是指标名称「{tail_s}」而非计量单位，请补充计量单位")
            },
        });
        return if rate { Unit::Percent } else { Unit::None };
    }
    notes.push(Note {
        code: "indicator.unit_unknown",
        message: format!("未识别的计量单位「{tail_s}」，已按原文保留"),
    });
    Unit::Count(tail_s)
}

/// Find the figure of a segment: its start, value and length in chars.
fn find_number(seg: &[char]) -> Result<Option<(usize, Decimal, usize)>, String> {
    for i in 0..seg.len() {
        if starts_with(&seg[i..], "百分之") {
            let after = &seg[i + 3..];
            if let Some((v, n)) = ascii_number(after)? {
                return Ok(Some((i, v, 3 + n)));
            }
            if let Some((v, n)) = chinese_number(after) {
                return Ok(Some((i, v, 3 + n)));
            }
        }
        if seg[i].is_ascii_digit() {
            let (v, n) = ascii_number(&seg[i..])?.ok_or_else(|| "数值无法识别".to_string())?;
            return Ok(Some((i, v, n)));
        }
    }
    Ok(None)
}

/// Digits with optional thousands commas and a decimal part, at the start of `s`.
fn ascii_number(s: &[char]) -> Result<Option<(Decimal, usize)>, String> {
    let mut digits = String::new();
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c.is_ascii_digit() {
            digits.push(c);
            i += 1;
        } else if c == ','
            && !digits.is_empty()
            && !digits.contains('.')
            && is_thousands_comma(s, i)
        {
            i += 1;
        } else if c == '.'
            && !digits.is_empty()
            && !digits.contains('.')
            && s.get(i + 1).is_some_and(|d| d.is_ascii_digit())
        {
            digits.push('.');
            i += 1;
        } else {
            break;
        }
    }
    if digits.is_empty() {
        return Ok(None);
    }
    if digits.len() > 24 {
        return Err("数值位数过多".to_string());
    }
    Decimal::from_str(&digits)
        .map(|d| Some((d, i)))
        .map_err(|_| "数值无法识别".to_string())
}

/// A small Chinese numeral below 1000 (百, 九十, 九十五, 五): enough for 百分之….
fn chinese_number(s: &[char]) -> Option<(Decimal, usize)> {
    let digit = |c: char| "零一二三四五六七八九".chars().position(|d| d == c);
    let mut total: u32 = 0;
    let mut current: Option<u32> = None;
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c == '两' {
            current = Some(2);
        } else if let Some(d) = digit(c) {
            current = Some(d as u32);
        } else if c == '十' {
            total += current.unwrap_or(1) * 10;
            current = None;
        } else if c == '百' {
            total += current.unwrap_or(1) * 100;
            current = None;
        } else {
            break;
        }
        i += 1;
    }
    if i == 0 {
        return None;
    }
    total += current.unwrap_or(0);
    Some((Decimal::from(total), i))
}

fn days_in_month(year: Option<i32>, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => match year {
            Some(y) if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
            Some(_) => 28,
            None => 29,
        },
    }
}

/// Read 1–4 ASCII digits at the start of `s`.
fn small_int(s: &[char], max_len: usize) -> Option<(u32, usize)> {
    let n = s
        .iter()
        .take(max_len + 1)
        .take_while(|c| c.is_ascii_digit())
        .count();
    if n == 0 || n > max_len {
        return None;
    }
    let v = s[..n].iter().collect::<String>().parse().ok()?;
    Some((v, n))
}

/// `2023年底前完成`, `2023年12月31日前`, `2023-12-31`, `12月底前`, `2023年11月完成`.
/// The date must be the only figure in the text and no comparison operator may precede it.
fn parse_deadline(chars: &[char]) -> Option<Date> {
    let first_digit = chars.iter().position(|c| c.is_ascii_digit())?;
    let prefix = &chars[..first_digit];
    if prefix
        .iter()
        .any(|c| matches!(c, '≥' | '≤' | '>' | '<' | '='))
    {
        return None;
    }
    let s = &chars[first_digit..];
    let (date, used) = if let Some((year, n)) = small_int(s, 4).filter(|(_, n)| *n == 4) {
        if !(1900..=2199).contains(&year) {
            return None;
        }
        let year = year as i32;
        match s.get(n) {
            Some('年') => {
                let rest = &s[n + 1..];
                match small_int(rest, 2) {
                    Some((m, k)) if rest.get(k) == Some(&'月') => {
                        let (day, used) = day_part(Some(year), m, &rest[k + 1..])?;
                        (
                            Date {
                                year: Some(year),
                                month: m,
                                day,
                            },
                            n + 1 + k + 1 + used,
                        )
                    }
                    Some(_) => return None,
                    None => (
                        Date {
                            year: Some(year),
                            month: 12,
                            day: 31,
                        },
                        n + 1,
                    ),
                }
            }
            Some(sep @ ('-' | '.' | '/')) => {
                let rest = &s[n + 1..];
                let (m, k) = small_int(rest, 2)?;
                let mut used = n + 1 + k;
                let mut day = days_in_month(Some(year), m);
                if rest.get(k) == Some(sep) {
                    let (d, j) = small_int(&rest[k + 1..], 2)?;
                    day = d;
                    used += 1 + j;
                }
                if !(1..=12).contains(&m) || day == 0 || day > days_in_month(Some(year), m) {
                    return None;
                }
                (
                    Date {
                        year: Some(year),
                        month: m,
                        day,
                    },
                    used,
                )
            }
            _ => return None,
        }
    } else {
        // A month without a year must say it is a date: 底/末/日/旬/前.
        let (m, k) = small_int(s, 2)?;
        if s.get(k) != Some(&'月') {
            return None;
        }
        let rest = &s[k + 1..];
        let marks = ['底', '末', '前', '上', '中', '下'];
        let dated = rest.first().is_some_and(|c| marks.contains(c))
            || small_int(rest, 2).is_some_and(|(_, j)| matches!(rest.get(j), Some('日' | '号')));
        if !dated {
            return None;
        }
        let (day, used) = day_part(None, m, rest)?;
        (
            Date {
                year: None,
                month: m,
                day,
            },
            k + 1 + used,
        )
    };
    // Nothing after the date may be another figure.
    if s[used..].iter().any(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(date)
}

/// After "M月": an optional day (D日, D号, 上旬/中旬/下旬, 底, 末). Returns (day, chars used).
fn day_part(year: Option<i32>, month: u32, rest: &[char]) -> Option<(u32, usize)> {
    if !(1..=12).contains(&month) {
        return None;
    }
    let last = days_in_month(year, month);
    if let Some((d, j)) = small_int(rest, 2) {
        if matches!(rest.get(j), Some('日' | '号')) {
            return (1..=last).contains(&d).then_some((d, j + 1));
        }
        return None;
    }
    if starts_with(rest, "上旬") {
        return Some((10, 2));
    }
    if starts_with(rest, "中旬") {
        return Some((20, 2));
    }
    Some((last, 0))
}

/// The band a qualitative actual states. Checked from the weakest claim up, so that
/// 部分达成 and 未达成 are never read as 达成.
pub fn classify_attainment(text: &str) -> Option<Attainment> {
    const UNMET: &[&str] = &[
        "未达",
        "未完成",
        "未实现",
        "未能",
        "没有达",
        "没有完成",
        "未按",
        "效果较差",
        "不达标",
        "未开展",
        "未落实",
        "差距较大",
    ];
    const PARTIAL: &[&str] = &["部分", "基本", "大部分", "一定效果", "有所"];
    const MET: &[&str] = &[
        "达成",
        "完成",
        "实现",
        "达到",
        "达标",
        "符合",
        "明显",
        "良好",
        "提升",
        "提高",
        "及时",
        "按时",
        "按期",
        "优秀",
        "满意",
        "有效",
        "显著",
        "较好",
        "增强",
        "改善",
        "扩大",
        "稳定",
        "正常",
        "合规",
        "按合同",
    ];
    let text = text.trim();
    // `has`, not `str::contains`: this runs over every qualitative 指标值 and actual.
    if UNMET.iter().any(|w| has(text, w)) || text == "否" {
        Some(Attainment::Unmet)
    } else if PARTIAL.iter().any(|w| has(text, w)) {
        Some(Attainment::Partial)
    } else if MET.iter().any(|w| has(text, w)) || text == "是" {
        Some(Attainment::Met)
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
