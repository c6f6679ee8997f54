//! The nightly job, `jixiao run`: scan → process files in parallel → aggregate → write
//! consolidated.xlsx, summary.json, issues.csv and the PDFs. Everything is written into a
//! staging folder inside OUT and moved into place only when all of it is done, under a lock:
//! a run that dies leaves last night's outputs as they were (while it publishes, reports and
//! packs kept from last night are updated file by file: each file is whole, old or new).

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use crate::aggregate::{aggregate, load_unit_directory};
use crate::output::workbook::{start_workbook, RunInfo};
use crate::process::FileResult;
use crate::read::Limits;
use crate::rules::Rules;
use crate::scan::scan_except;
use rust_xlsxwriter::XlsxError;

/// The options of `jixiao run` (the command line parses straight into this).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunOptions {
    #[arg(required = true, help = "报送文件夹（可多个）")]
    pub inputs: Vec<PathBuf>,
    #[arg(long, help = "输出目录")]
    pub out: PathBuf,
    /// Threads; None for all cores.
    #[arg(long, help = "并行线程数（默认全部核心）")]
    pub jobs: Option<usize>,
    #[arg(long, help = "评分规则文件（默认使用内置的国家规则）")]
    pub rules: Option<PathBuf>,
    #[arg(long, help = "单位名录 CSV：code,name,department（主管部门小计）")]
    pub units: Option<PathBuf>,
    /// Seconds since the epoch written into the outputs; else SOURCE_DATE_EPOCH, else now.
    #[arg(
        long,
        help = "写入输出的时间（Unix 秒）；默认取 SOURCE_DATE_EPOCH，否则为运行开始时间"
    )]
    pub timestamp: Option<i64>,
    #[arg(long, help = "不生成 PDF 报告和单位评价材料")]
    pub no_pdf: bool,
    #[arg(long, help = "PDF 使用的字体文件（默认使用自带的文泉驿微米黑）")]
    pub font: Option<PathBuf>,
    #[arg(long, help = "主字体缺字时使用的后备字体")]
    pub fallback_font: Option<PathBuf>,
    #[arg(long, help = "报告措辞模板（默认 templates/report.toml）")]
    pub report: Option<PathBuf>,
    #[arg(
        long,
        help = "缓存目录（默认 OUT/.cache）：未变化的文件不再解析，未变化的报告不再生成"
    )]
    pub cache: Option<PathBuf>,
    #[arg(long, help = "忽略缓存，全部重新解析和生成")]
    pub full: bool,
    #[arg(long, help = "另按单位打包报告和评价材料：OUT/distribute/<单位>.zip")]
    pub zip: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    pub files: usize,
    pub rejected: usize,
    /// One line for the log: what was done and where it went.
    pub summary: String,
}

/// A memory figure of this process in MB from Linux `/proc/self/status` (`VmHWM`: the peak
/// resident set; `VmRSS`: the resident set now). None where the system does not tell.
pub fn memory_mb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// Transparent huge pages off for this process (the binaries call this first). mimalloc asks
/// for huge pages on its arenas; on this kind of VM each first touch of a 2 MB page is zeroed
/// whole and mimalloc's purges split and refault them: a rerun spent a quarter of its CPU in
/// the kernel's `clear_page` (perf), and 15–25 % less CPU with 4 KB pages
/// (`MIMALLOC_ALLOW_THP=0` measured the same), resident memory a little lower too.
pub fn disable_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// This process's peak resident memory in MB, for the log line.
pub fn peak_rss_mb() -> Option<u64> {
    memory_mb("VmHWM")
}

