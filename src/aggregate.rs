//! Aggregate the processed files: one row per project, totals per unit, per 主管部门 and per
//! indicator category, and the checks that need more than one form (duplicates, targets
//! lowered at year end). Pure: files in, figures out; money summed exactly.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rayon::prelude::*;
use rust_decimal::Decimal;

use crate::form::unit_from_path;
use crate::model::{Form, FormKind, Issue, Severity};
use crate::process::{FileResult, Processed};
use crate::score::{round2, Grade, ProjectScore};

/// `--units FILE`: unit code → (name, 主管部门).
pub type UnitDirectory = BTreeMap<String, (String, String)>;

/// Read a `code,name,department` CSV (UTF-8, optional BOM and header line).
pub fn load_unit_directory(path: &Path) -> Result<UnitDirectory, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("无法读取单位名录 {}: {e}", path.display()))?;
    let mut out = UnitDirectory::new();
    for (n, line) in text.trim_start_matches('\u{feff}').lines().enumerate() {
        let fields: Vec<&str> = line
            .split(',')
            .map(|f| f.trim().trim_matches('"'))
            .collect();
        if fields.len() < 3 || fields[0].is_empty() {
            continue;
        }
        if n == 0 && !fields[0].chars().all(|c| c.is_ascii_digit()) {
            continue; // header
        }
        out.insert(
            fields[0].to_string(),
            (fields[1].to_string(), fields[2].to_string()),
        );
    }
    Ok(out)
}

/// Where one form stands in the run. Serialised only to key its PDF: the form itself by the
/// hash of its content where it has one (see `Processed::origin`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProjectRow<'a> {
    #[serde(serialize_with = "crate::process::by_origin")]
    pub processed: &'a Processed,
    pub file: &'a Path,
    pub unit_code: Option<String>,
    pub unit_name: String,
    pub department: Option<String>,
    /// Replaced by another submission of the same project: listed, not counted.
    pub superseded_by: Option<PathBuf>,
    pub indicators: usize,
    pub quantified: usize,
    pub met: usize,
    pub issues: [usize; 3],
    /// `digest`, made on first use.
    #[serde(skip)]
    digest: std::sync::OnceLock<[u8; 32]>,
}

impl ProjectRow<'_> {
    /// A hash of this row as the keys of its outputs see it (its JSON: the form by its origin
    /// hash; Debug where JSON cannot say it, a path that is not UTF-8), made once for the
    /// report's, 项目汇总's and 指标明细's keys alike.
    pub fn digest(&self) -> &[u8; 32] {
        self.digest.get_or_init(|| {
            let mut h = blake3::Hasher::new();
            if serde_json::to_writer(&mut h, self).is_err() {
                h.update(format!("{self:?}").as_bytes());
            }
            *h.finalize().as_bytes()
        })
    }

    pub fn form(&self) -> &Form {
        &self.processed.form
    }

    pub fn score(&self) -> Option<&ProjectScore> {
        self.processed.score.as_ref()
    }

    pub fn counted(&self) -> bool {
        self.superseded_by.is_none()
    }
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct UnitSummary {
    pub code: Option<String>,
    pub name: String,
    pub department: Option<String>,
    pub projects: usize,
    pub target_forms: usize,
    pub selfeval_forms: usize,
    pub budget_total: Decimal,
    pub fiscal_total: Decimal,
    pub other_total: Decimal,
    pub annual_budget_total: Decimal,
    pub executed_total: Decimal,
    pub indicators: usize,
    pub quantified: usize,
    /// Indicators of self-evaluations (the denominator of the attainment rate).
    pub selfeval_indicators: usize,
    pub indicators_met: usize,
    pub score_sum: Decimal,
    /// Σ total × 全年预算数, for the budget-weighted mean.
    pub score_weighted_sum: Decimal,
    pub score_weight: Decimal,
    pub grades: [usize; 4],
    pub issues: [usize; 3],
}

/// `part` as a percentage of `whole`, 四舍五入 to 2 decimals; None when `whole` is not
/// positive. Divided first: money sums times 100 could come near Decimal's range.
fn percent(part: Decimal, whole: Decimal) -> Option<Decimal> {
    (whole > Decimal::ZERO).then(|| round2(part / whole * Decimal::ONE_HUNDRED))
}

impl UnitSummary {
    /// 执行率 in percent, 2 decimals.
    pub fn execution_rate(&self) -> Option<Decimal> {
        percent(self.executed_total, self.annual_budget_total)
    }

