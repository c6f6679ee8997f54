//! Read one workbook safely into sparse cell grids.
//!
//! Safe before clever: the file is read once into memory (bounded), its real format is taken
//! from its magic bytes, and a zip container is inspected by us — entry count, declared and
//! real sizes, compression ratio, the sharedStrings `count`/`uniqueCount`, each sheet's
//! `<dimension>` — before calamine sees it, because calamine 0.38 aborts the whole process on
//! some hostile files (a huge `uniqueCount` is reserved up front; calamine issue #684) and an
//! abort cannot be caught. The parse itself runs under `catch_unwind` for the panics that can.

use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;

use calamine::{Data, Dimensions, Ods, Range, Reader, Xls, Xlsb, Xlsx};
use rust_decimal::Decimal;

use crate::model::CellRef;

mod slim;
mod stored;

/// Limits on what one file may make us do. Defaults suit forms (a few KB each) with a wide
/// margin; every one is configurable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_file_bytes: u64,
    pub max_zip_entries: usize,
    /// Per entry and in total, real (decompressed) bytes.
    pub max_entry_bytes: u64,
    pub max_total_bytes: u64,
    /// Decompressed / compressed, for entries above 1 MiB decompressed.
    pub max_ratio: u64,
    pub max_shared_strings: u64,
    /// Cells a sheet's `<dimension>` may span.
    pub max_dimension_cells: u64,
    /// Non-empty cells kept per workbook.
    pub max_cells: usize,
    /// Bytes of cell text kept per workbook: every cell of a sheet may name one long shared
    /// string, which each would otherwise copy (a 100 KB file asking for terabytes).
    pub max_text_bytes: usize,
    /// Cells calamine would expand an .ods sheet to (rows × columns up to the last value):
    /// calamine builds a dense range, so this bounds its memory (32 bytes a cell).
    pub max_ods_cells: u64,
    pub max_sheets: usize,
    /// Uncompressed bytes up to which the guard keeps a workbook's parts to hand calamine
    /// (forms are a few hundred KB; the limits allow 512 MB, which must not be held at once).
    pub keep_parts_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 64 << 20,
            max_zip_entries: 10_000,
            max_entry_bytes: 256 << 20,
            max_total_bytes: 512 << 20,
            max_ratio: 200,
            max_shared_strings: 2_000_000,
            max_dimension_cells: 50_000_000,
            max_cells: 2_000_000,
            max_text_bytes: 64 << 20,
            max_ods_cells: 4_000_000,
            max_sheets: 1_000,
            keep_parts_bytes: 32 << 20,
        }
    }
}

/// The real format, from the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Format {
    Xlsx,
    Xlsb,
    Ods,
    Xls,
}

impl Format {
    pub fn label(self) -> &'static str {
        match self {
            Format::Xlsx => "xlsx",
            Format::Xlsb => "xlsb",
            Format::Ods => "ods",
            Format::Xls => "xls",
        }
    }
}

/// Why a file could not be read; `code` is stable, `message` is for the department.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ReadError {
    pub code: &'static str,
    pub message: String,
}

fn err(code: &'static str, message: impl Into<String>) -> ReadError {
    ReadError {
        code,
        message: message.into(),
    }
}

/// One cell of a grid. A cell filled from a merged range knows the range's top-left cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridCell {
    /// Shared: a merge fills its cells with its top-left text without copying it.
    pub text: Arc<str>,
    pub number: Option<Decimal>,
    /// Top-left cell of the merge this cell was filled from (None for the cell itself).
    pub anchor: Option<CellRef>,
}

impl GridCell {
    /// Where the value was typed: the merge's top-left cell, or this one.
    pub fn origin(&self, here: CellRef) -> CellRef {
        self.anchor.unwrap_or(here)
    }
}

/// A sparse grid: only non-empty cells are stored, so one stray cell at XFD1048576 costs one
/// entry, not 17 billion. The cells are one vector sorted by (row, column): calamine streams
/// them in that order, so building is a push per cell, and a lookup is a binary search (a
/// B-tree map cost a tenth of the ingest in inserts and lookups).
#[derive(Debug, Clone, Default)]
pub struct Grid {
    /// Sorted by position, at most one cell per position, once `finish`ed.
    cells: Vec<((u32, u32), GridCell)>,
    /// A cell was inserted out of order since the last `finish`.
    unsorted: bool,
    /// Where each row's cells start in `cells` (and where the last row's end), built at the
    /// first lookup once the grid is complete; only for grids of up to `INDEXED_ROWS` rows.
    rows: std::sync::OnceLock<Option<Vec<u32>>>,
}

/// A row index costs four bytes a row up to the last: forms have a few hundred rows, and a
/// hostile cell at row 1,048,576 falls back to binary search rather than a 4 MB index.
const INDEXED_ROWS: u32 = 1 << 16;

impl PartialEq for Grid {
    fn eq(&self, other: &Self) -> bool {
        self.unsorted == other.unsorted && self.cells == other.cells
    }
}

impl Eq for Grid {}

impl Grid {
    /// The index range of one row's cells.
    fn row_span(&self, row: u32) -> std::ops::Range<usize> {
        debug_assert!(!self.unsorted, "a grid is looked up only once finished");
        let index = self.rows.get_or_init(|| {
            let rows = self.max_row()?.checked_add(1)?;
            if rows > INDEXED_ROWS {
                return None;
            }
            let mut starts = Vec::with_capacity(rows as usize + 1);
            let mut i = 0;
            for r in 0..=rows {
                while i < self.cells.len() && self.cells[i].0 .0 < r {
                    i += 1;
                }
                starts.push(i as u32);
            }
            Some(starts)
        });
        match index {
            Some(starts) => match (starts.get(row as usize), starts.get(row as usize + 1)) {
                (Some(&a), Some(&b)) => a as usize..b as usize,
                _ => 0..0,
            },
            None => {
                let from = self.cells.partition_point(|((r, _), _)| *r < row);
                let to = from + self.cells[from..].partition_point(|((r, _), _)| *r == row);
                from..to
            }
        }
    }

    pub fn get(&self, row: u32, col: u32) -> Option<&GridCell> {
        let span = self.row_span(row);
        let cells = &self.cells[span];
        cells
            .binary_search_by_key(&col, |((_, c), _)| *c)
            .ok()
            .map(|i| &cells[i].1)
    }

    pub fn text(&self, row: u32, col: u32) -> &str {
        self.get(row, col).map(|c| &*c.text).unwrap_or("")
    }

    /// Put a cell; a later cell at the same place replaces an earlier one. Cells may come in
    /// any order (a hostile sheet may list its rows backwards: inserting each in place would
    /// be quadratic); `finish` sorts them before anything is looked up. In row-major order, as
    /// calamine streams a sheet, this is a push and `finish` has nothing to do.
    pub fn insert(&mut self, row: u32, col: u32, cell: GridCell) {
        self.rows.take();
        let at = (row, col);
        if self.cells.last().is_some_and(|(last, _)| *last >= at) {
            self.unsorted = true;
        }
        self.cells.push((at, cell));
    }

    /// Sort the cells by position, keeping the last inserted at each place.
    pub fn finish(&mut self) {
        if !self.unsorted {
            return;
        }
        self.rows.take();
        // Stable: of cells at one place, the last inserted comes last, and is the one kept.
        self.cells.sort_by_key(|(k, _)| *k);
        let mut kept: Vec<((u32, u32), GridCell)> = Vec::with_capacity(self.cells.len());
        for cell in self.cells.drain(..) {
            match kept.last_mut() {
                Some(last) if last.0 == cell.0 => *last = cell,
                _ => kept.push(cell),
            }
        }
        self.cells = kept;
        self.unsorted = false;
    }

    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Every stored cell in row-major order.
    pub fn iter(&self) -> impl Iterator<Item = (CellRef, &GridCell)> {
        self.cells
            .iter()
            .map(|((r, c), v)| (CellRef::new(*r, *c), v))
    }

    /// The stored cells of one row, left to right.
    pub fn row(&self, row: u32) -> impl Iterator<Item = (u32, &GridCell)> {
        self.cells[self.row_span(row)]
            .iter()
            .map(|((_, c), v)| (*c, v))
    }

    pub fn max_row(&self) -> Option<u32> {
        self.cells.last().map(|((r, _), _)| *r)
    }

    /// Fill every cell of each merged range with its top-left value, clipped to the cells in
    /// use and bounded (a merge spanning a whole sheet fills only what can matter). The fills
    /// are gathered, sorted, and merged into the typed cells in one pass (sorting the whole
    /// grid again was most of this). A fill replaces a typed cell at its place; where ranges
    /// overlap, the later one wins, and each takes its value from its typed top-left cell.
    pub fn fill_merges(&mut self, merges: &[Dimensions], budget: &mut usize) {
        self.finish();
        if merges.is_empty() {
            return;
        }
        let max_row = self.max_row().unwrap_or(0);
        let mut fills: Vec<((u32, u32), GridCell)> = Vec::new();
        'merges: for m in merges {
            let (top, left) = m.start;
            let Ok(i) = self.cells.binary_search_by_key(&(top, left), |(k, _)| *k) else {
                continue;
            };
            let (text, number) = (Arc::clone(&self.cells[i].1.text), self.cells[i].1.number);
            let bottom = m.end.0.min(max_row.saturating_add(1));
            let right = m.end.1.min(left.saturating_add(255));
            let here = CellRef::new(top, left);
            for r in top..=bottom {
                for c in left..=right {
                    if (r, c) == (top, left) {
                        continue;
                    }
                    if *budget == 0 {
                        break 'merges;
                    }
                    *budget -= 1;
                    let cell = GridCell {
                        text: Arc::clone(&text),
                        number,
                        anchor: Some(here),
                    };
                    fills.push(((r, c), cell));
                }
            }
        }
        if fills.is_empty() {
            return;
        }
        // Stable: of fills at one place, the later range's comes last, and is the one kept.
        fills.sort_by_key(|(k, _)| *k);
        self.rows.take();
        let typed = std::mem::take(&mut self.cells);
        let mut cells: Vec<((u32, u32), GridCell)> = Vec::with_capacity(typed.len() + fills.len());
        let mut typed = typed.into_iter().peekable();
        let mut fills = fills.into_iter().peekable();
        while let Some(fill) = fills.next() {
            if fills.peek().is_some_and(|next| next.0 == fill.0) {
                continue; // a later range fills this place
            }
            // The typed cells before the fill move over; one at its place is dropped.
            while let Some(t) = typed.next_if(|(k, _)| *k < fill.0) {
                cells.push(t);
            }
            typed.next_if(|(k, _)| *k == fill.0);
            cells.push(fill);
        }
        cells.extend(typed);
        self.cells = cells;
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sheet {
    pub name: String,
    pub grid: Grid,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workbook {
    pub format: Format,
    pub sheets: Vec<Sheet>,
}

/// Read a file from disk: size-checked, then `read_bytes`.
pub fn read_file(path: &Path, limits: &Limits) -> Result<Workbook, ReadError> {
    read_bytes(load(path, limits)?, limits)
}

/// A file's bytes, refusing what is too large to be a form.
pub fn load(path: &Path, limits: &Limits) -> Result<Vec<u8>, ReadError> {
    // Opened once and measured by its handle: one path lookup, and the size is that of the
    // file being read.
    let mut file = std::fs::File::open(path).map_err(|e| io_error(&e))?;
    let meta = file.metadata().map_err(|e| io_error(&e))?;
    if meta.len() > limits.max_file_bytes {
        return Err(too_large(meta.len(), limits));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // `take`: a file growing while it is read stops at the limit all the same.
    (&mut file)
        .take(limits.max_file_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(&e))?;
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(too_large(bytes.len() as u64, limits));
    }
    Ok(bytes)
}

fn too_large(bytes: u64, limits: &Limits) -> ReadError {
    err(
        "read.too_large",
        format!(
            "文件过大（{} MB，上限 {} MB），不像是一张绩效表",
            bytes >> 20,
            limits.max_file_bytes >> 20
        ),
    )
}

fn io_error(e: &std::io::Error) -> ReadError {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => err("read.permission", "没有读取该文件的权限"),
        std::io::ErrorKind::NotFound => err("read.missing", "文件不存在（可能在读取前被移走）"),
        _ => err("read.io", format!("读取文件失败：{e}")),
    }
}

/// Detect, guard, then parse.
pub fn read_bytes(bytes: Vec<u8>, limits: &Limits) -> Result<Workbook, ReadError> {
    // A zip's directory is read once, for the format and then for the guard.
    let (format, guarded) = match detect_zip(&bytes)? {
        Some((format, zip)) => (format, Some(guard_archive(zip, &bytes, format, limits)?)),
        None => (detect(&bytes)?, None),
    };
    let mut bytes = bytes;
    let mut merges = None;
    if let Some(guarded) = guarded {
        bytes = guarded.stored;
        merges = guarded.merges;
    }
    if format == Format::Xls {
        guard_xls(&bytes, limits)?;
    }
    let limits = limits.clone();
    match catch_unwind(AssertUnwindSafe(move || {
        parse(bytes, format, &limits, merges.as_ref())
    })) {
        Ok(result) => result,
        Err(_) => Err(err(
            "read.corrupt",
            "文件内容损坏，读取时出错（可能是不完整或被篡改的工作簿）",
        )),
    }
}

const OLE_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// The real format from the bytes, whatever the extension says.
pub fn detect(bytes: &[u8]) -> Result<Format, ReadError> {
    if bytes.is_empty() {
        return Err(err("read.empty", "文件为空（0 字节）"));
    }
    if bytes.starts_with(&OLE_MAGIC) {
        // An encrypted xlsx is an OLE container holding EncryptionInfo + EncryptedPackage.
        if contains_utf16(bytes, "EncryptedPackage") || contains_utf16(bytes, "EncryptionInfo") {
            return Err(encrypted());
        }
        return Ok(Format::Xls);
    }
    if let Some((format, _)) = detect_zip(bytes)? {
        return Ok(format);
    }
    let head = &bytes[..bytes.len().min(512)];
    let text_like = head
        .iter()
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace() || *b >= 0x80);
    Err(if text_like {
        err(
            "read.not_workbook",
            "不是 Excel 工作簿（文件内容是文本，可能是改了扩展名的 CSV 或文本文件），请另存为 .xlsx",
        )
    } else {
        err(
            "read.not_workbook",
            "不是 Excel 工作簿（无法识别的文件格式），请另存为 .xlsx",
        )
    })
}

