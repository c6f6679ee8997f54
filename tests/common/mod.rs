//! Helpers for the end-to-end tests: run the built binary, make the samples.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_jixiao"))
}

pub fn run(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().expect("run jixiao")
}

/// `jixiao run INPUT --out OUT EXTRA…`, as a command to add environment to or spawn.
pub fn run_cmd(input: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.arg("run").arg(input).arg("--out").arg(out).args(extra);
    c
}

/// `jixiao run INPUT --out OUT EXTRA…`, run to the end.
pub fn run_job(input: &Path, out: &Path, extra: &[&str]) -> Output {
    run_cmd(input, out, extra).output().expect("run jixiao")
}

/// Assert the exit status, showing the program's stderr if it differs; returns the stderr.
pub fn expect_exit(o: &Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(code), "{stderr}");
    stderr
}

/// The names directly inside `dir`, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    names
}

/// Generate the samples with the binary into a fresh folder.
pub fn samples() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(&["samples", "--out", dir.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

pub fn inspect(path: &Path) -> Value {
    let out = run(&["inspect", path.to_str().unwrap(), "--json"]);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("inspect prints JSON")
}

/// The forms of a file, without the fields that name where they were read.
pub fn forms_without_place(v: &Value) -> Vec<Value> {
    v["forms"]
        .as_array()
        .expect("forms")
        .iter()
        .map(|f| {
            let mut f = f.clone();
            f.as_object_mut().unwrap().remove("sheet");
            f
        })
        .collect()
}

pub fn issues_without_place(v: &Value) -> Vec<Value> {
    v["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| {
            let mut i = i.clone();
            i.as_object_mut().unwrap().remove("sheet");
            i
        })
        .collect()
}

/// The parts (name, body) of an xlsx, in order: to change one and write them back with
/// `xlsx_from_parts`.
pub fn xlsx_parts(path: &Path) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut part = zip.by_index(i).unwrap();
            let mut body = Vec::new();
            part.read_to_end(&mut body).unwrap();
            (part.name().unwrap().to_string(), body)
        })
        .collect()
}

/// Write an xlsx from its parts (name, body), for hand-made hostile workbooks.
pub fn xlsx_from_parts(path: &Path, parts: &[(String, Vec<u8>)]) {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default().large_file(false);
    for (name, body) in parts {
        zip.start_file(name.as_str(), opts).unwrap();
        zip.write_all(body).unwrap();
    }
    zip.finish().unwrap();
}

/// The parts of a minimal valid xlsx with the given sheets (name, sheet XML) and
/// sharedStrings XML.
pub fn minimal_xlsx(
    sheets: &[(String, Vec<u8>)],
    shared: Option<Vec<u8>>,
) -> Vec<(String, Vec<u8>)> {
    let mut types = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>"#,
    );
    let mut wb = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>"#,
    );
    let mut rels = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">"#,
    );
    let mut parts = Vec::new();
    for (i, (name, xml)) in sheets.iter().enumerate() {
        let n = i + 1;
        types.push_str(&format!(r#"<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#));
        wb.push_str(&format!(
            r#"<sheet name="{name}" sheetId="{n}" r:id="rId{n}"/>"#
        ));
        rels.push_str(&format!(r#"<Relationship Id="rId{n}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{n}.xml"/>"#));
        parts.push((format!("xl/worksheets/sheet{n}.xml"), xml.clone()));
    }
    if let Some(s) = shared {
        types.push_str(r#"<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>"#);
        rels.push_str(r#"<Relationship Id="rIdS" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>"#);
        parts.push(("xl/sharedStrings.xml".to_string(), s));
    }
    types.push_str("</Types>");
    wb.push_str("</sheets></workbook>");
    rels.push_str("</Relationships>");
    let mut all = vec![
        ("[Content_Types].xml".to_string(), types.into_bytes()),
        ("_rels/.rels".to_string(), br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_vec()),
        ("xl/workbook.xml".to_string(), wb.into_bytes()),
        ("xl/_rels/workbook.xml.rels".to_string(), rels.into_bytes()),
    ];
    all.extend(parts);
    all
}

pub fn sheet_xml(dimension: &str, cells: &str) -> Vec<u8> {
    format!(r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><dimension ref="{dimension}"/><sheetData>{cells}</sheetData></worksheet>"#).into_bytes()
}

/// The peak memory jixiao reports for itself on its last stderr line ("峰值内存 N MB").
pub fn reported_peak_mb(stderr: &str) -> u64 {
    let at = stderr
        .rfind("峰值内存 ")
        .expect("jixiao reports its peak memory");
    stderr[at + "峰值内存 ".len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number of MB")
}
