//! `jixiao synth`: a deterministic synthetic province for benchmarks and load tests. Each unit
//! gets a folder with its target tables and self-evaluations, written by the same form writer
//! as the template and samples, in the layout variants the reader supports: one form per sheet
//! or stacked, shifted under a note row, 元 or 万元, a small share of .xls and .ods, plus a small
//! share of broken files and duplicate submissions. Same seed, same bytes.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rust_decimal::Decimal;

use crate::indicator::parse_with_name;
use crate::model::{Budget, Execution, Form, FormKind, FundRow, Indicator, Sourced, Unit};
use crate::rules::Rules;
use crate::samples::{cell_sheets, xlsx_bytes};
use crate::score::score_form;

/// splitmix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        Rng(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    /// True with probability `percent` %.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const CITY: &[&str] = &[
    "天津市",
    "和平区",
    "河西区",
    "南开区",
    "滨海新区",
    "武清区",
    "宝坻区",
    "静海区",
];
const ORG: &[&str] = &[
    "科学技术协会",
    "教育局",
    "卫生健康委员会",
    "文化和旅游局",
    "体育局",
    "图书馆",
    "博物馆",
    "疾病预防控制中心",
    "第一中学",
    "人民医院",
    "农业农村委员会",
    "生态环境局",
    "市场监督管理局",
    "档案馆",
    "科技馆",
];
const SUBJECT: &[&str] = &[
    "基层科普",
    "公共文化服务",
    "全民健身",
    "义务教育",
    "基本公共卫生",
    "农村人居环境",
    "智慧城市",
    "档案数字化",
    "食品安全抽检",
    "大气污染防治",
    "青少年科技教育",
    "社区养老服务",
    "图书采购",
    "设备更新",
];
const KIND: &[&str] = &[
    "能力提升项目",
    "运行保障项目",
    "专项经费",
    "设施维护项目",
    "能力建设项目",
    "补助资金",
];
const THING: &[&str] = &[
    "活动场次",
    "服务人次",
    "培训人数",
    "设备台数",
    "维修项目数",
    "宣传报道次数",
    "覆盖街道数",
    "检测批次",
    "图书册数",
    "课题数量",
    "场馆开放天数",
    "志愿者人数",
];
const RATE: &[&str] = &[
    "完成率",
    "合格率",
    "覆盖率",
    "按时完成率",
    "验收通过率",
    "知晓率",
];
const QUAL: &[&str] = &[
    "服务水平提升",
    "群众获得感增强",
    "管理规范化",
    "社会影响扩大",
    "长效机制建立",
];

/// One synthetic project of a unit (its target table; the self-evaluation derives from it).
fn target(rng: &mut Rng, unit: &Unit, year: i32, n: usize) -> Form {
    let project = format!(
        "{}{}{}（{}）",
        year,
        rng.pick(SUBJECT),
        rng.pick(KIND),
        n + 1
    );
    let total = Decimal::new(1_000 + rng.below(5_000_000) as i64, 2);
    let other = if rng.chance(20) {
        (total * Decimal::new(rng.below(30) as i64, 2)).round_dp(2)
    } else {
        Decimal::ZERO
    };
    let mut indicators = Vec::new();
    let count = 8 + rng.below(23) as usize; // 8–30, about 20 on average
    for i in 0..count {
        let (l1, l2) = match i % 10 {
            0..=3 => (
                "产出指标",
                ["数量指标", "质量指标", "时效指标", "成本指标"][i % 4],
            ),
            4..=6 => ("产出指标", ["数量指标", "质量指标", "时效指标"][i % 3]),
            7 | 8 => (
                "效益指标",
                if i % 2 == 0 {
                    "社会效益指标"
                } else {
                    "可持续影响指标"
                },
            ),
            _ => ("满意度指标", "服务对象满意度指标"),
        };
        let (l3, value) = match (l2, rng.below(10)) {
            ("成本指标", _) => (
                "项目成本控制".to_string(),
                format!("≤{}万元", total.normalize()),
            ),
            ("时效指标", 0..=2) => ("完成时限".to_string(), format!("{year}年底前完成")),
            ("时效指标", _) | ("质量指标", _) => (
                rng.pick(RATE).to_string(),
                format!("≥{}%", 80 + rng.below(21)),
            ),
            ("服务对象满意度指标", _) => (
                "服务对象满意度".to_string(),
                format!("≥{}%", 85 + rng.below(11)),
            ),
            ("社会效益指标" | "可持续影响指标", 0..=3) => {
                (rng.pick(QUAL).to_string(), "提升".to_string())
            }
            (_, 0) => ("安全事故次数".to_string(), format!("≤{}次", rng.below(3))),
            _ => (
                rng.pick(THING).to_string(),
                format!(
                    "≥{}{}",
                    5 + rng.below(500),
                    if rng.chance(50) { "个" } else { "人次" }
                ),
            ),
        };
        let l3 = format!("{l3}{}", i + 1);
        indicators.push(Indicator {
            target_parsed: parse_with_name(&value, Some(&l3)),
            level1: Sourced::derived(l1.into()),
            level2: Sourced::derived(l2.into()),
            description: Some(Sourced::derived(format!("{l3}的年度目标"))),
            level3: Sourced::derived(l3),
            target: Sourced::derived(value),
            ..Default::default()
        });
    }
    Form {
        kind: Some(FormKind::Target),
        title: Some(Sourced::derived(format!("{project}绩效目标表"))),
        unit: Some(Sourced::derived(unit.clone())),
        project: Some(Sourced::derived(project)),
        year: Some(Sourced::derived(year)),
        budget: Budget {
            total: Some(Sourced::derived(total)),
            fiscal: Some(Sourced::derived(total - other)),
            other: (other > Decimal::ZERO).then(|| Sourced::derived(other)),
        },
        fund_use: Some(Sourced::derived("用于项目实施及日常运行保障".into())),
        goals: Some(Sourced::derived(
            "1.按期完成年度任务。\n2.提升服务质量和群众满意度。".into(),
        )),
        indicators: indicators.into(),
        ..Default::default()
    }
}