type Archive<'a> = zip::ZipArchive<Cursor<&'a [u8]>>;

/// A zip-based workbook's format, with its opened directory; None when the bytes are not a zip.
fn detect_zip(bytes: &[u8]) -> Result<Option<(Format, Archive<'_>)>, ReadError> {
    if !(bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")) {
        return Ok(None);
    }
    let zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| truncated_zip())?;
    let has = |name: &str| zip.index_for_name(name).is_some();
    let format = if has("xl/workbook.xml") {
        Format::Xlsx
    } else if has("xl/workbook.bin") {
        Format::Xlsb
    } else if has("content.xml") && has("mimetype") {
        Format::Ods
    } else {
        return Err(err(
            "read.not_workbook",
            "这是一个压缩包，但其中没有 Excel/WPS 工作簿内容",
        ));
    };
    Ok(Some((format, zip)))
}

fn encrypted() -> ReadError {
    err(
        "read.encrypted",
        "文件已加密，无法读取；请取消密码保护后重新报送",
    )
}

fn truncated_zip() -> ReadError {
    err(
        "read.corrupt",
        "工作簿文件已损坏或不完整（压缩结构无法读取），请重新保存后报送",
    )
}

fn contains_utf16(bytes: &[u8], needle: &str) -> bool {
    let pat: Vec<u8> = needle
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    bytes.windows(pat.len()).any(|w| w == pat.as_slice())
}

/// Inspect a zip container before any XML parser sees it.
/// What the guard pass gives the parse.
struct Guarded {
    /// The workbook re-packed with its parts stored (uncompressed), less its unread parts:
    /// calamine reads only bytes measured here, and does not inflate them a second time.
    stored: Vec<u8>,
    /// xlsx: each sheet's merged ranges by sheet name, read while the part was inflated here,
    /// so calamine need not parse every sheet a second time for them. None when the sheet
    /// names could not be tied to their parts (calamine is asked instead).
    merges: Option<HashMap<String, Vec<Dimensions>>>,
}

/// `guard_archive` on bytes alone (tests).
#[cfg(test)]
fn guard_zip(bytes: &[u8], format: Format, limits: &Limits) -> Result<Guarded, ReadError> {
    let zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| truncated_zip())?;
    guard_archive(zip, bytes, format, limits)
}

/// Check a zip-based workbook against the limits, inflating every part once under them (of a
/// form-sized xlsx, every part but those calamine does not read: `unread_part`). `zip` is the
/// directory `detect_zip` opened over `bytes`, the whole file.
fn guard_archive(
    mut zip: Archive<'_>,
    bytes: &[u8],
    format: Format,
    limits: &Limits,
) -> Result<Guarded, ReadError> {
    let capacity = bytes
        .len()
        .saturating_mul(4)
        .min(limits.keep_parts_bytes as usize);
    let mut stored = Some(stored::StoredZip::with_capacity(capacity));
    let mut part_merges: HashMap<String, Vec<Dimensions>> = HashMap::new();
    // xl/workbook.xml (xl/workbook.bin for an xlsb) and xl/_rels/workbook.xml.rels.
    let (mut workbook_part, mut workbook_rels) = (None, None);
    if zip.len() > limits.max_zip_entries {
        return Err(err(
            "read.too_many_parts",
            format!("工作簿内部文件数过多（{} 个），疑似恶意文件", zip.len()),
        ));
    }
    let sheets = (0..zip.len())
        .filter_map(|i| zip.name_for_index(i)?.ok())
        .filter(|n| n.starts_with("xl/worksheets/"))
        .count();
    // Sheet parts of any kind: a workbook names one for each of its sheets.
    let sheet_parts_present = (0..zip.len())
        .filter_map(|i| zip.name_for_index(i)?.ok())
        .filter(|n| {
            [
                "xl/worksheets/",
                "xl/chartsheets/",
                "xl/dialogsheets/",
                "xl/macrosheets/",
            ]
            .iter()
            .any(|dir| n.starts_with(dir))
                && (n.ends_with(".xml") || n.ends_with(".bin"))
                && !n.contains("/_rels/")
        })
        .count();
    if sheets > limits.max_sheets {
        return Err(err(
            "read.too_many_sheets",
            format!("工作表数量过多（{sheets} 个，上限 {}）", limits.max_sheets),
        ));
    }
    // Unread parts are left out only when the workbook will be re-packed whole: the zip crate
    // bounds each part's output by its declared size, so declared sizes within the keep limit
    // mean it is. A workbook going to calamine as it came has every part inspected.
    let declared_total = (0..zip.len())
        .filter_map(|i| zip.by_index_raw(i).ok().map(|e| e.size()))
        .fold(0u64, u64::saturating_add);
    let skip_unread = format == Format::Xlsx && declared_total <= limits.keep_parts_bytes;
    let mut total: u64 = 0;
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|_| truncated_zip())?;
        let name = entry.name().map(|n| n.to_string()).unwrap_or_default();
        if skip_unread && unread_part(&name) {
            // Neither inflated here nor handed to calamine: nobody reads it.
            continue;
        }
        let declared = entry.size();
        let compressed = entry.compressed_size().max(1);
        if declared > limits.max_entry_bytes
            || (declared > 1 << 20 && declared / compressed > limits.max_ratio)
        {
            return Err(bomb(&name));
        }
        // Real size: decompress and count, never trusting the header. Of every XML part at
        // least the head is kept: DTDs are refused outright (entity expansion), and the
        // sharedStrings counts and sheet dimensions are checked.
        let watch = name.ends_with(".xml") || name.ends_with(".rels");
        // The workbook part and its relationships are kept whole whatever the workbook's size:
        // its sheets are counted and their parts compared.
        let whole = (format == Format::Xlsx
            && (name == "xl/workbook.xml" || name == "xl/_rels/workbook.xml.rels"))
            || (format == Format::Xlsb
                && (name == "xl/workbook.bin" || name == "xl/_rels/workbook.bin.rels"));
        if whole && declared > MAX_WORKBOOK_XML {
            return Err(bomb(&name));
        }
        let mut data: Vec<u8> = Vec::with_capacity(declared.min(1 << 20) as usize);
        let mut real: u64 = 0;
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(_) => return Err(truncated_zip()),
            };
            real += n as u64;
            total += n as u64;
            // Parts are kept (to re-pack and to read merges from) only while the workbook is
            // form-sized; a larger one goes to calamine as it came, read part by part.
            if total > limits.keep_parts_bytes && stored.is_some() {
                stored = None;
                if !whole {
                    data.truncate(4096);
                    data.shrink_to_fit();
                }
            }
            let room = if stored.is_some() || whole {
                n
            } else {
                n.min(4096usize.saturating_sub(data.len()))
            };
            data.extend_from_slice(&buf[..room]);
            if (whole && real > MAX_WORKBOOK_XML)
                || real > limits.max_entry_bytes
                || total > limits.max_total_bytes
                || (real > 1 << 20 && real / compressed > limits.max_ratio)
            {
                return Err(bomb(&name));
            }
        }
        if format == Format::Xlsx
            && stored.is_some()
            && name.starts_with("xl/worksheets/")
            && name.ends_with(".xml")
        {
            if let Some(merges) = merge_cells(&data) {
                part_merges.insert(name.clone(), merges);
            }
        }
        if whole {
            if name.ends_with(".rels") {
                workbook_rels = Some(data.clone());
            } else {
                workbook_part = Some(data.clone());
            }
        }
        let head = &data[..data.len().min(4096)];
        // Re-pack the part, stored. Should that fail (an odd name, say), calamine gets the
        // original bytes: they passed every check above all the same.
        // The CRC the zip crate checked the inflated bytes against as they were read.
        let crc = entry.crc32();
        drop(entry);
        if let Some(w) = stored.as_mut() {
            let slimmed = (format == Format::Xlsx && name == "xl/styles.xml")
                .then(|| slim::slim_styles(&data))
                .flatten();
            let added = match &slimmed {
                Some(s) => w.add(&name, s, crc32fast::hash(s)),
                None => w.add(&name, &data, crc),
            };
            if !added {
                stored = None;
            }
        }
        if watch && has_dtd(head) {
            return Err(err(
                "read.hostile",
                format!("工作簿内部文件 {name} 含有 XML 实体定义（DOCTYPE/ENTITY），疑似实体膨胀攻击，已拒绝读取"),
            ));
        }
        if name.ends_with("sharedStrings.xml") {
            for attr in ["uniqueCount", "count"] {
                if let Some(n) = root_attr_u64(head, "sst", attr) {
                    // A string costs at least a few bytes of XML: more strings than bytes is a lie.
                    if n > limits.max_shared_strings || n > real {
                        return Err(err(
                            "read.hostile",
                            format!(
                                "共享字符串表声明了 {n} 个字符串（{attr}），与文件大小不符，疑似恶意文件，已拒绝读取"
                            ),
                        ));
                    }
                }
            }
        }
        if format == Format::Xlsx && name.starts_with("xl/worksheets/") {
            if let Some(dim) = tag_attr(head, "dimension", "ref") {
                if let Some(cells) = dimension_cells(&dim) {
                    if cells > limits.max_dimension_cells {
                        return Err(err(
                            "read.hostile",
                            format!("工作表声明的范围 {dim} 过大（{cells} 个单元格），疑似恶意文件，已拒绝读取"),
                        ));
                    }
                }
            }
        }
    }
    if format == Format::Ods {
        let entry = zip.by_name("content.xml").map_err(|_| truncated_zip())?;
        let OdsSize { cells, text } = ods_size(std::io::BufReader::new(entry))?;
        if cells > limits.max_ods_cells {
            return Err(err(
                "read.hostile",
                format!("表格声明了 {cells} 个单元格（重复行列），远超绩效表的规模，疑似恶意文件，已拒绝读取"),
            ));
        }
        if text > limits.max_text_bytes as u64 {
            return Err(err(
                "read.hostile",
                format!("表格的单元格文字总量达到 {} MB（重复行列、成串空格展开后），远超绩效表的规模，疑似恶意文件，已拒绝读取", text >> 20),
            ));
        }
    }
    // calamine parses a sheet's part once for each sheet naming it: 300 sheets naming one
    // 26 MB part (a 3.7 MB file, within every size limit) took 80 s. Excel writes a part for
    // each sheet, and distinct parts are bounded by the size limits above.
    // Sheets are counted against the sheet parts present, and their parts compared as a zip
    // lookup would find them, so that neither dummy parts nor a part's name spelt two ways
    // (`../xl/worksheets/Sheet1.xml`) let one part be read for many sheets.
    //
    // (sheet name, part) of an xlsx's sheets: compared here, and each sheet's merges found by it.
    let xlsx_parts = match (&workbook_part, &workbook_rels) {
        (Some(wb), Some(rels)) if format == Format::Xlsx => sheet_parts(wb, rels),
        _ => None,
    };
    if let Some(wb) = &workbook_part {
        let (named, parts) = match format {
            Format::Xlsb => {
                let ids = xlsb_sheet_ids(wb);
                let rels = workbook_rels.as_deref().unwrap_or_default();
                (ids.len(), xlsb_sheet_parts(&ids, rels))
            }
            _ => (
                sheet_elements(wb),
                xlsx_parts
                    .iter()
                    .flatten()
                    .map(|(_, part)| part.clone())
                    .collect(),
            ),
        };
        let distinct = parts
            .iter()
            .map(|p| part_key(p))
            .collect::<std::collections::HashSet<_>>()
            .len();
        let files = if distinct < parts.len() {
            Some(distinct)
        } else if named > sheet_parts_present {
            Some(sheet_parts_present)
        } else {
            None
        };
        if let Some(files) = files {
            return Err(err(
                "read.hostile",
                format!("工作簿的 {named} 个工作表只对应 {files} 个工作表文件（多个工作表指向同一文件），疑似恶意文件，已拒绝读取"),
            ));
        }
    }
    let merges = xlsx_parts.map(|parts| {
        parts
            .into_iter()
            .filter_map(|(sheet, part)| Some((sheet, part_merges.remove(&part)?)))
            .collect()
    });
    Ok(Guarded {
        stored: stored
            .and_then(stored::StoredZip::finish)
            .unwrap_or_else(|| bytes.to_vec()),
        merges,
    })
}

/// A part's name as a zip lookup matches it: `\` as `/`, case folded, `.` and `..` resolved.
fn part_key(part: &str) -> String {
    let lower = part.replace('\\', "/").to_ascii_lowercase();
    let mut segments: Vec<&str> = Vec::new();
    for s in lower.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    segments.join("/")
}

/// The largest workbook part (xl/workbook.xml, its relationships, xl/workbook.bin) read (a
/// workbook of 1,000 sheets takes ≈100 KB).
const MAX_WORKBOOK_XML: u64 = 8 << 20;

/// The records of an xlsb binary part, read as calamine 0.38 reads them: a type of one or two
/// bytes, a length of one to four, 7 bits each. A record cut short ends the walk (calamine
/// fails the workbook there).
fn xlsb_records(bin: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    fn byte(bin: &[u8], at: &mut usize) -> Option<u8> {
        let b = bin.get(*at).copied();
        *at += 1;
        b
    }
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let b = byte(bin, &mut at)?;
        let typ = if b & 0x80 != 0 {
            let b2 = byte(bin, &mut at)?;
            (b & 0x7F) as u16 + (((b2 & 0x7F) as u16) << 7)
        } else {
            b as u16
        };
        let mut len = 0usize;
        for i in 0..4 {
            let c = byte(bin, &mut at)?;
            len += ((c & 0x7F) as usize) << (7 * i);
            if c & 0x80 == 0 {
                break;
            }
        }
        let data = bin.get(at..at.checked_add(len)?)?;
        at += len;
        Some((typ, data))
    })
}

