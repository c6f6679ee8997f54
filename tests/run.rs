//! End to end: `jixiao run` writes consolidated.xlsx, summary.json and issues.csv.

mod common;

use std::path::{Path, PathBuf};

use calamine::{open_workbook, Data, Reader, Xlsx};
use common::*;
use serde_json::Value;

fn sheet(path: &Path, name: &str) -> Vec<Vec<Data>> {
    let mut wb: Xlsx<_> = open_workbook(path).expect("consolidated.xlsx opens");
    let range = wb.worksheet_range(name).expect(name);
    range.rows().map(|r| r.to_vec()).collect()
}

fn text(d: &Data) -> String {
    match d {
        Data::String(s) => s.clone(),
        Data::Float(f) => format!("{f}"),
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

fn num(d: &Data) -> f64 {
    match d {
        Data::Float(f) => *f,
        Data::Int(i) => *i as f64,
        other => panic!("not a number: {other:?}"),
    }
}

fn col(header: &[Data], name: &str) -> usize {
    header
        .iter()
        .position(|h| text(h) == name)
        .unwrap_or_else(|| panic!("column {name}"))
}

#[test]
fn samples_consolidate() {
    let samples = samples();
    let out = tempfile::tempdir().unwrap();
    let o = run_job(samples.path(), out.path(), &[]);
    // samples/ holds samples/bad: finished, some inputs rejected.
    expect_exit(&o, 2);

    let summary: Value =
        serde_json::from_slice(&std::fs::read(out.path().join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["files"]["rejected"], 4);
    let units = summary["units"].as_array().unwrap();
    assert_eq!(units.len(), 2);
    let u1 = &units[0];
    assert_eq!(
        (u1["code"].as_str(), u1["projects"].as_u64()),
        (Some("569301"), Some(2))
    );
    assert_eq!(u1["budget_total"], "1085.00");
    assert_eq!(u1["fiscal_total"], "1085.00");
    assert_eq!(u1["other_total"], "0.00");
    // Self-evaluations (samples define them): 180.25 + 872.6 executed of 1085.00.
    assert_eq!(u1["annual_budget_total"], "1085.00");
    assert_eq!(u1["executed_total"], "1052.85");
    assert_eq!(u1["execution_rate"], "97.04");
    assert_eq!(u1["grades"]["优"], 2);
    let u2 = &units[1];
    assert_eq!(
        (u2["code"].as_str(), u2["projects"].as_u64()),
        (Some("644201"), Some(3))
    );
    assert_eq!(u2["budget_total"], "1476.00");
    assert_eq!(u2["executed_total"], "1456.92");

    // consolidated.xlsx read back: the 合计 row of 单位汇总.
    let wb = out.path().join("consolidated.xlsx");
    let rows = sheet(&wb, "单位汇总");
    let header = &rows[0];
    let total = rows
        .iter()
        .find(|r| text(&r[col(header, "单位名称")]) == "合计")
        .expect("合计 row");
    assert_eq!(num(&total[col(header, "项目数")]), 5.0);
    assert_eq!(num(&total[col(header, "预算数（万元）")]), 2561.0);
    assert_eq!(num(&total[col(header, "全年执行数（万元）")]), 2509.77);
    assert_eq!(num(&total[col(header, "执行率")]), 98.0);
    assert_eq!(num(&total[col(header, "错误")]), 4.0);

    // One indicator row, cell by cell: the unmet ≥8个 of 基层科普能力提升项目 (self-evaluation).
    let rows = sheet(&wb, "指标明细");
    let h = &rows[0];
    let row = rows
        .iter()
        .find(|r| {
            text(&r[col(h, "表类型")]) == "绩效自评表"
                && text(&r[col(h, "三级指标")]) == "完成项目数量"
        })
        .expect("indicator row");
    let want: &[(&str, &str)] = &[
        ("单位编码", "569301"),
        ("单位名称", "天津市科学技术协会"),
        ("项目名称", "基层科普能力提升项目（中央专款）"),
        ("一级指标", "产出指标"),
        ("二级指标", "数量指标"),
        ("指标值", "≥8个"),
        ("比较符", "≥"),
        ("目标数值", "8"),
        ("计量单位", "个"),
        ("实际完成值", "6个"),
        ("分值", "12.5"),
        ("表内得分", "9.38"),
        ("复核得分", "9.38"),
        ("是否达成", "否"),
    ];
    for (c, v) in want {
        assert_eq!(text(&row[col(h, c)]), *v, "{c}");
    }
    assert!(text(&row[col(h, "偏差原因分析及改进措施")]).contains("延期"));

    // Problem rows are highlighted by conditional formats on the four data sheets, and every
    // sheet prints on A4 with its header row repeated.
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&wb).unwrap()).unwrap();
    for n in 1..=4 {
        let mut xml = String::new();
        std::io::Read::read_to_string(
            &mut zip.by_name(&format!("xl/worksheets/sheet{n}.xml")).unwrap(),
            &mut xml,
        )
        .unwrap();
        assert!(
            xml.contains("<cfRule type=\"expression\""),
            "sheet{n} highlights"
        );
        assert!(
            xml.contains("paperSize=\"9\"") && xml.contains("orientation=\"landscape\""),
            "sheet{n} A4 landscape"
        );
        assert!(
            xml.contains("<pane ") && xml.contains("<autoFilter "),
            "sheet{n} frozen header and filter"
        );
    }
    let mut book = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("xl/workbook.xml").unwrap(), &mut book).unwrap();
    assert!(
        book.contains("_xlnm.Print_Titles"),
        "header rows repeat on every printed page"
    );

    // issues.csv: BOM, Chinese header, every bad file listed.
    let csv = std::fs::read_to_string(out.path().join("issues.csv")).unwrap();
    assert!(csv.starts_with('\u{feff}'));
    let listed = sheet(&wb, "问题清单");
    for bad in [
        "截断的工作簿.xlsx",
        "加密的工作簿.xlsx",
        "加密的工作簿.xls",
        "其实是文本文件.xlsx",
    ] {
        assert!(
            csv.lines()
                .any(|l| l.contains(&format!("/{bad}\"")) && l.starts_with("\"错误\"")),
            "{bad} in issues.csv"
        );
        assert!(
            listed
                .iter()
                .any(|r| text(&r[5]).ends_with(&format!("/{bad}"))),
            "{bad} in 问题清单"
        );
    }
    // Every good project is still there, counted once.
    let projects = sheet(&wb, "项目汇总");
    let ph = &projects[0];
    for name in [
        "基层科普能力提升项目（中央专款）",
        "科普经费",
        "2023年天津科学技术馆编制外长聘人员经费项目",
        "2023年天津科学技术馆免费开放项目-中央",
        "2023年天津科学技术馆运行保障项目",
    ] {
        for kind in ["绩效目标表", "绩效自评表"] {
            let valid = projects
                .iter()
                .filter(|r| {
                    text(&r[col(ph, "项目名称")]) == name
                        && text(&r[col(ph, "表类型")]) == kind
                        && text(&r[col(ph, "状态")]) == "有效"
                })
                .count();
            assert_eq!(valid, 1, "{name} {kind}");
        }
    }
}

