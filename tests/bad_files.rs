//! End to end: broken and hostile workbooks give one clear error each, the run goes on, and
//! memory stays bounded.

mod common;

use std::io::Write;
use std::path::Path;

use common::*;

/// A valid tiny xlsx whose sharedStrings.xml declares `unique_count` strings. calamine 0.38
/// reserves that many up front and aborts the process (calamine issue #684).
fn shared_strings_bomb(path: &Path, unique_count: &str) {
    let parts: &[(&str, String)] = &[
        ("[Content_Types].xml", r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#.to_string()),
        ("_rels/.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_string()),
        ("xl/workbook.xml", r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#.to_string()),
        ("xl/_rels/workbook.xml.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#.to_string()),
        ("xl/worksheets/sheet1.xml", r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><dimension ref="A1"/><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData></worksheet>"#.to_string()),
        ("xl/sharedStrings.xml", format!(r#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="{unique_count}"><si><t>项目名称</t></si></sst>"#)),
    ];
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, body) in parts {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(body.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn bad_files_are_reported_and_the_run_goes_on() {
    let samples = samples();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    std::fs::create_dir_all(&input).unwrap();
    for entry in std::fs::read_dir(samples.path().join("bad")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, input.join(p.file_name().unwrap())).unwrap();
    }
    let good = input.join("644201天津科学技术馆目标表.xlsx");
    std::fs::copy(
        samples
            .path()
            .join("644201天津科学技术馆/项目支出绩效目标表.xlsx"),
        &good,
    )
    .unwrap();
    shared_strings_bomb(&input.join("共享字符串炸弹.xlsx"), "5000000000");
    // The same file with an honest count reads fine: the guard is on the count, not the file.
    shared_strings_bomb(&input.join("正常的小文件.xlsx"), "1");

    let out = run(&["check", input.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let errors: Vec<&str> = stdout.lines().filter(|l| l.starts_with("[错误]")).collect();
    for (file, reason) in [
        ("截断的工作簿.xlsx", "损坏"),
        ("加密的工作簿.xlsx", "已加密"),
        ("加密的工作簿.xls", "已加密"),
        ("其实是文本文件.xlsx", "不是 Excel 工作簿"),
        ("共享字符串炸弹.xlsx", "疑似恶意文件"),
    ] {
        let lines: Vec<_> = errors
            .iter()
            .filter(|l| l.contains(&format!("/{file}:")))
            .collect();
        assert_eq!(lines.len(), 1, "{file}: {errors:?}");
        assert!(lines[0].contains(reason), "{file}: {}", lines[0]);
    }
    // The honest small file is read (its lone 项目名称 label makes an incomplete form).
    assert!(
        !errors
            .iter()
            .any(|l| l.contains("正常的小文件.xlsx") && l.contains(" read.")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|l| l.contains("正常的小文件.xlsx") && l.contains("缺少项目名称")),
        "{errors:?}"
    );
    // The good workbook is still read: its three projects are counted, and no error names it.
    assert!(
        !errors
            .iter()
            .any(|l| l.contains("644201天津科学技术馆目标表.xlsx")),
        "{errors:?}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("识别 4 张表"), "{stderr}");
    let peak = reported_peak_mb(&stderr);
    assert!(peak < 200, "peak memory {peak} MB");
}

/// Figures too large to be real (a hostile 7e28 budget in two forms) are refused at the cell,
/// so no sum or score can overflow and stop the run.
#[test]
fn huge_figures_never_overflow_a_sum() {
    use jixiao::model::Sourced;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let mut forms = jixiao::samples::seed_targets()[..2].to_vec();
    for f in &mut forms {
        let huge: rust_decimal::Decimal = "70000000000000000000000000000".parse().unwrap();
        f.budget.total = Some(Sourced::derived(huge));
        f.budget.fiscal = Some(Sourced::derived(huge));
    }
    std::fs::write(
        input.join("a.xlsx"),
        jixiao::samples::xlsx_bytes(&forms, false, false).unwrap(),
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = run_job(&input, &out, &["--no-pdf"]);
    expect_exit(&o, 0);
    let csv = std::fs::read_to_string(out.join("issues.csv")).unwrap();
    assert_eq!(csv.matches("field.out_of_range").count(), 4, "{csv}");
}
