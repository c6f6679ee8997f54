//! One file through the pure middle of the pipeline: read → recognise → score → check.
//! Each file is independent, so callers may run this on many files in parallel.

use std::path::{Path, PathBuf};

use crate::cache::Cache;
use crate::check::check_form;
use crate::form::{
    recognise_within, unit_from_path, Room, TooMany, MAX_FORMS_PER_FILE, MAX_INDICATORS_PER_FILE,
};
use crate::model::{Form, Issue, Severity};
use crate::read::{load, read_bytes, read_file, Format, Limits, Workbook};
use crate::rules::Rules;
use crate::score::{score_form, ProjectScore};

/// A recognised form with its scores filled in and its issues.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Processed {
    pub form: Form,
    pub score: Option<ProjectScore>,
    pub issues: Vec<Issue>,
    /// A hash of everything above (its JSON), made once when the form is processed and kept
    /// in the cache: a PDF is keyed by it instead of serialising the form again every night.
    /// None when no cache was used.
    pub origin: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FileResult {
    pub path: PathBuf,
    pub format: Option<Format>,
    pub forms: Vec<Processed>,
    /// Issues about the file as a whole (cannot be read, no form found).
    pub issues: Vec<Issue>,
    /// The file could not be used at all.
    pub rejected: bool,
}

impl FileResult {
    /// Every issue of the file, file-level first, then form by form.
    pub fn all_issues(&self) -> impl Iterator<Item = &Issue> {
        self.issues
            .iter()
            .chain(self.forms.iter().flat_map(|f| f.issues.iter()))
    }
}

pub fn process_file(path: &Path, rules: &Rules, limits: &Limits) -> FileResult {
    process_file_cached(path, rules, limits, None)
}

/// As `process_file`, taking the whole result from the cache when the file is unchanged.
pub fn process_file_cached(
    path: &Path,
    rules: &Rules,
    limits: &Limits,
    cache: Option<&Cache>,
) -> FileResult {
    let rejected = |e: crate::read::ReadError| FileResult {
        path: path.to_path_buf(),
        format: None,
        forms: Vec::new(),
        issues: vec![Issue::error(e.code, e.message).in_file(path)],
        rejected: true,
    };
    let Some(c) = cache else {
        return match read_file(path, limits) {
            Ok(wb) => process_workbook(path, &wb, rules),
            Err(e) => rejected(e),
        };
    };
    // Stamped before reading: a write after the stamp changes it, so the next run hashes the
    // file again rather than trusting a key of older bytes.
    let stamp = crate::cache::Stamp::of(path);
    if let Some(result) = stamp.and_then(|st| c.result_by_stamp(path, st)) {
        return result;
    }
    let bytes = match load(path, limits) {
        Ok(b) => b,
        Err(e) => return rejected(e),
    };
    let key = c.key_of(path, &bytes);
    if let Some(st) = stamp {
        c.keep_stamp(path, st, &key);
    }
    if let Some(result) = c.result(&key) {
        return result;
    }
    // Files that cannot be read are not cached: read again each night, they are reported
    // each night, and a file made readable is picked up.
    match read_bytes(bytes, limits) {
        Ok(wb) => {
            let mut result = process_workbook(path, &wb, rules);
            for p in &mut result.forms {
                p.origin = content_hash(p);
            }
            c.put_result(&key, &result);
            result
        }
        Err(e) => rejected(e),
    }
}

/// A processed form as its origin hash where it has one, else whole.
pub fn by_origin<S: serde::Serializer>(p: &&Processed, s: S) -> Result<S::Ok, S::Error> {
    match &p.origin {
        Some(origin) => s.serialize_str(origin),
        None => serde::Serialize::serialize(*p, s),
    }
}

/// blake3 of a processed form's JSON (None if it cannot be written as JSON: a path that is
/// not UTF-8; its PDFs are then keyed by the form itself).
fn content_hash(p: &Processed) -> Option<String> {
    let mut h = blake3::Hasher::new();
    serde_json::to_writer(&mut h, p).ok()?;
    Some(h.finalize().to_hex().to_string())
}