/// Every cell of every sheet, as text.
fn all_cells(path: &Path) -> Vec<(String, Vec<Vec<String>>)> {
    let mut wb: Xlsx<_> = open_workbook(path).unwrap();
    let names = wb.sheet_names();
    names
        .into_iter()
        .map(|n| {
            let r = wb.worksheet_range(&n).unwrap();
            let cells = r.rows().map(|row| row.iter().map(text).collect()).collect();
            (n, cells)
        })
        .collect()
}

#[test]
fn jobs_do_not_change_the_outputs() {
    let samples = samples();
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    for (dir, jobs) in [(&one, "1"), (&two, "2")] {
        let o = run_cmd(samples.path(), dir.path(), &["--jobs", jobs])
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2));
    }
    assert_eq!(
        all_cells(&one.path().join("consolidated.xlsx")),
        all_cells(&two.path().join("consolidated.xlsx"))
    );
    // Every output, PDFs included, byte for byte (not the cache: its index records when each
    // entry was written, to notice a report edited in place through its hard link).
    let files = |d: &Path| {
        let mut v: Vec<(PathBuf, Vec<u8>)> = walkdir::WalkDir::new(d)
            .into_iter()
            .filter_entry(|e| e.file_name() != ".cache")
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                (
                    e.path().strip_prefix(d).unwrap().to_path_buf(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let (a, b) = (files(one.path()), files(two.path()));
    assert!(a.len() >= 10, "{} files", a.len());
    assert_eq!(
        a.iter().map(|x| &x.0).collect::<Vec<_>>(),
        b.iter().map(|x| &x.0).collect::<Vec<_>>()
    );
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(
            x == y,
            "{} differs between --jobs 1 and --jobs 2",
            name.display()
        );
    }
}

/// consolidated.xlsx is a plain zip (no ZIP64 entry, which LibreOffice refuses) whose 指标明细
/// holds a row per indicator, and whose other parts are rust_xlsxwriter's.
#[test]
fn consolidated_xlsx_is_a_plain_zip() {
    let samples = samples();
    let out = tempfile::tempdir().unwrap();
    let o = run_job(samples.path(), out.path(), &["--no-pdf"]);
    expect_exit(&o, 2);
    let path = out.path().join("consolidated.xlsx");
    let bytes = std::fs::read(&path).unwrap();
    // Every local header: its extra field holds no ZIP64 record (id 0x0001).
    let mut at = 0;
    let mut headers = 0;
    while let Some(i) = bytes[at..].windows(4).position(|w| w == b"PK\x03\x04") {
        let h = at + i;
        let le16 = |o: usize| u16::from_le_bytes([bytes[h + o], bytes[h + o + 1]]) as usize;
        let (name_len, extra_len) = (le16(26), le16(28));
        let extra = &bytes[h + 30 + name_len..h + 30 + name_len + extra_len];
        let name = String::from_utf8_lossy(&bytes[h + 30..h + 30 + name_len]).to_string();
        let mut e = 0;
        while e + 4 <= extra.len() {
            let id = u16::from_le_bytes([extra[e], extra[e + 1]]);
            assert_ne!(id, 1, "ZIP64 record in {name}");
            e += 4 + u16::from_le_bytes([extra[e + 2], extra[e + 3]]) as usize;
        }
        headers += 1;
        at = h + 4;
    }
    assert!(headers >= 10, "{headers} parts");
    let rows = sheet(&path, "指标明细");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("summary.json")).unwrap()).unwrap();
    let indicators: u64 = summary["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["indicators"].as_u64().unwrap())
        .sum();
    let indicators = indicators as usize;
    assert!(indicators > 100, "{indicators}");
    assert_eq!(rows.len(), indicators + 1, "header and a row per indicator");
}

