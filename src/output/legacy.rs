//! Minimal writers for the two other formats units submit, .xls (BIFF8) and .ods, so the
//! sample generator and the tests can save the very same form layout in every format the
//! reader takes. They write text, numbers and merged ranges — all a form needs — and nothing
//! else (no styles). rust_xlsxwriter writes only .xlsx.

use std::collections::BTreeMap;
use std::io::{Cursor, Write};

use rust_xlsxwriter::XlsxError;

use super::form::{Sink, Style};

#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Text(String),
    Number(f64),
}

/// A sheet in memory: cells and merged ranges (first row, first col, last row, last col).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CellSheet {
    pub name: String,
    pub cells: BTreeMap<(u32, u16), Val>,
    pub merges: Vec<(u32, u16, u32, u16)>,
}

impl CellSheet {
    pub fn new(name: &str) -> Self {
        CellSheet {
            name: name.to_string(),
            ..Default::default()
        }
    }
}

impl Sink for CellSheet {
    fn merge(
        &mut self,
        r1: u32,
        c1: u16,
        r2: u32,
        c2: u16,
        text: &str,
        s: Style,
    ) -> Result<(), XlsxError> {
        self.text(r1, c1, text, s)?;
        if (r1, c1) != (r2, c2) {
            self.merges.push((r1, c1, r2, c2));
        }
        Ok(())
    }

    fn text(&mut self, r: u32, c: u16, text: &str, _s: Style) -> Result<(), XlsxError> {
        if !text.is_empty() {
            self.cells.insert((r, c), Val::Text(text.to_string()));
        }
        Ok(())
    }

    fn number(&mut self, r: u32, c: u16, v: Option<f64>, _s: Style) -> Result<(), XlsxError> {
        if let Some(v) = v {
            self.cells.insert((r, c), Val::Number(v));
        }
        Ok(())
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An OpenDocument spreadsheet.
pub fn ods_bytes(sheets: &[CellSheet]) -> std::io::Result<Vec<u8>> {
    let mut content = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet>"#,
    );
    for sheet in sheets {
        content.push_str(&format!(
            r#"<table:table table:name="{}">"#,
            xml_escape(&sheet.name)
        ));
        let span: BTreeMap<(u32, u16), (u32, u16)> = sheet
            .merges
            .iter()
            .map(|&(r1, c1, r2, c2)| ((r1, c1), (r2 - r1 + 1, c2 - c1 + 1)))
            .collect();
        let covered = |r: u32, c: u16| {
            sheet.merges.iter().any(|&(r1, c1, r2, c2)| {
                (r1..=r2).contains(&r) && (c1..=c2).contains(&c) && (r, c) != (r1, c1)
            })
        };
        let max_row = sheet
            .cells
            .keys()
            .map(|k| k.0)
            .chain(sheet.merges.iter().map(|m| m.2))
            .max();
        let max_col = sheet
            .cells
            .keys()
            .map(|k| k.1)
            .chain(sheet.merges.iter().map(|m| m.3))
            .max();
        if let (Some(max_row), Some(max_col)) = (max_row, max_col) {
            for r in 0..=max_row {
                content.push_str("<table:table-row>");
                for c in 0..=max_col {
                    if covered(r, c) {
                        content.push_str("<table:covered-table-cell/>");
                        continue;
                    }
                    let spans = span
                        .get(&(r, c))
                        .map(|(rows, cols)| {
                            format!(
                                r#" table:number-rows-spanned="{rows}" table:number-columns-spanned="{cols}""#
                            )
                        })
                        .unwrap_or_default();
                    match sheet.cells.get(&(r, c)) {
                        Some(Val::Text(t)) => {
                            content.push_str(&format!(r#"<table:table-cell office:value-type="string"{spans}>"#));
                            for line in t.split('\n') {
                                content.push_str(&format!("<text:p>{}</text:p>", xml_escape(line)));
                            }
                            content.push_str("</table:table-cell>");
                        }
                        Some(Val::Number(v)) => content.push_str(&format!(
                            r#"<table:table-cell office:value-type="float" office:value="{v}"{spans}><text:p>{v}</text:p></table:table-cell>"#
                        )),
                        None => content.push_str(&format!("<table:table-cell{spans}/>")),
                    }
                }
                content.push_str("</table:table-row>");
            }
        }
        content.push_str("</table:table>");
    }
    content.push_str("</office:spreadsheet></office:body></office:document-content>");

    let manifest = r#"<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#;
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default());
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    zip.start_file("mimetype", stored)?;
    zip.write_all(b"application/vnd.oasis.opendocument.spreadsheet")?;
    zip.start_file("META-INF/manifest.xml", deflated)?;
    zip.write_all(manifest.as_bytes())?;
    zip.start_file("content.xml", deflated)?;
    zip.write_all(content.as_bytes())?;
    Ok(zip.finish()?.into_inner())
}

fn record(out: &mut Vec<u8>, typ: u16, data: &[u8]) {
    out.extend_from_slice(&typ.to_le_bytes());
    out.extend_from_slice(&(data.len() as u16).to_le_bytes());
    out.extend_from_slice(data);
}

fn bof(dt: u16) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&0x0600u16.to_le_bytes()); // BIFF8
    d.extend_from_slice(&dt.to_le_bytes());
    d.extend_from_slice(&0x0DBBu16.to_le_bytes());
    d.extend_from_slice(&0x07CCu16.to_le_bytes());
    d.extend_from_slice(&0u32.to_le_bytes());
    d.extend_from_slice(&0x0006u32.to_le_bytes());
    d
}

