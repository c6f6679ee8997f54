//! Per-stage micro-benchmarks with criterion (`cargo bench`): one generated workbook of each
//! form on one thread — the calamine floor for that workbook beside our read of it, then
//! recognising + scoring + checking, scoring alone, and the 指标值 grammar. The whole-province
//! figures (ratio to the floor, PDFs/s, peak memory, reruns) come from `scripts/bench`; these
//! are for seeing what one change does to one stage, with criterion's statistics.

use std::hint::black_box;
use std::io::Cursor;
use std::path::PathBuf;

use calamine::open_workbook_auto_from_rs;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use jixiao::model::FormKind;
use jixiao::read::{read_bytes, Limits};
use jixiao::rules::Rules;

// The floor's own code (and its allocator, mimalloc, as in `jixiao` and the `bench` binary).
#[path = "../src/bin/floor.rs"]
#[allow(dead_code)]
mod floor;

/// One unit's workbooks from the synthetic province: (form, path, bytes) of the first `.xlsx`
/// holding a target table and the first holding a self-evaluation.
fn workbooks(rules: &Rules) -> Vec<(FormKind, PathBuf, Vec<u8>)> {
    let dir = tempfile::tempdir().expect("a temporary folder for the bench workbooks");
    jixiao::synth::generate(dir.path(), 4, 5, 1, rules).expect("synthetic workbooks");
    let limits = Limits::default();
    let mut picked: Vec<(FormKind, PathBuf, Vec<u8>)> = Vec::new();
    for path in jixiao::synth::files_under(dir.path()) {
        if path.extension().and_then(|e| e.to_str()) != Some("xlsx") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("a generated workbook");
        let Ok(wb) = read_bytes(bytes.clone(), &limits) else {
            continue; // the province's deliberately broken files
        };
        let result = jixiao::process::process_workbook(&path, &wb, rules);
        let Some(kind) = result.forms.first().map(|f| f.form.kind()) else {
            continue;
        };
        if !picked.iter().any(|(k, _, _)| *k == kind) {
            picked.push((kind, path, bytes));
        }
    }
    assert_eq!(picked.len(), 2, "the province has both forms in .xlsx");
    picked.sort_by_key(|(k, _, _)| *k == FormKind::SelfEval);
    // The folder goes; the bytes are all the benches need (the path only names the unit).
    picked
}

fn floor_cells(bytes: &[u8]) -> usize {
    match open_workbook_auto_from_rs(Cursor::new(bytes)) {
        Ok(mut wb) => floor::count_cells(&mut wb),
        Err(_) => 0,
    }
}

fn stages(c: &mut Criterion) {
    // The memory settings of `jixiao`, `floor` and `bench` (the allocator comes with `floor`).
    jixiao::run::disable_huge_pages();
    let rules = Rules::national();
    let limits = Limits::default();
    for (form, path, bytes) in workbooks(&rules) {
        let wb = read_bytes(bytes.clone(), &limits).expect("read");
        let result = jixiao::process::process_workbook(&path, &wb, &rules);
        let kind = match form {
            FormKind::SelfEval => "self_eval",
            FormKind::Target => "target",
        };
        let indicators: usize = result.forms.iter().map(|f| f.form.indicators.len()).sum();

        let mut g = c.benchmark_group(format!("workbook/{kind}"));
        g.throughput(Throughput::Elements(1));
        g.bench_function("floor (calamine reads every cell)", |b| {
            b.iter(|| floor_cells(black_box(&bytes)))
        });
        g.bench_function("read (guard + calamine + grid)", |b| {
            // `read_bytes` takes the bytes: the copy is made outside the timing.
            b.iter_batched(
                || bytes.clone(),
                |copy| read_bytes(black_box(copy), &limits).is_ok(),
                BatchSize::SmallInput,
            )
        });
        g.throughput(Throughput::Elements(indicators as u64));
        g.bench_function("recognise + score + check", |b| {
            b.iter(|| jixiao::process::process_workbook(&path, black_box(&wb), &rules))
        });
        if form == FormKind::SelfEval {
            // Only self-evaluations are scored (a target table has nothing to score).
            g.bench_function("score", |b| {
                b.iter(|| {
                    result
                        .forms
                        .iter()
                        .filter_map(|f| jixiao::score::score_form(&rules, black_box(&f.form)))
                        .count()
                })
            });
        }
        g.finish();
    }

    // The 指标值 grammar on the shapes the forms carry.
    let values = [
        "≥95%",
        "100%",
        "≤3个工作日",
        "=12次",
        "≥1000万元",
        "2024年12月31日前",
        "明显提升",
        "有所改善",
        "≤5%",
        "达到国家二级标准",
        "不低于90分",
        "1.5万人次",
    ];
    let mut g = c.benchmark_group("indicator");
    g.throughput(Throughput::Elements(values.len() as u64));
    g.bench_function("parse 指标值", |b| {
        b.iter(|| {
            values
                .iter()
                .map(|v| jixiao::indicator::parse(black_box(v)))
                .collect::<Vec<_>>()
        })
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