/// 10,000 amounts with two decimals add up to the cent in the 合计 cell and summary.json.
#[test]
fn money_totals_are_exact() {
    use jixiao::model::{Budget, Form, FormKind, Indicator, Sourced, Unit};
    use rust_decimal::Decimal;

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let mut cents_total: i64 = 0;
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let per_file = 500;
    for file in 0..20 {
        let mut forms = Vec::with_capacity(per_file);
        for n in 0..per_file {
            // xorshift: deterministic amounts from 0.01 to 99,999,999.99 万元
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let cents = (seed % 9_999_999_999 + 1) as i64;
            cents_total += cents;
            let amount = Decimal::new(cents, 2);
            let unit = 100_000 + (file * per_file + n) % 50;
            forms.push(Form {
                kind: Some(FormKind::Target),
                unit: Some(Sourced::derived(Unit {
                    code: Some(unit.to_string()),
                    name: format!("单位{unit}"),
                })),
                project: Some(Sourced::derived(format!("项目{file}-{n}"))),
                budget: Budget {
                    total: Some(Sourced::derived(amount)),
                    fiscal: Some(Sourced::derived(amount)),
                    other: None,
                },
                indicators: vec![Indicator {
                    level1: Sourced::derived("产出指标".into()),
                    level2: Sourced::derived("数量指标".into()),
                    level3: Sourced::derived("完成数量".into()),
                    target: Sourced::derived("≥1个".into()),
                    ..Default::default()
                }]
                .into(),
                ..Default::default()
            });
        }
        let bytes = jixiao::samples::xlsx_bytes(&forms, true, false).unwrap();
        std::fs::create_dir_all(&input).unwrap();
        std::fs::write(input.join(format!("{file:02}.xlsx")), bytes).unwrap();
    }
    let out = dir.path().join("out");
    // Money only: 10,000 PDF reports are the benchmark's business, not this test's.
    let o = run_job(&input, &out, &["--no-pdf"]);
    expect_exit(&o, 0);
    let want = format!("{}.{:02}", cents_total / 100, cents_total % 100);

    let rows = sheet(&out.join("consolidated.xlsx"), "单位汇总");
    let h = &rows[0];
    let total = rows
        .iter()
        .find(|r| text(&r[col(h, "单位名称")]) == "合计")
        .unwrap();
    assert_eq!(num(&total[col(h, "项目数")]), 10_000.0);
    let cell = num(&total[col(h, "预算数（万元）")]);
    assert_eq!(format!("{cell:.2}"), want, "合计 cell to the cent");

    let summary: Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let mut sum = Decimal::ZERO;
    for u in summary["units"].as_array().unwrap() {
        sum += u["budget_total"]
            .as_str()
            .unwrap()
            .parse::<Decimal>()
            .unwrap();
    }
    assert_eq!(format!("{sum:.2}"), want, "summary.json sums to the cent");
}