    pub fn attainment_rate(&self) -> Option<Decimal> {
        percent(
            Decimal::from(self.indicators_met),
            Decimal::from(self.selfeval_indicators),
        )
    }

    pub fn score_mean(&self) -> Option<Decimal> {
        (self.selfeval_forms > 0)
            .then(|| round2(self.score_sum / Decimal::from(self.selfeval_forms as u64)))
    }

    pub fn score_mean_weighted(&self) -> Option<Decimal> {
        (self.score_weight > Decimal::ZERO)
            .then(|| round2(self.score_weighted_sum / self.score_weight))
    }

    fn add(&mut self, o: &UnitSummary) {
        self.projects += o.projects;
        self.target_forms += o.target_forms;
        self.selfeval_forms += o.selfeval_forms;
        self.budget_total += o.budget_total;
        self.fiscal_total += o.fiscal_total;
        self.other_total += o.other_total;
        self.annual_budget_total += o.annual_budget_total;
        self.executed_total += o.executed_total;
        self.indicators += o.indicators;
        self.quantified += o.quantified;
        self.selfeval_indicators += o.selfeval_indicators;
        self.indicators_met += o.indicators_met;
        self.score_sum += o.score_sum;
        self.score_weighted_sum += o.score_weighted_sum;
        self.score_weight += o.score_weight;
        for i in 0..4 {
            self.grades[i] += o.grades[i];
        }
        for i in 0..3 {
            self.issues[i] += o.issues[i];
        }
    }
}

/// Indicators of one 一级/二级 category across the run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CategoryRow {
    pub level1: String,
    pub level2: String,
    pub indicators: usize,
    pub quantified: usize,
    pub selfeval_indicators: usize,
    pub met: usize,
    pub weight_sum: Decimal,
    pub score_sum: Decimal,
}

impl CategoryRow {
    pub fn attainment_rate(&self) -> Option<Decimal> {
        percent(
            Decimal::from(self.met),
            Decimal::from(self.selfeval_indicators),
        )
    }

    /// Share of 分值 obtained, in percent.
    pub fn score_rate(&self) -> Option<Decimal> {
        percent(self.score_sum, self.weight_sum)
    }

    /// Add another row's counts (the names stay this row's).
    fn add(&mut self, o: &CategoryRow) {
        self.indicators += o.indicators;
        self.quantified += o.quantified;
        self.selfeval_indicators += o.selfeval_indicators;
        self.met += o.met;
        self.weight_sum += o.weight_sum;
        self.score_sum += o.score_sum;
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileCounts {
    pub read: usize,
    pub rejected: usize,
    pub skipped: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate<'a> {
    /// Sorted by unit code, year, project name, form kind, file path.
    pub projects: Vec<ProjectRow<'a>>,
    /// Sorted by unit code then name.
    pub units: Vec<UnitSummary>,
    /// 主管部门 subtotals (when any unit has one), sorted by name.
    pub departments: Vec<UnitSummary>,
    pub total: UnitSummary,
    pub categories: Vec<CategoryRow>,
    /// Every issue of the run with the unit and project it belongs to, in output order.
    pub issues: Vec<IssueRow>,
    pub files: FileCounts,
}

impl Aggregate<'_> {
    /// The forms that count (duplicates superseded by another submission do not).
    pub fn counted(&self) -> impl Iterator<Item = &ProjectRow<'_>> {
        self.projects.iter().filter(|p| p.counted())
    }

    /// Indicators of the forms that count.
    pub fn counted_indicators(&self) -> usize {
        self.counted().map(|p| p.indicators).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRow {
    pub issue: Issue,
    pub unit_code: Option<String>,
    pub unit_name: Option<String>,
    pub project: Option<String>,
}

pub fn grade_index(g: Grade) -> usize {
    match g {
        Grade::Excellent => 0,
        Grade::Good => 1,
        Grade::Pass => 2,
        Grade::Poor => 3,
    }
}

fn severity_index(s: Severity) -> usize {
    s as usize
}

fn quantified(form: &Form) -> usize {
    form.indicators
        .briefs()
        .iter()
        .filter(|b| b.quantified)
        .count()
}

fn met(p: &Processed) -> usize {
    p.score
        .as_ref()
        .map(|s| s.indicators.iter().filter(|o| o.met == Some(true)).count())
        .unwrap_or(0)
}

type DupKey = (Option<i32>, Option<String>, String, FormKind);

/// Aggregate the results of a run. `modified` tells a file's modification time (asked only
/// to choose among duplicates); `skipped` is the count of files passed over by the scan.
pub fn aggregate<'a>(
    results: &'a [FileResult],
    extra_issues: &[Issue],
    skipped: usize,
    directory: Option<&UnitDirectory>,
    modified: &dyn Fn(&Path) -> Option<SystemTime>,
) -> Aggregate<'a> {
    // Departments named by self-evaluations, for units the directory does not cover.
    let mut dept_of_unit: HashMap<String, String> = HashMap::new();
    for r in results {
        for p in &r.forms {
            if let (Some(code), Some(d)) = (
                p.form.unit.as_ref().and_then(|u| u.value.code.clone()),
                p.form.department.as_ref().filter(|d| !d.value.is_empty()),
            ) {
                dept_of_unit.entry(code).or_insert_with(|| d.value.clone());
            }
        }
    }

