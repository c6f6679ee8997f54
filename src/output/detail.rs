//! 指标明细, the one sheet of consolidated.xlsx with a row per indicator (a million in a
//! province), written as SpreadsheetML by hand and spliced into the package rust_xlsxwriter
//! saved.
//!
//! Why by hand: rust_xlsxwriter looks every cell's `Format` up in a hash map (SipHash over all
//! of its fields), about 1 µs a cell; at 20 cells a row that was 13–17 s of a night whose
//! other work takes seconds. So rust_xlsxwriter still writes the sheet's frame — header row,
//! widths, frozen pane, filter and conditional format over every row, print setup — plus one
//! probe row of blank styled cells that tells the style ids it gave the two formats used here;
//! `splice` replaces the probe with the real rows, generated in parallel batches and deflated
//! while the next batch is generated. The cells are written exactly as rust_xlsxwriter writes
//! them (same escaping, inline strings, blank styled cells), which a test checks byte by byte.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::path::Path;

use rayon::prelude::*;
use rust_decimal::Decimal;

use crate::aggregate::{Aggregate, ProjectRow};
use crate::indicator::Value;
use crate::model::Indicator;
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

/// Columns written in the score style (分值, 表内得分, 复核得分); the rest in the text style.
pub const SCORE_COLS: std::ops::RangeInclusive<usize> = 12..=14;

/// The column letters A..T.
const LETTERS: [&str; 20] = [
    "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S",
    "T",
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

/// Append one `<row>` (1-based row number `r`) as rust_xlsxwriter writes it.
pub fn write_row(out: &mut Vec<u8>, r: u32, cells: &[Cell], s: StyleIds) {
    let mut num = itoa::Buffer::new();
    let r = num.format(r).to_string();
    let mut style_num = itoa::Buffer::new();
    out.extend_from_slice(b"<row r=\"");
    out.extend_from_slice(r.as_bytes());
    out.extend_from_slice(b"\">");
    for (c, cell) in cells.iter().enumerate() {
        let Some(col) = LETTERS.get(c) else { break };
        let mut open = |out: &mut Vec<u8>, style: u32| {
            out.extend_from_slice(b"<c r=\"");
            out.extend_from_slice(col.as_bytes());
            out.extend_from_slice(r.as_bytes());
            out.extend_from_slice(b"\" s=\"");
            out.extend_from_slice(style_num.format(style).as_bytes());
            out.push(b'"');
        };
        let (style, value) = match cell {
            Cell::Text(t) if !t.is_empty() => {
                open(out, s.text);
                let preserve = t.starts_with(['\t', '\n', ' ']) || t.ends_with(['\t', '\n', ' ']);
                out.extend_from_slice(if preserve {
                    b" t=\"inlineStr\"><is><t xml:space=\"preserve\">".as_slice()
                } else {
                    b" t=\"inlineStr\"><is><t>".as_slice()
                });
                escape_into(out, t);
                out.extend_from_slice(b"</t></is></c>");
                continue;
            }
            Cell::Text(_) => (s.text, None),
            Cell::Score(v) => (s.score, v.map(|d| round2(d).normalize())),
            Cell::Exact(v) => (s.text, v.map(|d| d.normalize())),
        };
        open(out, style);
        match value {
            Some(d) => {
                out.extend_from_slice(b"><v>");
                out.extend_from_slice(d.to_string().as_bytes());
                out.extend_from_slice(b"</v></c>");
            }
            None => out.extend_from_slice(b"/>"),
        }
    }
    out.extend_from_slice(b"</row>");
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

/// Forms per batch are chosen so a batch holds about this many rows (≈10 MB of XML).
const BATCH_ROWS: usize = 8_192;

/// Every 指标明细 row of the counted forms, in order, starting at row 2, into `sink` in
/// batches: each batch is generated in parallel while the previous one is written.
pub fn write_rows<W: Write + Send>(
    agg: &Aggregate,
    styles: StyleIds,
    sink: &mut W,
) -> std::io::Result<()> {
    let forms: Vec<&ProjectRow> = agg.counted().collect();
    // (form, its first row), in batches of about BATCH_ROWS rows.
    let mut batches: Vec<Vec<(&ProjectRow, u32)>> = Vec::new();
    let mut current = Vec::new();
    let mut rows_in = 0usize;
    let mut next_row: u32 = 2;
    for p in forms {
        let n = p.form().indicators.len();
        if n == 0 {
            continue;
        }
        current.push((p, next_row));
        next_row = next_row.saturating_add(n as u32);
        rows_in += n;
        if rows_in >= BATCH_ROWS {
            batches.push(std::mem::take(&mut current));
            rows_in = 0;
        }
    }
    if !current.is_empty() {
        batches.push(current);
    }
    let generate = |batch: &[(&ProjectRow, u32)]| -> Vec<Vec<u8>> {
        batch
            .par_iter()
            .map(|(p, first)| {
                let mut out = Vec::with_capacity(p.form().indicators.len() * 1400);
                for (n, ind) in p.form().indicators.iter().enumerate() {
                    let cells = row_cells(p, n, ind);
                    write_row(&mut out, first + n as u32, &cells, styles);
                }
                out
            })
            .collect()
    };
    let mut pending: Vec<Vec<u8>> = Vec::new();
    for batch in &batches {
        let (generated, written) = rayon::join(
            || generate(batch),
            || pending.iter().try_for_each(|chunk| sink.write_all(chunk)),
        );
        written?;
        pending = generated;
    }
    pending.iter().try_for_each(|chunk| sink.write_all(chunk))
}

/// Write `dest` from the package rust_xlsxwriter saved at `frame`: every part copied as it
/// is (compressed bytes and all), except 指标明细's, whose probe row is replaced by every row.
pub fn splice(frame: &Path, dest: &Path, agg: &Aggregate) -> Result<(), String> {
    let bad = |what: &str| format!("consolidated.xlsx 的{SHEET}无法生成：{what}");
    let file = std::fs::File::open(frame).map_err(|e| bad(&e.to_string()))?;
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
    let part = crate::read::sheet_parts(&workbook, &rels)
        .and_then(|parts| parts.into_iter().find(|(name, _)| name == SHEET))
        .map(|(_, part)| part)
        .ok_or_else(|| bad("找不到工作表"))?;
    let sheet = String::from_utf8(read_part(&mut zip, &part)?).map_err(|e| bad(&e.to_string()))?;
    let (head, styles, tail) = frame_parts(&sheet).ok_or_else(|| bad("工作表结构与预期不符"))?;
    let rows = agg.counted_indicators() as u64;
    let head = head.replacen(
        "<dimension ref=\"A1:T2\"/>",
        &format!("<dimension ref=\"A1:T{}\"/>", rows + 1),
        1,
    );

    let out = std::fs::File::create(dest).map_err(|e| bad(&e.to_string()))?;
    let mut w = zip::ZipWriter::new(std::io::BufWriter::with_capacity(1 << 20, out));
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(|e| bad(&e.to_string()))?;
        if entry.name().ok().as_deref() != Some(part.as_str()) {
            w.raw_copy_file(entry).map_err(|e| bad(&e.to_string()))?;
            continue;
        }
        // Deflate level 2, as rust_xlsxwriter is told for the other parts. ZIP64 only when
        // the sheet may pass 4 GB: Excel reads it, LibreOffice refuses such an entry.
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(2))
            .last_modified_time(entry.last_modified().unwrap_or_default())
            .large_file(needs_zip64(head.len() + tail.len(), agg));
        drop(entry);
        w.start_file(part.as_str(), options)
            .map_err(|e| bad(&e.to_string()))?;
        w.write_all(head.as_bytes())
            .map_err(|e| bad(&e.to_string()))?;
        write_rows(agg, styles, &mut w).map_err(|e| bad(&e.to_string()))?;
        w.write_all(tail.as_bytes())
            .map_err(|e| bad(&e.to_string()))?;
    }
    let mut inner = w.finish().map_err(|e| bad(&e.to_string()))?;
    inner.flush().map_err(|e| bad(&e.to_string()))
}