/// "；峰值内存 N MB" where the system tells it.
pub fn peak_note() -> String {
    peak_rss_mb()
        .map(|m| format!("；峰值内存 {m} MB"))
        .unwrap_or_default()
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

/// A thread pool of `jobs` threads (all cores when None): every parallel stage runs in it.
pub fn pool(jobs: Option<usize>) -> Result<rayon::ThreadPool, String> {
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = jobs {
        builder = builder.num_threads(n.max(1));
    }
    builder.build().map_err(|e| e.to_string())
}

/// A progress bar of `len` `what` (done / total, rate, time left) when stderr is a terminal;
/// hidden under cron and in CI, where only the final summary line is printed.
fn progress_bar(len: usize, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{bar:40}} {{pos}}/{{len}} {what}  {{per_sec}}  剩余 {{eta}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Process files on a pool of `jobs` threads; results keep the order of `files`.
pub fn process_all(
    files: &[PathBuf],
    rules: &Rules,
    limits: &Limits,
    jobs: Option<usize>,
    cache: Option<&crate::cache::Cache>,
) -> Result<Vec<FileResult>, String> {
    let pool = pool(jobs)?;
    let bar = progress_bar(files.len(), "个文件");
    let results = pool.install(|| {
        files
            .par_iter()
            .map(|p| {
                let r = crate::process::process_file_cached(p, rules, limits, cache);
                bar.inc(1);
                r
            })
            .collect()
    });
    bar.finish_and_clear();
    Ok(results)
}

/// `OUT/.lock`: one run writes an OUT at a time. The file holds the writer's PID; a lock
/// whose process is gone (killed, machine restarted) is taken over with a warning.
pub struct Lock {
    path: PathBuf,
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn process_alive(pid: u32) -> bool {
    Path::new("/proc").is_dir() && Path::new(&format!("/proc/{pid}")).exists()
}

pub fn lock(out: &Path) -> Result<(Lock, Option<String>), String> {
    let path = out.join(".lock");
    let mut warning = None;
    for _ in 0..2 {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                let _ = write!(f, "{}", std::process::id());
                return Ok((Lock { path }, warning));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let holder = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok());
                match holder {
                    Some(pid) if pid != std::process::id() && process_alive(pid) => {
                        return Err(format!(
                            "另一个 jixiao 进程（PID {pid}）正在写入 {}，本次未运行",
                            out.display()
                        ));
                    }
                    _ => {
                        warning = Some(format!(
                            "发现上次运行遗留的锁文件（{}），该进程已不存在，已接管",
                            holder
                                .map(|p| format!("PID {p}"))
                                .unwrap_or_else(|| "内容无法识别".into())
                        ));
                        let _ = std::fs::remove_file(&path);
                    }
                }
            }
            Err(e) => return Err(format!("无法创建锁文件 {}: {e}", path.display())),
        }
    }
    Err(format!("无法获得 {} 的写入锁", out.display()))
}

/// What a run publishes into OUT.
const OUTPUTS: &[&str] = &[
    "consolidated.xlsx",
    "summary.json",
    "issues.csv",
    "manifest.csv",
    "reports",
    "packs",
    "distribute",
];

/// Move the staged outputs into OUT. Each file lands by one rename, so every output a reader
/// opens is complete; folders are swapped (old one aside, new one in, old one removed).
/// With `produced` (every PDF of the run, given when some were left in place as last night's
/// files: `PdfOutcome::kept`), reports/ and packs/ are merged instead: the staged PDFs renamed in
/// one by one, those no longer produced removed. A night where 1 % changed then moves 1 % of
/// the files rather than re-linking 30,000 and unlinking as many.
fn publish(stage: &Path, out: &Path, produced: Option<&HashSet<PathBuf>>) -> Result<(), String> {
    let trash = out.join(format!(".trash-{}", std::process::id()));
    for name in OUTPUTS {
        let new = stage.join(name);
        let dest = out.join(name);
        if let Some(produced) = produced.filter(|_| matches!(*name, "reports" | "packs")) {
            if dest.is_dir() {
                merge_into(&new, &dest, stage, out, produced)?;
                continue;
            }
        }
        if !new.exists() {
            continue;
        }
        if new.is_dir() && dest.exists() {
            std::fs::create_dir_all(&trash).map_err(|e| e.to_string())?;
            std::fs::rename(&dest, trash.join(name))
                .map_err(|e| format!("无法替换 {}: {e}", dest.display()))?;
        }
        std::fs::rename(&new, &dest).map_err(|e| format!("无法写入 {}: {e}", dest.display()))?;
    }
    remove_tree(&trash);
    remove_tree(stage);
    Ok(())
}

