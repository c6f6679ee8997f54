//! End to end: the built binary reads the seed forms, every format and layout, and bad files.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

const SEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/seed/000_0dfb31f687ff86fa.txt"
);

/// (unit code, unit name, project, 预算数, indicator count) of the five seed tables.
const PROJECTS: &[(&str, &str, &str, &str, usize)] = &[
    (
        "569301",
        "天津市科学技术协会",
        "基层科普能力提升项目（中央专款）",
        "185.00",
        6,
    ),
    ("569301", "天津市科学技术协会", "科普经费", "900.00", 24),
    (
        "644201",
        "天津科学技术馆",
        "2023年天津科学技术馆编制外长聘人员经费项目",
        "156.50",
        7,
    ),
    (
        "644201",
        "天津科学技术馆",
        "2023年天津科学技术馆免费开放项目-中央",
        "777.00",
        19,
    ),
    (
        "644201",
        "天津科学技术馆",
        "2023年天津科学技术馆运行保障项目",
        "542.50",
        14,
    ),
];

fn unit_targets(dir: &Path) -> Vec<Value> {
    let mut forms = Vec::new();
    for unit in ["569301天津市科学技术协会", "644201天津科学技术馆"] {
        let v = inspect(&dir.join(unit).join("项目支出绩效目标表.xlsx"));
        forms.extend(v["forms"].as_array().unwrap().iter().cloned());
    }
    forms
}

