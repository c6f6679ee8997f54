//! 指标明细, the one sheet of consolidated.xlsx with a row per indicator (a million in a
//! province), written as SpreadsheetML by hand and spliced into the package rust_xlsxwriter
//! saved.
//!
//! Why by hand: rust_xlsxwriter looks every cell's `Format` up in a hash map (SipHash over all
//! of its fields), about 1 µs a cell; at 20 cells a row that was 13–17 s of a night whose
//! other work takes seconds. So rust_xlsxwriter still writes the sheet's frame — header row,
//! widths, frozen pane, filter and conditional format over every row, print setup — plus one
//! probe row of blank styled cells that tells the style ids it gave the two formats used here;
//! `splice` replaces the probe with the real rows. The cells are written as rust_xlsxwriter
//! writes them (same escaping, inline strings, blank styled cells) but without positions,
//! which a test checks byte by byte.
//!
//! Why without positions: a unit's rows are then the same bytes wherever the unit lands in the
//! sheet, so each unit's rows are deflated once into a piece (`output::package`) and kept in
//! the cache (`detail.pieces`) until one of its forms changes. A night where 1 % of the files
//! changed deflates 1 % of the rows (the whole sheet was 2 s of deflate), and the sheet
//! compresses 2.5 times smaller without a cell reference in every cell.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rust_decimal::Decimal;

use crate::aggregate::{Aggregate, ProjectRow};
use crate::indicator::Value;
use crate::model::Indicator;
use crate::output::package::{deflate_piece, PackageWriter, Piece};
use crate::score::{round2, Method};

pub const SHEET: &str = "指标明细";

pub const HEADERS: [&str; 20] = [
    "单位编码",
    "单位名称",
    "项目名称",
    "表类型",
    "一级指标",
    "二级指标",
    "三级指标",
    "指标值",
    "比较符",
    "目标数值",
    "计量单位",
    "实际完成值",
    "分值",
    "表内得分",
    "复核得分",
    "是否达成",
    "偏差原因分析及改进措施",
    "来源文件",
    "工作表",
    "单元格",
];

pub const WIDTHS: [usize; 20] = [
    10, 24, 30, 10, 12, 16, 30, 24, 6, 12, 8, 20, 8, 8, 8, 8, 30, 40, 20, 8,
];

/// One cell of a 指标明细 row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// Text in the text style (blank when empty).
    Text(Cow<'a, str>),
    /// A score in the score style, rounded to 2 places (blank when None).
    Score(Option<Decimal>),
    /// A figure as typed, every digit, in the text style (blank when None).
    Exact(Option<Decimal>),
}

/// The 20 cells of the row of indicator `n` of form `p`.
pub fn row_cells<'a>(p: &'a ProjectRow, n: usize, ind: &'a Indicator) -> [Cell<'a>; 20] {
    let f = p.form();
    let outcome = p.score().and_then(|s| s.indicators.get(n));
    let (op, number, unit): (Cow<str>, Option<Decimal>, Cow<str>) = match &ind.target_parsed.value {
        Value::Quantity(q) => (q.op.symbol().into(), Some(q.value), q.unit.label().into()),
        Value::Compound(_) => ("复合".into(), None, "".into()),
        Value::Deadline(d) => ("时限".into(), None, d.to_string().into()),
        Value::Qualitative { .. } => ("定性".into(), None, "".into()),
        Value::Unparsed { .. } => ("无法识别".into(), None, "".into()),
        Value::Empty => ("".into(), None, "".into()),
    };
    let met = match outcome.map(|o| (o.met, o.method)) {
        Some((_, Method::Missing)) => "未填报",
        Some((Some(true), _)) => "是",
        Some((Some(false), _)) => "否",
        Some((None, _)) => "无法判断",
        None => "",
    };
    let text = |s: &'a str| Cell::Text(Cow::Borrowed(s));
    let opt = |s: &'a Option<crate::model::Sourced<String>>| {
        text(s.as_ref().map(|a| a.value.as_str()).unwrap_or(""))
    };
    [
        text(p.unit_code.as_deref().unwrap_or("")),
        text(&p.unit_name),
        text(f.project_name()),
        text(f.kind().short_zh()),
        text(&ind.level1.value),
        text(&ind.level2.value),
        text(&ind.level3.value),
        text(&ind.target.value),
        Cell::Text(op),
        Cell::Exact(number),
        Cell::Text(unit),
        opt(&ind.actual),
        Cell::Score(ind.weight.as_ref().map(|w| w.value)),
        Cell::Score(ind.score_reported.as_ref().map(|w| w.value)),
        Cell::Score(ind.score),
        text(met),
        opt(&ind.reason),
        Cell::Text(p.file.to_string_lossy()),
        text(&f.source.sheet),
        Cell::Text(ind.target.cell.map(|c| c.a1()).unwrap_or_default().into()),
    ]
}

