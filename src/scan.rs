//! Find the workbooks under the input paths: deterministic, loop-safe, and honest about what
//! was skipped.

use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::model::Issue;

/// The extensions jixiao takes (lower case).
pub const EXTENSIONS: &[&str] = &["xlsx", "xlsm", "xls", "xlsb", "ods"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Workbook candidates, sorted by path.
    pub files: Vec<PathBuf>,
    /// Files passed over on purpose (lock files, hidden, temporary), with the reason.
    pub skipped: Vec<(PathBuf, &'static str)>,
    /// Paths that could not be walked (missing input, loop, permission).
    pub issues: Vec<Issue>,
}

/// `JIXIAO_LOG=debug`: say what was passed over and why.
pub fn debug_enabled() -> bool {
    std::env::var("JIXIAO_LOG").is_ok_and(|v| v.eq_ignore_ascii_case("debug"))
}

/// Why a file is not a candidate, or None if it is one.
pub fn skip_reason(path: &Path) -> Option<&'static str> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.starts_with("~$") {
        return Some("Office 锁定文件");
    }
    if name.starts_with('.') {
        return Some("隐藏文件");
    }
    if name.starts_with('~') || name.ends_with(".tmp") || name.ends_with('~') {
        return Some("临时文件");
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    match ext {
        Some(e) if EXTENSIONS.contains(&e.as_str()) => None,
        _ => Some("不是工作簿扩展名"),
    }
}

/// Walk every input (a file or a folder). Symlinks are followed; a symlink loop is reported
/// and skipped, never walked twice.
pub fn scan(inputs: &[PathBuf]) -> Scan {
    scan_except(inputs, None)
}

/// What identifies a folder wherever it is reached from (through links too).
#[cfg(unix)]
fn folder_id(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}
#[cfg(not(unix))]
fn folder_id(_: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// `scan`, never entering the folder `exclude` (OUT, when it lies inside an input or is
/// linked from one: our own outputs are never submissions). Folders are compared by device
/// and inode as the walk meets them, a stat per folder, instead of resolving every file's path.
pub fn scan_except(inputs: &[PathBuf], exclude: Option<&Path>) -> Scan {
    let excluded = exclude.and_then(|p| std::fs::metadata(p).ok().as_ref().and_then(folder_id));
    // Where folders cannot be compared by id, resolved paths are.
    let excluded_path = exclude
        .filter(|_| excluded.is_none())
        .and_then(|p| p.canonicalize().ok());
    let outside = |e: &walkdir::DirEntry| -> bool {
        if !e.file_type().is_dir() {
            return true;
        }
        if let Some(id) = excluded {
            return e.metadata().ok().as_ref().and_then(folder_id) != Some(id);
        }
        match &excluded_path {
            Some(out) => !e.path().canonicalize().is_ok_and(|p| p == *out),
            None => true,
        }
    };
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut issues = Vec::new();
    for input in inputs {
        if !input.exists() {
            issues.push(Issue::error("scan.missing_input", "输入路径不存在").in_file(input));
            continue;
        }
        let walker = WalkDir::new(input)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            // Hidden folders (.git, OUT/.cache) are never submissions; hidden files are
            // skipped below with their reason.
            .filter_entry(|e| {
                (e.depth() == 0
                    || !(e.file_type().is_dir()
                        && e.file_name().to_string_lossy().starts_with('.')))
                    && outside(e)
            });
        for entry in walker {
            match entry {
                Ok(e) if e.file_type().is_file() => {
                    let path = e.into_path();
                    match skip_reason(&path) {
                        None => files.push(path),
                        // Files with other extensions are not submissions: not worth a line.
                        Some("不是工作簿扩展名") => {}
                        Some(why) => skipped.push((path, why)),
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    let path = err
                        .path()
                        .map(Path::to_path_buf)
                        .unwrap_or_else(|| input.clone());
                    let issue = if err.loop_ancestor().is_some() {
                        Issue::warning("scan.symlink_loop", "目录符号链接形成循环，已跳过")
                    } else if path
                        .symlink_metadata()
                        .is_ok_and(|m| m.file_type().is_symlink())
                        && !path.exists()
                    {
                        Issue::error("scan.broken_link", "符号链接指向的文件不存在，无法读取")
                    } else {
                        let why = match err.io_error().map(|e| e.kind()) {
                            Some(std::io::ErrorKind::PermissionDenied) => {
                                "没有读取权限".to_string()
                            }
                            _ => err.to_string(),
                        };
                        Issue::error("scan.unreadable", format!("无法读取：{why}"))
                    };
                    issues.push(issue.in_file(&path));
                }
            }
        }
    }
    files.sort();
    files.dedup();
    if debug_enabled() {
        for (path, why) in &skipped {
            eprintln!("jixiao: 跳过 {}（{why}）", path.display());
        }
    }
    Scan {
        files,
        skipped,
        issues,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_lock_hidden_and_temp_files() {
        assert_eq!(
            skip_reason(Path::new("a/~$表.xlsx")),
            Some("Office 锁定文件")
        );
        assert_eq!(skip_reason(Path::new("a/.表.xlsx")), Some("隐藏文件"));
        assert_eq!(skip_reason(Path::new("a/表.xlsx.tmp")), Some("临时文件"));
        assert_eq!(skip_reason(Path::new("a/表.XLSX")), None);
        assert_eq!(skip_reason(Path::new("a/表.ods")), None);
        assert!(skip_reason(Path::new("a/readme.txt")).is_some());
    }

    #[test]
    fn sorted_and_loop_safe() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("b")).unwrap();
        std::fs::write(root.join("b/2.xlsx"), b"x").unwrap();
        std::fs::write(root.join("1.xls"), b"x").unwrap();
        std::fs::write(root.join("~$1.xlsx"), b"x").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root, root.join("b/loop")).unwrap();
        let s = scan(&[root.to_path_buf()]);
        assert_eq!(s.files, vec![root.join("1.xls"), root.join("b/2.xlsx")]);
        assert_eq!(s.skipped.len(), 1);
        #[cfg(unix)]
        assert!(
            s.issues.iter().any(|i| i.message.contains("循环")),
            "{:?}",
            s.issues
        );
    }
}
