//! End to end: the incremental cache. A second run over unchanged inputs parses no file and
//! renders no PDF, and its outputs are byte-identical; changing one file re-parses exactly that
//! one; --full gives the same bytes; a corrupt cache entry is discarded, never trusted.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn run_at(input: &Path, out: &Path, extra: &[&str]) -> String {
    let o = run_cmd(input, out, extra)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("JIXIAO_LOG", "debug")
        .output()
        .unwrap();
    expect_exit(&o, 2)
}

/// A copy of the samples, and OUT in a folder of its own (both removed with the guards).
fn fixture() -> (tempfile::TempDir, tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    (samples(), dir, out)
}

/// (parsed, reused, pdf rendered, pdf reused) from the summary line.
fn counts(stderr: &str) -> (usize, usize, usize, usize) {
    let num = |after: &str| -> usize {
        let at = stderr
            .rfind(after)
            .unwrap_or_else(|| panic!("{after} in {stderr}"))
            + after.len();
        stderr[at..]
            .trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    (
        num("解析 "),
        num("复用缓存 "),
        num("生成 PDF "),
        num("份、复用 "),
    )
}

/// (units whose 指标明细 rows came from the cache, units whose rows were deflated again).
fn pieces(stderr: &str) -> (usize, usize) {
    sheet_pieces(stderr, "指标明细")
}

/// (groups of `sheet`'s rows that came from the cache, groups deflated again).
fn sheet_pieces(stderr: &str, sheet: &str) -> (usize, usize) {
    two_numbers(stderr, sheet, |l| {
        l.contains(&format!("{sheet}：")) && l.contains("的行沿用缓存")
    })
}

/// The first two numbers of the first log line `pick` chooses (`what` names it if none does).
fn two_numbers(stderr: &str, what: &str, pick: impl Fn(&str) -> bool) -> (usize, usize) {
    let line = stderr
        .lines()
        .find(|l| pick(l))
        .unwrap_or_else(|| panic!("no {what} line in {stderr}"));
    let nums: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (nums[0], nums[1])
}

fn outputs(out: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<(PathBuf, Vec<u8>)> = walkdir::WalkDir::new(out)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path().strip_prefix(out).unwrap().to_path_buf(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The sample workbook the tests change: 科协's target tables.
fn changed_workbook(samples: &Path) -> PathBuf {
    samples.join("569301天津市科学技术协会/项目支出绩效目标表.xlsx")
}

/// Set a file's modification time to `secs` after the epoch.
fn set_mtime(path: &Path, secs: u64) {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[test]
fn unchanged_inputs_are_not_parsed_or_rendered_again() {
    let (samples, _dir, out) = fixture();
    // The samples hold duplicates (the variants repeat the seed projects) and a duplicate is
    // resolved by modification time, then path. Files written in the same clock tick share an
    // mtime on coarse filesystems, so pin every mtime: the file changed below is the newest
    // before and after the change, and the kept copies cannot switch.
    let target = changed_workbook(samples.path());
    for e in walkdir::WalkDir::new(samples.path())
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
    {
        set_mtime(e.path(), 1_700_000_000);
    }
    set_mtime(&target, 1_700_000_100);
    let first = run_at(samples.path(), &out, &[]);
    assert_eq!(counts(&first), (10, 0, 7, 0), "{first}");
    let units = pieces(&first).1;
    assert_eq!(pieces(&first), (0, units), "{first}");
    assert!(units >= 2, "{first}");
    let before = outputs(&out);

    let second = run_at(samples.path(), &out, &[]);
    assert_eq!(counts(&second), (0, 10, 0, 7), "{second}");
    // consolidated.xlsx from cached 指标明细 pieces only, byte-identical (checked below).
    assert_eq!(pieces(&second), (units, 0), "{second}");
    // 项目汇总 and 问题清单 likewise: every group from the cache.
    for sheet in ["项目汇总", "问题清单"] {
        let (reused, made) = sheet_pieces(&second, sheet);
        assert!(reused >= 2 && made == 0, "{sheet}: {second}");
        assert_eq!(sheet_pieces(&first, sheet), (0, reused), "{first}");
    }
    assert!(outputs(&out) == before, "second run is byte-identical");
    // Nothing changed, so no cached form's indicator rows were even decoded.
    let decoded = second
        .lines()
        .find(|l| l.contains("指标行："))
        .and_then(|l| {
            l.split('：')
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<usize>()
                .ok()
        });
    assert_eq!(decoded, Some(0), "{second}");

    // Change one workbook: exactly that one is parsed again, and only its unit's PDFs change.
    let mut forms = jixiao::samples::seed_targets()[..2].to_vec();
    forms[1].goals.as_mut().unwrap().value.push_str("（修订）");
    std::fs::write(
        &target,
        jixiao::samples::xlsx_bytes(&forms, false, false).unwrap(),
    )
    .unwrap();
    set_mtime(&target, 1_700_000_200);
    let third = run_at(samples.path(), &out, &[]);
    let (parsed, reused, rendered, pdf_reused) = counts(&third);
    assert_eq!((parsed, reused), (1, 9), "{third}");
    // 科普经费's report and the 569301 pack change; the other five PDFs are reused.
    assert_eq!((rendered, pdf_reused), (2, 5), "{third}");
    assert_eq!(pieces(&third), (units - 1, 1), "{third}");
    assert_eq!(sheet_pieces(&third, "项目汇总").1, 1, "{third}");

    // --full ignores the cache and gives the same bytes as the cached run.
    let cached = outputs(&out);
    let full = run_at(samples.path(), &out, &["--full"]);
    assert_eq!(counts(&full), (10, 0, 7, 0), "{full}");
    assert_eq!(pieces(&full), (0, units), "{full}");
    assert!(
        outputs(&out) == cached,
        "--full is byte-identical to the cached run"
    );
}

/// An input file is not read again while its stamp (length, times, identity) is as last run
/// saw it; a file rewritten with the same length and its old modification time put back
/// (`cp -p`, `touch -d`, an unzip) still has a new status-change time, and is parsed again.
#[test]
fn a_file_rewritten_with_its_old_time_is_parsed_again() {
    let (samples, _dir, out) = fixture();
    let target = changed_workbook(samples.path());
    // Two different workbooks of the same length: only the times can tell them apart.
    let variant = |k: usize| {
        let mut forms = jixiao::samples::seed_targets()[..2].to_vec();
        forms[1]
            .goals
            .as_mut()
            .unwrap()
            .value
            .push_str(&format!("（修订{k}）"));
        jixiao::samples::xlsx_bytes(&forms, false, false).unwrap()
    };
    let mut by_len: std::collections::HashMap<usize, Vec<u8>> = Default::default();
    let (a, b) = (0..200)
        .map(variant)
        .find_map(|v| match by_len.get(&v.len()) {
            Some(same) if *same != v => Some((same.clone(), v)),
            _ => {
                by_len.insert(v.len(), v);
                None
            }
        })
        .expect("two variants of one length");
    std::fs::write(&target, &a).unwrap();
    // Stamps are trusted only for files changed more than 2 s before they were taken (a
    // second write within a coarse file-system tick could leave them equal).
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let first = run_at(samples.path(), &out, &[]);
    assert_eq!(counts(&first).0, 10, "{first}");
    let second = run_at(samples.path(), &out, &[]);
    assert_eq!(counts(&second).0, 0, "{second}");
    assert_eq!(
        stamped(&second),
        10,
        "every file known by its stamp: {second}"
    );

    let modified = std::fs::metadata(&target).unwrap().modified().unwrap();
    std::fs::write(&target, &b).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&target)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    let third = run_at(samples.path(), &out, &[]);
    assert_eq!(
        counts(&third).0,
        1,
        "the rewritten file is parsed again: {third}"
    );
    assert_eq!(stamped(&third), 9, "{third}");
}

/// How many input files a run took as unchanged by their stamps alone.
fn stamped(stderr: &str) -> usize {
    stderr
        .lines()
        .find(|l| l.contains("输入文件："))
        .and_then(|l| l.split('：').nth(1)?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no 输入文件 line in {stderr}"))
}

#[test]
fn a_corrupt_cache_entry_is_rebuilt() {
    let (samples, _dir, out) = fixture();
    run_at(samples.path(), &out, &[]);
    let before = outputs(&out);
    // Damage every cached entry in a different way.
    let cache = out.join(".cache");
    for (i, e) in walkdir::WalkDir::new(&cache)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .enumerate()
    {
        let bytes = std::fs::read(e.path()).unwrap();
        let damaged = match i % 3 {
            0 => bytes[..bytes.len() / 2].to_vec(),
            1 => b"not a cache entry".to_vec(),
            _ => Vec::new(),
        };
        std::fs::write(e.path(), damaged).unwrap();
    }
    // A foreign file in the cache folder is not trusted either.
    std::fs::write(
        cache.join("read/0000.json"),
        br#"{"version":"0.0.0","key":"0000","workbook":{"format":"Xlsx","sheets":[]}}"#,
    )
    .unwrap();
    let again = run_at(samples.path(), &out, &[]);
    assert_eq!(counts(&again), (10, 0, 7, 0), "{again}");
    assert_eq!(
        pieces(&again).0,
        0,
        "a damaged pieces file is not read: {again}"
    );
    assert!(outputs(&out) == before);
    assert!(
        !cache.join("read/0000.json").exists(),
        "unused entries are pruned"
    );
}

/// Reports in OUT are hard links to the cache's entries: one edited in place (an annotation
/// saved over it) is noticed by its length and time, rendered again, and restored.
#[cfg(unix)]
#[test]
fn a_report_edited_in_place_is_rendered_again() {
    let (samples, _dir, out) = fixture();
    run_at(samples.path(), &out, &[]);
    let before = outputs(&out);
    let report = out
        .join("reports")
        .join("569301天津市科学技术协会")
        .join("科普经费.pdf");
    let original = std::fs::read(&report).unwrap();
    {
        use std::os::unix::fs::MetadataExt;
        let links = std::fs::metadata(&report).unwrap().nlink();
        assert!(
            links >= 2,
            "the report is a link to its cache entry ({links} link)"
        );
    }
    let mut edited = original.clone();
    edited.extend_from_slice(b"% annotated\n");
    std::fs::write(&report, &edited).unwrap();
    let again = run_at(samples.path(), &out, &[]);
    let (_, _, rendered, reused) = counts(&again);
    // The edited report alone is rendered again; its unit's pack has an entry of its own.
    assert_eq!((rendered, reused), (1, 6), "{again}");
    assert_eq!(std::fs::read(&report).unwrap(), original);
    assert!(outputs(&out) == before);
    // An unchanged night after that reuses everything again.
    let third = run_at(samples.path(), &out, &[]);
    assert_eq!(counts(&third).2, 0, "{third}");
}

/// Other rules (--rules) change every cached result: the forms are scored by the new rules at
/// once, not read back as the old rules scored them.
#[test]
fn new_rules_apply_to_cached_files() {
    let (samples, _dir, out) = fixture();
    let grades = |out: &Path| {
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
        summary["units"].to_string()
    };
    run_at(samples.path(), &out, &[]);
    let before = grades(&out);
    let rules = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/rules.toml"),
    )
    .unwrap()
    .replace("excellent = 90", "excellent = 99.99")
    .replace("good = 80", "good = 99.98")
    .replace("pass = 60", "pass = 99.97");
    let file = out.with_file_name("strict.toml");
    std::fs::write(&file, rules).unwrap();
    let again = run_at(samples.path(), &out, &["--rules", file.to_str().unwrap()]);
    let (parsed, reused, _, _) = counts(&again);
    assert_eq!((parsed, reused), (10, 0), "{again}");
    assert_ne!(grades(&out), before, "the stricter grades show");
}

/// Other wording (--report) changes every PDF: the cache is keyed by it, not only by the data.
#[test]
fn new_wording_renders_every_pdf_again() {
    let (samples, _dir, out) = fixture();
    run_at(samples.path(), &out, &[]);
    let template = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/report.toml"),
    )
    .unwrap();
    let wording = out.with_file_name("report.toml");
    std::fs::write(
        &wording,
        template.replace("财政局预算绩效管理科", "某市财政局绩效科"),
    )
    .unwrap();
    let again = run_at(
        samples.path(),
        &out,
        &["--report", wording.to_str().unwrap()],
    );
    assert_eq!(counts(&again), (0, 10, 7, 0), "{again}");
    let pack = out.join("packs").join("569301天津市科学技术协会.pdf");
    let text = std::process::Command::new("pdftotext")
        .arg(&pack)
        .arg("-")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("某市财政局绩效科"));
}

/// manifest.csv lists every PDF with its true hash and page count; --zip bundles each unit's.
#[test]
fn manifest_and_distribution() {
    let (samples, _dir, out) = fixture();
    run_at(samples.path(), &out, &["--zip"]);
    let manifest = std::fs::read_to_string(out.join("manifest.csv")).unwrap();
    let rows: Vec<Vec<String>> = manifest
        .trim_start_matches('\u{feff}')
        .lines()
        .skip(1)
        .map(|l| {
            l.trim_matches('"')
                .split("\",\"")
                .map(str::to_string)
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 7, "5 reports + 2 packs");
    for r in &rows {
        let pdf = out.join(&r[4]);
        let bytes = std::fs::read(&pdf).unwrap_or_else(|_| panic!("{} exists", r[4]));
        assert_eq!(r[6], blake3::hash(&bytes).to_hex().to_string(), "{}", r[4]);
        let pages = bytes.windows(10).filter(|w| *w == b"/Type/Page").count();
        assert!(
            pages >= r[5].parse::<usize>().unwrap(),
            "{}: {} pages",
            r[4],
            r[5]
        );
        assert!(!r[7].is_empty(), "source listed");
    }
    for (unit, n) in [("569301天津市科学技术协会", 3), ("644201天津科学技术馆", 4)]
    {
        let zip = zip::ZipArchive::new(
            std::fs::File::open(out.join(format!("distribute/{unit}.zip"))).unwrap(),
        )
        .unwrap();
        assert_eq!(zip.len(), n, "{unit}");
        let names: Vec<String> = zip
            .file_names()
            .filter_map(Result::ok)
            .map(|n| n.to_string())
            .collect();
        assert!(names.contains(&format!("packs/{unit}.pdf")), "{names:?}");
        assert!(names
            .iter()
            .all(|n| n.starts_with(&format!("reports/{unit}/")) || n.starts_with("packs/")));
    }
    // A second night reuses every PDF in place; the unit zips read them from OUT and come out
    // the same bytes.
    let zips = |out: &Path| {
        ["569301天津市科学技术协会", "644201天津科学技术馆"]
            .map(|u| std::fs::read(out.join(format!("distribute/{u}.zip"))).unwrap())
    };
    let before = zips(&out);
    let again = run_at(samples.path(), &out, &["--zip"]);
    assert_eq!(placed(&again), (7, 0), "{again}");
    assert!(zips(&out) == before, "the unit zips are unchanged");
}

/// (PDFs left in place as last night's files, PDFs put in) from the debug log.
fn placed(stderr: &str) -> (usize, usize) {
    two_numbers(stderr, "PDF placing", |l| l.contains("份原地保留"))
}

/// (path under OUT, device and inode) of every PDF in reports/ and packs/.
#[cfg(unix)]
fn pdf_inodes(out: &Path) -> Vec<(PathBuf, u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut v: Vec<_> = ["reports", "packs"]
        .iter()
        .flat_map(|d| walkdir::WalkDir::new(out.join(d)))
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let m = e.metadata().unwrap();
            let rel = e.path().strip_prefix(out).unwrap().to_path_buf();
            (rel, m.dev(), m.ino())
        })
        .collect();
    v.sort();
    v
}