/// The style ids rust_xlsxwriter gave the text and score formats in this workbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StyleIds {
    pub text: u32,
    pub score: u32,
}

/// Append one `<row>` as rust_xlsxwriter writes it, except that neither the row nor its cells
/// carry their position (`r`), so a unit's rows are the same bytes wherever they land and can
/// be kept deflated from one night to the next. Readers then count: a row follows the
/// previous one, a cell the previous cell (ECMA-376 makes `r` optional). For that, blank
/// styled cells are written open and closed, `<c s="1"></c>`: calamine, for one, does not
/// count an empty element.
pub fn write_row(out: &mut Vec<u8>, cells: &[Cell], s: StyleIds) {
    out.extend_from_slice(b"<row>");
    for cell in cells.iter().take(HEADERS.len()) {
        match cell {
            Cell::Text(t) => text_cell(out, s.text, t),
            Cell::Score(v) => value_cell(out, s.score, v.map(|d| round2(d).normalize())),
            Cell::Exact(v) => value_cell(out, s.text, v.map(|d| d.normalize())),
        }
    }
    out.extend_from_slice(b"</row>");
}

/// `<c s="N"`: a cell without its position.
fn open_cell(out: &mut Vec<u8>, style: u32) {
    out.extend_from_slice(b"<c s=\"");
    out.extend_from_slice(itoa::Buffer::new().format(style).as_bytes());
    out.push(b'"');
}

/// A text cell as rust_xlsxwriter writes it (an inline string), without its position; a
/// blank styled cell when the text is empty.
pub fn text_cell(out: &mut Vec<u8>, style: u32, t: &str) {
    let t = &*excel_text(t);
    if t.is_empty() {
        return value_cell(out, style, None::<&str>);
    }
    open_cell(out, style);
    let preserve = t.starts_with(['\t', '\n', ' ']) || t.ends_with(['\t', '\n', ' ']);
    out.extend_from_slice(if preserve {
        b" t=\"inlineStr\"><is><t xml:space=\"preserve\">".as_slice()
    } else {
        b" t=\"inlineStr\"><is><t>".as_slice()
    });
    escape_into(out, t);
    out.extend_from_slice(b"</t></is></c>");
}

/// The most a cell holds: 32,767 characters (UTF-16 units), which Excel will not open a
/// workbook past (and rust_xlsxwriter refuses to write).
pub const MAX_CELL_CHARS: usize = 32_767;

/// A text as a cell can hold it: one longer than `MAX_CELL_CHARS` is cut, and says so (the
/// whole text stays in the unit's own file, at the cell the row names). One unit's pasted
/// essay would otherwise make the office's workbook unreadable, or unwritable.
pub fn excel_text(t: &str) -> Cow<'_, str> {
    // A text of at most that many bytes has at most that many UTF-16 units.
    if t.len() <= MAX_CELL_CHARS || t.encode_utf16().count() <= MAX_CELL_CHARS {
        return Cow::Borrowed(t);
    }
    const MARK: &str = "…（超长，已截断）";
    let room = MAX_CELL_CHARS - MARK.encode_utf16().count();
    let mut units = 0;
    let end = t
        .char_indices()
        .find(|(_, c)| {
            units += c.len_utf16();
            units > room
        })
        .map_or(t.len(), |(i, _)| i);
    Cow::Owned(format!("{}{MARK}", &t[..end]))
}

/// A number cell (`<v>` as `value` prints it), or a blank styled cell for None, without its
/// position. Blank cells are open and closed (`write_row` says why).
pub fn value_cell(out: &mut Vec<u8>, style: u32, value: Option<impl std::fmt::Display>) {
    open_cell(out, style);
    match value {
        Some(v) => {
            out.extend_from_slice(b"><v>");
            // Writing into a Vec cannot fail.
            let _ = write!(out, "{v}");
            out.extend_from_slice(b"</v></c>");
        }
        None => out.extend_from_slice(b"></c>"),
    }
}

