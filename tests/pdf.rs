//! End to end: the PDF reports and packs, read back with poppler (pdftotext, pdffonts; the
//! repo's scripts/test installs poppler-utils when missing).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use calamine::{open_workbook, Data, Reader, Xlsx};
use common::*;

fn tool(name: &str, args: &[&str]) -> String {
    let out = Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name} is needed for the PDF tests (run scripts/test, which installs poppler-utils): {e}"));
    assert!(
        out.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Text in content-stream order, white space removed (cells wrap over lines).
fn pdf_text(path: &Path) -> String {
    tool("pdftotext", &["-raw", path.to_str().unwrap(), "-"])
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

fn squeeze(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn text(d: &Data) -> String {
    match d {
        Data::String(s) => s.clone(),
        Data::Float(f) => format!("{f:.2}"),
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

fn rows(path: &Path, sheet: &str) -> Vec<Vec<String>> {
    let mut wb: Xlsx<_> = open_workbook(path).unwrap();
    let r = wb.worksheet_range(sheet).unwrap();
    r.rows().map(|row| row.iter().map(text).collect()).collect()
}

fn col(h: &[String], name: &str) -> usize {
    h.iter()
        .position(|x| x == name)
        .unwrap_or_else(|| panic!("{name}"))
}

fn pdfs_under(dir: &Path) -> Vec<PathBuf> {
    // Published PDFs only: OUT/.cache holds the cache's copies.
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(Result::ok)
        .map(|e| e.into_path())
        .filter(|p| p.extension().is_some_and(|e| e == "pdf"))
        .collect();
    v.sort();
    v
}

#[test]
fn reports_say_what_the_workbook_says() {
    let samples = samples();
    let out = tempfile::tempdir().unwrap();
    let o = run_job(samples.path(), out.path(), &[]);
    expect_exit(&o, 2);
    let wb = out.path().join("consolidated.xlsx");
    let projects = rows(&wb, "项目汇总");
    let indicators = rows(&wb, "指标明细");
    let (ph, ih) = (&projects[0], &indicators[0]);
    let reports = pdfs_under(&out.path().join("reports"));
    assert_eq!(reports.len(), 5);
    for report in &reports {
        let unit_dir = report
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let project = report.file_stem().unwrap().to_string_lossy().to_string();
        let body = pdf_text(report);
        assert!(body.contains(&squeeze(&project)), "{project}");
        assert!(
            body.contains(&squeeze(&unit_dir)),
            "{project}: unit {unit_dir}"
        );
        // Every 三级指标 and 指标值 of the project, as the workbook lists them.
        let mine: Vec<&Vec<String>> = indicators
            .iter()
            .filter(|r| {
                format!("{}{}", r[col(ih, "单位编码")], r[col(ih, "单位名称")]) == unit_dir
                    && r[col(ih, "项目名称")] == project
            })
            .collect();
        assert!(mine.len() > 5, "{project}");
        for r in mine {
            for c in ["三级指标", "指标值", "实际完成值"] {
                let v = squeeze(&r[col(ih, c)]);
                assert!(body.contains(&v), "{project}: {c} {v}");
            }
        }
        // 总分 and grade exactly as in 项目汇总.
        let se = projects
            .iter()
            .find(|r| {
                r[col(ph, "项目名称")] == project
                    && r[col(ph, "表类型")] == "绩效自评表"
                    && r[col(ph, "状态")] == "有效"
            })
            .expect("self-evaluation row");
        let total = &se[col(ph, "总分")];
        let grade = &se[col(ph, "等级")];
        assert!(
            body.contains(&format!("总分：{total}等级：{grade}")),
            "{project}: 总分 {total} {grade}"
        );
    }
    // The pack holds every report of its unit, a contents page and an outline.
    let pack = out.path().join("packs/569301天津市科学技术协会.pdf");
    let body = pdf_text(&pack);
    assert!(body.contains("目录"));
    assert!(
        body.contains("基层科普能力提升项目（中央专款）绩效自评报告")
            && body.contains("科普经费绩效目标表")
    );
    let raw = std::fs::read(&pack).unwrap();
    assert!(raw.windows(9).any(|w| w == b"/Outlines"), "bookmarks");
}

#[test]
fn fonts_are_embedded_subset_and_reports_small() {
    let samples = samples();
    let out = tempfile::tempdir().unwrap();
    run_job(samples.path(), out.path(), &[]);
    let all = pdfs_under(out.path());
    assert_eq!(all.len(), 7);
    for pdf in &all {
        let fonts = tool("pdffonts", &[pdf.to_str().unwrap()]);
        let lines: Vec<&str> = fonts.lines().skip(2).collect();
        assert!(!lines.is_empty(), "{}", pdf.display());
        for l in lines {
            let cols: Vec<&str> = l.split_whitespace().collect();
            // name type… encoding emb sub uni id gen: emb and sub are the 5th and 4th from the end.
            let n = cols.len();
            assert_eq!(
                (cols[n - 5], cols[n - 4]),
                ("yes", "yes"),
                "{}: {l}",
                pdf.display()
            );
            assert!(
                cols[0].len() > 7 && cols[0].as_bytes()[6] == b'+',
                "subset tag: {l}"
            );
        }
        let pages: usize = tool("pdfinfo", &[pdf.to_str().unwrap()])
            .lines()
            .find_map(|l| l.strip_prefix("Pages:").map(|v| v.trim().parse().unwrap()))
            .unwrap();
        let size = std::fs::metadata(pdf).unwrap().len();
        if pages <= 2 {
            assert!(
                size < 100_000,
                "{}: {size} bytes for {pages} pages",
                pdf.display()
            );
        }
    }
}

/// Hostile project names stay inside OUT; a character the font lacks is reported.
#[test]
fn names_are_safe_and_missing_glyphs_reported() {
    use jixiao::samples::{seed_targets, xlsx_bytes};
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let mut forms = Vec::new();
    for (i, name) in [
        "../../x",
        "CON",
        &"长".repeat(300),
        "第一行\n第二行",
        "𪚥字项目",
    ]
    .iter()
    .enumerate()
    {
        let mut f = seed_targets()[0].clone();
        f.title = None;
        f.project.as_mut().unwrap().value = name.to_string();
        f.budget.total.as_mut().unwrap().value += rust_decimal::Decimal::from(i as u64);
        f.budget.fiscal.as_mut().unwrap().value += rust_decimal::Decimal::from(i as u64);
        forms.push(f);
    }
    std::fs::write(
        input.join("569301天津市科学技术协会.xlsx"),
        xlsx_bytes(&forms, true, false).unwrap(),
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = run_job(&input, &out, &[]);
    expect_exit(&o, 0);
    // Nothing outside OUT: the only new entries of the temp dir are in/ and out/.
    assert_eq!(entries(dir.path()), vec!["in", "out"]);
    let reports = pdfs_under(&out.join("reports"));
    assert_eq!(reports.len(), 5);
    for r in &reports {
        assert!(
            r.starts_with(out.join("reports/569301天津市科学技术协会")),
            "{}",
            r.display()
        );
        let name = r.file_name().unwrap().to_string_lossy().to_string();
        assert!(name.len() <= 120, "{name}");
        assert!(!name.contains('\n') && !name.contains('/'));
        assert!(!name.eq_ignore_ascii_case("CON.pdf"));
    }
    let csv = std::fs::read_to_string(out.join("issues.csv")).unwrap();
    let line = csv
        .lines()
        .find(|l| l.contains("pdf.missing_glyph"))
        .expect("missing glyph reported");
    assert!(line.contains("𪚥") && line.contains("𪚥字项目"), "{line}");
    // A second run reuses every PDF without laying it out: the cache still knows the
    // character was missing, and the issue list is the same.
    let again = run_job(&input, &out, &[]);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("生成 PDF 0 份"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(out.join("issues.csv")).unwrap(),
        csv
    );
}