/// An unchanged report stays the very file it was (nothing re-linked, nothing unlinked); what
/// the run no longer produces, and anything else put into reports/ or packs/, is removed; the
/// result is what a fresh run into an empty OUT gives.
#[cfg(unix)]
#[test]
fn reports_are_published_in_place() {
    let (samples, dir, out) = fixture();
    let first = run_at(samples.path(), &out, &[]);
    assert_eq!(placed(&first), (0, 7), "{first}");
    let inodes = pdf_inodes(&out);
    assert_eq!(inodes.len(), 7);

    let second = run_at(samples.path(), &out, &[]);
    assert_eq!(placed(&second), (7, 0), "{second}");
    assert_eq!(pdf_inodes(&out), inodes, "every PDF is still the same file");

    // Strays, and a unit whose files are gone: all removed by the next run.
    std::fs::write(out.join("reports/说明.txt"), "x").unwrap();
    std::fs::create_dir_all(out.join("reports/999999已撤销单位")).unwrap();
    std::fs::write(out.join("reports/999999已撤销单位/旧项目.pdf"), "%PDF").unwrap();
    std::fs::write(out.join("packs/999999已撤销单位.pdf"), "%PDF").unwrap();
    std::fs::remove_dir_all(samples.path().join("644201天津科学技术馆")).unwrap();
    std::fs::remove_dir_all(samples.path().join("variants")).unwrap();
    let third = run_at(samples.path(), &out, &[]);
    let (kept, put) = placed(&third);
    assert!(kept >= 2, "the 569301 reports stay: {third}");
    assert!(!out.join("reports/说明.txt").exists());
    assert!(!out.join("reports/999999已撤销单位").exists());
    assert!(!out.join("packs/999999已撤销单位.pdf").exists());
    let fresh = dir.path().join("fresh");
    let again = run_at(samples.path(), &fresh, &[]);
    assert_eq!(placed(&again), (0, kept + put), "{again}");
    assert!(
        outputs(&out) == outputs(&fresh),
        "published in place = a fresh run"
    );
    let now = pdf_inodes(&out);
    assert_eq!(now.len(), kept + put);
    let same = now.iter().filter(|p| inodes.contains(p)).count();
    assert_eq!(same, kept, "the kept PDFs are last night's files");
}