/// XML text as rust_xlsxwriter escapes it: a literal `_xHHHH_` gets its underscore escaped
/// (`_x005F_`), then `& < >`, control characters other than tab and newline, and U+FFFE/FFFF
/// become entities or `_xHHHH_`.
fn escape_into(out: &mut Vec<u8>, text: &str) {
    let plain = !text.bytes().any(|b| {
        matches!(b, b'&' | b'<' | b'>' | b'_' | 0xEF) || (b < 0x20 && b != b'\t' && b != b'\n')
    });
    if plain {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    let text = escape_literal_escapes(text);
    for ch in text.chars() {
        match ch {
            '&' => out.extend_from_slice(b"&amp;"),
            '<' => out.extend_from_slice(b"&lt;"),
            '>' => out.extend_from_slice(b"&gt;"),
            '\t' | '\n' => out.push(ch as u8),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                out.extend_from_slice(format!("_x{:04X}_", c as u32).as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

/// `_xHHHH_` typed by someone would read back as the character HHHH: escape its underscore.
fn escape_literal_escapes(text: &str) -> Cow<'_, str> {
    if !text.contains("_x") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 12);
    let mut rest = text;
    while let Some(i) = rest.find("_x") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let escape = tail.len() >= 7
            && tail.is_char_boundary(7)
            && tail.as_bytes()[6] == b'_'
            && tail[2..6].bytes().all(|b| b.is_ascii_hexdigit());
        if escape {
            out.push_str("_x005F");
        }
        out.push_str("_x");
        rest = &tail[2..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The rows of a sheet that is spliced into the package instead of being written by
/// rust_xlsxwriter (`splice`): the frame rust_xlsxwriter saved holds the sheet's header,
/// widths, filter, highlights and print setup, and a probe row (row 2) whose cells `probe`
/// names tell the style ids its formats were given. The rows come in groups (a unit's, mostly),
/// each deflated once into a piece and kept in the cache while its key is unchanged.
pub trait SheetRows: Sync {
    /// The sheet's name in the workbook.
    fn name(&self) -> &str;
    /// The probe row's cells, one per style the rows use ("A2", "B2"); `write` gets their ids
    /// in this order.
    fn probe(&self) -> &[&str];
    /// Data rows in all (the sheet's dimension is A1 to the last column of row rows + 1).
    fn rows(&self) -> u64;
    fn groups(&self) -> usize;
    /// Data rows of group `g`.
    fn group_rows(&self, g: usize) -> u64;
    /// Feed what group `g`'s rows are made of into its piece's key.
    fn key(&self, g: usize, h: &mut blake3::Hasher);
    /// Append group `g`'s rows (`write_row`'s form: no positions), given the probe's style ids.
    fn write(&self, g: usize, styles: &[u32], out: &mut Vec<u8>);
    /// How the debug log names the groups ("个单位").
    fn group_word(&self) -> &str {
        "个单位"
    }
}

/// Data rows one worksheet holds: Excel's 1,048,576 rows, less the header.
pub const MAX_ROWS: u64 = 1_048_575;

/// Some of a long sheet's groups, in order, on a worksheet of their own: a province of a
/// million indicators fills 指标明细 and goes on in 指标明细(2).
pub struct Part<'s> {
    sheet: &'s dyn SheetRows,
    name: String,
    first: usize,
    groups: usize,
    rows: u64,
}

impl SheetRows for Part<'_> {
    /// The worksheet's name: the sheet's own for the first part, then 指标明细(2), (3), ….
    fn name(&self) -> &str {
        &self.name
    }
    fn probe(&self) -> &[&str] {
        self.sheet.probe()
    }
    fn rows(&self) -> u64 {
        self.rows
    }
    fn groups(&self) -> usize {
        self.groups
    }
    fn group_rows(&self, g: usize) -> u64 {
        self.sheet.group_rows(self.first + g)
    }
    fn key(&self, g: usize, h: &mut blake3::Hasher) {
        self.sheet.key(self.first + g, h)
    }
    fn write(&self, g: usize, styles: &[u32], out: &mut Vec<u8>) {
        self.sheet.write(self.first + g, styles, out)
    }
    fn group_word(&self) -> &str {
        self.sheet.group_word()
    }
}

/// A sheet's groups cut, in order, into worksheets of at most `max` rows each (one, for a
/// sheet that fits, or has no rows). A group stays whole: one of more than `max` rows cannot
/// be written, and is an error (the sheets make their groups fit: `unit_groups`; only a single
/// form of more rows than a worksheet holds could be one).
pub fn parts(sheet: &dyn SheetRows, max: u64) -> Result<Vec<Part<'_>>, String> {
    // (first group, groups, rows) of each worksheet.
    let mut cuts: Vec<(usize, usize, u64)> = vec![(0, 0, 0)];
    for g in 0..sheet.groups() {
        let n = sheet.group_rows(g);
        if n > max {
            return Err(format!(
                "{}中同一单位的 {n} 行超过 Excel 单个工作表 {max} 行数据的上限",
                sheet.name()
            ));
        }
        if cuts.last().is_some_and(|c| c.2 + n > max) {
            cuts.push((g, 0, 0));
        }
        if let Some(c) = cuts.last_mut() {
            (c.1, c.2) = (c.1 + 1, c.2 + n);
        }
    }
    Ok(cuts
        .into_iter()
        .enumerate()
        .map(|(k, (first, groups, rows))| Part {
            sheet,
            name: match k {
                0 => sheet.name().to_string(),
                k => format!("{}({})", sheet.name(), k + 1),
            },
            first,
            groups,
            rows,
        })
        .collect())
}

/// 指标明细: a row per indicator of the counted forms, grouped by unit.
pub struct DetailRows<'a> {
    groups: Vec<Vec<&'a ProjectRow<'a>>>,
    rows: u64,
}

impl<'a> DetailRows<'a> {
    /// `max`: the rows a worksheet takes (`MAX_ROWS`), which no group exceeds.
    pub fn new(agg: &'a Aggregate, max: u64) -> Self {
        DetailRows {
            groups: unit_groups(
                agg.counted().filter(|p| !p.form().indicators.is_empty()),
                |p| p.form().indicators.len() as u64,
                max,
            ),
            rows: agg.counted_indicators() as u64,
        }
    }
}

impl SheetRows for DetailRows<'_> {
    fn name(&self) -> &str {
        SHEET
    }

    fn probe(&self) -> &[&str] {
        &["A2", "B2"]
    }

    fn rows(&self) -> u64 {
        self.rows
    }

    fn groups(&self) -> usize {
        self.groups.len()
    }

    fn group_rows(&self, g: usize) -> u64 {
        self.groups[g]
            .iter()
            .map(|p| p.form().indicators.len() as u64)
            .sum()
    }

    fn key(&self, g: usize, h: &mut blake3::Hasher) {
        key_rows(&self.groups[g], h);
    }

    fn write(&self, g: usize, styles: &[u32], out: &mut Vec<u8>) {
        let styles = StyleIds {
            text: styles.first().copied().unwrap_or(0),
            score: styles.get(1).copied().unwrap_or(0),
        };
        for p in &self.groups[g] {
            for (n, ind) in p.form().indicators.iter().enumerate() {
                write_row(out, &row_cells(p, n, ind), styles);
            }
        }
    }
}