/// BIFF8 strings: UTF-16LE, cut so a record stays within its 8224-byte limit.
fn utf16(s: &str, max_chars: usize) -> Vec<u16> {
    s.encode_utf16().take(max_chars).collect()
}

fn sheet_stream(sheet: &CellSheet) -> Vec<u8> {
    let mut out = Vec::new();
    record(&mut out, 0x0809, &bof(0x0010));
    for (&(r, c), v) in &sheet.cells {
        let mut d = Vec::new();
        d.extend_from_slice(&(r as u16).to_le_bytes());
        d.extend_from_slice(&c.to_le_bytes());
        d.extend_from_slice(&0x000Fu16.to_le_bytes());
        match v {
            Val::Text(t) => {
                let units = utf16(t, 4000);
                d.extend_from_slice(&(units.len() as u16).to_le_bytes());
                d.push(1); // fHighByte: UTF-16
                for u in units {
                    d.extend_from_slice(&u.to_le_bytes());
                }
                record(&mut out, 0x0204, &d);
            }
            Val::Number(x) => {
                d.extend_from_slice(&x.to_le_bytes());
                record(&mut out, 0x0203, &d);
            }
        }
    }
    for chunk in sheet.merges.chunks(1000) {
        let mut d = Vec::new();
        d.extend_from_slice(&(chunk.len() as u16).to_le_bytes());
        for &(r1, c1, r2, c2) in chunk {
            for v in [r1 as u16, r2 as u16, c1, c2] {
                d.extend_from_slice(&v.to_le_bytes());
            }
        }
        record(&mut out, 0x00E5, &d);
    }
    record(&mut out, 0x000A, &[]);
    out
}

/// A BIFF8 .xls workbook in an OLE compound file. `encrypted` adds a FILEPASS record, which is
/// how Excel marks a password-protected .xls.
pub fn xls_bytes(sheets: &[CellSheet], encrypted: bool) -> std::io::Result<Vec<u8>> {
    let streams: Vec<Vec<u8>> = sheets.iter().map(sheet_stream).collect();
    let names: Vec<Vec<u16>> = sheets.iter().map(|s| utf16(&s.name, 31)).collect();
    let globals = |positions: &[u32]| {
        let mut g = Vec::new();
        record(&mut g, 0x0809, &bof(0x0005));
        if encrypted {
            record(&mut g, 0x002F, &[1, 0, 1, 0, 1, 0]);
        }
        record(&mut g, 0x0042, &1200u16.to_le_bytes());
        for (name, pos) in names.iter().zip(positions) {
            let mut d = Vec::new();
            d.extend_from_slice(&pos.to_le_bytes());
            d.push(0); // visible
            d.push(0); // worksheet
            d.push(name.len() as u8);
            d.push(1);
            for u in name {
                d.extend_from_slice(&u.to_le_bytes());
            }
            record(&mut g, 0x0085, &d);
        }
        record(&mut g, 0x000A, &[]);
        g
    };
    // The globals' length does not depend on the positions written into it.
    let len = globals(&vec![0; sheets.len()]).len() as u32;
    let mut positions = Vec::with_capacity(streams.len());
    let mut at = len;
    for s in &streams {
        positions.push(at);
        at += s.len() as u32;
    }
    let mut book = globals(&positions);
    for s in &streams {
        book.extend_from_slice(s);
    }
    let mut cfb =
        cfb::CompoundFile::create_with_version(cfb::Version::V3, Cursor::new(Vec::new()))?;
    {
        let mut stream = cfb.create_stream("/Workbook")?;
        stream.write_all(&book)?;
    }
    cfb.flush()?;
    Ok(cfb.into_inner().into_inner())
}

