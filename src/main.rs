//! The `jixiao` command line. Exit status: 0 all inputs read; 2 finished but some inputs were
//! rejected; 1 could not run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

// mimalloc: glibc malloc fragmented under two threads of many small, short-lived cells (RSS far
// above what was live) and was a tenth of the CPU time. Set in the binaries (the `bench` binary
// gets it through its `floor` module, so floor and ingest are measured with the same allocator),
// not in the library: tests and fuzz targets keep the system allocator.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use jixiao::model::{FormKind, Issue, Severity};
use jixiao::process::{process_file, FileResult};
use jixiao::read::Limits;
use jixiao::rules::Rules;
use jixiao::scan::scan;

#[derive(Parser)]
#[command(
    name = "jixiao",
    version,
    about = "预算绩效目标表、绩效自评表批量识别、审核与评分",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// 夜间汇总：识别、审核、评分，输出 consolidated.xlsx、summary.json、issues.csv 和 PDF 报告
    Run(jixiao::run::RunOptions),
    /// 识别并审核，输出问题清单（不生成汇总）
    Check {
        /// 工作簿文件或文件夹
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// 评分规则文件（默认使用内置的国家规则）
        #[arg(long)]
        rules: Option<PathBuf>,
        /// 并行线程数（默认全部核心）
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// 显示一个工作簿中识别到的内容
    Inspect {
        file: PathBuf,
        /// 以 JSON 输出
        #[arg(long)]
        json: bool,
        #[arg(long)]
        rules: Option<PathBuf>,
    },
    /// 生成下发给预算单位的空白表样
    Template {
        #[arg(long, value_enum)]
        kind: Kind,
        #[arg(long)]
        out: PathBuf,
    },
    /// 生成模拟的全省报送文件（基准测试用），同一种子生成相同文件
    Synth {
        /// 单位数（每个单位一份目标表工作簿、一份自评表工作簿）
        #[arg(long)]
        units: usize,
        /// 每个单位的项目数
        #[arg(long, default_value_t = 5)]
        projects: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// 重新生成 samples/ 下的示例报送文件
    Samples {
        #[arg(long, default_value = "samples")]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    /// 项目支出绩效目标表
    Target,
    /// 项目支出绩效自评表
    Selfeval,
}

impl From<Kind> for FormKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Target => FormKind::Target,
            Kind::Selfeval => FormKind::SelfEval,
        }
    }
}

fn main() -> ExitCode {
    jixiao::run::disable_huge_pages();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        // Output piped into `head` and closed: not an error of ours.
        Err(message) if message.contains("Broken pipe") => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("jixiao: {message}");
            ExitCode::from(1)
        }
    }
}