/// Forms grouped by unit, in the order given (sorted by unit): each group's rows are one
/// deflated piece of a sheet, kept in the cache while the group is unchanged. A unit of more
/// than `max` rows (`rows` of each form) is cut into groups of at most `max` between its
/// forms, so that a worksheet can hold every group: one unit sending more rows than Excel's
/// limit goes on in the next worksheet rather than failing the night's workbook.
pub fn unit_groups<'a, 'p>(
    forms: impl Iterator<Item = &'p ProjectRow<'a>>,
    rows: impl Fn(&ProjectRow) -> u64,
    max: u64,
) -> Vec<Vec<&'p ProjectRow<'a>>> {
    let mut groups: Vec<Vec<&ProjectRow>> = Vec::new();
    let mut filled = 0u64;
    for p in forms {
        let n = rows(p);
        match groups.last_mut() {
            Some(g)
                if g[0].unit_code == p.unit_code
                    && g[0].unit_name == p.unit_name
                    && filled.saturating_add(n) <= max =>
            {
                g.push(p);
                filled += n;
            }
            _ => {
                groups.push(vec![p]);
                filled = n;
            }
        }
    }
    groups
}

/// A group's forms into its key, each by its digest (`ProjectRow::digest`: the processed form
/// by its origin hash, unit, file, counts, superseded or not).
pub fn key_rows(group: &[&ProjectRow], h: &mut blake3::Hasher) {
    for p in group {
        h.update(p.digest());
    }
}

type Key = [u8; 32];

/// Where 指标明细's pieces are cached, and whether last night's may be reused (not under
/// `--full`; the new ones are written either way).
#[derive(Debug, Clone, Copy)]
pub struct PiecesCache<'a> {
    pub path: &'a Path,
    pub reuse: bool,
}

const PACK_MAGIC: &[u8] = b"jixiao detail pieces 1\n";

/// The first line of a pieces file: the format, and the build that wrote it (pieces of
/// another build never match a key; its file is not even read).
fn pack_header() -> Vec<u8> {
    let mut h = PACK_MAGIC.to_vec();
    h.extend_from_slice(crate::cache::build_id().as_bytes());
    h.push(b'\n');
    h
}

/// Last night's pieces: one file of records (key, CRC, length, deflated length, bytes) and
/// a blake3 of all of it at the end. A file that does not check is no file: every piece is
/// deflated again.
#[derive(Default)]
struct Pack {
    bytes: Vec<u8>,
    index: HashMap<Key, (usize, usize, u32, u64)>,
}