/// A self-evaluation whose 年度指标值 differ from the target table of the same project is
/// reported; `--units` maps units to 主管部门 with subtotals.
#[test]
fn lowered_targets_and_departments() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let targets = jixiao::samples::seed_targets();
    let mut selfevals = jixiao::samples::seed_selfevals(&jixiao::rules::Rules::national());
    // 科普经费: ≥30场次 quietly becomes ≥20场次 at year end.
    let changed = selfevals[1]
        .indicators
        .iter_mut()
        .find(|i| i.target.value == "≥30场次")
        .unwrap();
    changed.target.value = "≥20场次".into();
    changed.target_parsed = jixiao::indicator::parse("≥20场次");
    std::fs::write(
        input.join("targets.xlsx"),
        jixiao::samples::xlsx_bytes(&targets[..2], false, false).unwrap(),
    )
    .unwrap();
    std::fs::write(
        input.join("selfevals.xlsx"),
        jixiao::samples::xlsx_bytes(&selfevals[..2], false, false).unwrap(),
    )
    .unwrap();
    let units = dir.path().join("units.csv");
    std::fs::write(
        &units,
        "code,name,department\n569301,天津市科学技术协会,天津市科学技术协会（主管）\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = run_job(&input, &out, &["--units", units.to_str().unwrap()]);
    expect_exit(&o, 0);
    let csv = std::fs::read_to_string(out.join("issues.csv")).unwrap();
    let line = csv
        .lines()
        .find(|l| l.contains("project.target_changed"))
        .expect("target_changed reported");
    assert!(
        line.contains("≥20场次") && line.contains("≥30场次"),
        "{line}"
    );
    assert_eq!(csv.matches("project.target_changed").count(), 1);

    let rows = sheet(&out.join("consolidated.xlsx"), "单位汇总");
    let h = &rows[0];
    let sub = rows
        .iter()
        .find(|r| text(&r[col(h, "单位名称")]) == "天津市科学技术协会（主管）小计")
        .expect("department subtotal row");
    assert_eq!(num(&sub[col(h, "预算数（万元）")]), 1085.0);
}

/// OUT inside the input folder, and reached again through a link in it: the second night
/// reads exactly the submissions the first did, never consolidated.xlsx or a unit's pack.
#[test]
fn outputs_inside_an_input_are_not_read_as_submissions() {
    let samples = samples();
    let out = samples.path().join("汇总输出");
    let files = |stderr: &str| -> String {
        let at = stderr.rfind("读取 ").expect("summary line");
        stderr[at..].split('（').next().unwrap().to_string()
    };
    let first = expect_exit(&run_job(samples.path(), &out, &["--no-pdf"]), 2);
    assert!(out.join("consolidated.xlsx").exists());
    #[cfg(unix)]
    std::os::unix::fs::symlink(&out, samples.path().join("链接到输出")).unwrap();
    let second = expect_exit(&run_job(samples.path(), &out, &["--no-pdf"]), 2);
    assert_eq!(files(&first), files(&second), "{second}");
    assert!(!second.contains("consolidated.xlsx："), "{second}");
}