pub fn process_workbook(path: &Path, wb: &Workbook, rules: &Rules) -> FileResult {
    let from_path = unit_from_path(path);
    // The file refused as a whole, with this one issue.
    let refused = |issue: Issue| FileResult {
        path: path.to_path_buf(),
        format: Some(wb.format),
        forms: Vec::new(),
        issues: vec![issue],
        rejected: true,
    };
    let mut forms: Vec<Processed> = Vec::new();
    let mut indicators = 0;
    for sheet in &wb.sheets {
        let room = Room {
            forms: MAX_FORMS_PER_FILE - forms.len(),
            indicators: MAX_INDICATORS_PER_FILE - indicators,
        };
        let reads = match recognise_within(sheet, path, room) {
            Ok(reads) => reads,
            Err(TooMany::Forms(more)) => {
                let n = forms.len() + more;
                let message = format!(
                    "文件中有 {n} 处“项目名称”（每处开始一张表），超过每个文件 {MAX_FORMS_PER_FILE} 张表的上限，疑似异常或恶意文件，已拒绝读取；请按单位分文件报送"
                );
                return refused(Issue::error("file.too_many_forms", message).in_file(path));
            }
            Err(TooMany::FormIndicators(issue)) => {
                let mut issue = *issue;
                issue.message.push_str("，整个文件已拒绝读取");
                return refused(issue);
            }
            Err(TooMany::Indicators) => {
                let message = format!(
                    "文件中的绩效指标超过 {MAX_INDICATORS_PER_FILE} 行，超过每个文件的上限，疑似异常或恶意文件，已拒绝读取；请按单位分文件报送"
                );
                return refused(Issue::error("file.too_many_indicators", message).in_file(path));
            }
        };
        indicators += reads.iter().map(|r| r.form.indicators.len()).sum::<usize>();
        for read in reads {
            let mut form = read.form;
            fill_unit(&mut form, from_path.as_ref());
            let score = score_form(rules, &form);
            if let Some(s) = &score {
                for (ind, o) in form.indicators.iter_mut().zip(&s.indicators) {
                    ind.score = Some(o.score);
                }
            }
            let mut issues = read.issues;
            issues.extend(check_form(&form, score.as_ref()));
            forms.push(Processed {
                form,
                score,
                issues,
                origin: None,
            });
        }
    }
    forms.shrink_to_fit();
    let mut issues = Vec::new();
    let rejected = forms.is_empty();
    if rejected {
        issues.push(
            Issue::new(
                Severity::Error,
                "file.no_forms",
                "未识别到项目支出绩效目标表或绩效自评表（请使用统一模板，勿修改“项目名称”等标签）",
            )
            .in_file(path),
        );
    }
    FileResult {
        path: path.to_path_buf(),
        format: Some(wb.format),
        forms,
        issues,
        rejected,
    }
}