/// Whether the sheet's XML may reach 4 GiB: a bound on its size (every cell's markup, and its
/// text as if every byte were escaped to the longest escape, `_xHHHH_`).
fn needs_zip64(frame: usize, agg: &Aggregate) -> bool {
    const CELL_MARKUP: u64 = 96; // <c r="T1048576" s="…" t="inlineStr"><is><t xml:space=…
    let rows: u64 = agg
        .counted()
        .collect::<Vec<_>>()
        .par_iter()
        .map(|p| {
            p.form()
                .indicators
                .iter()
                .enumerate()
                .map(|(n, ind)| {
                    let text: u64 = row_cells(p, n, ind)
                        .iter()
                        .map(|c| match c {
                            Cell::Text(t) => t.len() as u64 * 7,
                            Cell::Score(_) | Cell::Exact(_) => 40,
                        })
                        .sum();
                    32 + 20 * CELL_MARKUP + text
                })
                .sum::<u64>()
        })
        .sum();
    frame as u64 + rows >= u64::from(u32::MAX)
}

/// The frame's XML before the probe row, the style ids of the probe's cells A2 (text) and
/// M2 (score), and the XML after the probe row.
fn frame_parts(sheet: &str) -> Option<(String, StyleIds, String)> {
    let start = sheet.find("<row r=\"2\"")?;
    let end = start + sheet[start..].find("</row>")? + "</row>".len();
    let probe = &sheet[start..end];
    let style = |cell: &str| -> Option<u32> {
        let pattern = format!("<c r=\"{cell}\" s=\"");
        let at = probe.find(&pattern)? + pattern.len();
        let digits: String = probe[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    let styles = StyleIds {
        text: style("A2")?,
        score: style("M2")?,
    };
    Some((sheet[..start].to_string(), styles, sheet[end..].to_string()))
}

#[cfg(test)]
mod tests {
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
        for (r, cells) in rows.iter().enumerate() {
            write_row(
                &mut out,
                r as u32 + 2,
                cells,
                StyleIds { text: 1, score: 2 },
            );
        }
        String::from_utf8(out).unwrap()
    }

    fn d(s: &str) -> Option<Decimal> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn rows_are_byte_for_byte_what_rust_xlsxwriter_writes() {
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
        assert_eq!(ours(&rows), reference(&rows));
    }

    #[test]
    fn the_frame_gives_the_probe_styles_and_keeps_what_follows() {
        let sheet = "<worksheet><dimension ref=\"A1:T2\"/><sheetData><row r=\"1\"><c r=\"A1\" s=\"1\"/></row><row r=\"2\"><c r=\"A2\" s=\"12\"/><c r=\"M2\" s=\"7\"/></row></sheetData><autoFilter ref=\"A1:T9\"/></worksheet>";
        let (head, styles, tail) = frame_parts(sheet).unwrap();
        assert_eq!(styles, StyleIds { text: 12, score: 7 });
        assert!(head.ends_with("</row>"), "{head}");
        assert!(tail.starts_with("</sheetData><autoFilter"), "{tail}");
        assert!(frame_parts("<sheetData></sheetData>").is_none());
    }
}