fn strings(form: &Value, key: &str) -> Vec<String> {
    form["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[key].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn seed_tables_are_read_exactly() {
    let dir = samples();
    let forms = unit_targets(dir.path());
    assert_eq!(forms.len(), 5);
    for (f, (code, name, project, budget, n)) in forms.iter().zip(PROJECTS) {
        assert_eq!(f["kind"], "target");
        assert_eq!(f["unit_code"], *code);
        assert_eq!(f["unit_name"], *name);
        assert_eq!(f["project"], *project);
        assert_eq!(f["budget"]["total"], *budget);
        assert_eq!(f["budget"]["fiscal"], *budget);
        assert_eq!(f["budget"]["other"], "0.00");
        assert_eq!(f["indicators"].as_array().unwrap().len(), *n, "{project}");
        assert_eq!(f["execution"], Value::Null);
    }
    // Table 1 literally.
    let t1 = &forms[0];
    assert_eq!(
        strings(t1, "level1"),
        [
            "产出指标",
            "产出指标",
            "产出指标",
            "产出指标",
            "效益指标",
            "满意度指标"
        ]
    );
    assert_eq!(
        strings(t1, "level2"),
        [
            "数量指标",
            "质量指标",
            "时效指标",
            "成本指标",
            "社会效益指标",
            "服务对象满意度指标"
        ]
    );
    assert_eq!(
        strings(t1, "level3"),
        [
            "完成项目数量",
            "应结项目结项通过率",
            "项目按期完成率",
            "不超过预算资金",
            "提升基层公共科普服务能力",
            "服务对象满意度指标"
        ]
    );
    assert_eq!(
        strings(t1, "target"),
        [
            "≥8个",
            "≥90%",
            "≥90%",
            "≤185万元",
            "提升基层公共科普服务能力",
            "≥90%"
        ]
    );

    // Every table against the seed text itself: each indicator's 二级, 三级 and 指标值 appear,
    // in order, within its table.
    let seed = std::fs::read_to_string(SEED).expect("shared/seed beside the repo");
    let lines: Vec<&str> = seed
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    for f in &forms {
        let project = f["project"].as_str().unwrap();
        let start = lines
            .iter()
            .position(|l| l.contains(&format!("{project}绩效目标表")))
            .unwrap_or_else(|| panic!("{project} in seed"));
        let end = lines[start + 1..]
            .iter()
            .position(|l| l.contains("绩效目标表"))
            .map(|p| start + 1 + p)
            .unwrap_or(lines.len());
        let table = &lines[start..end];
        let mut at = 0;
        for ind in f["indicators"].as_array().unwrap() {
            for key in ["level2", "level3", "target"] {
                let want = ind[key].as_str().unwrap();
                let found = table[at..].iter().position(|l| *l == want);
                at +=
                    found.unwrap_or_else(|| panic!("{project}: {key} {want} not next in the seed"));
                if key != "target" {
                    at += 1;
                }
            }
            assert!(
                ["产出指标", "效益指标", "满意度指标"].contains(&ind["level1"].as_str().unwrap())
            );
        }
    }
}

/// The same workbooks as .xls and .ods give the same JSON apart from file and sheet.
#[test]
fn xls_and_ods_read_the_same() {
    let dir = samples();
    let d = dir.path();
    let mut xlsx_forms = Vec::new();
    for (unit_file, other) in [
        ("项目支出绩效目标表.xlsx", "目标表"),
        ("2023年度项目支出绩效自评表.xlsx", "自评表"),
    ] {
        let mut forms = Vec::new();
        let mut issues = Vec::new();
        for unit in ["569301天津市科学技术协会", "644201天津科学技术馆"] {
            let v = inspect(&d.join(unit).join(unit_file));
            forms.extend(forms_without_place(&v));
            issues.extend(issues_without_place(&v));
        }
        assert_eq!(forms.len(), 5);
        for ext in ["xls", "ods"] {
            let v = inspect(&d.join(format!("variants/{ext}/{other}.{ext}")));
            assert_eq!(forms_without_place(&v), forms, "{other}.{ext}");
            assert_eq!(issues_without_place(&v), issues, "{other}.{ext}");
        }
        xlsx_forms.extend(forms);
    }
    // The self-evaluations carry scores; the format must not change a cent.
    assert!(xlsx_forms.iter().any(|f| f["score_total"].is_string()));
}

/// Stacked on one sheet, or shifted under a note row: the same projects.
#[test]
fn stacked_and_shifted_give_the_same_projects() {
    let dir = samples();
    let d = dir.path();
    let per_unit: Vec<Value> = unit_targets(d)
        .iter()
        .map(|f| {
            let mut f = f.clone();
            f.as_object_mut().unwrap().remove("sheet");
            f
        })
        .collect();
    let stacked = inspect(&d.join("variants/stacked/全部目标表（同一工作表）.xlsx"));
    assert_eq!(forms_without_place(&stacked), per_unit);

    let mut selfevals = Vec::new();
    for unit in ["569301天津市科学技术协会", "644201天津科学技术馆"] {
        selfevals.extend(forms_without_place(&inspect(
            &d.join(unit).join("2023年度项目支出绩效自评表.xlsx"),
        )));
    }
    let shifted = inspect(&d.join("variants/shifted/自评表（上方有说明行）.xlsx"));
    assert_eq!(forms_without_place(&shifted), selfevals);
}

/// The self-evaluation samples hold the cases the rules must handle, scored on the form.
#[test]
fn selfeval_samples_are_scored_on_the_form() {
    let dir = samples();
    let v = inspect(
        &dir.path()
            .join("569301天津市科学技术协会/2023年度项目支出绩效自评表.xlsx"),
    );
    let forms = v["forms"].as_array().unwrap();
    for f in forms {
        assert_eq!(f["kind"], "selfeval");
        assert_eq!(f["year"], 2023);
        for i in f["indicators"].as_array().unwrap() {
            assert_eq!(i["score"], i["score_reported"], "{}", i["level3"]);
        }
    }
    // Unmet: ≥8个, actual 6个, 分值 12.50 → 9.38 (6/8 × 12.5 = 9.375, 四舍五入).
    let unmet = &forms[0]["indicators"][0];
    assert_eq!(
        (unmet["target"].as_str(), unmet["actual"].as_str()),
        (Some("≥8个"), Some("6个"))
    );
    assert_eq!(unmet["score"], "9.38");
    // Budget: 180.25 / 185 = 97.43 %, score 9.74.
    assert_eq!(forms[0]["execution"]["rate"], "97.43");
    assert_eq!(forms[0]["execution"]["score"], "9.74");
    // No disagreement is reported on a correctly scored form.
    let codes: Vec<&str> = v["issues"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["code"].as_str())
        .collect();
    assert!(
        !codes
            .iter()
            .any(|c| c.starts_with("score.mismatch") || *c == "score.total_mismatch"),
        "{codes:?}"
    );

    // The 元 form with (A)/(B) labels reads back in 万元.
    let v = inspect(
        &dir.path()
            .join("644201天津科学技术馆/2023年度项目支出绩效自评表.xlsx"),
    );
    let yuan = &v["forms"][0];
    assert_eq!(yuan["execution"]["annual_budget"], "156.50");
    assert_eq!(yuan["execution"]["executed"], "149.80");
    // Reverse indicator over its target: ≤81人次, actual 90 → (1 − 9/81) × 分值.
    let reverse = v["forms"][1]["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["target"] == "≤81人次")
        .unwrap()
        .clone();
    assert_eq!(reverse["actual"], "90人次");
    assert_eq!(reverse["score"], "2.77");
}

#[test]
fn template_is_a_recognisable_protected_form() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, want) in [("target", "target"), ("selfeval", "selfeval")] {
        let path = dir.path().join(format!("{kind}.xlsx"));
        let out = run(&["template", "--kind", kind, "--out", path.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v = inspect(&path);
        assert_eq!(v["forms"].as_array().unwrap().len(), 1, "{kind}");
        assert_eq!(v["forms"][0]["kind"], want);
        let bytes = std::fs::read(&path).unwrap();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut sheet = String::new();
        std::io::Read::read_to_string(
            &mut zip.by_name("xl/worksheets/sheet1.xml").unwrap(),
            &mut sheet,
        )
        .unwrap();
        assert!(sheet.contains("<sheetProtection"), "labels locked");
        assert!(
            sheet.contains("<dataValidation"),
            "dropdowns for 一级/二级指标"
        );
        assert!(sheet.contains("paperSize=\"9\""), "A4");
        let mut wb = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("xl/workbook.xml").unwrap(), &mut wb)
            .unwrap();
        assert!(wb.contains("填报说明"));
    }
}

/// samples/ in the repository is exactly what the generator makes (rerun `jixiao samples`).
#[test]
fn committed_samples_are_up_to_date() {
    let dir = samples();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mut n = 0;
    for entry in walkdir::WalkDir::new(dir.path())
        .into_iter()
        .filter_map(Result::ok)
    {
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(dir.path()).unwrap();
            let committed = std::fs::read(repo.join(rel)).unwrap_or_default();
            assert!(
                committed == std::fs::read(entry.path()).unwrap(),
                "samples/{} is stale: run `cargo run -- samples`",
                rel.display()
            );
            n += 1;
        }
    }
    assert!(n >= 14);
}