impl Pack {
    fn load(path: &Path) -> Pack {
        let header = pack_header();
        let mut first = vec![0; header.len()];
        let same_build = std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut first))
            .is_ok_and(|_| first == header);
        if !same_build {
            return Pack::default();
        }
        let Ok(bytes) = std::fs::read(path) else {
            return Pack::default();
        };
        Pack::parse(bytes).unwrap_or_default()
    }

    fn parse(bytes: Vec<u8>) -> Option<Pack> {
        let header = pack_header();
        let body_len = bytes.len().checked_sub(32)?;
        let (body, sum) = bytes.split_at(body_len);
        if blake3::hash(body).as_bytes() != sum || !body.starts_with(&header) {
            return None;
        }
        let mut index = HashMap::new();
        let mut at = header.len();
        while at < body.len() {
            let head = body.get(at..at + 52)?;
            let key: Key = head[..32].try_into().ok()?;
            let crc = u32::from_le_bytes(head[32..36].try_into().ok()?);
            let len = u64::from_le_bytes(head[36..44].try_into().ok()?);
            let size = usize::try_from(u64::from_le_bytes(head[44..52].try_into().ok()?)).ok()?;
            let start = at + 52;
            let end = start.checked_add(size).filter(|&e| e <= body.len())?;
            index.insert(key, (start, end, crc, len));
            at = end;
        }
        Some(Pack { bytes, index })
    }

    fn get(&self, key: &Key) -> Option<Piece<'_>> {
        let &(start, end, crc, len) = self.index.get(key)?;
        Some(Piece {
            crc,
            len,
            deflated: Cow::Borrowed(self.bytes.get(start..end)?),
        })
    }
}

/// Tonight's pieces, written beside the old file and renamed over it when complete. The cache
/// is best effort: a write that fails leaves no file, and the workbook is written regardless.
struct PackWriter {
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
    sum: blake3::Hasher,
}

impl PackWriter {
    fn create(dest: &Path) -> PackWriter {
        let tmp = dest.with_extension(format!("tmp-{}", std::process::id()));
        let file = std::fs::File::create(&tmp)
            .ok()
            .map(|f| std::io::BufWriter::with_capacity(1 << 20, f));
        let mut w = PackWriter {
            tmp,
            dest: dest.to_path_buf(),
            file,
            sum: blake3::Hasher::new(),
        };
        w.put(&pack_header());
        w
    }

    fn put(&mut self, bytes: &[u8]) {
        if let Some(f) = &mut self.file {
            if f.write_all(bytes).is_err() {
                self.file = None;
            }
        }
        self.sum.update(bytes);
    }

    fn add(&mut self, key: &Key, piece: &Piece) {
        let mut head = Vec::with_capacity(52);
        head.extend_from_slice(key);
        head.extend_from_slice(&piece.crc.to_le_bytes());
        head.extend_from_slice(&piece.len.to_le_bytes());
        head.extend_from_slice(&(piece.deflated.len() as u64).to_le_bytes());
        self.put(&head);
        self.put(&piece.deflated);
    }

    fn commit(mut self) {
        let sum = *self.sum.finalize().as_bytes();
        if let Some(mut f) = self.file.take() {
            let written = f.write_all(&sum).and_then(|_| f.flush()).is_ok();
            drop(f);
            if written && std::fs::rename(&self.tmp, &self.dest).is_ok() {
                return;
            }
        }
        let _ = std::fs::remove_file(&self.tmp);
    }
}