    // In parallel (a night's aggregate runs over 50,000 cached forms while nothing else can).
    let mut projects: Vec<ProjectRow> = results
        .par_iter()
        .flat_map_iter(|r| r.forms.iter().map(move |p| (r, p)))
        .map(|(r, p)| {
            let unit = p.form.unit.as_ref().map(|u| u.value.clone());
            let code = unit.as_ref().and_then(|u| u.code.clone());
            let mut name = unit.map(|u| u.name).unwrap_or_default();
            let mut department = code.as_ref().and_then(|c| dept_of_unit.get(c).cloned());
            if let Some((dname, dept)) =
                code.as_ref().and_then(|c| directory.and_then(|d| d.get(c)))
            {
                if !dname.is_empty() {
                    name = dname.clone();
                }
                department = Some(dept.clone());
            }
            let mut issues = [0; 3];
            for i in &p.issues {
                issues[severity_index(i.severity)] += 1;
            }
            ProjectRow {
                processed: p,
                file: &r.path,
                unit_code: code,
                unit_name: name,
                department,
                superseded_by: None,
                indicators: p.form.indicators.len(),
                quantified: quantified(&p.form),
                met: met(p),
                issues,
                digest: Default::default(),
            }
        })
        .collect();
    projects.par_sort_by(|a, b| {
        (
            &a.unit_code,
            &a.unit_name,
            a.form().year.as_ref().map(|y| y.value),
            a.form().project_name(),
            a.form().kind(),
            a.file,
            &a.form().source.sheet,
        )
            .cmp(&(
                &b.unit_code,
                &b.unit_name,
                b.form().year.as_ref().map(|y| y.value),
                b.form().project_name(),
                b.form().kind(),
                b.file,
                &b.form().source.sheet,
            ))
    });

    // Duplicates: keep the latest file, then the first path; the rest are superseded.
    let mut cross: Vec<(usize, Issue)> = Vec::new();
    let mut groups: BTreeMap<DupKey, Vec<usize>> = BTreeMap::new();
    for (i, p) in projects.iter().enumerate() {
        let key = (
            p.form().year.as_ref().map(|y| y.value),
            p.unit_code.clone().or_else(|| Some(p.unit_name.clone())),
            p.form().project_name().to_string(),
            p.form().kind(),
        );
        groups.entry(key).or_default().push(i);
    }
    for members in groups.values().filter(|m| m.len() > 1) {
        let times: HashMap<usize, Option<SystemTime>> = members
            .iter()
            .map(|&m| (m, modified(projects[m].file)))
            .collect();
        let keep = *members
            .iter()
            .max_by(|&&a, &&b| {
                let ta = times.get(&a).copied().flatten();
                let tb = times.get(&b).copied().flatten();
                // Latest time wins; on a tie the smaller path wins (so it compares as greater).
                ta.cmp(&tb)
                    .then_with(|| projects[b].file.cmp(projects[a].file))
                    .then_with(|| {
                        projects[b]
                            .form()
                            .source
                            .sheet
                            .cmp(&projects[a].form().source.sheet)
                    })
            })
            .unwrap_or(&members[0]);
        let kept_file = projects[keep].file.to_path_buf();
        for &m in members.iter().filter(|&&m| m != keep) {
            projects[m].superseded_by = Some(kept_file.clone());
            let p = &projects[m];
            cross.push((
                m,
                Issue::warning(
                    "project.duplicate",
                    format!(
                        "项目「{}」的{}重复报送，已采用 {}，本份不计入汇总",
                        p.form().project_name(),
                        p.form().kind().title_zh(),
                        kept_file.display()
                    ),
                )
                .in_source(&p.form().source),
            ));
        }
    }
    cross.extend(lowered_targets(&projects));
    for (i, issue) in &cross {
        projects[*i].issues[severity_index(issue.severity)] += 1;
    }