/// Rename every file under `new` (a staged reports/ or packs/) to the same place under `dest`,
/// then remove what `dest` holds that the run did not produce (`produced`, paths relative to
/// OUT)
/// and the folders left empty.
fn merge_into(
    new: &Path,
    dest: &Path,
    stage: &Path,
    out: &Path,
    produced: &HashSet<PathBuf>,
) -> Result<(), String> {
    let failed = |p: &Path, e: std::io::Error| format!("无法写入 {}: {e}", p.display());
    for e in walkdir::WalkDir::new(new)
        .into_iter()
        .filter_map(Result::ok)
    {
        if !e.file_type().is_file() {
            continue;
        }
        let Ok(rel) = e.path().strip_prefix(stage) else {
            continue;
        };
        let target = out.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| failed(parent, e))?;
        }
        if std::fs::rename(e.path(), &target).is_err() {
            // Something else under that name (a folder someone made): ours wins.
            let _ = std::fs::remove_dir_all(&target);
            std::fs::rename(e.path(), &target).map_err(|e| failed(&target, e))?;
        }
    }
    // Children before their folder, so that a folder emptied here is removed too.
    for e in walkdir::WalkDir::new(dest)
        .min_depth(1)
        .contents_first(true)
        .into_iter()
        .filter_map(Result::ok)
    {
        let wanted = e
            .path()
            .strip_prefix(out)
            .is_ok_and(|rel| produced.contains(rel));
        if e.file_type().is_dir() {
            let _ = std::fs::remove_dir(e.path()); // only succeeds when empty
        } else if !wanted {
            let _ = std::fs::remove_file(e.path());
        }
    }
    Ok(())
}