/// The self-evaluation of a target: actuals met, unmet, reverse over target, qualitative
/// partly reached or over-achieved, scored by the rules (a few with deliberate errors).
fn selfeval(rng: &mut Rng, t: &Form, rules: &Rules) -> Form {
    let total = t.budget.total.as_ref().map(|b| b.value).unwrap_or_default();
    let executed = (total * Decimal::new(50 + rng.below(51) as i64, 2)).round_dp(2);
    let mut f = Form {
        kind: Some(FormKind::SelfEval),
        title: Some(Sourced::derived("项目支出绩效自评表".into())),
        year: t.year.clone(),
        unit: t.unit.clone(),
        department: Some(Sourced::derived("天津市财政局".into())),
        project: t.project.clone(),
        money_in_yuan: rng.chance(20),
        goals: t.goals.clone(),
        goals_actual: Some(Sourced::derived("年度目标基本完成。".into())),
        execution: Some(Execution {
            total: FundRow {
                initial: Some(Sourced::derived(total)),
                annual: Some(Sourced::derived(total)),
                executed: Some(Sourced::derived(executed)),
                weight: Some(Sourced::derived(Decimal::TEN)),
                ..Default::default()
            },
            fiscal: FundRow {
                initial: Some(Sourced::derived(total)),
                annual: Some(Sourced::derived(total)),
                executed: Some(Sourced::derived(executed)),
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let counts = |l1: &str| {
        t.indicators
            .iter()
            .filter(|i| i.level1.value == l1)
            .count()
            .max(1) as i64
    };
    for ind in &t.indicators {
        let mut i = ind.clone();
        i.description = None;
        let share = match i.level1.value.as_str() {
            "产出指标" => Decimal::new(5000 / counts("产出指标"), 2),
            "效益指标" => Decimal::new(3000 / counts("效益指标"), 2),
            _ => Decimal::new(1000 / counts("满意度指标"), 2),
        };
        i.weight = Some(Sourced::derived(share));
        let roll = rng.below(100);
        let actual = match &i.target_parsed.value {
            crate::indicator::Value::Quantity(q) => {
                let n = q.number;
                let v = if q.op.is_reverse() {
                    if roll < 8 {
                        n + Decimal::from(1 + rng.below(3))
                    } else {
                        n
                    }
                } else if roll < 12 {
                    (n * Decimal::new(60 + rng.below(35) as i64, 2)).round_dp(0)
                } else if roll < 17 {
                    (n * Decimal::new(140, 2)).round_dp(0)
                } else {
                    n
                };
                let unit = if q.unit_written == "万元" {
                    "万元".to_string()
                } else {
                    q.unit_written.clone()
                };
                format!("{}{unit}", v.normalize())
            }
            crate::indicator::Value::Deadline(_) => format!(
                "{}年11月完成",
                f.year.as_ref().map(|y| y.value).unwrap_or(2023)
            ),
            _ if roll < 10 => "部分达成".to_string(),
            _ => "达成预期指标".to_string(),
        };
        if roll < 17 {
            i.reason = Some(Sourced::derived("受客观因素影响，已制定整改措施。".into()));
        }
        i.actual_parsed = Some(Box::new(parse_with_name(&actual, Some(&i.level3.value))));
        i.actual = Some(Sourced::derived(actual));
        if roll < 10
            && matches!(
                i.target_parsed.value,
                crate::indicator::Value::Qualitative { .. }
            )
        {
            i.score_reported = Some(Sourced::derived((share * Decimal::new(7, 1)).round_dp(2)));
        }
        f.indicators.push(i);
    }
    if let Some(s) = score_form(rules, &f) {
        let wrong = rng.chance(5);
        for (ind, o) in f.indicators.iter_mut().zip(&s.indicators) {
            ind.score_reported = Some(Sourced::derived(o.score));
        }
        if let (Some(ex), Some(b)) = (f.execution.as_mut(), &s.budget) {
            ex.total.rate_reported = b.rate.map(Sourced::derived);
            ex.total.score_reported = Some(Sourced::derived(b.score));
        }
        f.total_weight_reported = Some(Sourced::derived(Decimal::ONE_HUNDRED));
        // A few units add up their total wrongly.
        let total = if wrong {
            s.total + Decimal::ONE
        } else {
            s.total
        };
        f.total_reported = Some(Sourced::derived(total));
    }
    f
}

/// What `synth` wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SynthReport {
    pub workbooks: usize,
    pub forms: usize,
    pub indicators: usize,
}

fn io(e: rust_xlsxwriter::XlsxError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Write `units` units with `projects` projects each under `out`: per unit a target workbook
/// and a self-evaluation workbook.
pub fn generate(
    out: &Path,
    units: usize,
    projects: usize,
    seed: u64,
    rules: &Rules,
) -> std::io::Result<SynthReport> {
    let reports: Vec<std::io::Result<SynthReport>> = (0..units)
        .into_par_iter()
        .map(|u| {
            let mut rng = Rng::new(seed, u as u64 + 1);
            let unit = Unit {
                code: Some(format!("{:06}", 100_000 + u)),
                name: format!("{}{}", rng.pick(CITY), rng.pick(ORG)),
            };
            let dir = out.join(format!(
                "{}{}",
                unit.code.as_deref().unwrap_or(""),
                unit.name
            ));
            std::fs::create_dir_all(&dir)?;
            let targets: Vec<Form> = (0..projects)
                .map(|n| target(&mut rng, &unit, 2023, n))
                .collect();
            let selfevals: Vec<Form> = targets
                .iter()
                .map(|t| selfeval(&mut rng, t, rules))
                .collect();
            let mut report = SynthReport::default();
            for (forms, stem) in [
                (&targets, "项目支出绩效目标表"),
                (&selfevals, "2023年度项目支出绩效自评表"),
            ] {
                let roll = rng.below(100);
                let (name, bytes): (String, Vec<u8>) = if roll < 3 {
                    (
                        format!("{stem}.xls"),
                        crate::output::legacy::xls_bytes(&cell_sheets(forms).map_err(io)?, false)?,
                    )
                } else if roll < 6 {
                    (
                        format!("{stem}.ods"),
                        crate::output::legacy::ods_bytes(&cell_sheets(forms).map_err(io)?)?,
                    )
                } else {
                    let stacked = roll < 16;
                    let shifted = (16..26).contains(&roll);
                    (
                        format!("{stem}.xlsx"),
                        xlsx_bytes(forms, stacked, shifted).map_err(io)?,
                    )
                };
                let path = dir.join(&name);
                // 1 % broken (cut short), 1 % submitted twice (a copy in a 重报 folder).
                let fate = rng.below(100);
                if fate == 0 {
                    std::fs::write(&path, &bytes[..bytes.len() / 2])?;
                } else {
                    std::fs::write(&path, &bytes)?;
                    report.forms += forms.len();
                    report.indicators += forms.iter().map(|f| f.indicators.len()).sum::<usize>();
                }
                if fate == 1 {
                    let again = dir.join("重报");
                    std::fs::create_dir_all(&again)?;
                    std::fs::write(again.join(&name), &bytes)?;
                    report.workbooks += 1;
                }
                report.workbooks += 1;
            }
            Ok(report)
        })
        .collect();
    let mut total = SynthReport::default();
    for r in reports {
        let r = r?;
        total.workbooks += r.workbooks;
        total.forms += r.forms;
        total.indicators += r.indicators;
    }
    Ok(total)
}

/// Paths of every file under `dir`, sorted (for the benchmarks).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    crate::scan::scan(&[dir.to_path_buf()]).files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes_and_forms_are_read_back() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let rules = Rules::national();
        let ra = generate(a.path(), 6, 3, 7, &rules).unwrap();
        let rb = generate(b.path(), 6, 3, 7, &rules).unwrap();
        assert_eq!(ra, rb);
        assert!(ra.workbooks >= 12);
        let fa = files_under(a.path());
        let fb = files_under(b.path());
        assert_eq!(fa.len(), fb.len());
        for (x, y) in fa.iter().zip(&fb) {
            assert_eq!(
                std::fs::read(x).unwrap(),
                std::fs::read(y).unwrap(),
                "{}",
                x.display()
            );
        }
        // Every file that is not deliberately broken is read back with all its forms.
        let mut forms = 0;
        for f in &fa {
            let r = crate::process::process_file(f, &rules, &crate::read::Limits::default());
            forms += r.forms.len();
        }
        assert!(forms >= ra.forms, "{forms} of {}", ra.forms);
    }
}