/// The sheets an xlsb's workbook.bin names (its BrtBundleSh records up to BrtEndBundleShs, as
/// calamine 0.38 reads them): each sheet's relationship id, None where the record is too short
/// to hold one. A record without a relationship (length 0xFFFFFFFF) is no sheet to calamine.
fn xlsb_sheet_ids(bin: &[u8]) -> Vec<Option<String>> {
    let u32_at = |d: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
    };
    let mut ids = Vec::new();
    for (typ, data) in xlsb_records(bin) {
        match typ {
            0x0090 => break, // BrtEndBundleShs
            0x009C => {
                let Some(len) = u32_at(data, 8) else {
                    ids.push(None);
                    continue;
                };
                if len == u32::MAX {
                    continue;
                }
                let id = (len as usize)
                    .checked_mul(2)
                    .and_then(|n| data.get(12..12 + n))
                    .map(|utf16| {
                        let units: Vec<u16> = utf16
                            .chunks_exact(2)
                            .map(|c| u16::from_le_bytes([c[0], c[1]]))
                            .collect();
                        String::from_utf16_lossy(&units)
                    });
                ids.push(id);
            }
            _ => {}
        }
    }
    ids
}

/// The zip part of each sheet an xlsb names that its relationships resolve (calamine reads
/// `xl/` + the target, whatever its form).
fn xlsb_sheet_parts(ids: &[Option<String>], rels: &[u8]) -> Vec<String> {
    let targets: HashMap<String, String> = xml_elements(rels, "Relationship", ["Id", "Target"])
        .unwrap_or_default()
        .into_iter()
        .map(|[id, target]| (id, target))
        .collect();
    ids.iter()
        .flatten()
        .filter_map(|id| Some(format!("xl/{}", targets.get(id)?)))
        .collect()
}

/// How many `<sheet>` elements a workbook.xml holds (as many as it can be read for).
fn sheet_elements(workbook: &[u8]) -> usize {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_reader(workbook);
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        match r.read_event_into(&mut buf) {
            Ok(Event::Start(e) | Event::Empty(e)) if e.local_name().as_ref() == "sheet" => n += 1,
            Ok(Event::Eof) | Err(_) => return n,
            _ => {}
        }
        buf.clear();
    }
}

/// The `<mergeCell ref="A1:B2"/>` ranges of a worksheet part (they follow the cells, in
/// `<mergeCells>`; only that tail is read). Found searching forwards: a sheet has one
/// `<mergeCells>` (a cell's text cannot hold a `<`, it is escaped), and the forward search
/// runs on SIMD where a backward one compared byte by byte (a sixth of this function).
///
/// The tail is scanned by hand (an XML parser's events and attribute lists were most of
/// this function's cost); one holding a comment, CDATA or processing instruction, where a
/// `<mergeCell` could be text, goes through quick-xml instead (`merge_cells_xml`, which the
/// tests hold the scan to).
///
/// None when the part names merged cells in a form not read here (a namespace prefix,
/// `<x:mergeCells>`): calamine, which reads them by local name, is asked instead.
fn merge_cells(sheet: &[u8]) -> Option<Vec<Dimensions>> {
    use memchr::memmem::Finder;
    use std::sync::LazyLock;
    static OPEN: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"<mergeCells"));
    static CLOSE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"</mergeCells"));
    static CELL: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"<mergeCell"));
    let Some(at) = OPEN.find(sheet) else {
        return match memchr::memmem::find(sheet, b":mergeCells") {
            Some(_) => None,
            None => Some(Vec::new()),
        };
    };
    let tail = &sheet[at..];
    let tail = &tail[..CLOSE.find(tail).unwrap_or(tail.len())];
    // A tail that is not UTF-8 is not read here: calamine is asked, and reports it.
    std::str::from_utf8(tail).ok()?;
    if memchr::memmem::find(tail, b"<!").is_some() || memchr::memmem::find(tail, b"<?").is_some() {
        return merge_cells_xml(tail);
    }
    let mut out = Vec::new();
    let mut i = "<mergeCells".len();
    while let Some(found) = CELL.find(&tail[i..]) {
        let from = i + found + "<mergeCell".len();
        let Some((close, value)) = attribute(tail, from, b"ref") else {
            break; // the tag does not close
        };
        i = close;
        // `<mergeCell` must be the whole name (not `<mergeCellX`).
        if tail
            .get(from)
            .is_some_and(|&b| xml_space(b) || b == b'/' || b == b'>')
        {
            out.extend(value.and_then(merge_range));
        }
    }
    Some(out)
}

/// In the tag whose attributes start at `from`: where it ends (just past its `>`), and the
/// raw value of attribute `name` if it has one. None when the tag does not close. An
/// attribute written out of the grammar (no `=`, no quotes) is passed over.
fn attribute<'a>(xml: &'a [u8], from: usize, name: &[u8]) -> Option<(usize, Option<&'a [u8]>)> {
    let mut i = from;
    let mut found = None;
    loop {
        while xml.get(i).copied().is_some_and(xml_space) {
            i += 1;
        }
        match *xml.get(i)? {
            b'>' => return Some((i + 1, found)),
            b'/' => {
                i += 1;
                continue;
            }
            _ => {}
        }
        let key_start = i;
        while xml
            .get(i)
            .is_some_and(|&b| !xml_space(b) && !matches!(b, b'=' | b'>' | b'/'))
        {
            i += 1;
        }
        let key = &xml[key_start..i];
        while xml.get(i).copied().is_some_and(xml_space) {
            i += 1;
        }
        if xml.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while xml.get(i).copied().is_some_and(xml_space) {
            i += 1;
        }
        let quote = *xml.get(i)?;
        if quote != b'"' && quote != b'\'' {
            continue;
        }
        let value_start = i + 1;
        let len = memchr::memchr(quote, xml.get(value_start..)?)?;
        if key == name && found.is_none() {
            found = Some(&xml[value_start..value_start + len]);
        }
        i = value_start + len + 1;
    }
}

/// XML's white space.
fn xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// "A1:C3" as a range (None when either end is not a cell address).
fn merge_range(value: &[u8]) -> Option<Dimensions> {
    let (from, to) = std::str::from_utf8(value).ok()?.split_once(':')?;
    let (r0, c0) = parse_a1(from)?;
    let (r1, c1) = parse_a1(to)?;
    Some(Dimensions::new(
        (u32::try_from(r0).ok()?, u32::try_from(c0).ok()?),
        (u32::try_from(r1).ok()?, u32::try_from(c1).ok()?),
    ))
}

/// `merge_cells` by an XML parser, from the `<mergeCells` tag on.
fn merge_cells_xml(tail: &[u8]) -> Option<Vec<Dimensions>> {
    use quick_xml::events::Event;
    let mut xml = quick_xml::Reader::from_str(std::str::from_utf8(tail).ok()?);
    let mut out = Vec::new();
    loop {
        match xml.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) if e.local_name().as_ref() == "mergeCell" => {
                // No duplicate check: it kept a list of every attribute of every element.
                let range = e
                    .attributes()
                    .with_checks(false)
                    .flatten()
                    .find(|a| a.key.as_ref() == "ref")
                    .and_then(|a| merge_range(a.value.as_bytes()));
                out.extend(range);
            }
            Ok(Event::End(e)) if e.local_name().as_ref() == "mergeCells" => break,
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    Some(out)
}

/// The two attributes `keys` of every `tag` element of an XML part (`id` matches `r:id` by its
/// local name; other keys match exactly); None if the part is not well-formed UTF-8 XML or an
/// element lacks one of them.
fn xml_elements(xml: &[u8], tag: &str, keys: [&str; 2]) -> Option<Vec<[String; 2]>> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(std::str::from_utf8(xml).ok()?);
    let mut out = Vec::new();
    loop {
        match r.read_event().ok()? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == tag => {
                let mut found: [Option<String>; 2] = [None, None];
                for a in e.attributes().flatten() {
                    for (slot, key) in found.iter_mut().zip(keys) {
                        if a.key.as_ref() == key
                            || (key == "id" && a.key.local_name().as_ref() == "id")
                        {
                            *slot = Some(
                                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                    .ok()?
                                    .to_string(),
                            );
                        }
                    }
                }
                let [Some(a), Some(b)] = found else {
                    return None;
                };
                out.push([a, b]);
            }
            Event::Eof => return Some(out),
            _ => {}
        }
    }
}

/// (sheet name, zip part) of every sheet, from xl/workbook.xml and its relationships.
pub(crate) fn sheet_parts(workbook: &[u8], rels: &[u8]) -> Option<Vec<(String, String)>> {
    let sheets = xml_elements(workbook, "sheet", ["name", "id"])?;
    let targets: HashMap<String, String> = xml_elements(rels, "Relationship", ["Id", "Target"])?
        .into_iter()
        .map(|[id, target]| {
            let part = match target.strip_prefix('/') {
                Some(abs) => abs.to_string(),
                None => format!("xl/{target}"),
            };
            (id, part)
        })
        .collect();
    sheets
        .into_iter()
        .map(|[name, id]| Some((name, targets.get(&id)?.clone())))
        .collect()
}

/// What calamine would build of an .ods content.xml, repeats expanded.
#[derive(Debug, PartialEq, Eq)]
struct OdsSize {
    /// The largest dense range of a sheet.
    cells: u64,
    /// Bytes of cell text in all: calamine copies a cell's text into each cell it repeats to
    /// (a 2 KB file, one 1 MB text repeated 100 × 100 times, asked for 10 GB).
    text: u64,
}

/// The largest dense range calamine would build for a sheet of an .ods content.xml:
/// (rows up to the last row with a value) × (columns up to the last value in any row),
/// counting `number-rows-repeated` and `number-columns-repeated`; and the text it would copy.
/// Saturates, never overflows.
fn ods_size(reader: impl std::io::BufRead) -> Result<OdsSize, ReadError> {
    use quick_xml::events::Event;
    let mut xml = quick_xml::Reader::from_reader(reader);
    let mut buf = Vec::new();
    let repeat = |e: &quick_xml::events::BytesStart, key: &str| -> u64 {
        e.attributes()
            .flatten()
            .find(|a| a.key.as_ref() == key)
            .and_then(|a| a.value.trim().parse().ok())
            .unwrap_or(1)
    };
    let (mut worst, mut rows, mut rows_to_last, mut width) = (0u64, 0u64, 0u64, 0u64);
    let (mut row_repeat, mut col, mut row_last_col) = (1u64, 0u64, 0u64);
    // Text: of the cell being read (with its column repeat), of the row, of the document.
    let (mut cell_text, mut cell_repeat, mut row_text, mut text) = (0u64, 0u64, 0u64, 0u64);
    loop {
        let ev = xml
            .read_event_into(&mut buf)
            .map_err(|e| corrupt(&e.to_string()))?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(ev, Event::Empty(_));
                match e.local_name().as_ref() {
                    "table" => (rows, rows_to_last, width) = (0, 0, 0),
                    "table-row" => {
                        row_repeat = repeat(e, "table:number-rows-repeated");
                        (col, row_last_col) = (0, 0);
                        if empty {
                            rows = rows.saturating_add(row_repeat);
                        }
                    }
                    "table-cell" | "covered-table-cell" => {
                        let n = repeat(e, "table:number-columns-repeated");
                        let mut valued = !empty;
                        // A value written in an attribute, copied into every repeated cell.
                        let mut held = 0u64;
                        for a in e.attributes().flatten() {
                            match a.key.as_ref() {
                                "office:value-type" => valued = true,
                                "office:string-value"
                                | "office:date-value"
                                | "office:time-value" => held = held.max(a.value.len() as u64),
                                _ => {}
                            }
                        }
                        col = col.saturating_add(n);
                        if valued {
                            row_last_col = col;
                        }
                        if empty {
                            row_text = row_text.saturating_add(held.saturating_mul(n));
                            (cell_text, cell_repeat) = (0, 0);
                        } else {
                            (cell_text, cell_repeat) = (held, n);
                        }
                    }
                    // `<text:s text:c="N"/>`: N spaces (one tiny element can ask for gigabytes).
                    "s" => cell_text = cell_text.saturating_add(repeat(e, "text:c")),
                    // A tab, a line break, a paragraph's line break: one byte each.
                    "tab" | "line-break" | "p" => cell_text = cell_text.saturating_add(1),
                    _ => {}
                }
            }
            Event::Text(ref t) => cell_text = cell_text.saturating_add(t.len() as u64),
            Event::CData(ref t) => cell_text = cell_text.saturating_add(t.len() as u64),
            // `&amp;`, `&#x4E00;`: at most four bytes once resolved.
            Event::GeneralRef(_) => cell_text = cell_text.saturating_add(4),
            Event::End(ref e) => match e.local_name().as_ref() {
                "table-cell" | "covered-table-cell" => {
                    row_text = row_text.saturating_add(cell_text.saturating_mul(cell_repeat));
                    (cell_text, cell_repeat) = (0, 0);
                }
                "table-row" => {
                    text = text.saturating_add(row_text.saturating_mul(row_repeat));
                    row_text = 0;
                    rows = rows.saturating_add(row_repeat);
                    if row_last_col > 0 {
                        rows_to_last = rows;
                        width = width.max(row_last_col);
                    }
                }
                "table" => worst = worst.max(rows_to_last.saturating_mul(width)),
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(OdsSize {
        cells: worst.max(rows_to_last.saturating_mul(width)),
        text,
    })
}

/// Check an .xls before calamine parses it. Its compound-file structure must open with the
/// `cfb` crate, which checks the sector chains: calamine 0.38 follows a chain as the file
/// states it, and a 636-byte file whose chain loops made it grow one buffer past 4 GB (found by
/// the `read` fuzz target) — an abort nothing can catch. A file `cfb` cannot open is refused
/// as damaged rather than handed on.
///
/// calamine then builds a dense range spanning each sheet's cells, and reserves what each
/// DIMENSIONS record states: both are bounded first from the BIFF stream, measured two ways
/// (the larger counts) — record by record in stream order (`xls_dense_cells`, the worst
/// substream) and as calamine walks it, from each sheet's BOUNDSHEET offset, all sheets
/// together (`xls_sheet_cells`).
fn guard_xls(bytes: &[u8], limits: &Limits) -> Result<(), ReadError> {
    let damaged = || {
        err(
            "read.corrupt",
            "工作簿文件已损坏（Excel 97-2003 复合文档结构无法读取），请用 Excel 或 WPS 重新保存后报送",
        )
    };
    let mut cfb = cfb::CompoundFile::open(Cursor::new(bytes)).map_err(|_| damaged())?;
    let mut book = Vec::new();
    let mut stream = cfb
        .open_stream("/Workbook")
        .or_else(|_| cfb.open_stream("/Book"))
        .map_err(|_| damaged())?;
    stream.read_to_end(&mut book).map_err(|_| damaged())?;
    let sheets = xls_sheet_cells(&book);
    let cells = xls_dense_cells(&book).max(sheets.cells);
    if cells > limits.max_ods_cells {
        return Err(err(
            "read.hostile",
            format!("工作表单元格分布范围过大（{cells} 个单元格），远超绩效表的规模，疑似恶意文件，已拒绝读取"),
        ));
    }
    // Sheets whose offsets share a substream are read again for each: 1,000 sheets at one
    // offset of a 60 MB stream would be read for 60 GB.
    if sheets.walked > 2 * book.len() as u64 + (1 << 20) {
        return Err(err(
            "read.hostile",
            "多个工作表指向同一段数据（工作表会被重复读取），疑似恶意文件，已拒绝读取",
        ));
    }
    if sheets.text > limits.max_text_bytes as u64 {
        return Err(err(
            "read.hostile",
            format!(
                "工作表单元格引用的文字总量达到 {} MB，远超绩效表的规模，疑似恶意文件，已拒绝读取",
                sheets.text >> 20
            ),
        ));
    }
    Ok(())
}

/// The largest rows × columns span of cell records in any substream of a BIFF8 stream, read in
/// stream order, or the largest number of cells a DIMENSIONS record makes calamine reserve.
fn xls_dense_cells(book: &[u8]) -> u64 {
    let (mut worst, mut max_row, mut max_col, mut any) = (0u64, 0u64, 0u64, false);
    for (typ, data) in xls_records(book, 0) {
        match typ {
            // BOF starts a substream.
            0x0809 => (max_row, max_col, any) = (0, 0, false),
            // DIMENSIONS: calamine reserves room for every cell it states, as it states it.
            0x0200 => worst = worst.max(xls_dimension_cells(data)),
            // EOF ends a substream.
            0x000A if any => worst = worst.max((max_row + 1) * (max_col + 1)),
            _ => {
                if let Some((row, _, last)) = xls_cell_span(typ, data) {
                    max_row = max_row.max(row);
                    max_col = max_col.max(last);
                    any = true;
                }
            }
        }
    }
    if any {
        worst = worst.max((max_row + 1) * (max_col + 1));
    }
    worst
}

/// The BIFF records of a stream from byte `from` on: (type, data), the last one cut at the
/// stream's end.
fn xls_records(book: &[u8], from: usize) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = from;
    std::iter::from_fn(move || {
        let head = book.get(at..at.checked_add(4)?)?;
        let typ = u16::from_le_bytes([head[0], head[1]]);
        let len = u16::from_le_bytes([head[2], head[3]]) as usize;
        let data = book.get(at + 4..(at + 4 + len).min(book.len()))?;
        at += 4 + len;
        Some((typ, data))
    })
}