fn load_rules(path: Option<&Path>) -> Result<Rules, String> {
    match path {
        Some(p) => Rules::load(p).map_err(|e| e.to_string()),
        None => Ok(Rules::national()),
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Run(opts) => {
            let report = jixiao::run::run(&opts)?;
            eprintln!("{}", report.summary);
            Ok(if report.rejected > 0 {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Check {
            inputs,
            rules,
            jobs,
        } => {
            let rules = load_rules(rules.as_deref())?;
            check(&inputs, &rules, jobs)
        }
        Command::Inspect { file, json, rules } => {
            let rules = load_rules(rules.as_deref())?;
            if !file.is_file() {
                return Err(format!("{} 不是文件", file.display()));
            }
            let result = process_file(&file, &rules, &Limits::default());
            let mut out = std::io::stdout().lock();
            if json {
                let v = jixiao::output::json::inspect_json(&result);
                let text = serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?;
                writeln!(out, "{text}").map_err(|e| e.to_string())?;
            } else {
                print_inspect(&mut out, &result).map_err(|e| e.to_string())?;
            }
            Ok(exit_for(std::slice::from_ref(&result)))
        }
        Command::Template { kind, out } => {
            let mut wb =
                jixiao::output::form::template_workbook(kind.into()).map_err(|e| e.to_string())?;
            wb.save(&out)
                .map_err(|e| format!("无法写入 {}: {e}", out.display()))?;
            eprintln!("已生成空白表样：{}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Synth {
            units,
            projects,
            seed,
            out,
        } => {
            let r = jixiao::synth::generate(&out, units, projects, seed, &Rules::national())
                .map_err(|e| format!("无法写入 {}: {e}", out.display()))?;
            eprintln!(
                "已生成 {} 个工作簿（{} 张表，{} 项指标）于 {}",
                r.workbooks,
                r.forms,
                r.indicators,
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Samples { out } => {
            let files = jixiao::samples::generate(&out, &Rules::national())
                .map_err(|e| format!("无法写入 {}: {e}", out.display()))?;
            eprintln!("已生成 {} 个示例文件于 {}", files.len(), out.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn exit_for(results: &[FileResult]) -> ExitCode {
    if results.iter().any(|r| r.rejected) {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

fn check(inputs: &[PathBuf], rules: &Rules, jobs: Option<usize>) -> Result<ExitCode, String> {
    let started = std::time::Instant::now();
    let scanned = scan(inputs);
    if scanned.files.is_empty() && !scanned.issues.is_empty() {
        for i in &scanned.issues {
            eprintln!("{i}");
        }
        return Err("没有可读取的输入".to_string());
    }
    // Results come back in the sorted order of the scan, whatever the thread schedule.
    let results = jixiao::run::process_all(&scanned.files, rules, &Limits::default(), jobs, None)?;
    let mut out = std::io::stdout().lock();
    let mut counts = [0usize; 3];
    let all: Vec<&Issue> = scanned
        .issues
        .iter()
        .chain(results.iter().flat_map(|r| r.all_issues()))
        .collect();
    for i in &all {
        counts[i.severity as usize] += 1;
        writeln!(out, "{i}").map_err(|e| e.to_string())?;
    }
    let forms: usize = results.iter().map(|r| r.forms.len()).sum();
    let rejected = results.iter().filter(|r| r.rejected).count();
    eprintln!(
        "读取 {} 个文件（拒收 {}，跳过 {}），识别 {} 张表；错误 {}，警告 {}，提示 {}；用时 {:.2} 秒{}",
        results.len(),
        rejected,
        scanned.skipped.len(),
        forms,
        counts[Severity::Error as usize],
        counts[Severity::Warning as usize],
        counts[Severity::Info as usize],
        started.elapsed().as_secs_f64(),
        jixiao::run::peak_note()
    );
    Ok(exit_for(&results))
}

fn print_inspect(out: &mut impl Write, r: &FileResult) -> std::io::Result<()> {
    writeln!(out, "文件：{}", r.path.display())?;
    if let Some(f) = r.format {
        writeln!(out, "格式：{}", f.label())?;
    }
    for p in &r.forms {
        let f = &p.form;
        writeln!(out)?;
        writeln!(
            out,
            "【{}】工作表「{}」",
            f.kind().title_zh(),
            f.source.sheet
        )?;
        if let Some(u) = &f.unit {
            writeln!(
                out,
                "  单位：{} {}",
                u.value.code.as_deref().unwrap_or("（无编码）"),
                u.value.name
            )?;
        }
        writeln!(out, "  项目：{}", f.project_name())?;
        if let Some(y) = &f.year {
            writeln!(out, "  年度：{}", y.value)?;
        }
        let d = |v: &Option<jixiao::model::Sourced<rust_decimal::Decimal>>| {
            v.as_ref()
                .map(|s| format!("{:.2}", s.value))
                .unwrap_or_else(|| "—".into())
        };
        match &f.execution {
            Some(ex) => writeln!(
                out,
                "  全年预算数 {} 万元，全年执行数 {} 万元",
                d(&ex.total.annual),
                d(&ex.total.executed)
            )?,
            None => writeln!(
                out,
                "  预算数 {} 万元（财政资金 {}，其他资金 {}）",
                d(&f.budget.total),
                d(&f.budget.fiscal),
                d(&f.budget.other)
            )?,
        }
        writeln!(out, "  指标 {} 项：", f.indicators.len())?;
        for i in &f.indicators {
            write!(
                out,
                "    {} / {} / {}：{}",
                i.level1.value, i.level2.value, i.level3.value, i.target.value
            )?;
            if let Some(a) = &i.actual {
                write!(out, " → {}", a.value)?;
            }
            if let Some(s) = i.score {
                write!(out, "（得分 {:.2}）", s)?;
            }
            writeln!(out)?;
        }
        if let Some(s) = &p.score {
            writeln!(out, "  总分 {:.2}，等级 {}", s.total, s.grade.label())?;
        }
    }
    let issues: Vec<&Issue> = r.all_issues().collect();
    if !issues.is_empty() {
        writeln!(out)?;
        writeln!(out, "问题 {} 条：", issues.len())?;
        for i in issues {
            writeln!(out, "  {i}")?;
        }
    }
    Ok(())
}