impl Drop for PackWriter {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Write `dest` from the package rust_xlsxwriter saved at `frame`: every part copied as it
/// is (compressed bytes and all), then each sheet of `sheets`, its probe row replaced by
/// every row: one deflated piece per group, taken from `cache` when the group is unchanged.
pub fn splice(
    frame: &Path,
    dest: &Path,
    sheets: &[&dyn SheetRows],
    cache: Option<PiecesCache>,
) -> Result<(), String> {
    let bad = |what: &str| format!("consolidated.xlsx 无法生成：{what}");
    let io = |e: std::io::Error| bad(&e.to_string());
    let file = std::fs::File::open(frame).map_err(io)?;
    let mut zip =
        zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| bad(&e.to_string()))?;
    type Archive = zip::ZipArchive<std::io::BufReader<std::fs::File>>;
    let read_part = |zip: &mut Archive, name: &str| -> Result<Vec<u8>, String> {
        let mut bytes = Vec::new();
        zip.by_name(name)
            .map_err(|e| bad(&format!("{name}: {e}")))?
            .read_to_end(&mut bytes)
            .map_err(|e| bad(&format!("{name}: {e}")))?;
        Ok(bytes)
    };
    let workbook = read_part(&mut zip, "xl/workbook.xml")?;
    let rels = read_part(&mut zip, "xl/_rels/workbook.xml.rels")?;
    let parts = crate::read::sheet_parts(&workbook, &rels).unwrap_or_default();
    // Each sheet's part, and its frame cut around the probe row.
    let mut framed: Vec<(String, String, Vec<u32>, String)> = Vec::new();
    for sheet in sheets {
        let name = sheet.name();
        let part = parts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, part)| part.clone())
            .ok_or_else(|| bad(&format!("找不到工作表{name}")))?;
        let xml =
            String::from_utf8(read_part(&mut zip, &part)?).map_err(|e| bad(&e.to_string()))?;
        let (head, styles, tail) = frame_parts(&xml, sheet.probe())
            .ok_or_else(|| bad(&format!("{name}的结构与预期不符")))?;
        framed.push((part, with_rows(&head, sheet.rows()), styles, tail));
    }

    // Every group's piece: last night's where its key is there, else deflated now.
    let old = cache
        .filter(|c| c.reuse)
        .map(|c| Pack::load(c.path))
        .unwrap_or_default();
    let mut new = cache.map(|c| PackWriter::create(c.path));
    let mut made: Vec<(Vec<Option<Key>>, Vec<Piece>)> = Vec::new();
    for (sheet, (_, _, styles, _)) in sheets.iter().zip(&framed) {
        let keys: Vec<Option<Key>> = (0..sheet.groups())
            .into_par_iter()
            .map(|g| {
                cache.map(|_| {
                    let mut h = blake3::Hasher::new();
                    h.update(crate::cache::build_id().as_bytes());
                    h.update(sheet.name().as_bytes());
                    for s in styles {
                        h.update(&s.to_le_bytes());
                    }
                    sheet.key(g, &mut h);
                    *h.finalize().as_bytes()
                })
            })
            .collect();
        let pieces: Vec<Piece> = (0..sheet.groups())
            .into_par_iter()
            .map(|g| match keys[g].as_ref().and_then(|k| old.get(k)) {
                Some(piece) => Ok(piece),
                None => {
                    let mut xml = Vec::with_capacity(1 << 16);
                    sheet.write(g, styles, &mut xml);
                    deflate_piece(&xml, false)
                }
            })
            .collect::<std::io::Result<_>>()
            .map_err(io)?;
        made.push((keys, pieces));
    }

    // The other parts first, as they are; then the spliced sheets.
    let out = std::fs::File::create(dest).map_err(io)?;
    let mut w = PackageWriter::new(std::io::BufWriter::with_capacity(1 << 20, out));
    let mut modified = zip::DateTime::default();
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(|e| bad(&e.to_string()))?;
        let name = entry.name().ok().map(|n| n.to_string());
        if framed.iter().any(|(part, ..)| Some(part) == name.as_ref()) {
            modified = entry.last_modified().unwrap_or_default();
            continue;
        }
        w.copy_raw(entry).map_err(io)?;
    }
    for (sheet, ((part, head, _, tail), (keys, pieces))) in
        sheets.iter().zip(framed.iter().zip(&made))
    {
        let head = deflate_piece(head.as_bytes(), false).map_err(io)?;
        let tail = deflate_piece(tail.as_bytes(), true).map_err(io)?;
        let all = || {
            std::iter::once(&head)
                .chain(pieces)
                .chain(std::iter::once(&tail))
        };
        // ZIP64 only when the part passes 4 GB: Excel reads it, LibreOffice refuses such an
        // entry. The sizes are known: every piece is made before the part is written.
        let size: u64 = all().map(|p| p.len).sum();
        let deflated: u64 = all().map(|p| p.deflated.len() as u64).sum();
        let zip64 = size >= u64::from(u32::MAX) || deflated >= u64::from(u32::MAX);
        let mut open = w.begin_part(part, modified, zip64).map_err(io)?;
        let mut reused = 0;
        for (piece, key) in std::iter::once((&head, &None))
            .chain(pieces.iter().zip(keys))
            .chain(std::iter::once((&tail, &None)))
        {
            w.write_piece(&mut open, piece, std::ptr::eq(piece, &tail))
                .map_err(io)?;
            reused += usize::from(matches!(piece.deflated, Cow::Borrowed(_)));
            if let (Some(new), Some(key)) = (new.as_mut(), key) {
                new.add(key, piece);
            }
        }
        w.end_part(open).map_err(io)?;
        if crate::scan::debug_enabled() {
            eprintln!(
                "jixiao: {}：{reused} {}的行沿用缓存，{} 个重新生成",
                sheet.name(),
                sheet.group_word(),
                pieces.len() - reused
            );
        }
    }
    w.finish().map_err(io)?;
    if let Some(new) = new {
        new.commit();
    }
    Ok(())
}

