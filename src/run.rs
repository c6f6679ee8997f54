//! The nightly job, `jixiao run`: scan → process files in parallel → aggregate → write
//! consolidated.xlsx, summary.json and issues.csv. Outputs are written beside their final name
//! and renamed into place, so a run that dies never leaves a half-written file.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use crate::aggregate::{aggregate, load_unit_directory};
use crate::output::workbook::{write_workbook, RunInfo};
use crate::process::{process_file, FileResult};
use crate::read::Limits;
use crate::rules::Rules;
use crate::scan::scan;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub inputs: Vec<PathBuf>,
    pub out: PathBuf,
    /// Threads; None for all cores.
    pub jobs: Option<usize>,
    pub rules: Option<PathBuf>,
    pub units: Option<PathBuf>,
    /// Seconds since the epoch written into the outputs; else SOURCE_DATE_EPOCH, else now.
    pub timestamp: Option<i64>,
    /// Skip the PDF reports and packs.
    pub no_pdf: bool,
    /// A font file replacing the bundled one; and a fallback for characters it lacks.
    pub font: Option<PathBuf>,
    pub fallback_font: Option<PathBuf>,
    /// Report wording (templates/report.toml by default).
    pub report: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    pub files: usize,
    pub rejected: usize,
    /// One line for the log: what was done and where it went.
    pub summary: String,
}

pub fn timestamp(explicit: Option<i64>) -> i64 {
    explicit
        .or_else(|| {
            std::env::var("SOURCE_DATE_EPOCH")
                .ok()
                .and_then(|s| s.trim().parse().ok())
        })
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        })
}

/// Process files on a pool of `jobs` threads; results keep the order of `files`.
pub fn process_all(
    files: &[PathBuf],
    rules: &Rules,
    limits: &Limits,
    jobs: Option<usize>,
) -> Result<Vec<FileResult>, String> {
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = jobs {
        builder = builder.num_threads(n.max(1));
    }
    let pool = builder.build().map_err(|e| e.to_string())?;
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(files.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} 个文件  {per_sec}  剩余 {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let results = pool.install(|| {
        files
            .par_iter()
            .map(|p| {
                let r = process_file(p, rules, limits);
                bar.inc(1);
                r
            })
            .collect()
    });
    bar.finish_and_clear();
    Ok(results)
}

/// Write `bytes` to `path` through a temporary file in the same folder and a rename.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    write(&tmp).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    std::fs::rename(&tmp, path).map_err(|e| format!("无法写入 {}: {e}", path.display()))
}

pub fn run(opts: &RunOptions) -> Result<RunReport, String> {
    let started = Instant::now();
    let rules = match &opts.rules {
        Some(p) => Rules::load(p).map_err(|e| e.to_string())?,
        None => Rules::national(),
    };
    let directory = opts.units.as_deref().map(load_unit_directory).transpose()?;
    let missing: Vec<_> = opts.inputs.iter().filter(|p| !p.exists()).collect();
    if !missing.is_empty() && missing.len() == opts.inputs.len() {
        return Err(format!(
            "输入目录不存在：{}",
            missing
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join("，")
        ));
    }
    std::fs::create_dir_all(&opts.out)
        .map_err(|e| format!("无法创建输出目录 {}: {e}", opts.out.display()))?;

    let scanned = scan(&opts.inputs);
    let results = process_all(&scanned.files, &rules, &Limits::default(), opts.jobs)?;
    // Whole seconds: files checked out or copied together tie, and the path decides.
    let modified: HashMap<PathBuf, SystemTime> = scanned
        .files
        .iter()
        .filter_map(|p| {
            let t = std::fs::metadata(p).ok()?.modified().ok()?;
            let secs = t.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
            Some((
                p.clone(),
                SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs),
            ))
        })
        .collect();
    let mut agg = aggregate(
        &results,
        &scanned.issues,
        scanned.skipped.len(),
        directory.as_ref(),
        &modified,
    );
    let ts = timestamp(opts.timestamp);

    // PDFs first: characters the font lacks become issues in the workbook and CSV.
    let mut pdf_note = String::new();
    if !opts.no_pdf {
        let read = |p: &PathBuf| {
            std::fs::read(p).map_err(|e| format!("无法读取字体 {}: {e}", p.display()))
        };
        let main = opts.font.as_ref().map(read).transpose()?;
        let fallback = opts.fallback_font.as_ref().map(read).transpose()?;
        let fonts = crate::output::pdf::layout::Fonts::parse(
            main.as_deref().unwrap_or(crate::output::pdf::DEFAULT_FONT),
            fallback.as_deref(),
        )?;
        let wording = match &opts.report {
            Some(p) => crate::output::pdf::report::Wording::load(p)?,
            None => crate::output::pdf::report::Wording::default_wording(),
        };
        let pdfs = crate::output::pdf::render_all(&agg, &opts.out, &fonts, &wording, ts)?;
        pdf_note = format!(
            "，PDF 报告 {} 份、评价材料 {} 份",
            pdfs.reports.len(),
            pdfs.packs.len()
        );
        for i in &pdfs.issues {
            agg.total.issues[i.issue.severity as usize] += 1;
        }
        agg.issues.extend(pdfs.issues);
    }

    let info = RunInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        timestamp: ts,
        rules: opts
            .rules
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "内置国家规则（templates/rules.toml）".to_string()),
        inputs: opts
            .inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
    };
    let workbook = opts.out.join("consolidated.xlsx");
    write_atomically(&workbook, |tmp| {
        write_workbook(tmp, &agg, &info).map_err(|e| e.to_string())
    })?;
    let summary = crate::output::json::summary_json(&agg);
    write_atomically(&opts.out.join("summary.json"), |tmp| {
        let text = serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?;
        std::fs::write(tmp, text + "\n").map_err(|e| e.to_string())
    })?;
    write_atomically(&opts.out.join("issues.csv"), |tmp| {
        let mut f = std::io::BufWriter::new(std::fs::File::create(tmp).map_err(|e| e.to_string())?);
        crate::output::csv::write_issues(&mut f, &agg.issues).map_err(|e| e.to_string())?;
        f.flush().map_err(|e| e.to_string())
    })?;

    let forms = agg.projects.iter().filter(|p| p.counted()).count();
    let indicators: usize = agg
        .projects
        .iter()
        .filter(|p| p.counted())
        .map(|p| p.indicators)
        .sum();
    let summary = format!(
        "读取 {} 个文件（拒收 {}，跳过 {}）；{} 个单位，{} 张表，{} 项指标{}；错误 {}，警告 {}，提示 {}；用时 {:.2} 秒；输出于 {}",
        results.len(),
        agg.files.rejected,
        agg.files.skipped,
        agg.units.len(),
        forms,
        indicators,
        pdf_note,
        agg.total.issues[0],
        agg.total.issues[1],
        agg.total.issues[2],
        started.elapsed().as_secs_f64(),
        opts.out.display()
    );
    Ok(RunReport {
        files: results.len(),
        rejected: agg.files.rejected,
        summary,
    })
}
