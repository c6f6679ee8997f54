//! End to end: a run killed at any moment (SIGKILL) leaves the previous outputs complete and
//! readable, and the next run works (stale lock and staging folder recovered).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use calamine::{open_workbook, Reader, Xlsx};
use common::*;

/// Every published output is whole: JSON parses, the workbook opens, every PDF is complete.
fn assert_complete(out: &Path) -> String {
    let summary = std::fs::read_to_string(out.join("summary.json")).expect("summary.json");
    serde_json::from_str::<serde_json::Value>(&summary).expect("summary.json parses");
    let mut wb: Xlsx<_> = open_workbook(out.join("consolidated.xlsx")).expect("workbook opens");
    assert!(wb.worksheet_range("单位汇总").is_ok());
    let csv = std::fs::read_to_string(out.join("issues.csv")).unwrap();
    assert!(csv.starts_with('\u{feff}'));
    let mut pdfs = 0;
    for e in walkdir::WalkDir::new(out)
        .into_iter()
        .filter_map(Result::ok)
    {
        let p = e.path();
        let hidden = p
            .strip_prefix(out)
            .unwrap()
            .components()
            .any(|c| c.as_os_str().to_string_lossy().starts_with('.'));
        if !hidden && p.extension().is_some_and(|x| x == "pdf") {
            let b = std::fs::read(p).unwrap();
            assert!(
                b.starts_with(b"%PDF") && b.trim_ascii_end().ends_with(b"%%EOF"),
                "{} is whole",
                p.display()
            );
            pdfs += 1;
        }
    }
    assert_eq!(pdfs, 7);
    summary
}

/// 运行信息 / 生成时间 of the published workbook.
fn generated_at(out: &Path) -> String {
    let mut wb: Xlsx<_> = open_workbook(out.join("consolidated.xlsx")).unwrap();
    let r = wb.worksheet_range("运行信息").unwrap();
    r.rows()
        .find(|row| row[0] == "生成时间")
        .map(|row| row[1].to_string())
        .unwrap_or_default()
}

fn job(input: &Path, out: &Path, ts: &str) -> Command {
    let mut c = run_cmd(input, out, &["--timestamp", ts]);
    c.stdout(Stdio::null()).stderr(Stdio::null());
    c
}

#[test]
fn killed_runs_never_corrupt_the_last_outputs() {
    let samples = samples();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    assert_eq!(
        job(samples.path(), &out, "1700000000")
            .status()
            .unwrap()
            .code(),
        Some(2)
    );
    let first = assert_complete(&out);
    // Kill later and later into the run: before, during and around the publishing step.
    for (i, delay) in [0u64, 10, 40, 80, 150, 250, 400, 600].iter().enumerate() {
        let mut child = job(samples.path(), &out, &(1_800_000_000 + i).to_string())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(*delay));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        assert_complete(&out);
        // The workbook is the last complete run's, or the killed run's if it had finished.
        let stamp = generated_at(&out);
        let killed = jixiao::output::workbook::beijing_time(1_800_000_000 + i as i64);
        // Every iteration ends with a complete run at 1700000000.
        let last = jixiao::output::workbook::beijing_time(1_700_000_000);
        assert!(stamp.contains(&last) || stamp.contains(&killed), "{stamp}");
        // The next run recovers the lock and the staging folder and succeeds.
        assert_eq!(
            job(samples.path(), &out, "1700000000")
                .status()
                .unwrap()
                .code(),
            Some(2),
            "after kill at {delay} ms"
        );
        assert_eq!(assert_complete(&out), first);
        let leftovers: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with('.') && n != ".cache")
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        // Half-written cache entries of the killed run are pruned by the next one.
        let temps = walkdir::WalkDir::new(out.join(".cache"))
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .count();
        assert_eq!(temps, 0);
    }
}

#[test]
fn a_live_run_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // Our own test process is alive: its PID in the lock file blocks the run.
    std::fs::write(out.join(".lock"), std::process::id().to_string()).unwrap();
    let samples = samples();
    let o = job(samples.path(), &out, "1")
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("正在写入"));
    assert!(!out.join("summary.json").exists());
}