/// The frame's `<dimension ref="A1:X2"/>` (header and probe) widened to every row.
fn with_rows(head: &str, rows: u64) -> String {
    let Some(at) = head.find("<dimension ref=\"A1:") else {
        return head.to_string();
    };
    let start = at + "<dimension ref=\"A1:".len();
    let Some(len) = head[start..].find("\"/>") else {
        return head.to_string();
    };
    let cell = &head[start..start + len];
    let col: String = cell.chars().take_while(char::is_ascii_uppercase).collect();
    format!(
        "{}{col}{}{}",
        &head[..start],
        rows + 1,
        &head[start + len..]
    )
}

/// The frame's XML before the probe row, the style ids of the probe's cells `probe` (in that
/// order), and the XML after the probe row.
fn frame_parts(sheet: &str, probe: &[&str]) -> Option<(String, Vec<u32>, String)> {
    let start = sheet.find("<row r=\"2\"")?;
    let end = start + sheet[start..].find("</row>")? + "</row>".len();
    let row = &sheet[start..end];
    let style = |cell: &str| -> Option<u32> {
        let pattern = format!("<c r=\"{cell}\" s=\"");
        let at = row.find(&pattern)? + pattern.len();
        let digits: String = row[at..].chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    let styles = probe
        .iter()
        .map(|c| style(c))
        .collect::<Option<Vec<u32>>>()?;
    Some((sheet[..start].to_string(), styles, sheet[end..].to_string()))
}

#[cfg(test)]
/// rust_xlsxwriter's rows without positions: no `r` attributes, blank cells open and
/// closed.
pub(crate) fn positionless(xml: &str) -> String {
    let mut out = String::new();
    let mut rest = xml;
    while let Some(i) = rest.find(" r=\"") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 4..];
        rest = &after[after.find('"').unwrap() + 1..];
    }
    out.push_str(rest);
    let mut fixed = String::new();
    for (k, piece) in out.split("<c ").enumerate() {
        if k > 0 {
            fixed.push_str("<c ");
        }
        match piece.find("/>") {
            Some(j) if !piece[..j].contains('>') => {
                fixed.push_str(&piece[..j]);
                fixed.push_str("></c>");
                fixed.push_str(&piece[j + 2..]);
            }
            _ => fixed.push_str(piece),
        }
    }
    fixed
}

#[cfg(test)]
mod tests {
    #[test]
    fn texts_longer_than_a_cell_holds_are_cut_and_say_so() {
        use super::{excel_text, MAX_CELL_CHARS};
        let short = "项".repeat(MAX_CELL_CHARS);
        assert_eq!(excel_text(&short), short.as_str());
        for long in [
            "项".repeat(40_000),
            "😀".repeat(20_000),
            "a".repeat(MAX_CELL_CHARS + 1),
        ] {
            let cut = excel_text(&long);
            assert_eq!(cut.encode_utf16().count(), MAX_CELL_CHARS, "{}", &long[..4]);
            assert!(cut.ends_with("…（超长，已截断）"));
            let kept = cut.trim_end_matches("…（超长，已截断）");
            assert!(long.starts_with(kept));
        }
    }

    use super::*;
    use rust_decimal::prelude::ToPrimitive;
    use rust_xlsxwriter::{Format, Workbook};

    /// Rows written cell by cell with rust_xlsxwriter, as 指标明细 was before the splice: the
    /// text format gets style 1, the score format style 2.
    fn reference(rows: &[Vec<Cell>]) -> String {
        let text = Format::new().set_border(rust_xlsxwriter::FormatBorder::Thin);
        let score = text.clone().set_num_format("0.00");
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet_with_constant_memory().unwrap();
        ws.write_blank(0, 0, &text).unwrap();
        ws.write_blank(0, 1, &score).unwrap();
        for (r, cells) in rows.iter().enumerate() {
            let r = r as u32 + 1;
            for (c, cell) in cells.iter().enumerate() {
                let c = c as u16;
                match cell {
                    Cell::Text(t) => ws.write_string_with_format(r, c, t.as_ref(), &text),
                    Cell::Score(v) => match v.and_then(|d| round2(d).to_f64()) {
                        Some(x) => ws.write_number_with_format(r, c, x, &score),
                        None => ws.write_blank(r, c, &score),
                    },
                    Cell::Exact(v) => match v.and_then(|d| d.to_f64()) {
                        Some(x) => ws.write_number_with_format(r, c, x, &text),
                        None => ws.write_blank(r, c, &text),
                    },
                }
                .unwrap();
            }
        }
        let bytes = wb.save_to_buffer().unwrap();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut xml = String::new();
        zip.by_name("xl/worksheets/sheet1.xml")
            .unwrap()
            .read_to_string(&mut xml)
            .unwrap();
        let start = xml.find("<row r=\"2\"").unwrap();
        let end = xml.find("</sheetData>").unwrap();
        xml[start..end].to_string()
    }

