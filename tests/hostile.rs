//! The hostile-input suite: every case is generated here. Each gives a clear issue for its
//! file, the run finishes with exit 2, every good file is still in the outputs, nothing is
//! written outside OUT, and peak memory stays bounded.

mod common;

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use common::*;

fn s(x: &str) -> String {
    x.to_string()
}

fn build(input: &Path) -> Vec<(&'static str, &'static str)> {
    let mut expect = Vec::new();
    // Zip bomb: 200 MB of spaces in one sheet (a few hundred KB compressed).
    let mut bomb = br#"<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#.to_vec();
    bomb.resize(200 << 20, b' ');
    xlsx_from_parts(
        &input.join("zip炸弹.xlsx"),
        &minimal_xlsx(&[(s("Sheet1"), bomb)], None),
    );
    expect.push(("zip炸弹.xlsx", "压缩炸弹"));
    // sharedStrings declaring five billion strings.
    let sst = br#"<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="5000000000" uniqueCount="5000000000"><si><t>x</t></si></sst>"#.to_vec();
    xlsx_from_parts(
        &input.join("共享字符串炸弹.xlsx"),
        &minimal_xlsx(&[(s("Sheet1"), sheet_xml("A1", ""))], Some(sst)),
    );
    expect.push(("共享字符串炸弹.xlsx", "疑似恶意文件"));
    // Billion laughs, in a sheet and in sharedStrings.
    let laughs = |root: &str| {
        let mut d = String::from(r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">"#);
        for i in 1..10 {
            let prev = if i == 1 {
                "lol".to_string()
            } else {
                format!("lol{}", i - 1)
            };
            d.push_str(&format!(
                "<!ENTITY lol{i} \"{}\">",
                format!("&{prev};").repeat(10)
            ));
        }
        d.push_str("]>");
        d.push_str(root);
        d.into_bytes()
    };
    let sheet = laughs(
        r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>"#,
    );
    xlsx_from_parts(
        &input.join("实体膨胀_工作表.xlsx"),
        &minimal_xlsx(&[(s("Sheet1"), sheet)], None),
    );
    expect.push(("实体膨胀_工作表.xlsx", "实体"));
    let sst = laughs(
        r#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>&lol9;</t></si></sst>"#,
    );
    xlsx_from_parts(
        &input.join("实体膨胀_共享字符串.xlsx"),
        &minimal_xlsx(
            &[(
                s("Sheet1"),
                sheet_xml("A1", r#"<row r="1"><c r="A1" t="s"><v>0</v></c></row>"#),
            )],
            Some(sst),
        ),
    );
    expect.push(("实体膨胀_共享字符串.xlsx", "实体"));
    // A sheet whose dimension and one cell sit at XFD1048576.
    xlsx_from_parts(
        &input.join("最大范围.xlsx"),
        &minimal_xlsx(
            &[(
                s("Sheet1"),
                sheet_xml(
                    "A1:XFD1048576",
                    r#"<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>"#,
                ),
            )],
            None,
        ),
    );
    expect.push(("最大范围.xlsx", "范围"));
    // A workbook whose first column's `n` cells all name one shared string.
    let named = |file: &str, string: &str, n: usize| {
        let sst = format!(
            r#"<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>{string}</t></si></sst>"#
        );
        let cells: String = (1..=n)
            .map(|r| format!(r#"<row r="{r}"><c r="A{r}" t="s"><v>0</v></c></row>"#))
            .collect();
        xlsx_from_parts(
            &input.join(file),
            &minimal_xlsx(
                &[(s("Sheet1"), sheet_xml(&format!("A1:A{n}"), &cells))],
                Some(sst.into_bytes()),
            ),
        );
    };
    // One 1 MB shared string named by 20,000 cells: 20 GB if each cell copied it.
    named("长文字复制.xlsx", &"x".repeat(1_000_000), 20_000);
    expect.push(("长文字复制.xlsx", "文字总量"));
    // 10,000 cells reading 项目名称, each of which would start a form (400,000 such cells, a
    // 2 MB file, had made two million issues: more than consolidated.xlsx can hold).
    named("万个项目名称.xlsx", "项目名称", 10_000);
    expect.push(("万个项目名称.xlsx", "张表的上限"));
    // One form of 5,000 indicator rows (a 2.4 MB sheet of 300,000 had made a 2.9 GB run).
    let mut cells = String::from(
        r#"<row r="1"><c r="A1" t="inlineStr"><is><t>项目名称</t></is></c></row><row r="2"><c r="C2" t="inlineStr"><is><t>三级指标</t></is></c><c r="D2" t="inlineStr"><is><t>指标值</t></is></c></row>"#,
    );
    for r in 3..5003 {
        cells.push_str(&format!(r#"<row r="{r}"><c r="C{r}" t="inlineStr"><is><t>指标</t></is></c><c r="D{r}" t="inlineStr"><is><t>≥1个</t></is></c></row>"#));
    }
    xlsx_from_parts(
        &input.join("五千行指标.xlsx"),
        &minimal_xlsx(&[(s("Sheet1"), sheet_xml("A1:D5002", &cells))], None),
    );
    expect.push(("五千行指标.xlsx", "超过 1000 行"));
    // The same in an .xls: one 30,000-character shared string named by 20,000 cells (1.8 GB).
    let long = "长".repeat(30_000);
    let cells: Vec<(u16, u16, u32)> = (0..20_000).map(|r| (r, 0, 0)).collect();
    std::fs::write(
        input.join("长文字复制.xls"),
        jixiao::output::legacy::xls_shared_strings_bytes(&[&long], &cells).unwrap(),
    )
    .unwrap();
    expect.push(("长文字复制.xls", "文字总量"));
    // 300 sheets naming one sheet part: calamine parses it once for each (a 3.7 MB file
    // naming one 26 MB part so took 80 s). The other 299 parts are there, unnamed, and the
    // one part is spelt three ways.
    let sheets: Vec<(String, Vec<u8>)> = (0..300)
        .map(|i| (format!("S{i}"), sheet_xml("A1", "")))
        .collect();
    let parts: Vec<(String, Vec<u8>)> = minimal_xlsx(&sheets, None)
        .into_iter()
        .map(|(name, body)| {
            if name != "xl/_rels/workbook.xml.rels" {
                return (name, body);
            }
            let mut rels = String::from_utf8(body).unwrap();
            for n in (2..=300).rev() {
                let spelt = [
                    "worksheets/sheet1.xml",
                    "/xl/worksheets/Sheet1.xml",
                    "../xl/./worksheets/sheet1.xml",
                ];
                rels = rels.replace(
                    &format!("\"worksheets/sheet{n}.xml\""),
                    &format!("\"{}\"", spelt[n % 3]),
                );
            }
            (name, rels.into_bytes())
        })
        .collect();
    xlsx_from_parts(&input.join("同一工作表.xlsx"), &parts);
    expect.push(("同一工作表.xlsx", "指向同一文件"));
    // 5,000 sheets.
    let many: Vec<(String, Vec<u8>)> = (0..5000)
        .map(|i| (format!("S{i}"), sheet_xml("A1", "")))
        .collect();
    xlsx_from_parts(&input.join("五千个工作表.xlsx"), &minimal_xlsx(&many, None));
    expect.push(("五千个工作表.xlsx", "工作表数量过多"));
    // Malformed XML.
    xlsx_from_parts(
        &input.join("XML损坏.xlsx"),
        &minimal_xlsx(&[(s("Sheet1"), br#"<?xml version="1.0"?><worksheet><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>abc"#.to_vec())], None),
    );
    expect.push(("XML损坏.xlsx", "损坏"));
    // An .ods whose repeated rows and columns would expand to 90 million cells.
    {
        use std::io::Write;
        let mut z = zip::ZipWriter::new(std::fs::File::create(input.join("重复行列.ods")).unwrap());
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        z.start_file("mimetype", stored).unwrap();
        z.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
            .unwrap();
        z.start_file("META-INF/manifest.xml", stored).unwrap();
        z.write_all(br#"<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/></manifest:manifest>"#).unwrap();
        z.start_file("content.xml", stored).unwrap();
        z.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet><table:table table:name="S"><table:table-row table:number-rows-repeated="5500"><table:table-cell office:value-type="string" table:number-columns-repeated="16384"><text:p>x</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"#).unwrap();
        z.finish().unwrap();
    }
    expect.push(("重复行列.ods", "疑似恶意文件"));
    // .ods files of a few KB whose text calamine would copy into gigabytes: one 1 MB text
    // repeated to 100 × 100 cells, a 500 KB text held in an attribute and repeated to
    // 10 × 1,000 cells, and two billion spaces asked for by one `<text:s>`.
    let ods = |name: &str, table: &str| {
        use std::io::Write;
        let mut z = zip::ZipWriter::new(std::fs::File::create(input.join(name)).unwrap());
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        let deflated = zip::write::SimpleFileOptions::default();
        z.start_file("mimetype", stored).unwrap();
        z.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
            .unwrap();
        z.start_file("META-INF/manifest.xml", deflated).unwrap();
        z.write_all(br#"<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/></manifest:manifest>"#).unwrap();
        z.start_file("content.xml", deflated).unwrap();
        write!(z, r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet><table:table table:name="S">{table}</table:table></office:spreadsheet></office:body></office:document-content>"#).unwrap();
        z.finish().unwrap();
    };
    ods(
        "长文字.ods",
        &format!(
            r#"<table:table-row table:number-rows-repeated="100"><table:table-cell office:value-type="string" table:number-columns-repeated="100"><text:p>{}</text:p></table:table-cell></table:table-row>"#,
            "x".repeat(1_000_000)
        ),
    );
    ods(
        "长文字属性.ods",
        &format!(
            r#"<table:table-row table:number-rows-repeated="10"><table:table-cell office:value-type="string" office:string-value="{}" table:number-columns-repeated="1000"/></table:table-row>"#,
            "y".repeat(500_000)
        ),
    );
    ods(
        "成串空格.ods",
        r#"<table:table-row><table:table-cell office:value-type="string"><text:p>a<text:s text:c="2000000000"/></text:p></table:table-cell></table:table-row>"#,
    );
    for name in ["长文字.ods", "长文字属性.ods", "成串空格.ods"] {
        expect.push((name, "文字总量"));
    }
    // An .xls with cells in its first and last corners (a 16.7-million-cell span).
    {
        use jixiao::output::legacy::{xls_bytes, CellSheet, Val};
        let mut sheet = CellSheet::new("Sheet1");
        sheet.cells.insert((0, 0), Val::Text("项目名称".into()));
        sheet.cells.insert((65_535, 255), Val::Number(1.0));
        std::fs::write(
            input.join("最大范围.xls"),
            xls_bytes(&[sheet], false).unwrap(),
        )
        .unwrap();
    }
    expect.push(("最大范围.xls", "疑似恶意文件"));
    // Files found by the `read` fuzz target, each of which ended the process or held
    // gigabytes: a 636-byte .xls whose sector chain made calamine grow one buffer past 4 GB, an
    // .xls whose DIMENSIONS record states billions of rows (calamine reserved room for every
    // cell), and one whose sheet offset lands inside another record (3 GB of empty cells).
    for (fixture, name, says) in [
        ("xls_misaligned_sheet.xls", "错位工作表.xls", "疑似恶意文件"),
        (
            "cfb_looping_chain.xls",
            "扇区链损坏.xls",
            "复合文档结构无法读取",
        ),
        (
            "xls_huge_dimensions.xls",
            "超大声明范围.xls",
            "疑似恶意文件",
        ),
    ] {
        let from = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(fixture);
        std::fs::copy(from, input.join(name)).unwrap();
        expect.push((name, says));
    }
    // Zero bytes; a folder named like a workbook; a dangling link.
    std::fs::write(input.join("空文件.xlsx"), b"").unwrap();
    expect.push(("空文件.xlsx", "0 字节"));
    std::fs::create_dir_all(input.join("伪装成文件的目录.xlsx")).unwrap();
    std::os::unix::fs::symlink(input.join("不存在.xlsx"), input.join("断开的链接.xlsx")).unwrap();
    expect.push(("断开的链接.xlsx", ""));
    // A directory symlink loop.
    std::fs::create_dir_all(input.join("子目录")).unwrap();
    std::os::unix::fs::symlink(input, input.join("子目录/回到上级")).unwrap();
    expect
}

#[test]
fn hostile_inputs_never_stop_the_run() {
    let samples = samples();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let expect = build(&input);
    // Good submissions beside them, one under a non-UTF-8 file name.
    let good = samples.path().join("569301天津市科学技术协会");
    std::fs::copy(
        good.join("项目支出绩效目标表.xlsx"),
        input.join("569301目标表.xlsx"),
    )
    .unwrap();
    let odd = std::ffi::OsStr::from_bytes(b"644201\xff\xfe\xbd.xlsx");
    std::fs::copy(
        samples
            .path()
            .join("644201天津科学技术馆/项目支出绩效目标表.xlsx"),
        input.join(odd),
    )
    .unwrap();

    let out = dir.path().join("out");
    let o = run_job(&input, &out, &["--no-pdf"]);
    let stderr = expect_exit(&o, 2);
    let csv = std::fs::read_to_string(out.join("issues.csv")).unwrap();
    for (file, reason) in &expect {
        let lines: Vec<&str> = csv
            .lines()
            .filter(|l| l.starts_with("\"错误\"") && l.contains(&format!("/{file}\"")))
            .collect();
        assert_eq!(lines.len(), 1, "{file}: one error\n{csv}");
        assert!(lines[0].contains(reason), "{file}: {}", lines[0]);
    }
    assert!(csv.contains("循环"), "symlink loop reported");
    // Every good project is in the outputs.
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let units = summary["units"].as_array().unwrap();
    let budget = |code: &str| {
        units
            .iter()
            .find(|u| u["code"] == code)
            .map(|u| u["budget_total"].clone())
    };
    assert_eq!(budget("569301"), Some("1085.00".into()));
    assert_eq!(budget("644201"), Some("1476.00".into()));
    // Nothing outside OUT.
    assert_eq!(entries(dir.path()), vec!["in", "out"]);
    let peak = reported_peak_mb(&stderr);
    assert!(peak < 300, "peak memory {peak} MB");
}

/// A unit name and a project name of 40,000 characters (one unit's pasted text): the run
/// finishes, and consolidated.xlsx holds them cut to the 32,767 characters a cell takes
/// (the unit's name made the workbook unwritable and the whole night fail).
#[test]
fn texts_longer_than_a_cell_are_cut_in_the_workbook() {
    let samples = samples();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let from = samples
        .path()
        .join("569301天津市科学技术协会/项目支出绩效目标表.xlsx");
    let long = "长".repeat(40_000);
    let parts: Vec<(String, Vec<u8>)> = xlsx_parts(&from)
        .into_iter()
        .map(|(name, bytes)| {
            if name != "xl/sharedStrings.xml" {
                return (name, bytes);
            }
            let text = String::from_utf8(bytes).unwrap();
            assert!(text.contains("天津市科学技术协会") && text.contains("基层科普能力提升项目"));
            let text = text
                .replace("天津市科学技术协会", &format!("天津市科学技术协会{long}"))
                .replace(
                    "基层科普能力提升项目",
                    &format!("基层科普能力提升项目{long}"),
                );
            (name, text.into_bytes())
        })
        .collect();
    xlsx_from_parts(&input.join("长文字.xlsx"), &parts);

    let out = dir.path().join("out");
    expect_exit(&run_job(&input, &out, &["--no-pdf"]), 0);
    let mut book = calamine::open_workbook_auto(out.join("consolidated.xlsx")).unwrap();
    use calamine::Reader;
    let mut cut = 0;
    for name in book.sheet_names() {
        let range = book.worksheet_range(&name).unwrap();
        for cell in range.used_cells() {
            let text = cell.2.to_string();
            assert!(text.encode_utf16().count() <= 32_767, "{name}");
            if text.ends_with("…（超长，已截断）") {
                assert!(
                    text.starts_with("天津市科学技术协会长")
                        || text.starts_with("基层科普能力提升项目长")
                );
                cut += 1;
            }
        }
    }
    // 单位汇总 and 图表 (the unit), 项目汇总 and 指标明细 (unit and project on every row).
    assert!(cut > 10, "{cut} cells cut");
}