    // Per unit.
    let mut units: BTreeMap<(Option<String>, String), UnitSummary> = BTreeMap::new();
    let mut unit_projects: BTreeMap<(Option<String>, String), std::collections::BTreeSet<String>> =
        BTreeMap::new();
    // Each counted form's category counts (`tally`, in parallel), merged in form order, so
    // categories keep the order they are first seen in; keyed by the forms' own strings.
    let mut categories: Vec<((&str, &str), CategoryRow)> = Vec::new();
    let mut category_at: HashMap<(&str, &str), usize> = HashMap::new();
    let tallies: Vec<Vec<Tally>> = projects
        .par_iter()
        .map(|p| if p.counted() { tally(p) } else { Vec::new() })
        .collect();
    for (p, tally) in projects.iter().zip(tallies).filter(|(p, _)| p.counted()) {
        let key = (p.unit_code.clone(), p.unit_name.clone());
        let u = units.entry(key.clone()).or_insert_with(|| UnitSummary {
            code: p.unit_code.clone(),
            name: p.unit_name.clone(),
            department: p.department.clone(),
            ..Default::default()
        });
        unit_projects
            .entry(key)
            .or_default()
            .insert(p.form().project_name().to_string());
        let f = p.form();
        u.indicators += p.indicators;
        u.quantified += p.quantified;
        for i in 0..3 {
            u.issues[i] += p.issues[i];
        }
        match f.kind() {
            FormKind::Target => {
                u.target_forms += 1;
                let v = |x: &Option<crate::model::Sourced<Decimal>>| {
                    x.as_ref().map(|s| s.value).unwrap_or_default()
                };
                u.budget_total += v(&f.budget.total);
                u.fiscal_total += v(&f.budget.fiscal);
                u.other_total += v(&f.budget.other);
            }
            FormKind::SelfEval => {
                u.selfeval_forms += 1;
                u.selfeval_indicators += p.indicators;
                u.indicators_met += p.met;
                let annual = f
                    .execution
                    .as_ref()
                    .and_then(|e| e.total.annual.as_ref())
                    .map(|a| a.value)
                    .unwrap_or_default();
                u.annual_budget_total += annual;
                u.executed_total += f
                    .execution
                    .as_ref()
                    .and_then(|e| e.total.executed.as_ref())
                    .map(|a| a.value)
                    .unwrap_or_default();
                if let Some(s) = p.score() {
                    u.score_sum += s.total;
                    u.score_weighted_sum += s.total * annual;
                    u.score_weight += annual;
                    u.grades[grade_index(s.grade)] += 1;
                }
            }
        }
        for (key, part) in tally {
            let at = *category_at.entry(key).or_insert_with(|| {
                categories.push((
                    key,
                    CategoryRow {
                        level1: key.0.to_string(),
                        level2: key.1.to_string(),
                        ..Default::default()
                    },
                ));
                categories.len() - 1
            });
            categories[at].1.add(&part);
        }
    }
    let mut units: Vec<UnitSummary> = units
        .into_iter()
        .map(|(k, mut u)| {
            u.projects = unit_projects.get(&k).map(|s| s.len()).unwrap_or(0);
            u
        })
        .collect();