/// `remove_dir_all`, its subfolders two levels down in parallel: last night's reports are
/// 30,000 files in 5,000 unit folders, and unlinking them one by one took a second.
fn remove_tree(dir: &Path) {
    let subdirs = |d: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(d)
            .map(|es| {
                es.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    };
    let units: Vec<PathBuf> = subdirs(dir).iter().flat_map(|d| subdirs(d)).collect();
    units.par_iter().for_each(|u| {
        let _ = std::fs::remove_dir_all(u);
    });
    let _ = std::fs::remove_dir_all(dir);
}

/// Staging and trash folders left by runs that were killed (we hold the lock: none is live).
fn clear_leftovers(out: &Path) {
    if let Ok(entries) = std::fs::read_dir(out) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with(".staging-") || name.starts_with(".trash-") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// With `JIXIAO_LOG=debug`, one line per finished stage: elapsed time and resident memory.
fn stage_done(name: &str, started: Instant) {
    if crate::scan::debug_enabled() {
        let rss = memory_mb("VmRSS")
            .map(|mb| format!("，内存 {mb} MB"))
            .unwrap_or_default();
        eprintln!(
            "jixiao: {name}完成，累计 {:.1} 秒{rss}",
            started.elapsed().as_secs_f64()
        );
    }
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
    let (_lock, lock_warning) = lock(&opts.out)?;
    if let Some(w) = &lock_warning {
        eprintln!("jixiao: {w}");
    }
    clear_leftovers(&opts.out);
    // Everything is written here first and moved into OUT only when all of it is done.
    let stage = opts.out.join(format!(".staging-{}", std::process::id()));
    std::fs::create_dir_all(&stage).map_err(|e| format!("无法创建 {}: {e}", stage.display()))?;

    let scanned = scan_except(&opts.inputs, Some(&opts.out));
    stage_done("扫描", started);
    let limits = Limits::default();
    let cache_dir = opts
        .cache
        .clone()
        .unwrap_or_else(|| opts.out.join(".cache"));
    let cache = crate::cache::Cache::open(&cache_dir, &limits, &rules, !opts.full)?;
    stage_done("打开缓存", started);
    let results = process_all(&scanned.files, &rules, &limits, opts.jobs, Some(&cache))?;
    stage_done("读取与识别", started);
    if crate::scan::debug_enabled() {
        eprintln!(
            "jixiao: 输入文件：{} 个按上次的时间戳与大小认定未改（未读取），其余读取并校验",
            cache.stamped.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
    // Whole seconds: files checked out or copied together tie, and the path decides.
    let modified = |p: &Path| -> Option<SystemTime> {
        let t = std::fs::metadata(p).ok()?.modified().ok()?;
        let secs = t.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
        Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs))
    };
    let mut agg = aggregate(
        &results,
        &scanned.issues,
        scanned.skipped.len(),
        directory.as_ref(),
        &modified,
    );
    let ts = timestamp(opts.timestamp);
    stage_done("汇总", started);

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
    let xlsx_error = |e: XlsxError| format!("无法写入 consolidated.xlsx: {e}");

    // The PDFs render while consolidated.xlsx's big sheets are written on another thread;
    // characters the font lacks become issues, so the workbook is finished after the PDFs.
    let fonts = if opts.no_pdf {
        None
    } else {
        let read = |p: &PathBuf| {
            std::fs::read(p).map_err(|e| format!("无法读取字体 {}: {e}", p.display()))
        };
        let main = opts.font.as_ref().map(read).transpose()?;
        let fallback = opts.fallback_font.as_ref().map(read).transpose()?;
        Some(crate::output::pdf::layout::Fonts::parse(
            main.as_deref().unwrap_or(crate::output::pdf::DEFAULT_FONT),
            fallback.as_deref(),
        )?)
    };
    let wording = match (&opts.report, &fonts) {
        (_, None) => None,
        (Some(p), Some(_)) => Some(crate::output::pdf::report::Wording::load(p)?),
        (None, Some(_)) => Some(crate::output::pdf::report::Wording::default_wording()),
    };
    let pool = pool(opts.jobs)?;
    let (draft, pdfs) = std::thread::scope(|scope| {
        let draft = scope.spawn(|| {
            let d = start_workbook(&agg, &info);
            stage_done("项目汇总（草稿）", started);
            d
        });
        let pdfs = fonts
            .as_ref()
            .zip(wording.as_ref())
            .map(|(fonts, wording)| {
                let bar = progress_bar(crate::output::pdf::unit_count(&agg), "个单位的 PDF");
                let tick = || bar.inc(1);
                let options = crate::output::pdf::RenderOptions {
                    out: &stage,
                    fonts,
                    wording,
                    timestamp: ts,
                    cache: Some(&cache),
                    published: Some(&opts.out),
                    packs: true,
                    progress: Some(&tick),
                };
                let done = pool.install(|| crate::output::pdf::render_all(&agg, &options));
                stage_done("PDF 渲染与链接", started);
                bar.finish_and_clear();
                done
            });
        let draft = draft
            .join()
            .unwrap_or_else(|_| Err(XlsxError::ParameterError("内部错误".to_string())));
        (draft, pdfs)
    });
    let draft = draft.map_err(xlsx_error)?;
    let mut pdf_note = String::new();
    let mut produced = None;
    if let Some(pdfs) = pdfs {
        let pdfs = pdfs?;
        let mut manifest: Vec<_> = pdfs.reports.clone();
        manifest.extend(pdfs.packs.iter().cloned());
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(stage.join("manifest.csv")).map_err(|e| e.to_string())?,
        );
        crate::output::pdf::write_manifest(&mut f, &manifest)
            .and_then(|_| f.flush())
            .map_err(|e| format!("无法写入 manifest.csv: {e}"))?;
        if opts.zip {
            crate::output::pdf::write_distribution(&stage, Some(&opts.out), &pdfs)?;
        }
        pdf_note = format!(
            "，PDF 报告 {} 份、评价材料 {} 份",
            pdfs.reports.len(),
            pdfs.packs.len()
        );
        if crate::scan::debug_enabled() {
            let all = pdfs.reports.len() + pdfs.packs.len();
            eprintln!(
                "jixiao: PDF：{} 份原地保留（已是缓存中的文件），{} 份放入",
                pdfs.kept,
                all - pdfs.kept
            );
        }
        if pdfs.kept > 0 {
            let all = pdfs.reports.iter().chain(&pdfs.packs);
            produced = Some(all.map(|r| r.path.clone()).collect::<HashSet<PathBuf>>());
        }
        for i in &pdfs.issues {
            agg.total.issues[i.issue.severity as usize] += 1;
        }
        agg.issues.extend(pdfs.issues);
        stage_done("PDF 报告", started);
    }
    let (pieces, reuse) = cache.detail_pieces();
    let pieces = crate::output::detail::PiecesCache {
        path: &pieces,
        reuse,
    };
    // consolidated.xlsx on one thread; summary.json, issues.csv and the cache's pruning (every
    // entry the run uses is marked by now) on another.
    let (workbook, others) = std::thread::scope(|scope| {
        let others = scope.spawn(|| -> Result<(), String> {
            let summary = crate::output::json::summary_json(&agg);
            let text = serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?;
            std::fs::write(stage.join("summary.json"), text + "\n")
                .map_err(|e| format!("无法写入 summary.json: {e}"))?;
            stage_done("summary.json", started);
            let mut f = std::io::BufWriter::new(
                std::fs::File::create(stage.join("issues.csv")).map_err(|e| e.to_string())?,
            );
            crate::output::csv::write_issues(&mut f, &agg.issues)
                .and_then(|_| f.flush())
                .map_err(|e| format!("无法写入 issues.csv: {e}"))?;
            drop(f);
            stage_done("issues.csv", started);
            cache.prune();
            stage_done("缓存整理", started);
            Ok(())
        });
        let workbook = pool.install(|| {
            draft
                .finish(&stage.join("consolidated.xlsx"), &agg, &info, Some(pieces))
                .map_err(xlsx_error)
        });
        stage_done("consolidated.xlsx", started);
        let others = others
            .join()
            .unwrap_or_else(|_| Err("内部错误：写 summary.json 的线程失败".to_string()));
        (workbook, others)
    });
    workbook?;
    others?;
    if crate::scan::debug_enabled() {
        eprintln!(
            "jixiao: 指标行：{} 张表的缓存行被解码（其余只读了概要）",
            crate::model::decoded_rows()
        );
    }
    pool.install(|| publish(&stage, &opts.out, produced.as_ref()))?;
    stage_done("发布输出", started);

    let forms = agg.counted().count();
    let indicators = agg.counted_indicators();
    let summary = format!(
        "读取 {} 个文件（拒收 {}，跳过 {}）；{} 个单位，{} 张表，{} 项指标{}；错误 {}，警告 {}，提示 {}；{}；用时 {:.2} 秒{}；输出于 {}",
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
        cache.summary(),
        started.elapsed().as_secs_f64(),
        peak_note(),
        opts.out.display()
    );
    let report = RunReport {
        files: results.len(),
        rejected: agg.files.rejected,
        summary,
    };
    // The results are millions of small allocations: freed on a thread of their own, so the
    // command does not wait for them at exit (its process ends, and the memory with it).
    drop(agg);
    std::thread::spawn(move || drop(results));
    Ok(report)
}
