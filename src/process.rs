//! One file through the pure middle of the pipeline: read → recognise → score → check.
//! Each file is independent, so callers may run this on many files in parallel.

use std::path::{Path, PathBuf};

use crate::cache::Cache;
use crate::check::check_form;
use crate::form::{recognise, unit_from_path};
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
    let mut forms = Vec::new();
    for sheet in &wb.sheets {
        for read in recognise(sheet, path) {
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