/// A unit code the form lacks may come from the file name or the unit's folder.
fn fill_unit(form: &mut Form, from_path: Option<&crate::model::Unit>) {
    let Some(p) = from_path else { return };
    match &mut form.unit {
        Some(u) => {
            if u.value.code.is_none() && (u.value.name == p.name || p.name.is_empty()) {
                u.value.code = p.code.clone();
            }
        }
        None => form.unit = Some(crate::model::Sourced::derived(p.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::{Format, Grid, GridCell, Sheet};

    /// A workbook of one sheet of these text cells (row, column, text).
    fn workbook(cells: impl IntoIterator<Item = (u32, u32, String)>) -> Workbook {
        let mut grid = Grid::default();
        for (r, c, text) in cells {
            let cell = GridCell {
                text: text.into(),
                number: None,
                anchor: None,
            };
            grid.insert(r, c, cell);
        }
        grid.finish();
        Workbook {
            format: Format::Xlsx,
            sheets: vec![Sheet {
                name: "S".into(),
                grid,
            }],
        }
    }

    /// A sheet of `n` bare 项目名称 cells, each starting a form.
    fn anchors(n: u32) -> Workbook {
        workbook((0..n).map(|r| (r * 2, 0, "项目名称".to_string())))
    }

    /// A sheet of `forms` target tables, one under the other, of `rows` indicator rows each.
    fn tables(forms: u32, rows: u32) -> Workbook {
        let mut cells = Vec::new();
        let mut r = 0;
        for f in 0..forms {
            cells.push((r, 0, "项目名称".to_string()));
            cells.push((r, 1, format!("项目{f}")));
            for (c, h) in ["一级指标", "二级指标", "三级指标", "指标值"]
                .iter()
                .enumerate()
            {
                cells.push((r + 1, c as u32, h.to_string()));
            }
            for i in 0..rows {
                cells.push((r + 2 + i, 2, format!("指标{i}")));
                cells.push((r + 2 + i, 3, "≥1个".to_string()));
            }
            r += rows + 3;
        }
        workbook(cells)
    }

    #[test]
    fn a_file_of_too_many_indicator_rows_is_refused() {
        use crate::form::{MAX_INDICATORS_PER_FILE, MAX_INDICATORS_PER_FORM};
        let rules = Rules::national();
        let path = Path::new("单位/目标表.xlsx");
        let most = MAX_INDICATORS_PER_FORM as u32;
        let ok = process_workbook(path, &tables(2, most), &rules);
        assert!(!ok.rejected);
        assert_eq!(ok.forms[1].form.indicators.len(), MAX_INDICATORS_PER_FORM);
        // One form over: the file is refused, and the issue names the row reading stopped at.
        let over = process_workbook(path, &tables(2, most + 1), &rules);
        assert!(over.rejected && over.forms.is_empty());
        assert_eq!(over.issues.len(), 1);
        assert_eq!(over.issues[0].code, crate::form::TOO_MANY_INDICATORS);
        assert_eq!(
            over.issues[0].cell,
            Some(crate::model::CellRef::new(2 + most, 2))
        );
        assert!(over.issues[0].message.contains("整个文件已拒绝读取"));
        // Forms each within their limit, over the file's together.
        let forms = (MAX_INDICATORS_PER_FILE / MAX_INDICATORS_PER_FORM) as u32;
        let ok = process_workbook(path, &tables(forms, most), &rules);
        assert!(!ok.rejected, "{:?}", ok.issues);
        let over = process_workbook(path, &tables(forms + 1, most), &rules);
        assert!(over.rejected && over.forms.is_empty());
        assert_eq!(over.issues[0].code, "file.too_many_indicators");
    }

    #[test]
    fn a_file_of_too_many_forms_is_refused_before_they_are_read() {
        let rules = Rules::national();
        let path = Path::new("单位/目标表.xlsx");
        let most = MAX_FORMS_PER_FILE as u32;
        let ok = process_workbook(path, &anchors(most), &rules);
        assert_eq!(ok.forms.len(), MAX_FORMS_PER_FILE);
        assert!(!ok.rejected);
        // Over the limit, in one sheet or summed over several.
        let over = process_workbook(path, &anchors(most + 1), &rules);
        assert!(over.rejected && over.forms.is_empty());
        assert_eq!(over.issues.len(), 1);
        assert_eq!(over.issues[0].code, "file.too_many_forms");
        assert!(
            over.issues[0].message.contains("2001 处"),
            "{}",
            over.issues[0].message
        );
        let mut two = anchors(most / 2 + 1);
        two.sheets.push(two.sheets[0].clone());
        let over = process_workbook(path, &two, &rules);
        assert_eq!(over.issues[0].code, "file.too_many_forms");
        assert!(
            over.issues[0].message.contains("2002 处"),
            "{}",
            over.issues[0].message
        );
    }
}