    // File-level issues (unreadable files) are counted for the unit their folder names.
    let mut issues: Vec<IssueRow> = Vec::new();
    for i in extra_issues {
        issues.push(IssueRow {
            issue: i.clone(),
            unit_code: None,
            unit_name: None,
            project: None,
        });
    }
    // Units by code (the first of a code, as a scan would find): a night of thousands of broken
    // files does not scan 5,000 units for each.
    let mut unit_at: HashMap<Option<String>, usize> = HashMap::new();
    for (n, u) in units.iter().enumerate() {
        unit_at.entry(u.code.clone()).or_insert(n);
    }
    for r in results {
        for i in &r.issues {
            let unit = unit_from_path(&r.path);
            if let Some(u) = unit
                .as_ref()
                .and_then(|u| unit_at.get(&u.code))
                .and_then(|&n| units.get_mut(n))
            {
                u.issues[severity_index(i.severity)] += 1;
            }
            issues.push(IssueRow {
                issue: i.clone(),
                unit_code: unit.as_ref().and_then(|u| u.code.clone()),
                unit_name: unit.map(|u| u.name),
                project: None,
            });
        }
    }
    // The cross-project issues by project (sorted by it: one pass, not one scan per project).
    cross.sort_by_key(|(i, _)| *i);
    let mut cross_of = cross.iter().peekable();
    for (n, p) in projects.iter().enumerate() {
        let row = |issue: &Issue| IssueRow {
            issue: issue.clone(),
            unit_code: p.unit_code.clone(),
            unit_name: Some(p.unit_name.clone()),
            project: Some(p.form().project_name().to_string()),
        };
        issues.extend(p.processed.issues.iter().map(row));
        while let Some((_, issue)) = cross_of.next_if(|(i, _)| *i == n) {
            issues.push(row(issue));
        }
    }
    // Files ranked once in path order: comparing paths component by component in the sort
    // of 50,000 issues was a tenth of a rerun's aggregate step.
    let ranks: Vec<Option<usize>> = {
        let mut files: Vec<&Path> = issues
            .iter()
            .filter_map(|r| r.issue.file.as_deref())
            .collect();
        files.sort();
        files.dedup();
        let rank: HashMap<&Path, usize> = files.iter().enumerate().map(|(i, f)| (*f, i)).collect();
        issues
            .iter()
            .map(|r| r.issue.file.as_deref().and_then(|f| rank.get(f).copied()))
            .collect()
    };
    let mut keyed: Vec<(Option<usize>, IssueRow)> = ranks.into_iter().zip(issues).collect();
    keyed.par_sort_by(|(fa, a), (fb, b)| {
        (
            a.issue.severity,
            &a.unit_code,
            fa,
            &a.issue.sheet,
            a.issue.cell,
            a.issue.code,
        )
            .cmp(&(
                b.issue.severity,
                &b.unit_code,
                fb,
                &b.issue.sheet,
                b.issue.cell,
                b.issue.code,
            ))
    });
    let issues: Vec<IssueRow> = keyed.into_iter().map(|(_, r)| r).collect();

    let mut total = UnitSummary {
        name: "合计".to_string(),
        ..Default::default()
    };
    let mut departments: BTreeMap<String, UnitSummary> = BTreeMap::new();
    for u in &units {
        total.add(u);
        if let Some(d) = &u.department {
            departments
                .entry(d.clone())
                .or_insert_with(|| UnitSummary {
                    name: d.clone(),
                    department: Some(d.clone()),
                    ..Default::default()
                })
                .add(u);
        }
    }
    // The run's total counts every issue, including those of files no unit claims.
    total.issues = [0; 3];
    for row in &issues {
        total.issues[severity_index(row.issue.severity)] += 1;
    }
    units.sort_by(|a, b| (&a.department, &a.code, &a.name).cmp(&(&b.department, &b.code, &b.name)));

    let rejected = results.iter().filter(|r| r.rejected).count();
    Aggregate {
        projects,
        units,
        departments: departments.into_values().collect(),
        total,
        categories: {
            categories.sort_by(|a, b| a.0.cmp(&b.0));
            categories.into_iter().map(|(_, c)| c).collect()
        },
        issues,
        files: FileCounts {
            read: results.len() - rejected,
            rejected,
            skipped,
        },
    }
}

/// One form's counts in one indicator category (its names borrowed from the form).
type Tally<'a> = ((&'a str, &'a str), CategoryRow);

/// A counted form's category counts, categories in the order its rows first name them (so
/// merging forms in order keeps the order categories are first seen in). Briefs: a cached
/// form's rows are not decoded for this (`model::Indicators`).
fn tally<'a>(p: &ProjectRow<'a>) -> Vec<Tally<'a>> {
    let processed: &'a Processed = p.processed;
    let mut out: Vec<Tally<'a>> = Vec::new();
    for (n, ind) in processed.form.indicators.briefs().into_iter().enumerate() {
        let key = (ind.level1, ind.level2);
        // A form names a handful of categories, consecutive rows mostly the same one.
        let at = match out.iter().rposition(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                out.push((key, CategoryRow::default()));
                out.len() - 1
            }
        };
        let c = &mut out[at].1;
        c.indicators += 1;
        c.quantified += usize::from(ind.quantified);
        if let Some(o) = processed.score.as_ref().and_then(|s| s.indicators.get(n)) {
            c.selfeval_indicators += 1;
            c.met += usize::from(o.met == Some(true));
            c.weight_sum += ind.weight.unwrap_or_default();
            c.score_sum += o.score;
        }
    }
    out
}