/// The row and first and last column of a cell record (NUMBER, LABEL, RSTRING, BOOLERR, RK,
/// LABELSST, MULRK, FORMULA, BLANK, MULBLANK); None for any other record.
fn xls_cell_span(typ: u16, data: &[u8]) -> Option<(u64, u64, u64)> {
    if !matches!(
        typ,
        0x0203 | 0x0204 | 0x00D6 | 0x0205 | 0x027E | 0x00FD | 0x00BD | 0x0006 | 0x0201 | 0x00BE
    ) || data.len() < 4
    {
        return None;
    }
    let row = u16::from_le_bytes([data[0], data[1]]) as u64;
    let col = u16::from_le_bytes([data[2], data[3]]) as u64;
    let n = data.len();
    // MULRK/MULBLANK: the last column is in the record's last two bytes.
    let last = if matches!(typ, 0x00BD | 0x00BE) && n >= 6 {
        u16::from_le_bytes([data[n - 2], data[n - 1]]) as u64
    } else {
        col
    };
    Some((row, col.min(last), col.max(last)))
}

/// What calamine 0.38 builds of an .xls's sheets, read as it reads them.
#[derive(Debug, PartialEq, Eq)]
struct XlsSheets {
    cells: u64,
    /// Bytes of cell text, at most: calamine copies a shared string into every cell that names
    /// it (a few thousand LABELSST records naming one 64K-character string: gigabytes).
    text: u64,
    /// Bytes of records read, over all the sheets: the stream's length at most when each
    /// sheet has its own substream, as Excel writes them.
    walked: u64,
}

/// The cells calamine 0.38 lays out for the sheets as it reads them — from each BOUNDSHEET
/// record's offset to that sheet's EOF, not the stream's records in order (a hostile offset
/// can land inside another record), and every sheet at once: summed over the sheets, each
/// the rectangle of its cell records and what its DIMENSIONS records reserve. A 20 KB .xls
/// made calamine hold 3 GB of empty cells that the walk in order did not see (fuzzing).
/// With them, the text of their string cells (UTF-8 takes at most three bytes for each byte
/// or character of BIFF's).
fn xls_sheet_cells(book: &[u8]) -> XlsSheets {
    let shared = xls_shared_string_bytes(book);
    // BOUNDSHEET (0x0085) records of the globals, up to its EOF: each sheet's offset.
    let offsets: Vec<usize> = xls_records(book, 0)
        .take_while(|(typ, _)| *typ != 0x000A)
        .filter(|(typ, data)| *typ == 0x0085 && data.len() >= 4)
        .map(|(_, d)| u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize)
        .collect();
    let (mut total, mut text, mut walked): (u64, u64, u64) = (0, 0, 0);
    for pos in offsets {
        let (mut rows, mut cols) = ((u64::MAX, 0u64), (u64::MAX, 0u64));
        let (mut reserved, mut depth, mut seen_bof) = (0u64, 0usize, false);
        for (typ, data) in xls_records(book, pos) {
            walked += 4 + data.len() as u64;
            if depth > 0 {
                match typ {
                    0x0809 => depth += 1,
                    0x000A => depth -= 1,
                    _ => {}
                }
                continue;
            }
            match typ {
                0x0809 if seen_bof => depth += 1,
                0x0809 => seen_bof = true,
                0x000A => break,
                0x0200 => reserved = reserved.saturating_add(xls_dimension_cells(data)),
                _ => {
                    text = text.saturating_add(match typ {
                        // LABELSST: the shared string it names.
                        0x00FD if data.len() >= 10 => {
                            let i = u32::from_le_bytes([data[6], data[7], data[8], data[9]]);
                            shared.get(i as usize).copied().unwrap_or(0)
                        }
                        // LABEL, RSTRING, a formula's STRING: text in the record itself,
                        // and in the CONTINUE records a long one runs on into.
                        0x0204 | 0x00D6 | 0x0207 | 0x003C => data.len() as u64 * 3,
                        _ => 0,
                    });
                    if let Some((row, first, last)) = xls_cell_span(typ, data) {
                        rows = (rows.0.min(row), rows.1.max(row));
                        cols = (cols.0.min(first), cols.1.max(last));
                    }
                }
            }
        }
        let area = if rows.0 == u64::MAX {
            0
        } else {
            (rows.1 - rows.0 + 1).saturating_mul(cols.1 - cols.0 + 1)
        };
        total = total.saturating_add(area).saturating_add(reserved);
    }
    XlsSheets {
        cells: total,
        text,
        walked,
    }
}

/// The UTF-8 bytes each string of the globals' shared string table (SST) may take: three for
/// each of its characters. Read as calamine 0.38's `parse_sst` reads it — the record and the
/// CONTINUE records after it, a string's characters running on into the next with a fresh
/// option byte — and, like it, the last SST before the globals' EOF counts. Where calamine
/// would fail on the table (cut short), the strings read so far are returned: calamine then
/// refuses the workbook.
fn xls_shared_string_bytes(book: &[u8]) -> Vec<u64> {
    let globals: Vec<(u16, &[u8])> = xls_records(book, 0)
        .take_while(|(typ, _)| *typ != 0x000A)
        .collect();
    let Some(at) = globals.iter().rposition(|(typ, _)| *typ == 0x00FC) else {
        return Vec::new();
    };
    let mut parts = globals[at + 1..]
        .iter()
        .take_while(|(typ, _)| *typ == 0x003C)
        .map(|(_, d)| *d);
    let mut lens = Vec::new();
    let Some(mut data) = globals[at].1.get(8..) else {
        return lens;
    };
    // Pass over `n` bytes from the current part on, across parts; false if they run out.
    fn skip<'a>(data: &mut &'a [u8], parts: &mut impl Iterator<Item = &'a [u8]>, n: usize) -> bool {
        let mut n = n;
        while n > 0 {
            if data.is_empty() {
                match parts.next() {
                    Some(d) => *data = d,
                    None => return false,
                }
            }
            let l = n.min(data.len());
            *data = &data[l..];
            n -= l;
        }
        true
    }
    loop {
        if data.is_empty() {
            match parts.next() {
                // calamine reads an empty string from an empty part.
                Some([]) => {
                    lens.push(0);
                    continue;
                }
                Some(d) => data = d,
                None => return lens,
            }
        }
        let [c0, c1, flags, ..] = *data else {
            return lens;
        };
        let cch = u16::from_le_bytes([c0, c1]) as usize;
        data = &data[3..];
        let mut runs = 0;
        if flags & 0x8 != 0 {
            let [r0, r1, ..] = *data else { return lens };
            runs = u16::from_le_bytes([r0, r1]) as usize;
            data = &data[2..];
        }
        let mut ext = 0;
        if flags & 0x4 != 0 {
            let [e0, e1, e2, e3, ..] = *data else {
                return lens;
            };
            ext = i32::from_le_bytes([e0, e1, e2, e3]) as usize;
            data = &data[4..];
        }
        lens.push(cch as u64 * 3);
        let (mut left, mut wide) = (cch, flags & 0x1 != 0);
        while left > 0 {
            let width = if wide { 2 } else { 1 };
            let n = left.min(data.len() / width);
            data = &data[n * width..];
            left -= n;
            if left > 0 {
                match parts.next() {
                    Some([option, rest @ ..]) => {
                        wide = option & 0x1 != 0;
                        data = rest;
                    }
                    _ => return lens,
                }
            }
        }
        if !skip(
            &mut data,
            &mut parts,
            runs.saturating_mul(4).saturating_add(ext),
        ) {
            return lens;
        }
    }
}

/// The cells calamine 0.38 reserves room for on a DIMENSIONS record (`parse_dimensions` and
/// `rows × cols` in `Xls::parse_workbook`, mirrored with its release-build arithmetic): a
/// record stating 4 billion rows made it ask for petabytes and abort (found by fuzzing).
fn xls_dimension_cells(r: &[u8]) -> u64 {
    let u16_at = |i: usize| u16::from_le_bytes([r[i], r[i + 1]]) as u32;
    let u32_at = |i: usize| u32::from_le_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
    let (rf, rl, mut cf, cl) = match r.len() {
        10 => (u16_at(0), u16_at(2), u16_at(4), u16_at(6)),
        14 | 16 => (u32_at(0), u32_at(4), u16_at(8), u16_at(10)),
        _ => return 0, // calamine refuses the record
    };
    if 0xFF < cf || cl < cf {
        cf = 0;
    }
    let (start, end) = if 1 <= rl && 1 <= cl {
        ((rf, cf), (rl - 1, cl - 1))
    } else {
        ((rf, cf), (rf, cf))
    };
    let rows = end.0.wrapping_sub(start.0).wrapping_add(1) as u64;
    let cols = end.1.wrapping_sub(start.1).wrapping_add(1) as u64;
    rows.saturating_mul(cols)
}

/// Office never writes a DTD; a `<!DOCTYPE` or `<!ENTITY` is how entity expansion starts.
fn has_dtd(head: &[u8]) -> bool {
    use memchr::memmem::find;
    find(head, b"<!DOCTYPE").is_some() || find(head, b"<!ENTITY ").is_some()
}

/// Parts of an xlsx that calamine does not read for cell values and merges: document
/// properties, the content-type list, printer settings, images, custom XML, the calculation
/// chain, and the theme (calamine 0.38 parses the theme only to resolve style colours, and
/// falls back to Office's default colours when it is missing). The guard leaves them out of
/// the parts it inflates and hands on: the theme alone was a sixth of a form's XML.
fn unread_part(name: &str) -> bool {
    const PREFIXES: [&str; 6] = [
        "docProps/",
        "xl/theme/",
        "xl/printerSettings/",
        "xl/media/",
        "customXml/",
        "xl/calcChain.xml",
    ];
    name == "[Content_Types].xml" || PREFIXES.iter().any(|p| name.starts_with(p))
}

fn bomb(name: &str) -> ReadError {
    err(
        "read.hostile",
        format!("工作簿内部文件 {name} 解压后过大（疑似压缩炸弹），已拒绝读取"),
    )
}

/// The value of `attr` on the first `<tag …>` element in `head` (a prefix of an XML part).
fn tag_attr(head: &[u8], tag: &str, attr: &str) -> Option<String> {
    use memchr::memmem;
    let open = format!("<{tag}");
    let key = format!("{attr}=\"");
    for pos in memmem::find_iter(head, open.as_bytes()) {
        let start = pos + open.len();
        let next = *head.get(start)?;
        if !(next.is_ascii_whitespace() || next == b'>' || next == b'/') {
            continue;
        }
        let end = memchr::memchr(b'>', &head[start..]).map_or(head.len(), |e| start + e);
        let element = &head[start..end];
        for at in memmem::find_iter(element, key.as_bytes()) {
            if at == 0 || element[at - 1].is_ascii_whitespace() {
                let value_start = at + key.len();
                let value_end = memchr::memchr(b'"', &element[value_start..])? + value_start;
                return Some(
                    String::from_utf8_lossy(&element[value_start..value_end]).into_owned(),
                );
            }
        }
        return None;
    }
    None
}