/// A text cell written inline (no shared-strings part needed).
fn inline_cell(r: &str, s: &str) -> String {
    format!(r#"<c r="{r}" t="inlineStr"><is><t>{s}</t></is></c>"#)
}

/// Rows 1–2 of a target table: its title, and 项目名称 with the project's name.
fn target_head(project: &str) -> String {
    [
        format!(
            r#"<row r="1">{}</row>"#,
            inline_cell("A1", "项目支出绩效目标表")
        ),
        format!(
            r#"<row r="2">{}{}</row>"#,
            inline_cell("A2", "项目名称"),
            inline_cell("B2", project)
        ),
    ]
    .concat()
}

/// A figure typed to four decimals is read as typed: calamine gives the nearest double, and
/// the general float-to-decimal conversion had read 4096.0254 as 4096.025400000001 — the text
/// a 指标值 typed as a number showed in every output.
#[test]
fn typed_decimals_are_read_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("569301天津市科学技术协会.xlsx");
    let t = inline_cell;
    let n = |r: &str, v: &str| format!(r#"<c r="{r}"><v>{v}</v></c>"#);
    let cells = [
        target_head("精确到元的项目"),
        format!(
            r#"<row r="3">{}{}</row>"#,
            t("A3", "预算数"),
            n("B3", "4096.0254")
        ),
        format!(
            r#"<row r="4">{}{}{}{}</row>"#,
            t("A4", "一级指标"),
            t("B4", "二级指标"),
            t("C4", "三级指标"),
            t("D4", "指标值")
        ),
        format!(
            r#"<row r="5">{}{}{}{}</row>"#,
            t("A5", "产出指标"),
            t("B5", "数量指标"),
            t("C5", "资金规模"),
            n("D5", "4503.529")
        ),
    ]
    .concat();
    xlsx_from_parts(
        &path,
        &minimal_xlsx(&[("Sheet1".to_string(), sheet_xml("A1:D5", &cells))], None),
    );
    let v = inspect(&path);
    let form = &v["forms"][0];
    assert_eq!(strings(form, "target"), ["4503.529"], "{v:#}");
    assert_eq!(form["budget"]["total"], "4096.03", "{v:#}");
}

/// A 指标值 typed as an Excel date (a serial number shown through a date format) is read as the
/// date the form shows, and taken as a deadline — not as the serial number 45473.
#[test]
fn dates_typed_as_dates_are_read_as_dates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("569301天津市科学技术协会.xlsx");
    let t = inline_cell;
    let cells = [
        target_head("按期完成的项目"),
        format!(
            r#"<row r="3">{}{}{}{}</row>"#,
            t("A3", "一级指标"),
            t("B3", "二级指标"),
            t("C3", "三级指标"),
            t("D3", "指标值")
        ),
        format!(
            r#"<row r="4">{}{}{}<c r="D4" s="1"><v>45473</v></c></row>"#,
            t("A4", "产出指标"),
            t("B4", "时效指标"),
            t("C4", "完成时间"),
        ),
    ]
    .concat();
    // Cell format 1: number format 14, Excel's built-in short date.
    let styles = br#"<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><fonts count="1"><font><sz val="11"/></font></fonts><cellXfs count="2"><xf numFmtId="0" fontId="0"/><xf numFmtId="14" fontId="0" applyNumberFormat="1"/></cellXfs></styleSheet>"#;
    let mut parts = minimal_xlsx(&[("Sheet1".to_string(), sheet_xml("A1:D4", &cells))], None);
    parts.push(("xl/styles.xml".to_string(), styles.to_vec()));
    xlsx_from_parts(&path, &parts);
    let v = inspect(&path);
    let form = &v["forms"][0];
    assert_eq!(strings(form, "target"), ["2024-06-30"], "{v:#}");
    let wb = jixiao::read::read_file(&path, &jixiao::read::Limits::default()).unwrap();
    let read = jixiao::form::recognise(&wb.sheets[0], &path);
    assert_eq!(
        read[0].form.indicators[0].target_parsed.value,
        jixiao::indicator::Value::Deadline(jixiao::indicator::Date {
            year: Some(2024),
            month: 6,
            day: 30
        })
    );
}