/// A self-evaluation whose 年度指标值 differ from the target table of the same project in the
/// same run: a unit quietly lowering its targets at year end.
fn lowered_targets(projects: &[ProjectRow]) -> Vec<(usize, Issue)> {
    // Counted target tables by (unit code, unit name, project), in run order: an index, so a
    // province's 25,000 self-evaluations do not each scan 50,000 projects.
    let mut targets: HashMap<(&Option<String>, &str, &str), Vec<&ProjectRow>> = HashMap::new();
    for t in projects
        .iter()
        .filter(|t| t.counted() && t.form().kind() == FormKind::Target)
    {
        targets
            .entry((&t.unit_code, t.unit_name.as_str(), t.form().project_name()))
            .or_default()
            .push(t);
    }
    // Each self-evaluation on its own, in parallel; collected in project order.
    let of_project = |(i, s): (usize, &ProjectRow)| -> Vec<(usize, Issue)> {
        let mut out = Vec::new();
        if s.form().kind() != FormKind::SelfEval || !s.counted() {
            return out;
        }
        let key = (&s.unit_code, s.unit_name.as_str(), s.form().project_name());
        let target = targets.get(&key).and_then(|ts| {
            ts.iter().copied().find(|t| {
                t.form().year.is_none()
                    || t.form().year.as_ref().map(|y| y.value)
                        == s.form().year.as_ref().map(|y| y.value)
            })
        });
        let Some(t) = target else { return out };
        // Briefs: cached forms' rows are not decoded for this (`model::Indicators`).
        let self_rows = s.form().indicators.briefs();
        for ti in t.form().indicators.briefs() {
            let same = self_rows.iter().find(|si| si.level3 == ti.level3);
            let issue = match same {
                None => Issue::warning(
                    "project.indicator_dropped",
                    format!(
                        "绩效目标表中的指标「{}」（{}）未出现在自评表中",
                        ti.level3, ti.target
                    ),
                ),
                // Equal as written (nearly always) needs no normalising.
                Some(si)
                    if si.target != ti.target
                        && crate::form::norm(si.target) != crate::form::norm(ti.target) =>
                {
                    Issue::warning(
                        "project.target_changed",
                        format!(
                        "「{}」自评表年度指标值「{}」与绩效目标表的「{}」不一致，请说明调整依据",
                        ti.level3, si.target, ti.target
                    ),
                    )
                    .at(si.target_cell)
                }
                Some(_) => continue,
            };
            out.push((i, issue.in_source(&s.form().source)));
        }
        out
    };
    projects
        .par_iter()
        .enumerate()
        .flat_map_iter(of_project)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file that could not be read counts against the unit its folder names, and against
    /// no other (units looked up by code).
    #[test]
    fn a_broken_files_issue_counts_for_the_unit_its_folder_names() {
        let rules = crate::rules::Rules::national();
        let forms = crate::samples::seed_targets();
        let mut results: Vec<FileResult> = forms
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let code = format!("{}", 100_001 + i % 3);
                let mut f = f.clone();
                f.unit = Some(crate::model::Sourced::derived(crate::model::Unit {
                    code: Some(code.clone()),
                    name: format!("单位{code}"),
                }));
                let bytes = crate::samples::xlsx_bytes(&[f], false, false).unwrap();
                let wb = crate::read::read_bytes(bytes, &Default::default()).unwrap();
                let path = PathBuf::from(format!("{code}单位{code}/表{i}.xlsx"));
                crate::process::process_workbook(&path, &wb, &rules)
            })
            .collect();
        let before = aggregate(&results, &[], 0, None, &|_| None)
            .units
            .iter()
            .map(|u| (u.code.clone(), u.issues))
            .collect::<Vec<_>>();
        results.push(FileResult {
            path: PathBuf::from("100002单位100002/坏.xlsx"),
            format: None,
            forms: Vec::new(),
            issues: vec![Issue::error("read.corrupt", "工作簿文件已损坏")],
            rejected: true,
        });
        let after = aggregate(&results, &[], 0, None, &|_| None);
        assert_eq!(before.len(), 3);
        for (u, (code, issues)) in after.units.iter().zip(&before) {
            assert_eq!(&u.code, code);
            let mut want = *issues;
            if code.as_deref() == Some("100002") {
                want[severity_index(Severity::Error)] += 1;
            }
            assert_eq!(u.issues, want, "{code:?}");
        }
    }
}