fn root_attr_u64(head: &[u8], tag: &str, attr: &str) -> Option<u64> {
    let v = tag_attr(head, tag, attr)?;
    // Digits only; a value too large for u64 is as hostile as it gets.
    if v.bytes().all(|b| b.is_ascii_digit()) && !v.is_empty() {
        Some(v.parse().unwrap_or(u64::MAX))
    } else {
        None
    }
}

/// Cells spanned by an A1 range such as "A1:XFD1048576".
fn dimension_cells(dim: &str) -> Option<u64> {
    let (a, b) = dim.split_once(':').unwrap_or((dim, dim));
    let (r1, c1) = parse_a1(a)?;
    let (r2, c2) = parse_a1(b)?;
    Some((r2.abs_diff(r1) + 1) * (c2.abs_diff(c1) + 1))
}

/// Parse "B7" into zero-based (row, col).
pub fn parse_a1(s: &str) -> Option<(u64, u64)> {
    let s = s.trim().trim_start_matches('$');
    let (letters, rest) = s.split_at(s.bytes().take_while(u8::is_ascii_alphabetic).count());
    let digits = rest.trim_start_matches('$');
    if letters.is_empty() || letters.len() > 3 || digits.is_empty() || digits.len() > 9 {
        return None;
    }
    let mut col: u64 = 0;
    for b in letters.bytes() {
        col = col * 26 + u64::from(b.to_ascii_uppercase() - b'A' + 1);
    }
    let row: u64 = digits.parse().ok()?;
    Some((row.checked_sub(1)?, col - 1))
}

/// Stream one sheet's cells from a calamine cell reader (xlsx, xlsb) into a sparse grid.
macro_rules! stream_cells {
    ($wb:expr, $name:expr, $budget:expr) => {{
        let mut grid = Grid::default();
        let mut reader = $wb
            .worksheet_cells_reader($name)
            .map_err(|e| corrupt(&e.to_string()))?;
        loop {
            // Matched in place: the reader's result (its error type is large) is not moved
            // into another for every cell.
            let cell = match reader.next_cell() {
                Ok(Some(cell)) => cell,
                Ok(None) => break,
                Err(e) => return Err(corrupt(&e.to_string())),
            };
            let (r, c) = cell.get_position();
            push(&mut grid, r, c, convert_ref(cell.get_value()), $budget)?;
        }
        grid
    }};
}

/// Sheets of a reader that only gives whole ranges (xls, ods); `merges` gives a sheet's merged
/// ranges (none where the format has no merge information).
fn range_sheets<RS, R>(
    wb: &mut R,
    limits: &Limits,
    merges: impl Fn(&R, &str) -> Vec<Dimensions>,
) -> Result<Vec<Sheet>, ReadError>
where
    RS: std::io::Read + std::io::Seek,
    R: Reader<RS>,
    R::Error: std::fmt::Display,
{
    let names = wb.sheet_names();
    check_sheet_count(names.len(), limits)?;
    let mut budget = Budget::of(limits);
    let mut sheets = Vec::with_capacity(names.len());
    for name in names {
        let range = wb
            .worksheet_range(&name)
            .map_err(|e| corrupt(&e.to_string()))?;
        let mut grid = range_grid(&range, &mut budget)?;
        grid.fill_merges(&merges(wb, &name), &mut budget.cells);
        sheets.push(Sheet { name, grid });
    }
    Ok(sheets)
}

/// Sheets of a reader that streams cells (xlsx, xlsb); `merges` gives a sheet's merged ranges.
macro_rules! streamed_sheets {
    ($wb:expr, $limits:expr, $merges:expr) => {{
        let names = $wb.sheet_names();
        check_sheet_count(names.len(), $limits)?;
        let mut budget = Budget::of($limits);
        let mut sheets = Vec::with_capacity(names.len());
        for name in names {
            let mut grid = stream_cells!($wb, &name, &mut budget);
            let merges: Vec<Dimensions> = $merges(&mut $wb, &name);
            grid.fill_merges(&merges, &mut budget.cells);
            sheets.push(Sheet { name, grid });
        }
        sheets
    }};
}

// calamine reports no merges for xlsb and ods: there a blank 一级/二级 cell simply stays blank
// and the form reader takes it as "same as above", as it does in every format.
fn parse(
    bytes: Vec<u8>,
    format: Format,
    limits: &Limits,
    known_merges: Option<&HashMap<String, Vec<Dimensions>>>,
) -> Result<Workbook, ReadError> {
    let cursor = Cursor::new(bytes);
    let sheets = match format {
        Format::Xlsx => {
            let mut wb = Xlsx::new(cursor).map_err(|e| match e {
                calamine::XlsxError::Password => encrypted(),
                other => corrupt(&other.to_string()),
            })?;
            streamed_sheets!(wb, limits, |wb: &mut Xlsx<_>, name: &str| {
                match known_merges.and_then(|m| m.get(name)) {
                    Some(m) => m.clone(),
                    None => wb.merge_cells_by_sheet_name(name).unwrap_or_default(),
                }
            })
        }
        Format::Xlsb => {
            let mut wb = Xlsb::new(cursor).map_err(|e| match e {
                calamine::XlsbError::Password => encrypted(),
                other => corrupt(&other.to_string()),
            })?;
            streamed_sheets!(wb, limits, |_: &mut Xlsb<_>, _: &str| Vec::new())
        }
        Format::Xls => {
            let mut wb = Xls::new(cursor).map_err(|e| match e {
                calamine::XlsError::Password => encrypted(),
                other => corrupt(&other.to_string()),
            })?;
            range_sheets(&mut wb, limits, |wb, name| {
                wb.merge_cells_by_sheet_name(name).unwrap_or_default()
            })?
        }
        Format::Ods => {
            let mut wb = Ods::new(cursor).map_err(|e| match e {
                calamine::OdsError::Password => encrypted(),
                other => corrupt(&other.to_string()),
            })?;
            range_sheets(&mut wb, limits, |_, _| Vec::new())?
        }
    };
    Ok(Workbook { format, sheets })
}

fn check_sheet_count(n: usize, limits: &Limits) -> Result<(), ReadError> {
    if n > limits.max_sheets {
        return Err(err(
            "read.too_many_sheets",
            format!("工作表数量过多（{n} 个，上限 {}）", limits.max_sheets),
        ));
    }
    Ok(())
}

fn corrupt(detail: &str) -> ReadError {
    err(
        "read.corrupt",
        format!("工作簿文件已损坏或格式不正确，无法读取（{detail}）"),
    )
}

fn range_grid(range: &Range<Data>, budget: &mut Budget) -> Result<Grid, ReadError> {
    let mut grid = Grid::default();
    let (r0, c0) = range.start().unwrap_or((0, 0));
    for (r, c, data) in range.used_cells() {
        push(
            &mut grid,
            r0 + r as u32,
            c0 + c as u32,
            convert(data),
            budget,
        )?;
    }
    Ok(grid)
}

/// What one workbook may still put into its grids (merge fills share their top-left cell's
/// text: they count as cells only).
struct Budget {
    cells: usize,
    /// Bytes of text left, of `text_limit`.
    text: usize,
    text_limit: usize,
}

impl Budget {
    fn of(limits: &Limits) -> Budget {
        Budget {
            cells: limits.max_cells,
            text: limits.max_text_bytes,
            text_limit: limits.max_text_bytes,
        }
    }
}

/// Keep a non-empty cell, within the workbook's cell and text budgets.
fn push(
    grid: &mut Grid,
    row: u32,
    col: u32,
    cell: Option<GridCell>,
    budget: &mut Budget,
) -> Result<(), ReadError> {
    let Some(cell) = cell else {
        return Ok(());
    };
    if budget.cells == 0 {
        return Err(err(
            "read.too_many_cells",
            "工作簿中非空单元格过多，不像是绩效表，已停止读取",
        ));
    }
    if cell.text.len() > budget.text {
        return Err(err(
            "read.too_much_text",
            format!(
                "工作簿中单元格文字总量超过 {} MB（可能是同一段长文字被大量单元格引用），不像是绩效表，已停止读取",
                (budget.text_limit >> 20).max(1)
            ),
        ));
    }
    budget.cells -= 1;
    budget.text -= cell.text.len();
    grid.insert(row, col, cell);
    Ok(())
}

/// A text cell, trimmed (None when blank).
fn text_cell(s: &str) -> Option<GridCell> {
    let t = s.trim();
    (!t.is_empty()).then(|| GridCell {
        text: Arc::from(t),
        number: None,
        anchor: None,
    })
}

/// `convert` for a streamed value: text is trimmed and copied once, straight from calamine's
/// shared string; other values go through `Data` as in every format.
fn convert_ref(data: &calamine::DataRef<'_>) -> Option<GridCell> {
    match data {
        calamine::DataRef::SharedString(s) => text_cell(s),
        calamine::DataRef::String(s) => text_cell(s),
        other => convert(&Data::from(other.clone())),
    }
}

/// A number cell. Most are whole (分值 10, 预算数 1850000) or have a few decimals: those skip
/// the general conversion (formatting and parsing: a tenth of building a grid) and are read
/// as the decimal typed (`short_decimal`); both paths give the same (tests check it).
fn float_cell(f: f64) -> GridCell {
    // Whole and within f64's exact integers; -0.0 and 0.0 take the general path.
    if f.fract() == 0.0 && f != 0.0 && f.abs() < EXACT_INTEGERS {
        let i = f as i64;
        return GridCell {
            text: Arc::from(itoa::Buffer::new().format(i)),
            number: Some(Decimal::from(i)),
            anchor: None,
        };
    }
    if f != 0.0 {
        if let Some(d) = short_decimal(f) {
            return GridCell {
                text: Arc::from(d.to_string()),
                number: Some(d),
                anchor: None,
            };
        }
    }
    float_cell_general(f)
}

/// 2^53: every integer below it is a double, exactly. A whole number, or a short decimal's
/// count of units of its last place, below it is read exactly.
const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0;

/// A number typed with one to four decimals (86.18, 0.5, 4096.0254 万元 — to the yuan): Excel
/// keeps the double nearest to m / 10^k, and this is that decimal, exactly (rust_decimal's
/// conversion of the double read 4096.0254 as 4096.025400000001: 46,000 of the 2 × 10⁸ such
/// values up to 10⁴ differed). None for anything else (more places, a computed
/// 0.30000000000000004): those take the general conversion.
fn short_decimal(f: f64) -> Option<Decimal> {
    const POWERS: [f64; 4] = [10.0, 100.0, 1_000.0, 10_000.0];
    for (k, p) in (1u32..).zip(POWERS) {
        let m = (f * p).round();
        // (NaN and infinities leave here too.)
        if m.is_nan() || m.abs() >= EXACT_INTEGERS {
            return None;
        }
        // Division is correctly rounded: m / p is the double nearest to the decimal.
        if m / p == f {
            return Some(Decimal::new(m as i64, k).normalize());
        }
    }
    None
}

/// Any other number, as Excel shows it: a fraction rounded to 15 significant digits — all
/// Excel keeps of a typed number, and all a double holds of one (DBL_DIG), so any typed number
/// reads back as typed (4105.84312, or 万元 to the 分 such as 1234.567891), and a computed
/// 0.1 + 0.2 as the 0.3 the cell shows. rust_decimal's conversion of the double itself read
/// 4105.84312 as 4105.843120000001. Whole numbers past 2^53, and fractions a decimal cannot
/// hold (scale past 28), keep that conversion: the double's exact value.
fn float_cell_general(f: f64) -> GridCell {
    let shown = (f.is_finite() && f.fract() != 0.0)
        .then(|| Decimal::from_scientific(&format!("{f:.14e}")).ok())
        .flatten();
    let (text, number) = match shown.map(Ok).unwrap_or_else(|| Decimal::try_from(f)) {
        Ok(d) => {
            let d = d.normalize();
            (d.to_string(), Some(d))
        }
        Err(_) => (f.to_string(), None),
    };
    GridCell {
        text: Arc::from(text),
        number,
        anchor: None,
    }
}

/// A calamine value as text (as a person sees it) and, for numbers, an exact decimal.
fn convert(data: &Data) -> Option<GridCell> {
    let (text, number) = match data {
        Data::Empty => return None,
        Data::String(s) => return text_cell(s),
        Data::Float(f) => return Some(float_cell(*f)),
        Data::Int(i) => (i.to_string(), Some(Decimal::from(*i))),
        Data::Bool(b) => ((if *b { "是" } else { "否" }).to_string(), None),
        Data::DateTime(dt) => (date_text(dt), None),
        Data::DateTimeIso(s) | Data::DurationIso(s) => (s.clone(), None),
        Data::Error(e) => (e.to_string(), None),
    };
    Some(GridCell {
        text: Arc::from(text),
        number,
        anchor: None,
    })
}