/// A sheet written with a namespace prefix (`<x:mergeCells>`) has its merged cells filled as
/// any other: the guard leaves what it does not parse to calamine.
#[test]
fn prefixed_sheets_keep_their_merges() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prefixed.xlsx");
    let sheet = r#"<?xml version="1.0" encoding="UTF-8"?><x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><x:dimension ref="A1:B3"/><x:sheetData><x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>项目名称</x:t></x:is></x:c></x:row><x:row r="2"><x:c r="A2" t="inlineStr"><x:is><x:t>产出指标</x:t></x:is></x:c></x:row></x:sheetData><x:mergeCells count="1"><x:mergeCell ref="A2:B3"/></x:mergeCells></x:worksheet>"#;
    xlsx_from_parts(
        &path,
        &minimal_xlsx(&[("S".to_string(), sheet.as_bytes().to_vec())], None),
    );
    let wb = jixiao::read::read_file(&path, &jixiao::read::Limits::default()).unwrap();
    let grid = &wb.sheets[0].grid;
    for (r, c) in [(1, 1), (2, 0), (2, 1)] {
        let cell = grid.get(r, c).expect("filled from the merge");
        assert_eq!(&*cell.text, "产出指标");
        assert_eq!(cell.anchor, Some(jixiao::model::CellRef::new(1, 0)));
    }
}
