//! Stage benchmark: the calamine floor and jixiao's ingest measured side by side in one
//! process on the same files, then each later stage. Prints figures; asserts nothing.
//!
//!     cargo run --release --bin bench -- DIR [--pdf] [--jobs N] [--rounds N] [--ingest-only]

use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;

use jixiao::aggregate::aggregate;
use jixiao::check::check_form;
use jixiao::form::recognise;
use jixiao::read::{read_file, Limits};
use jixiao::rules::Rules;
use jixiao::score::score_form;

#[path = "floor.rs"]
#[allow(dead_code)]
mod floor;

/// CPU time (user + system) this process has used, in seconds, to the microsecond
/// (`getrusage`; `/proc/self/stat` counts in hundredths, too coarse for a 0.5 s stage).
fn cpu_secs() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass and reads nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// The resident set now, in MB: what each stage leaves held.
fn rss_mb() -> u64 {
    jixiao::run::memory_mb("VmRSS").unwrap_or(0)
}

fn main() {
    // As in `jixiao` itself: the floor and the ingest run under the same memory settings.
    jixiao::run::disable_huge_pages();
    let args: Vec<String> = std::env::args().collect();
    let Some(dir) = args.get(1) else {
        eprintln!("usage: bench DIR [--pdf] [--jobs N] [--rounds N] [--ingest-only]");
        std::process::exit(1);
    };
    let jobs = args
        .iter()
        .position(|a| a == "--jobs")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok());
    if let Some(n) = jobs {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
    let rules = Rules::national();
    // Non-empty cells the floor read (the same every round).
    let mut cells = 0;
    let limits = Limits::default();
    let row = |stage: &str, secs: f64, n: usize, what: &str| {
        println!(
            "{stage:<22} {secs:>8.2} s  {:>10.0} {what}/s  (RSS now {} MB)",
            n as f64 / secs.max(1e-9),
            rss_mb()
        );
    };

    let t = Instant::now();
    let files = jixiao::synth::files_under(Path::new(dir));
    row("scan", t.elapsed().as_secs_f64(), files.len(), "files");

    // Floor and ingest, back to back on the same (warm) files, in `--rounds` rounds (3 by
    // default) alternating which goes first: this host's speed drifts by up to 20 % over
    // seconds, so one pair can be far off; the median of the rounds' ratios is the figure.
    // `--ingest-only` (for a profiler) runs the ingest alone, once.
    let ingest_only = args.iter().any(|a| a == "--ingest-only");
    let rounds: usize = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(3)
        .max(1);
    let _ = floor::read_all(&files); // warm the page cache
    let measure_floor = || {
        let t = Instant::now();
        let cpu = cpu_secs();
        let cells = floor::read_all(&files);
        (cells, t.elapsed().as_secs_f64(), cpu_secs() - cpu)
    };
    let measure_ingest = || {
        let t = Instant::now();
        let cpu = cpu_secs();
        let results =
            jixiao::run::process_all(&files, &rules, &limits, jobs, None).unwrap_or_default();
        (results, t.elapsed().as_secs_f64(), cpu_secs() - cpu)
    };
    let mut ratios: Vec<(f64, f64)> = Vec::new();
    let mut floors: Vec<(f64, f64)> = Vec::new();
    let mut results = Vec::new();
    let (mut ingest_secs, mut ingest_cpu) = (0.0, 0.0);
    for round in 0..if ingest_only { 1 } else { rounds } {
        // The previous round's results freed first: each ingest starts from the same memory.
        drop(std::mem::take(&mut results));
        let floor_first = round % 2 == 0;
        let mut f = None;
        if floor_first && !ingest_only {
            f = Some(measure_floor());
        }
        (results, ingest_secs, ingest_cpu) = measure_ingest();
        if !floor_first {
            f = Some(measure_floor());
        }
        if let Some((n, floor_secs, floor_cpu)) = f {
            cells = n;
            let ratio = (
                ingest_secs / floor_secs.max(1e-9),
                ingest_cpu / floor_cpu.max(1e-9),
            );
            println!(
                "round {}: floor {floor_secs:.2} s ({floor_cpu:.2} CPU-s), ingest {ingest_secs:.2} s ({ingest_cpu:.2} CPU-s): {:.2} (CPU time {:.2})",
                round + 1,
                ratio.0,
                ratio.1
            );
            ratios.push(ratio);
            floors.push((floor_secs, floor_cpu));
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    // The floor's median round: the ratios of reading alone and of the aggregate are against it.
    let floor_med = median(floors.iter().map(|f| f.0).collect());
    let floor_cpu_med = median(floors.iter().map(|f| f.1).collect());
    if !floors.is_empty() {
        row("floor (calamine only)", floor_med, files.len(), "files");
        row("  per CPU second", floor_cpu_med, files.len(), "files");
    }
    let forms: usize = results.iter().map(|r| r.forms.len()).sum();
    let indicators: usize = results
        .iter()
        .flat_map(|r| &r.forms)
        .map(|p| p.form.indicators.len())
        .sum();
    row("ingest (read→check)", ingest_secs, files.len(), "files");
    row("  = indicators", ingest_secs, indicators, "indicators");
    row("  per CPU second", ingest_cpu, files.len(), "files");
    if ingest_only {
        return;
    }
    let ratio = median(ratios.iter().map(|r| r.0).collect());
    let ratio_cpu = median(ratios.iter().map(|r| r.1).collect());

    // The stages of ingest on their own. First reading alone, each workbook dropped once
    // read (as the ingest does): the part of the ingest's ratio that no faster recognising,
    // scoring or aggregating can take away.
    let t = Instant::now();
    let cpu = cpu_secs();
    let read_ok = files
        .par_iter()
        .filter(|f| read_file(f, &limits).is_ok())
        .count();
    let read_secs = t.elapsed().as_secs_f64();
    let read_cpu = cpu_secs() - cpu;
    row("  read alone", read_secs, read_ok, "files");

    let t = Instant::now();
    let books: Vec<_> = files.par_iter().map(|f| read_file(f, &limits)).collect();
    row(
        "  read (guard+calamine)",
        t.elapsed().as_secs_f64(),
        files.len(),
        "files",
    );
    let t = Instant::now();
    let recognised: Vec<_> = books
        .par_iter()
        .zip(&files)
        .map(|(b, f)| match b {
            Ok(wb) => wb
                .sheets
                .iter()
                .flat_map(|s| recognise(s, f))
                .collect::<Vec<_>>(),
            Err(_) => Vec::new(),
        })
        .collect();
    row("  recognise", t.elapsed().as_secs_f64(), forms, "forms");
    let t = Instant::now();
    let issues: usize = recognised
        .par_iter()
        .flatten()
        .map(|r| {
            let s = score_form(&rules, &r.form);
            check_form(&r.form, s.as_ref()).len()
        })
        .sum();
    row("  score + check", t.elapsed().as_secs_f64(), forms, "forms");
    drop(recognised);
    drop(books);

    let t = Instant::now();
    let cpu = cpu_secs();
    let agg = aggregate(&results, &[], 0, None, &|_| None);
    let aggregate_secs = t.elapsed().as_secs_f64();
    let aggregate_cpu = cpu_secs() - cpu;
    row("aggregate", aggregate_secs, forms, "forms");

    let out = tempfile::tempdir().expect("tempdir");
    let info = jixiao::output::workbook::RunInfo::default();
    let t = Instant::now();
    jixiao::output::workbook::write_workbook(&out.path().join("consolidated.xlsx"), &agg, &info)
        .expect("workbook");
    row("workbook", t.elapsed().as_secs_f64(), indicators, "rows");

    if args.iter().any(|a| a == "--pdf") {
        let fonts =
            jixiao::output::pdf::layout::Fonts::parse(jixiao::output::pdf::DEFAULT_FONT, None)
                .expect("font");
        let wording = jixiao::output::pdf::report::Wording::default_wording();
        let options = |packs| jixiao::output::pdf::RenderOptions {
            out: out.path(),
            fonts: &fonts,
            wording: &wording,
            timestamp: 0,
            cache: None,
            published: None,
            packs,
            progress: None,
        };
        let t = Instant::now();
        let cpu = cpu_secs();
        let reports = jixiao::output::pdf::render_all(&agg, &options(false)).expect("pdf");
        let secs = t.elapsed().as_secs_f64();
        let cpu = cpu_secs() - cpu;
        let pages: usize = reports.reports.iter().map(|r| r.pages).sum();
        row("pdf reports only", secs, reports.reports.len(), "reports");
        row("  = pages", secs, pages, "pages");
        // CPU seconds against wall seconds: whether both cores were kept busy.
        row("  per CPU second", cpu, reports.reports.len(), "reports");
        let t = Instant::now();
        let pdfs = jixiao::output::pdf::render_all(&agg, &options(true)).expect("pdf");
        row(
            "pdf reports + packs",
            t.elapsed().as_secs_f64(),
            pdfs.reports.len() + pdfs.packs.len(),
            "PDFs",
        );
    }
    println!(
        "read alone / floor = {:.2} (CPU time {:.2})",
        read_secs / floor_med.max(1e-9),
        read_cpu / floor_cpu_med.max(1e-9)
    );
    println!(
        "files {} | forms {} | indicators {} | cells {} | issues {} | ingest / floor = {:.2} (CPU time {:.2}; the median of {} rounds); with the aggregate {:.2} (CPU time {:.2}){}",
        files.len(),
        forms,
        indicators,
        cells,
        issues,
        ratio,
        ratio_cpu,
        ratios.len(),
        ratio + aggregate_secs / floor_med.max(1e-9),
        ratio_cpu + aggregate_cpu / floor_cpu_med.max(1e-9),
        jixiao::run::peak_note()
    );
}