/// A BIFF8 .xls of one sheet whose text cells name strings of a shared string table (SST), as
/// Excel writes it: `cells` are (row, column, index into `strings`). Strings of ASCII alone are
/// stored one byte a character, others UTF-16; a string longer than a record's room runs on
/// into CONTINUE records, each opening with its option byte. (The form writer writes each
/// cell's text in its own LABEL record; this is for the reader's tests.)
pub fn xls_shared_strings_bytes(
    strings: &[&str],
    cells: &[(u16, u16, u32)],
) -> std::io::Result<Vec<u8>> {
    const ROOM: usize = 8224;
    // The SST record, then its CONTINUE records.
    let mut parts: Vec<Vec<u8>> = vec![Vec::new()];
    let n = (strings.len() as u32).to_le_bytes();
    parts[0].extend(n);
    parts[0].extend(n);
    for s in strings {
        let wide = !s.is_ascii();
        let units: Vec<u16> = s.encode_utf16().take(u16::MAX as usize).collect();
        let width = if wide { 2 } else { 1 };
        if parts.last().map_or(0, Vec::len) + 3 + width > ROOM {
            parts.push(Vec::new());
        }
        let part = parts.last_mut().expect("one part at least");
        part.extend((units.len() as u16).to_le_bytes());
        part.push(u8::from(wide));
        let mut rest = &units[..];
        loop {
            let part = parts.last_mut().expect("one part at least");
            let fit = ((ROOM - part.len()) / width).min(rest.len());
            for u in &rest[..fit] {
                if wide {
                    part.extend(u.to_le_bytes());
                } else {
                    part.push(*u as u8);
                }
            }
            rest = &rest[fit..];
            if rest.is_empty() {
                break;
            }
            parts.push(vec![u8::from(wide)]);
        }
    }
    let mut sheet = Vec::new();
    record(&mut sheet, 0x0809, &bof(0x0010));
    for (r, c, i) in cells {
        let mut d = Vec::new();
        d.extend(r.to_le_bytes());
        d.extend(c.to_le_bytes());
        d.extend(0x000Fu16.to_le_bytes());
        d.extend(i.to_le_bytes());
        record(&mut sheet, 0x00FD, &d);
    }
    record(&mut sheet, 0x000A, &[]);
    let globals = |position: u32| {
        let mut g = Vec::new();
        record(&mut g, 0x0809, &bof(0x0005));
        record(&mut g, 0x0042, &1200u16.to_le_bytes());
        let mut d = position.to_le_bytes().to_vec();
        d.extend([0, 0, 2, 0, b'S', b'1']);
        record(&mut g, 0x0085, &d);
        for (i, p) in parts.iter().enumerate() {
            record(&mut g, if i == 0 { 0x00FC } else { 0x003C }, p);
        }
        record(&mut g, 0x000A, &[]);
        g
    };
    let mut book = globals(globals(0).len() as u32);
    book.extend(sheet);
    let mut cfb =
        cfb::CompoundFile::create_with_version(cfb::Version::V3, Cursor::new(Vec::new()))?;
    {
        let mut stream = cfb.create_stream("/Workbook")?;
        stream.write_all(&book)?;
    }
    cfb.flush()?;
    Ok(cfb.into_inner().into_inner())
}

/// An OOXML-encrypted workbook's container (EncryptionInfo + EncryptedPackage), as Excel
/// writes when a password is set; the package content here is random-looking filler.
pub fn encrypted_xlsx_bytes() -> std::io::Result<Vec<u8>> {
    let mut cfb =
        cfb::CompoundFile::create_with_version(cfb::Version::V3, Cursor::new(Vec::new()))?;
    {
        let mut info = cfb.create_stream("/EncryptionInfo")?;
        info.write_all(&[4, 0, 4, 0, 0x40, 0, 0, 0])?;
        info.write_all(&[0u8; 200])?;
    }
    {
        let mut pkg = cfb.create_stream("/EncryptedPackage")?;
        let filler: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        pkg.write_all(&filler)?;
    }
    cfb.flush()?;
    Ok(cfb.into_inner().into_inner())
}