/// A date or time cell as people write it: "2023-12-31", "2023-12-31 18:00", "18:00", a
/// duration as "36:30:00". calamine shows the serial number (45291.75), which nobody typed
/// and no department would recognise; "2023-12-31" is also what the 指标值 grammar reads as a
/// deadline. A serial outside Excel's calendar (negative, past 9999) stays a number.
fn date_text(dt: &calamine::ExcelDateTime) -> String {
    let v = dt.as_f64();
    if !(0.0..2_958_466.0).contains(&v) {
        return dt.to_string();
    }
    if dt.is_duration() {
        let secs = (v * 86_400.0).round() as u64;
        return format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    }
    let (y, mo, d, h, mi, s, _) = dt.to_ymd_hms_milli();
    let time = if s == 0 {
        format!("{h:02}:{mi:02}")
    } else {
        format!("{h:02}:{mi:02}:{s:02}")
    };
    if v < 1.0 {
        time
    } else if (h, mi, s) == (0, 0, 0) {
        format!("{y:04}-{mo:02}-{d:02}")
    } else {
        format!("{y:04}-{mo:02}-{d:02} {time}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One BIFF record: type, length, data.
    fn rec(typ: u16, data: &[u8]) -> Vec<u8> {
        let mut r = typ.to_le_bytes().to_vec();
        r.extend((data.len() as u16).to_le_bytes());
        r.extend(data);
        r
    }

    #[test]
    fn dates_and_times_read_as_written() {
        use calamine::{ExcelDateTime, ExcelDateTimeType::*};
        let text = |v: f64, kind, is_1904| {
            let cell = convert(&Data::DateTime(ExcelDateTime::new(v, kind, is_1904))).unwrap();
            assert_eq!(cell.number, None, "a date is not an amount");
            cell.text.to_string()
        };
        assert_eq!(text(45291.0, DateTime, false), "2023-12-31");
        assert_eq!(text(45291.75, DateTime, false), "2023-12-31 18:00");
        assert_eq!(
            text(45291.0 + 1.0 / 86_400.0 * 61.0, DateTime, false),
            "2023-12-31 00:01:01"
        );
        assert_eq!(text(0.5, DateTime, false), "12:00");
        assert_eq!(text(43829.0, DateTime, true), "2023-12-31"); // the 1904 calendar
        assert_eq!(text(1.5208333333333333, TimeDelta, false), "36:30:00");
        // Out of Excel's calendar: the serial as it is.
        assert_eq!(text(-3.0, DateTime, false), "-3");
        assert_eq!(text(3e6, DateTime, false), "3000000");
    }

    /// A whole number's shortcut gives the decimal and text the general conversion gives.
    #[test]
    fn whole_numbers_convert_as_in_general() {
        let mut cases = vec![
            1.0,
            -1.0,
            10.0,
            1_850_000.0,
            -42.0,
            1e15,
            9_007_199_254_740_991.0,
            -9_007_199_254_740_991.0,
        ];
        cases.extend((0..2000).map(|i| (i as f64 - 1000.0) * 37.0));
        for f in cases {
            assert_eq!(float_cell(f), float_cell_general(f), "{f}");
        }
        // Not whole, zero, or past the exact integers: the general path.
        for f in [0.5, 0.0, -0.0, 1e16, 86.18, f64::NAN, f64::INFINITY] {
            assert_eq!(float_cell(f), float_cell_general(f), "{f}");
        }
    }

    /// A number typed with up to four decimals is read as that decimal, text and value:
    /// every one of up to ±20,000 units of its last place, and those the general conversion
    /// read with noise digits (4096.0254 was 4096.025400000001).
    #[test]
    fn short_decimals_are_read_as_typed() {
        for (k, p) in [(1, 10.0), (2, 100.0), (3, 1_000.0), (4, 10_000.0)] {
            for m in -20_000i64..=20_000 {
                let want = Decimal::new(m, k).normalize();
                let cell = float_cell(m as f64 / p);
                assert_eq!(cell.number, Some(want), "{m} / 10^{k}");
                assert_eq!(&*cell.text, want.to_string(), "{m} / 10^{k}");
            }
        }
        for (f, text) in [
            (4096.0254, "4096.0254"),
            (4096.029, "4096.029"),
            (-4503.529, "-4503.529"),
        ] {
            assert_eq!(&*float_cell(f).text, text);
            assert_eq!(&*float_cell_general(f).text, text);
            // What rust_decimal's conversion of the double reads: noise digits.
            assert_ne!(Decimal::try_from(f).unwrap().normalize().to_string(), text);
        }
        assert_eq!(&*float_cell(123_456_789.012_5).text, "123456789.0125");
        // Not a short decimal: the general conversion.
        for f in [
            0.1 + 0.2,
            1.0 / 3.0,
            1e-5,
            123.456_789,
            1e300,
            f64::NAN,
            f64::INFINITY,
        ] {
            assert_eq!(float_cell(f), float_cell_general(f), "{f}");
        }
    }

    /// Any other number is read as Excel shows it (15 significant digits): a typed one as
    /// typed, however many decimals — 万元 to the 分 has six — and a computed one as its cell
    /// shows it.
    #[test]
    fn longer_decimals_are_read_as_excel_shows_them() {
        for (f, text) in [
            (4105.84312, "4105.84312"), // rust_decimal's conversion: 4105.843120000001
            (1234.567891, "1234.567891"),
            (-98765.432109, "-98765.432109"),
            (0.000_012_5, "0.0000125"),
            (123_456_789.012_345, "123456789.012345"),
            (0.1 + 0.2, "0.3"),
            (1.0 / 3.0, "0.333333333333333"),
            (2.0 / 3.0, "0.666666666666667"),
        ] {
            let cell = float_cell(f);
            assert_eq!(&*cell.text, text, "{f}");
            assert_eq!(cell.number, Some(text.parse::<Decimal>().unwrap()), "{f}");
        }
        assert_ne!(
            Decimal::try_from(4105.84312).unwrap().to_string(),
            "4105.84312"
        );
        // Whole numbers past the exact integers keep the double's exact value; what no decimal
        // holds is text only.
        assert_eq!(&*float_cell(1e16).text, "10000000000000000");
        assert_eq!(float_cell(1e300).number, None);
        assert_eq!(float_cell(f64::NAN).number, None);
    }

    proptest::proptest! {
        #[test]
        fn short_decimals_are_read_as_typed_anywhere(m in -1_000_000_000_000i64..1_000_000_000_000, k in 1u32..=4) {
            let f = m as f64 / 10f64.powi(k as i32);
            proptest::prop_assert_eq!(float_cell(f).number, Some(Decimal::new(m, k).normalize()));
        }

        /// Whatever the double, a short decimal read from it converts back to that same
        /// double (no other double is taken for a typed decimal).
        #[test]
        fn any_float_reads_as_a_decimal_of_that_double(f in proptest::num::f64::ANY) {
            if let Some(d) = short_decimal(f) {
                proptest::prop_assert_eq!(d.to_string().parse::<f64>().ok(), Some(f));
            }
        }

        /// The same next to typed decimals, a few doubles either side (computed values).
        #[test]
        fn near_decimals_read_only_as_their_own_double(
            m in -100_000_000_000i64..100_000_000_000,
            k in 1u32..=4,
            ulps in -3i64..=3,
        ) {
            let typed = m as f64 / 10f64.powi(k as i32);
            let f = f64::from_bits(typed.to_bits().wrapping_add_signed(ulps));
            if let Some(d) = short_decimal(f) {
                proptest::prop_assert_eq!(d.to_string().parse::<f64>().ok(), Some(f));
            }
            if ulps == 0 {
                proptest::prop_assert!(short_decimal(f).is_some());
            }
        }

        /// Every number of up to 15 significant digits, whatever its decimals, is read as
        /// typed.
        #[test]
        fn decimals_of_fifteen_digits_are_read_as_typed(
            m in -999_999_999_999_999i64..=999_999_999_999_999,
            k in 0u32..=15,
        ) {
            let typed = Decimal::new(m, k);
            let f: f64 = typed.to_string().parse().unwrap();
            proptest::prop_assert_eq!(float_cell(f).number, Some(typed.normalize()));
        }

        #[test]
        fn whole_numbers_convert_as_in_general_anywhere(i in -(1i64 << 53) + 1..(1i64 << 53)) {
            let f = i as f64;
            proptest::prop_assert_eq!(float_cell(f), float_cell_general(f));
        }
    }

    /// DIMENSIONS records as calamine reads them: BIFF5 and BIFF8, a first row past the last
    /// (its arithmetic wraps), a first column past 0xFF.
    #[test]
    fn xls_dimensions_count_what_calamine_reserves() {
        let biff8 = |rf: u32, rl: u32, cf: u16, cl: u16| {
            let mut r = Vec::new();
            r.extend(rf.to_le_bytes());
            r.extend(rl.to_le_bytes());
            r.extend(cf.to_le_bytes());
            r.extend(cl.to_le_bytes());
            r.extend([0, 0]);
            r
        };
        assert_eq!(xls_dimension_cells(&biff8(0, 40, 0, 8)), 320);
        assert_eq!(
            xls_dimension_cells(&biff8(0, u32::MAX, 0, 256)),
            0xFFFF_FFFF * 256
        );
        assert_eq!(
            xls_dimension_cells(&biff8(100, 50, 0, 8)),
            (u32::MAX as u64 - 49) * 8
        );
        assert_eq!(xls_dimension_cells(&biff8(0, 10, 300, 8)), 80);
        assert_eq!(xls_dimension_cells(&biff8(0, 0, 0, 0)), 1);
        let biff5 = [0, 0, 10, 0, 0, 0, 4, 0, 0, 0];
        assert_eq!(xls_dimension_cells(&biff5), 40);
        assert_eq!(xls_dimension_cells(&[0; 12]), 0);
        // In a stream: a record stating 4 billion rows is counted.
        let mut book = vec![0x00, 0x02, 14, 0];
        book.extend(biff8(0, u32::MAX, 0, 256));
        assert!(xls_dense_cells(&book) > Limits::default().max_ods_cells);
    }

    /// The shared strings' sizes are read as calamine reads the table: strings that run on into
    /// CONTINUE records, one byte or two a character; each LABELSST counts its string's.
    #[test]
    fn xls_shared_strings_are_measured_as_calamine_reads_them() {
        use crate::output::legacy::xls_shared_strings_bytes;
        let long = "长".repeat(6000);
        let narrow = "a".repeat(9000);
        let strings = ["项目名称", &long, "abc", &narrow, "指标"];
        let cells = [
            (0, 0, 0),
            (1, 0, 1),
            (2, 0, 2),
            (3, 0, 3),
            (4, 0, 4),
            (5, 0, 99),
        ];
        let bytes = xls_shared_strings_bytes(&strings, &cells).unwrap();
        let book = {
            let mut cfb = cfb::CompoundFile::open(Cursor::new(&bytes[..])).unwrap();
            let mut book = Vec::new();
            cfb.open_stream("/Workbook")
                .unwrap()
                .read_to_end(&mut book)
                .unwrap();
            book
        };
        let chars = |s: &str| s.chars().count() as u64 * 3;
        let want: Vec<u64> = strings.iter().map(|s| chars(s)).collect();
        assert_eq!(xls_shared_string_bytes(&book), want);
        assert_eq!(xls_sheet_cells(&book).text, want.iter().sum::<u64>());
        // calamine reads the same strings, none longer than measured.
        let wb = read_bytes(bytes, &Limits::default()).unwrap();
        let grid = &wb.sheets[0].grid;
        for (row, s) in strings.iter().enumerate() {
            assert_eq!(grid.text(row as u32, 0), *s, "row {row}");
        }
        // One long string named by 2,000 cells: 36 MB of copies against a 16 MB budget.
        let many: Vec<(u16, u16, u32)> = (0..2000).map(|r| (r, 0, 1)).collect();
        let bytes = xls_shared_strings_bytes(&strings, &many).unwrap();
        let small = Limits {
            max_text_bytes: 16 << 20,
            ..Limits::default()
        };
        let e = read_bytes(bytes, &small).unwrap_err();
        assert_eq!(e.code, "read.hostile");
        assert!(e.message.contains("文字总量"), "{}", e.message);
    }

    /// Text in a sheet's own records counts, with the CONTINUE records it runs on into, once
    /// for every sheet that reads it.
    #[test]
    fn xls_inline_text_counts_with_its_continue_records() {
        let mut sheet = rec(0x0809, &[0; 16]);
        sheet.extend(rec(0x0204, &[0; 20]));
        sheet.extend(rec(0x003C, &[0; 100]));
        sheet.extend(rec(0x0203, &[0; 14]));
        sheet.extend(rec(0x000A, &[]));
        // Two BOUNDSHEETs, both at the one sheet.
        let globals_len = 4 + 16 + 2 * (4 + 8) + 4;
        let mut book = rec(0x0809, &[0; 16]);
        for _ in 0..2 {
            let mut d = (globals_len as u32).to_le_bytes().to_vec();
            d.extend([0; 4]);
            book.extend(rec(0x0085, &d));
        }
        book.extend(rec(0x000A, &[]));
        book.extend(sheet);
        let sheets = xls_sheet_cells(&book);
        assert_eq!(sheets.text, 2 * (20 + 100) * 3);
        // Both read the one sheet's records.
        assert_eq!(sheets.walked, 2 * (4 + 16 + 4 + 20 + 4 + 100 + 4 + 14 + 4));
    }

    #[test]
    fn part_names_are_compared_as_a_zip_lookup_matches_them() {
        for same in [
            "xl/worksheets/sheet1.xml",
            "/xl/worksheets/Sheet1.xml",
            "xl/../xl/./worksheets/SHEET1.xml",
            "xl\\worksheets\\sheet1.xml",
        ] {
            assert_eq!(part_key(same), "xl/worksheets/sheet1.xml", "{same}");
        }
        assert_ne!(
            part_key("xl/worksheets/sheet2.xml"),
            part_key("xl/worksheets/sheet1.xml")
        );
    }

    /// An xlsb whose sheets name one part is refused, as an xlsx is: whether it has fewer
    /// sheet parts than sheets, or dummy parts beside the one read, or the one part spelt two
    /// ways.
    #[test]
    fn xlsb_sheets_sharing_a_part_are_refused() {
        use std::io::Write as _;
        // A BrtBundleSh (type 0x009C: two bytes) naming relationship `id`, as Excel writes it.
        let bundle = |id: &str| {
            let wide = |s: &str| {
                let mut b = (s.encode_utf16().count() as u32).to_le_bytes().to_vec();
                b.extend(s.encode_utf16().flat_map(u16::to_le_bytes));
                b
            };
            let mut data = vec![0u8; 8];
            data.extend(wide(id));
            data.extend(wide(&format!("表{id}")));
            let mut r = vec![0x9C, 0x01, data.len() as u8];
            r.extend(data);
            r
        };
        let xlsb = |targets: &[&str], parts: usize| {
            let mut bin = vec![0x10, 0x81, 0x01]; // type 0x10, 129 bytes follow
            bin.extend([0u8; 129]);
            let mut rels = String::from("<Relationships>");
            for (i, target) in targets.iter().enumerate() {
                bin.extend(bundle(&format!("rId{i}")));
                rels.push_str(&format!(r#"<Relationship Id="rId{i}" Target="{target}"/>"#));
            }
            rels.push_str("</Relationships>");
            bin.extend([0x90, 0x01, 0x00]); // BrtEndBundleShs: what follows names no sheet
            bin.extend(bundle("rId9"));
            let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
            let opts = zip::write::SimpleFileOptions::default();
            z.start_file("xl/workbook.bin", opts).unwrap();
            z.write_all(&bin).unwrap();
            z.start_file("xl/_rels/workbook.bin.rels", opts).unwrap();
            z.write_all(rels.as_bytes()).unwrap();
            for i in 1..=parts {
                z.start_file(format!("xl/worksheets/sheet{i}.bin"), opts)
                    .unwrap();
                z.write_all(b"x").unwrap();
            }
            z.finish().unwrap().into_inner()
        };
        let ok = ["worksheets/sheet1.bin", "worksheets/sheet2.bin"];
        assert!(guard_zip(&xlsb(&ok, 2), Format::Xlsb, &Limits::default()).is_ok());
        for (targets, parts) in [
            // Two sheets, one part.
            (&ok[..], 1),
            // Two sheets naming one part, a dummy part beside it.
            (&["worksheets/sheet1.bin", "worksheets/sheet1.bin"][..], 2),
            // One part spelt two ways.
            (
                &[
                    "worksheets/sheet1.bin",
                    "Worksheets/../worksheets/Sheet1.bin",
                ][..],
                2,
            ),
        ] {
            let e = guard_zip(&xlsb(targets, parts), Format::Xlsb, &Limits::default())
                .err()
                .unwrap_or_else(|| panic!("{targets:?} {parts}"));
            assert_eq!(e.code, "read.hostile");
            assert!(e.message.contains("指向同一文件"), "{}", e.message);
        }
    }

    /// Sheets an xlsb's workbook.bin names, read as calamine reads them.
    #[test]
    fn xlsb_sheet_records_read_as_calamine_reads_them() {
        // Too short to name a relationship: still a sheet (calamine fails on it).
        assert_eq!(
            xlsb_sheet_ids(&[0x9C, 0x01, 0x00, 0x9C, 0x01, 0x00]),
            vec![None, None]
        );
        // No relationship (0xFFFFFFFF): no sheet; a record cut short ends the walk.
        let mut bin = vec![0x9C, 0x01, 12];
        bin.extend([0u8; 8]);
        bin.extend(u32::MAX.to_le_bytes());
        bin.extend([0x9C, 0x01, 0x05, 0x00]);
        assert_eq!(xlsb_sheet_ids(&bin), Vec::<Option<String>>::new());
    }

    /// Sheets sharing one substream (every BOUNDSHEET at one offset) are refused: calamine
    /// reads it again for each.
    #[test]
    fn xls_sheets_sharing_a_substream_are_refused() {
        use std::io::Write as _;
        let xls = |sheets: usize| {
            let mut sheet = rec(0x0809, &[0; 16]);
            for _ in 0..200 {
                sheet.extend(rec(0x0099, &[0; 8000]));
            }
            sheet.extend(rec(0x000A, &[]));
            let globals_len = 4 + 16 + sheets * (4 + 8) + 4;
            let mut book = rec(0x0809, &[0; 16]);
            for _ in 0..sheets {
                let mut d = (globals_len as u32).to_le_bytes().to_vec();
                d.extend([0; 4]);
                book.extend(rec(0x0085, &d));
            }
            book.extend(rec(0x000A, &[]));
            book.extend(sheet);
            let mut cfb =
                cfb::CompoundFile::create_with_version(cfb::Version::V3, Cursor::new(Vec::new()))
                    .unwrap();
            cfb.create_stream("/Workbook")
                .unwrap()
                .write_all(&book)
                .unwrap();
            cfb.flush().unwrap();
            cfb.into_inner().into_inner()
        };
        assert!(guard_xls(&xls(1), &Limits::default()).is_ok());
        let e = guard_xls(&xls(10), &Limits::default()).unwrap_err();
        assert_eq!(e.code, "read.hostile");
        assert!(e.message.contains("同一段数据"), "{}", e.message);
    }

    /// Sheets are measured from their BOUNDSHEET offsets, summed, nested substreams skipped.
    #[test]
    fn xls_sheets_are_measured_where_calamine_reads_them() {
        let cell = |row: u16, col: u16| {
            let mut d = row.to_le_bytes().to_vec();
            d.extend(col.to_le_bytes());
            d.extend([0; 10]);
            rec(0x0203, &d)
        };
        let sheet = |cells: &[(u16, u16)]| {
            let mut s = rec(0x0809, &[0; 16]);
            // A chart inside the sheet: its cell-like records are not the sheet's.
            s.extend(rec(0x0809, &[0; 16]));
            s.extend(cell(60_000, 250));
            s.extend(rec(0x000A, &[]));
            for (r, c) in cells {
                s.extend(cell(*r, *c));
            }
            s.extend(rec(0x000A, &[]));
            s
        };
        let first = sheet(&[(0, 0), (999, 199)]);
        let second = sheet(&[(10, 3)]);
        // Globals: BOF, two BOUNDSHEETs, EOF; then the sheets.
        let globals_len = 4 + 16 + 2 * (4 + 8) + 4;
        let mut book = rec(0x0809, &[0; 16]);
        for at in [globals_len, globals_len + first.len()] {
            let mut d = (at as u32).to_le_bytes().to_vec();
            d.extend([0; 4]);
            book.extend(rec(0x0085, &d));
        }
        book.extend(rec(0x000A, &[]));
        assert_eq!(book.len(), globals_len);
        book.extend(first);
        book.extend(second);
        assert_eq!(xls_sheet_cells(&book).cells, 1000 * 200 + 1);
        // An offset past the end measures nothing (calamine refuses it).
        book[4 + 16 + 4..4 + 16 + 8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(xls_sheet_cells(&book).cells, 1);
    }

    #[test]
    fn detects_by_magic_bytes() {
        assert_eq!(detect(b"").unwrap_err().code, "read.empty");
        assert_eq!(
            detect(b"a,b,c\n1,2,3\n").unwrap_err().code,
            "read.not_workbook"
        );
        assert!(detect(b"PK\x03\x04 truncated").is_err());
        let mut ole = OLE_MAGIC.to_vec();
        ole.extend(vec![0u8; 100]);
        assert_eq!(detect(&ole), Ok(Format::Xls));
        ole.extend(
            "EncryptedPackage"
                .encode_utf16()
                .flat_map(|u| u.to_le_bytes()),
        );
        assert_eq!(detect(&ole).unwrap_err().code, "read.encrypted");
    }

    #[test]
    fn attributes_and_dimensions() {
        let head = br#"<?xml version="1.0"?><sst xmlns="x" count="10" uniqueCount="5000000000">"#;
        assert_eq!(
            root_attr_u64(head, "sst", "uniqueCount"),
            Some(5_000_000_000)
        );
        assert_eq!(root_attr_u64(head, "sst", "count"), Some(10));
        let sheet = br#"<worksheet><sheetPr/><dimension ref="A1:XFD1048576"/>"#;
        let dim = tag_attr(sheet, "dimension", "ref").unwrap();
        assert_eq!(dimension_cells(&dim), Some(16_384 * 1_048_576));
        assert_eq!(dimension_cells("B2"), Some(1));
        assert_eq!(parse_a1("AA10"), Some((9, 26)));
        assert_eq!(parse_a1(" $xfd$1048576"), Some((1_048_575, 16_383)));
        for bad in ["A0", "10", "ABCD1", "A", "A1234567890", "一1", ""] {
            assert_eq!(parse_a1(bad), None, "{bad}");
        }
    }

    #[test]
    fn ods_repeats_are_bounded_before_calamine() {
        let doc = |table: &str| {
            format!(
                r#"<office:document-content xmlns:office="o" xmlns:table="t" xmlns:text="x"><office:body><office:spreadsheet><table:table>{table}</table:table></office:spreadsheet></office:body></office:document-content>"#
            )
        };
        let cells = |t: &str| ods_size(doc(t).as_bytes()).unwrap().cells;
        // 5500 rows × 16384 columns of "x": 90 million cells (calamine took 11 GB).
        let big = r#"<table:table-row table:number-rows-repeated="5500"><table:table-cell office:value-type="string" table:number-columns-repeated="16384"><text:p>x</text:p></table:table-cell></table:table-row>"#;
        assert_eq!(cells(big), 5500 * 16384);
        // LibreOffice's trailing empty rows and columns cost nothing.
        let normal = r#"<table:table-row><table:table-cell office:value-type="string"><text:p>项目名称</text:p></table:table-cell><table:table-cell table:number-columns-repeated="1020"/></table:table-row><table:table-row table:number-rows-repeated="1048575"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>"#;
        assert_eq!(cells(normal), 1);
        // An empty run before a value does count: calamine fills it.
        let gap = r#"<table:table-row><table:table-cell table:number-columns-repeated="999"/><table:table-cell office:value-type="float" office:value="1"/></table:table-row>"#;
        assert_eq!(cells(gap), 1000);
        // Text counts once for each cell it is repeated to.
        let text = |t: &str| ods_size(doc(t).as_bytes()).unwrap().text;
        // (A paragraph counts one byte, for the line break calamine puts between two.)
        assert_eq!(text(big), 5500 * 16384 * 2);
        assert_eq!(text(normal), "项目名称".len() as u64 + 1);
        let long = format!(
            r#"<table:table-row table:number-rows-repeated="100"><table:table-cell office:value-type="string" table:number-columns-repeated="100"><text:p>{}</text:p><text:p>b<![CDATA[cd]]>&amp;</text:p></table:table-cell><table:table-cell/></table:table-row>"#,
            "x".repeat(1000)
        );
        assert_eq!(text(&long), 100 * 100 * (1003 + 4 + 2));
        // Text written as an attribute, and spaces asked for by count.
        let held = r#"<table:table-row table:number-rows-repeated="10"><table:table-cell office:value-type="string" office:string-value="abcd" table:number-columns-repeated="1000"/></table:table-row>"#;
        assert_eq!(text(held), 10 * 1000 * 4);
        let spaces = r#"<table:table-row><table:table-cell office:value-type="string"><text:p>a<text:s text:c="3000000000"/><text:tab/></text:p></table:table-cell></table:table-row>"#;
        assert_eq!(text(spaces), 1 + 1 + 3_000_000_000 + 1);
    }

    #[test]
    fn floats_become_exact_decimals() {
        let c = convert(&Data::Float(215457.6)).unwrap();
        assert_eq!(&*c.text, "215457.6");
        assert_eq!(c.number, Some(Decimal::new(2154576, 1)));
        assert_eq!(&*convert(&Data::Float(185.0)).unwrap().text, "185");
        assert_eq!(convert(&Data::String("  ".into())), None);
    }

    #[test]
    fn merges_from_the_guard_pass_are_calamines() {
        let forms = crate::samples::seed_targets();
        for (stacked, shift) in [(false, false), (true, true)] {
            let bytes = crate::samples::xlsx_bytes(&forms, stacked, shift).unwrap();
            let guarded = guard_zip(&bytes, Format::Xlsx, &Limits::default()).unwrap();
            let ours = guarded.merges.expect("sheet names tied to their parts");
            let mut wb = Xlsx::new(Cursor::new(bytes)).unwrap();
            let names = wb.sheet_names();
            assert_eq!(ours.len(), names.len());
            let mut total = 0;
            for name in names {
                let theirs = wb.merge_cells_by_sheet_name(&name).unwrap();
                assert_eq!(ours[&name], theirs, "{name}");
                total += theirs.len();
            }
            assert!(total > 10, "the samples merge cells ({total})");
        }
        // Relative and absolute targets, an escaped sheet name, r:id by local name.
        let wb = br#"<workbook xmlns:r="x"><sheets><sheet name="A&amp;B" sheetId="1" r:id="rId1"/><sheet name="C" sheetId="2" r:id="rId2"/></sheets></workbook>"#;
        let rels = br#"<Relationships><Relationship Id="rId1" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Target="/xl/worksheets/s2.xml"/></Relationships>"#;
        assert_eq!(
            sheet_parts(wb, rels).unwrap(),
            vec![
                ("A&B".to_string(), "xl/worksheets/sheet1.xml".to_string()),
                ("C".to_string(), "xl/worksheets/s2.xml".to_string())
            ]
        );
        let sheet = br#"<worksheet><sheetData/><mergeCells count="2"><mergeCell ref='A1:C1'/><mergeCell ref="B2:B4"></mergeCell></mergeCells></worksheet>"#;
        assert_eq!(
            merge_cells(sheet),
            Some(vec![
                Dimensions::new((0, 0), (0, 2)),
                Dimensions::new((1, 1), (3, 1))
            ])
        );
        assert_eq!(
            merge_cells(b"<worksheet><sheetData/></worksheet>"),
            Some(vec![])
        );
        // Prefixed: left to calamine.
        let prefixed = br#"<x:worksheet xmlns:x="m"><x:sheetData/><x:mergeCells count="1"><x:mergeCell ref="A1:B1"/></x:mergeCells></x:worksheet>"#;
        assert_eq!(merge_cells(prefixed), None);
    }

    /// The hand scan of `<mergeCells>` against quick-xml's reading, on tails written every
    /// way the grammar allows: quotes, spaces around `=`, other attributes before `ref`,
    /// open-and-close tags, other elements between, `$` and lower case in addresses.
    #[test]
    fn merge_scan_reads_what_the_xml_parser_reads() {
        let tails = [
            r#"<mergeCells count="2"><mergeCell ref="A1:C1"/><mergeCell ref='B2:B4'></mergeCell></mergeCells>"#,
            "<mergeCells>\n <mergeCell\n\tref = \"$A$1:$b$2\" />\r\n</mergeCells>",
            r#"<mergeCells><mergeCell x="ref=&quot;Z9:Z9&quot;" ref="D4:E5" ref="F1:F2"/></mergeCells>"#,
            r#"<mergeCells><mergeCellX ref="A1:A2"/><mergeCell ref="A1"/><mergeCell ref="A1:B"/><mergeCell/></mergeCells>"#,
            r#"<mergeCells><extra a="<>"/><mergeCell ref="AAA1048576:XFD1048576"/></mergeCells><mergeCell ref="A1:B1"/>"#,
            r#"<mergeCells><mergeCell ref="A1:B1""#,
            r#"<mergeCells><mergeCell bad ref="C1:D1"/><mergeCell ref=E1:F1 ref="G1:H1"/></mergeCells>"#,
        ];
        for tail in tails {
            let sheet = format!("<worksheet><sheetData/>{tail}</worksheet>");
            let from = sheet.find("<mergeCells").unwrap();
            assert_eq!(
                merge_cells(sheet.as_bytes()),
                merge_cells_xml(&sheet.as_bytes()[from..]),
                "{tail}"
            );
        }
        // A comment, where a tag could be text: the XML parser reads it.
        let commented = br#"<worksheet><mergeCells><!-- <mergeCell ref="A1:B1"/> --><mergeCell ref="C1:D1"/></mergeCells></worksheet>"#;
        assert_eq!(
            merge_cells(commented),
            Some(vec![Dimensions::new((0, 2), (0, 3))])
        );
    }

    proptest::proptest! {
        #[test]
        fn merge_scan_matches_the_xml_parser(
            cells in proptest::collection::vec(
                (0u32..40, 0u32..30, 0u32..40, 0u32..30, 0usize..4, proptest::bool::ANY, proptest::bool::ANY),
                0..12,
            )
        ) {
            let mut tail = String::from("<mergeCells count=\"1\">");
            for (r0, c0, r1, c1, style, single, other) in cells {
                let q = if single { '\'' } else { '"' };
                let a = |r: u32, c: u32| format!("{}{}", crate::model::CellRef::col_letters(c), r + 1);
                let extra = if other { " xr:uid=\"{X}\"" } else { "" };
                tail += &match style {
                    0 => format!("<mergeCell ref={q}{}:{}{q}{extra}/>", a(r0, c0), a(r1, c1)),
                    1 => format!("<mergeCell{extra} ref = {q}{}:{}{q}></mergeCell>", a(r0, c0), a(r1, c1)),
                    2 => format!("\n  <mergeCell\tref={q}{}{q} />", a(r0, c0)),
                    _ => format!("<other ref={q}{}:{}{q}/>", a(r0, c0), a(r1, c1)),
                };
            }
            tail += "</mergeCells>";
            let sheet = format!("<worksheet><sheetData/>{tail}<pageMargins/></worksheet>");
            proptest::prop_assert_eq!(merge_cells(sheet.as_bytes()), merge_cells_xml(tail.as_bytes()));
        }
    }

    #[test]
    fn a_large_workbook_goes_to_calamine_as_it_came() {
        let forms = crate::samples::seed_targets();
        let bytes = crate::samples::xlsx_bytes(&forms, true, false).unwrap();
        let small = Limits {
            keep_parts_bytes: 1000,
            ..Limits::default()
        };
        let guarded = guard_zip(&bytes, Format::Xlsx, &small).unwrap();
        assert_eq!(guarded.stored, bytes, "not re-packed");
        let kept = guard_zip(&bytes, Format::Xlsx, &Limits::default()).unwrap();
        assert_ne!(kept.stored, bytes, "re-packed, stored");
        // Either way the same grids come out.
        assert_eq!(
            read_bytes(bytes.clone(), &small).unwrap(),
            read_bytes(bytes, &Limits::default()).unwrap()
        );
    }

    #[test]
    fn cell_text_is_kept_within_the_text_budget() {
        let forms = crate::samples::seed_targets();
        let bytes = crate::samples::xlsx_bytes(&forms, true, false).unwrap();
        let whole = read_bytes(bytes.clone(), &Limits::default()).unwrap();
        // Each cell's text counts once; merge fills share theirs and count as cells only.
        let text: usize = whole
            .sheets
            .iter()
            .flat_map(|s| s.grid.iter())
            .filter(|(_, c)| c.anchor.is_none())
            .map(|(_, c)| c.text.len())
            .sum();
        let exact = Limits {
            max_text_bytes: text,
            ..Limits::default()
        };
        assert_eq!(read_bytes(bytes.clone(), &exact).unwrap(), whole);
        let short = Limits {
            max_text_bytes: text - 1,
            ..Limits::default()
        };
        let e = read_bytes(bytes, &short).unwrap_err();
        assert_eq!(e.code, "read.too_much_text");
        assert!(e.message.contains("文字总量"), "{}", e.message);
    }

    #[test]
    fn a_part_larger_than_its_declared_size_is_refused() {
        // The guard leaves unread parts out only when the declared sizes fit the keep limit,
        // on the strength of the zip crate bounding each part's output by its declared size.
        use std::io::Write as _;
        let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let deflated = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        z.start_file("xl/workbook.xml", deflated).unwrap();
        z.write_all(&[b' '; 100_000]).unwrap();
        let mut bytes = z.finish().unwrap().into_inner();
        // Declare 1,000 bytes instead of 100,000, in the local and the central header.
        let lie = 1000u32.to_le_bytes();
        bytes[22..26].copy_from_slice(&lie);
        let central = memchr::memmem::rfind(&bytes, b"PK\x01\x02").unwrap();
        bytes[central + 24..central + 28].copy_from_slice(&lie);
        // Refused by the guard itself (calamine would refuse this package later in any case).
        let e = guard_zip(&bytes, Format::Xlsx, &Limits::default())
            .err()
            .expect("the guard reads past the declared size");
        assert_eq!(e.code, "read.corrupt", "{e}");
    }

    #[test]
    fn unread_parts_are_left_out() {
        let forms = crate::samples::seed_targets();
        let bytes = crate::samples::xlsx_bytes(&forms, true, false).unwrap();
        let kept = guard_zip(&bytes, Format::Xlsx, &Limits::default()).unwrap();
        let zip = zip::ZipArchive::new(Cursor::new(kept.stored)).unwrap();
        let names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
        assert!(names.iter().any(|n| n == "xl/workbook.xml"), "{names:?}");
        assert!(!names.iter().any(|n| unread_part(n)), "{names:?}");
        assert!(names.len() < zip::ZipArchive::new(Cursor::new(&bytes)).unwrap().len());
    }

    /// The style sheet goes to calamine cut to its number and cell formats: every value,
    /// dates and times above all (told from numbers only by their format), reads as calamine
    /// reads it from the whole workbook.
    #[test]
    fn values_read_from_the_slimmed_style_sheet_are_calamines() {
        use rust_xlsxwriter::{Color, Format as CellFormat, FormatBorder, Workbook as Book};
        let mut book = Book::new();
        let sheet = book.add_worksheet();
        let styled = |f: CellFormat| {
            f.set_bold()
                .set_font_color(Color::Red)
                .set_background_color(Color::Yellow)
                .set_border(FormatBorder::Thin)
        };
        let formats = [
            styled(CellFormat::new().set_num_format("yyyy-mm-dd")),
            CellFormat::new().set_num_format("yyyy\"年\"m\"月\"d\"日\""),
            styled(CellFormat::new().set_num_format("hh:mm")),
            CellFormat::new().set_num_format("0.00%"),
            styled(CellFormat::new().set_num_format("#,##0.00")),
            styled(CellFormat::new()),
            CellFormat::new().set_num_format_index(14),
        ];
        for (r, f) in formats.iter().enumerate() {
            let r = r as u32;
            sheet.write_number_with_format(r, 0, 45291.75, f).unwrap();
            sheet.write_string_with_format(r, 1, "文字", f).unwrap();
        }
        let bytes = book.save_to_buffer().unwrap();
        let guarded = guard_zip(&bytes, Format::Xlsx, &Limits::default()).unwrap();
        let mut stored = zip::ZipArchive::new(Cursor::new(&guarded.stored)).unwrap();
        let mut styles = Vec::new();
        stored
            .by_name("xl/styles.xml")
            .unwrap()
            .read_to_end(&mut styles)
            .unwrap();
        assert!(
            memchr::memmem::find(&styles, b"<fonts").is_none(),
            "slimmed"
        );

        let ours = read_bytes(bytes.clone(), &Limits::default()).unwrap();
        let mut wb = Xlsx::new(Cursor::new(bytes)).unwrap();
        let range = wb.worksheet_range("Sheet1").unwrap();
        let mut budget = Budget::of(&Limits::default());
        let theirs = range_grid(&range, &mut budget).unwrap();
        let cells = |g: &Grid| g.iter().map(|(at, c)| (at, c.clone())).collect::<Vec<_>>();
        assert_eq!(cells(&ours.sheets[0].grid), cells(&theirs));
        // Dates and times are told from numbers (not taken as amounts).
        let dates = cells(&theirs)
            .iter()
            .filter(|(at, c)| at.col == 0 && c.number.is_none())
            .count();
        assert_eq!(dates, 4, "dates read as dates: {:?}", cells(&theirs));
    }

    #[test]
    fn rows_and_lookups_with_and_without_the_row_index() {
        let text = |t: &str| convert(&Data::String(t.into()));
        for last_row in [9, INDEXED_ROWS + 5] {
            let mut g = Grid::default();
            for (r, c, t) in [(0, 1, "a"), (0, 3, "b"), (2, 0, "c"), (last_row, 2, "z")] {
                g.insert(r, c, text(t).unwrap());
            }
            assert_eq!(g.text(0, 3), "b");
            assert_eq!(g.text(0, 2), "");
            assert_eq!(g.row(1).count(), 0);
            // Inserting after a lookup (here out of order) is seen by the next lookup.
            g.insert(1, 4, text("d").unwrap());
            g.finish();
            let row = |r| {
                g.row(r)
                    .map(|(c, cell)| (c, cell.text.to_string()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(row(0), [(1, "a".into()), (3, "b".into())]);
            assert_eq!(row(1), [(4, "d".into())]);
            assert_eq!(row(last_row), [(2, "z".into())]);
            assert_eq!(row(last_row + 1), []);
            assert_eq!(g.text(last_row, 2), "z");
            assert_eq!(g.get(u32::MAX, 0), None);
        }
    }

    #[test]
    fn cells_in_any_order_are_sorted_once_and_the_last_at_a_place_wins() {
        // A hostile sheet may list 2,000,000 cells backwards: each is a push, then one sort.
        let mut g = Grid::default();
        for r in (0..50_000u32).rev() {
            g.insert(r, r % 7, convert(&Data::Int(r.into())).unwrap());
        }
        g.insert(3, 3, convert(&Data::String("later".into())).unwrap());
        g.finish();
        assert_eq!(g.len(), 50_000);
        assert_eq!(g.text(3, 3), "later");
        assert_eq!(g.text(49_999, 49_999 % 7), "49999");
        let order: Vec<CellRef> = g.iter().map(|(at, _)| at).collect();
        assert!(order
            .windows(2)
            .all(|w| (w[0].row, w[0].col) < (w[1].row, w[1].col)));
    }

    #[test]
    fn merge_fills_replace_typed_cells_and_stop_at_the_budget() {
        let text = |t: &str| convert(&Data::String(t.into())).unwrap();
        let mut g = Grid::default();
        g.insert(0, 0, text("一级"));
        g.insert(0, 1, text("stray"));
        g.insert(2, 0, text("二级"));
        let mut budget = 100;
        g.fill_merges(
            &[
                Dimensions::new((0, 0), (1, 1)),
                // Overlapping (Excel never writes this): the later range wins where they meet.
                Dimensions::new((1, 1), (2, 1)),
                Dimensions::new((2, 0), (2, 0)),
            ],
            &mut budget,
        );
        assert_eq!(
            g.text(0, 1),
            "一级",
            "a fill replaces a typed cell inside the merge"
        );
        assert_eq!(g.get(0, 1).unwrap().anchor, Some(CellRef::new(0, 0)));
        assert_eq!(g.text(1, 0), "一级");
        // (1, 1) has no typed value: the second range fills nothing, the first's fill stays.
        assert_eq!(g.text(1, 1), "一级");
        assert_eq!(g.text(2, 0), "二级");
        assert_eq!(g.get(2, 0).unwrap().anchor, None);
        assert_eq!(budget, 97);
        let mut none = 2;
        let mut h = Grid::default();
        h.insert(0, 0, text("x"));
        h.fill_merges(&[Dimensions::new((0, 0), (0, 9))], &mut none);
        assert_eq!((h.len(), none), (3, 0));
    }

    proptest::proptest! {
        /// Merging the sorted fills into the typed cells gives what appending them and sorting
        /// the whole grid (keeping the last at each place) gives, overlaps and budget included.
        #[test]
        fn merge_fills_as_one_sort_would(
            typed in proptest::collection::vec((0u32..6, 0u32..6), 0..20),
            ranges in proptest::collection::vec((0u32..6, 0u32..6, 0u32..3, 0u32..3), 0..6),
            budget in 0usize..40,
        ) {
            let mut g = Grid::default();
            for (i, (r, c)) in typed.iter().enumerate() {
                g.insert(*r, *c, text_cell(&format!("t{i}")).unwrap());
            }
            let merges: Vec<Dimensions> = ranges
                .iter()
                .map(|(r, c, h, w)| Dimensions::new((*r, *c), (r + h, c + w)))
                .collect();
            // The reference: every fill appended, then one stable sort keeping the last.
            let mut want = g.clone();
            want.finish();
            let mut left = budget;
            let max_row = want.max_row().unwrap_or(0);
            let snapshot = want.cells.clone();
            'm: for m in &merges {
                let Ok(i) = snapshot.binary_search_by_key(&m.start, |(k, _)| *k) else { continue };
                let src = snapshot[i].1.clone();
                for r in m.start.0..=m.end.0.min(max_row + 1) {
                    for c in m.start.1..=m.end.1.min(m.start.1 + 255) {
                        if (r, c) == m.start { continue; }
                        if left == 0 { break 'm; }
                        left -= 1;
                        want.insert(r, c, GridCell { anchor: Some(CellRef::new(m.start.0, m.start.1)), ..src.clone() });
                    }
                }
            }
            want.finish();
            let mut got_budget = budget;
            g.fill_merges(&merges, &mut got_budget);
            proptest::prop_assert_eq!(got_budget, left);
            proptest::prop_assert_eq!(&g.cells, &want.cells);
        }
    }

    #[test]
    fn merge_fill_is_clipped() {
        let mut g = Grid::default();
        g.insert(0, 0, convert(&Data::String("产出指标".into())).unwrap());
        g.insert(3, 1, convert(&Data::String("x".into())).unwrap());
        let mut budget = 1_000;
        g.fill_merges(&[Dimensions::new((0, 0), (1_048_575, 0))], &mut budget);
        assert_eq!(g.text(2, 0), "产出指标");
        assert_eq!(g.get(2, 0).unwrap().anchor, Some(CellRef::new(0, 0)));
        assert!(g.len() < 10);
    }
}
