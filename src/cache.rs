//! The incremental cache (`OUT/.cache/` or `--cache DIR`): parsed workbooks keyed by the file's
//! content hash (blake3) with the jixiao version and reading limits, and rendered PDFs keyed by
//! a hash of what they are drawn from (data, wording, font, version), with their page count and
//! missing characters in `pdf/index.json`. An entry that does not read back whole
//! and matching is discarded and rebuilt, never trusted; entries a run did not use are pruned.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::read::{Limits, Workbook};

const VERSION: &str = env!("CARGO_PKG_VERSION");

pub struct Cache {
    dir: PathBuf,
    /// Hash of what shapes a parse besides the bytes: version and limits.
    salt: String,
    /// False under `--full`: entries are rebuilt, never read.
    reuse: bool,
    used: Mutex<BTreeSet<PathBuf>>,
    /// What each cached PDF's bytes do not say; an entry missing here is not reused.
    pdf_meta: Mutex<BTreeMap<String, PdfMeta>>,
    pub parsed: AtomicUsize,
    pub reused: AtomicUsize,
    pub pdf_rendered: AtomicUsize,
    pub pdf_reused: AtomicUsize,
}

/// A cached PDF's page count and the characters its fonts lacked (reported again each run),
/// with what its file must still be: its hash (for manifest.csv), length and modification
/// time. Reports in OUT are hard links to these entries, so a report edited in place edits
/// the entry too: its length or time then differs and the entry is rendered again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PdfMeta {
    pub pages: usize,
    pub missing: String,
    #[serde(default)]
    pub hash: String,
    #[serde(default)]
    pub bytes: u64,
    #[serde(default)]
    pub modified_ns: u64,
}

/// A file's length and modification time (nanoseconds since 1970), where the system tells.
fn stamp(path: &Path) -> Option<(u64, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    let t = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some((meta.len(), u64::try_from(t.as_nanos()).ok()?))
}

#[derive(Serialize, Deserialize)]
struct PdfIndex {
    version: String,
    entries: BTreeMap<String, PdfMeta>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    version: String,
    key: String,
    workbook: Workbook,
}

impl Cache {
    pub fn open(dir: &Path, limits: &Limits, reuse: bool) -> Result<Cache, String> {
        for sub in ["read", "pdf"] {
            std::fs::create_dir_all(dir.join(sub))
                .map_err(|e| format!("无法创建缓存目录 {}: {e}", dir.display()))?;
        }
        // A corrupt or foreign index is no index: every PDF is rendered again.
        let pdf_meta = std::fs::read(dir.join("pdf").join("index.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<PdfIndex>(&b).ok())
            .filter(|i| reuse && i.version == VERSION)
            .map(|i| i.entries)
            .unwrap_or_default();
        Ok(Cache {
            pdf_meta: Mutex::new(pdf_meta),
            dir: dir.to_path_buf(),
            salt: blake3::hash(format!("{VERSION}|{limits:?}").as_bytes())
                .to_hex()
                .to_string(),
            reuse,
            used: Mutex::new(BTreeSet::new()),
            parsed: AtomicUsize::new(0),
            reused: AtomicUsize::new(0),
            pdf_rendered: AtomicUsize::new(0),
            pdf_reused: AtomicUsize::new(0),
        })
    }

    fn mark(&self, p: &Path) {
        if let Ok(mut u) = self.used.lock() {
            u.insert(p.to_path_buf());
        }
    }

    /// Write through a temporary name and a rename: a killed run leaves no half entry.
    fn store(&self, path: &Path, bytes: &[u8]) {
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        if std::fs::write(&tmp, bytes).is_ok() {
            let _ = std::fs::rename(&tmp, path);
        }
        let _ = std::fs::remove_file(&tmp);
        self.mark(path);
    }

    /// The key of a file's bytes.
    pub fn key_of(&self, bytes: &[u8]) -> String {
        let mut h = blake3::Hasher::new();
        h.update(self.salt.as_bytes());
        h.update(bytes);
        h.finalize().to_hex().to_string()
    }

    pub fn workbook(&self, key: &str) -> Option<Workbook> {
        if !self.reuse {
            return None;
        }
        let path = self.dir.join("read").join(format!("{key}.json"));
        let text = std::fs::read(&path).ok()?;
        match serde_json::from_slice::<Entry>(&text) {
            Ok(e) if e.version == VERSION && e.key == key => {
                self.mark(&path);
                self.reused.fetch_add(1, Ordering::Relaxed);
                Some(e.workbook)
            }
            // Corrupt or foreign: drop it, the caller parses again.
            _ => {
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    pub fn put_workbook(&self, key: &str, workbook: &Workbook) {
        self.parsed.fetch_add(1, Ordering::Relaxed);
        let entry = Entry {
            version: VERSION.to_string(),
            key: key.to_string(),
            workbook: workbook.clone(),
        };
        if let Ok(bytes) = serde_json::to_vec(&entry) {
            self.store(&self.dir.join("read").join(format!("{key}.json")), &bytes);
        }
    }

    /// The cached PDF for `key` and its metadata, if the file is still the one stored.
    pub fn pdf(&self, key: &str) -> Option<(PathBuf, PdfMeta)> {
        if !self.reuse {
            return None;
        }
        let meta = self.pdf_meta.lock().ok()?.get(key).cloned()?;
        let path = self.dir.join("pdf").join(format!("{key}.pdf"));
        if !meta.hash.is_empty() && stamp(&path) == Some((meta.bytes, meta.modified_ns)) {
            self.mark(&path);
            self.pdf_reused.fetch_add(1, Ordering::Relaxed);
            Some((path, meta))
        } else {
            let _ = std::fs::remove_file(&path);
            None
        }
    }

    /// Cache a rendered PDF (`meta.hash` set by the caller); its path when it was stored.
    pub fn put_pdf(&self, key: &str, bytes: &[u8], mut meta: PdfMeta) -> Option<PathBuf> {
        self.pdf_rendered.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.join("pdf").join(format!("{key}.pdf"));
        self.store(&path, bytes);
        let (len, modified) = stamp(&path)?;
        if len != bytes.len() as u64 {
            return None;
        }
        meta.bytes = len;
        meta.modified_ns = modified;
        if let Ok(mut m) = self.pdf_meta.lock() {
            m.insert(key.to_string(), meta);
        }
        Some(path)
    }

    /// Remove the entries this run did not use (files gone, changed, or a new version).
    pub fn prune(&self) {
        let used = self.used.lock().map(|u| u.clone()).unwrap_or_default();
        for sub in ["read", "pdf"] {
            if let Ok(entries) = std::fs::read_dir(self.dir.join(sub)) {
                for e in entries.flatten() {
                    if !used.contains(&e.path()) {
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            }
        }
        // The index of the PDFs kept (written last: the loop above removed the old one).
        let pdf = self.dir.join("pdf");
        let entries: BTreeMap<String, PdfMeta> = self
            .pdf_meta
            .lock()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| used.contains(&pdf.join(format!("{k}.pdf"))))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let index = PdfIndex {
            version: VERSION.to_string(),
            entries,
        };
        if let Ok(bytes) = serde_json::to_vec(&index) {
            self.store(&pdf.join("index.json"), &bytes);
        }
    }

    pub fn summary(&self) -> String {
        format!(
            "解析 {} 个文件、复用缓存 {} 个；生成 PDF {} 份、复用 {} 份",
            self.parsed.load(Ordering::Relaxed),
            self.reused.load(Ordering::Relaxed),
            self.pdf_rendered.load(Ordering::Relaxed),
            self.pdf_reused.load(Ordering::Relaxed)
        )
    }
}