    fn ours(rows: &[Vec<Cell>]) -> String {
        let mut out = Vec::new();
        for cells in rows {
            write_row(&mut out, cells, StyleIds { text: 1, score: 2 });
        }
        String::from_utf8(out).unwrap()
    }

    fn d(s: &str) -> Option<Decimal> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn rows_are_byte_for_byte_what_rust_xlsxwriter_writes_without_positions() {
        let texts = [
            "中文 项目",
            "a & b <c> \"q\" 'a'",
            "\u{1}ctrl\u{1f}\r",
            "_x0041_ literal",
            "a_x0041_b_x004G_c_x12_x0042_",
            "_x",
            " leading",
            "trailing\n",
            "tab\tinside",
            "\u{FFFE}\u{FFFF}",
            "",
            "≥95%",
            "样本/569301天津市科学技术协会/项目支出绩效目标表.xlsx",
        ];
        let mut rows: Vec<Vec<Cell>> = texts
            .iter()
            .map(|t| vec![Cell::Text(Cow::Borrowed(t)), Cell::Text("x".into())])
            .collect();
        rows.push(vec![
            Cell::Score(d("10")),
            Cell::Score(d("3.456")),
            Cell::Score(d("0.125")),
            Cell::Score(d("-2.50")),
            Cell::Score(None),
            Cell::Exact(d("95")),
            Cell::Exact(d("0.1")),
            Cell::Exact(d("1234567.89")),
            Cell::Exact(d("100.000")),
            Cell::Exact(None),
            Cell::Text("".into()),
            Cell::Score(d("0")),
            Cell::Exact(d("-0.5")),
            Cell::Text("T".into()),
            Cell::Text("U".into()),
            Cell::Text("V".into()),
            Cell::Text("W".into()),
            Cell::Text("X".into()),
            Cell::Text("Y".into()),
            Cell::Text("Z".into()),
        ]);
        let reference = reference(&rows);
        assert!(reference.contains(" r=\"T15\"") && reference.contains("s=\"2\"/>"));
        assert_eq!(ours(&rows), positionless(&reference));
    }

    /// Pieces written to the cache file read back whole; a file damaged anywhere (or cut
    /// short) is no file at all.
    #[test]
    fn pieces_read_back_and_a_damaged_file_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("detail.pieces");
        let pieces: Vec<(Key, Piece)> = (0..3u8)
            .map(|k| {
                let xml = format!("<row>{}</row>", "行".repeat(k as usize * 100));
                ([k; 32], deflate_piece(xml.as_bytes(), false).unwrap())
            })
            .collect();
        let mut w = PackWriter::create(&path);
        for (key, piece) in &pieces {
            w.add(key, piece);
        }
        w.commit();
        let pack = Pack::load(&path);
        for (key, piece) in &pieces {
            assert_eq!(pack.get(key).as_ref(), Some(piece));
        }
        assert!(pack.get(&[9; 32]).is_none());
        let bytes = std::fs::read(&path).unwrap();
        for damaged in [
            {
                let mut b = bytes.clone();
                let mid = b.len() / 2;
                b[mid] ^= 1;
                b
            },
            bytes[..bytes.len() - 1].to_vec(),
            Vec::new(),
        ] {
            std::fs::write(&path, damaged).unwrap();
            assert!(Pack::load(&path).index.is_empty());
        }
    }

    #[test]
    fn the_frame_gives_the_probe_styles_and_keeps_what_follows() {
        let sheet = "<worksheet><dimension ref=\"A1:T2\"/><sheetData><row r=\"1\"><c r=\"A1\" s=\"1\"/></row><row r=\"2\"><c r=\"A2\" s=\"12\"/><c r=\"M2\" s=\"7\"/></row></sheetData><autoFilter ref=\"A1:T9\"/></worksheet>";
        let (head, styles, tail) = frame_parts(sheet, &["A2", "M2"]).unwrap();
        assert_eq!(styles, vec![12, 7]);
        assert!(head.ends_with("</row>"), "{head}");
        assert!(tail.starts_with("</sheetData><autoFilter"), "{tail}");
        assert!(frame_parts(sheet, &["B2"]).is_none());
        assert!(frame_parts("<sheetData></sheetData>", &["A2"]).is_none());
        assert!(with_rows(&head, 943_055).starts_with("<worksheet><dimension ref=\"A1:T943056\"/>"));
    }
}
