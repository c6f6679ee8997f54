//! The incremental cache (`OUT/.cache/` or `--cache DIR`): each workbook's processed result
//! (forms recognised, scored and checked) keyed by the file's content hash (blake3) with its
//! path, the rules, the reading limits and the build of jixiao; and rendered PDFs keyed by a
//! hash of what they are drawn from (data, wording, font, build), with their page count,
//! missing characters, hash, length and time in `pdf/index.json`; and 指标明细's rows, a
//! deflated piece per unit, in `detail.pieces` (`output::detail`); and in `stamps.bin` each
//! input file's stamp with the key its bytes had, so that an unchanged file is not even read
//! (`Stamp`). An entry that does not read back whole and matching is discarded and rebuilt,
//! never trusted; entries a run did not use are pruned.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::process::FileResult;
use crate::read::Limits;
use crate::rules::Rules;

const VERSION: &str = env!("CARGO_PKG_VERSION");

pub struct Cache {
    dir: PathBuf,
    /// Hash of what shapes a parse besides the bytes: version and limits.
    salt: String,
    /// False under `--full`: entries are rebuilt, never read.
    reuse: bool,
    /// Entries this run used (a hash set: 40,000 paths compared component by component in a
    /// tree were a few per cent of a rerun).
    used: Mutex<HashSet<PathBuf>>,
    /// What each cached PDF's bytes do not say; an entry missing here is not reused.
    pdf_meta: Mutex<BTreeMap<String, PdfMeta>>,
    /// Last run's stamps of the input files, with the key each file's bytes had then.
    stamps: HashMap<PathBuf, (Stamp, String)>,
    /// This run's, written for the next run by `prune`.
    stamps_now: Mutex<Vec<(PathBuf, Stamp, String)>>,
    pub parsed: AtomicUsize,
    pub reused: AtomicUsize,
    /// Reused by their stamps alone, without reading the file.
    pub stamped: AtomicUsize,
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
    stamp_and_id(path).map(|(s, _)| s)
}

/// `stamp`, and the file's identity (device, inode) where the system has one.
fn stamp_and_id(path: &Path) -> Option<((u64, u64), Option<FileId>)> {
    let meta = std::fs::metadata(path).ok()?;
    let t = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some((
        (meta.len(), u64::try_from(t.as_nanos()).ok()?),
        file_id(&meta),
    ))
}

/// A file's device and inode: two paths with the same one are the same file (hard links).
pub type FileId = (u64, u64);

/// The identity of the file `meta` describes; None where the system has no inodes.
pub fn file_id(meta: &std::fs::Metadata) -> Option<FileId> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

/// What tells, without reading it, that an input file is the one last night's run hashed:
/// its length, modification and status-change times (ns) and identity. Any write changes the
/// status-change time, which no one can set back (`touch -d` and `cp -p` set only the
/// modification time), so a file with an unchanged stamp has unchanged bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    len: u64,
    modified_ns: i128,
    changed_ns: i128,
    dev: u64,
    ino: u64,
}

impl Stamp {
    /// The stamp of the file at `path`; None where the system keeps no status-change time.
    pub fn of(path: &Path) -> Option<Stamp> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let m = std::fs::metadata(path).ok()?;
            let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
            Some(Stamp {
                len: m.len(),
                modified_ns: ns(m.mtime(), m.mtime_nsec()),
                changed_ns: ns(m.ctime(), m.ctime_nsec()),
                dev: m.dev(),
                ino: m.ino(),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            None
        }
    }

    /// Whether the file was last changed long enough ago for its stamp to tell a later write:
    /// file systems keep times in coarse ticks, and a second write within the tick of the
    /// first would leave the stamp as it was (git's "racy" files). Such a file is hashed
    /// again next run.
    fn settled(&self, now_ns: i128) -> bool {
        self.modified_ns.max(self.changed_ns) < now_ns - 2_000_000_000
    }
}

#[derive(Serialize, Deserialize)]
struct Stamps {
    version: String,
    entries: Vec<(PathBuf, Stamp, String)>,
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
    result: FileResult,
}

/// What identifies this build of jixiao: a hash of its own executable, so a changed reader,
/// recogniser or layout never reuses what an older build cached (the version number alone
/// does not change between builds). The version where the executable cannot be read.
pub fn build_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        // Streamed: a debug build's executable is hundreds of MB.
        let hash = |exe: PathBuf| -> std::io::Result<String> {
            let mut h = blake3::Hasher::new();
            h.update_reader(std::fs::File::open(exe)?)?;
            Ok(h.finalize().to_hex()[..16].to_string())
        };
        std::env::current_exe()
            .and_then(hash)
            .map(|h| format!("{VERSION}+{h}"))
            .unwrap_or_else(|_| VERSION.to_string())
    })
}

impl Cache {
    pub fn open(dir: &Path, limits: &Limits, rules: &Rules, reuse: bool) -> Result<Cache, String> {
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
        // Unreadable or of another build: no stamps, every input file is hashed.
        let stamps = std::fs::read(dir.join("stamps.bin"))
            .ok()
            .and_then(|b| postcard::from_bytes::<Stamps>(&b).ok())
            .filter(|s| reuse && s.version == build_id())
            .map(|s| {
                s.entries
                    .into_iter()
                    .map(|(p, st, k)| (p, (st, k)))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Cache {
            pdf_meta: Mutex::new(pdf_meta),
            stamps,
            stamps_now: Mutex::new(Vec::new()),
            dir: dir.to_path_buf(),
            salt: blake3::hash(format!("{}|{limits:?}|{rules:?}", build_id()).as_bytes())
                .to_hex()
                .to_string(),
            reuse,
            used: Mutex::new(HashSet::new()),
            parsed: AtomicUsize::new(0),
            reused: AtomicUsize::new(0),
            stamped: AtomicUsize::new(0),
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

    /// The key of a file's processed result: its path (units are named by their folders)
    /// and its bytes, under the salt.
    pub fn key_of(&self, path: &Path, bytes: &[u8]) -> String {
        let mut h = blake3::Hasher::new();
        h.update(self.salt.as_bytes());
        let path = path.as_os_str().as_encoded_bytes();
        h.update(&(path.len() as u64).to_le_bytes());
        h.update(path);
        h.update(bytes);
        h.finalize().to_hex().to_string()
    }

    /// The cached result of `path` without reading it, if its stamp is still the one last run
    /// recorded with the key of its bytes (recorded again for the next run).
    pub fn result_by_stamp(&self, path: &Path, stamp: Stamp) -> Option<FileResult> {
        let key = match self.stamps.get(path) {
            Some((st, key)) if *st == stamp => key,
            _ => return None,
        };
        let result = self.result(key)?;
        self.keep_stamp(path, stamp, key);
        self.stamped.fetch_add(1, Ordering::Relaxed);
        Some(result)
    }

    /// Remember for the next run that `path`, stamped `stamp` before it was read, had `key`.
    pub fn keep_stamp(&self, path: &Path, stamp: Stamp, key: &str) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        if !stamp.settled(now) {
            return;
        }
        if let Ok(mut s) = self.stamps_now.lock() {
            s.push((path.to_path_buf(), stamp, key.to_string()));
        }
    }

    fn result_path(&self, key: &str) -> PathBuf {
        self.dir.join("read").join(format!("{key}.bin"))
    }

    /// The cached result for `key`, if a whole entry of this build is there.
    pub fn result(&self, key: &str) -> Option<FileResult> {
        if !self.reuse {
            return None;
        }
        let path = self.result_path(key);
        let bytes = std::fs::read(&path).ok()?;
        match postcard::from_bytes::<Entry>(&bytes) {
            Ok(e) if e.version == build_id() && e.key == key => {
                self.mark(&path);
                self.reused.fetch_add(1, Ordering::Relaxed);
                Some(e.result)
            }
            // Corrupt or foreign: drop it, the caller parses again.
            _ => {
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    pub fn put_result(&self, key: &str, result: &FileResult) {
        self.parsed.fetch_add(1, Ordering::Relaxed);
        let entry = Entry {
            version: build_id().to_string(),
            key: key.to_string(),
            result: result.clone(),
        };
        // A result that cannot be encoded (a path that is not UTF-8) is simply not cached.
        if let Ok(bytes) = postcard::to_stdvec(&entry) {
            self.store(&self.result_path(key), &bytes);
        }
    }

    /// The cached PDF for `key`, its metadata and its file's identity, if the file is still
    /// the one stored.
    pub fn pdf(&self, key: &str) -> Option<(PathBuf, PdfMeta, Option<FileId>)> {
        if !self.reuse {
            return None;
        }
        let meta = self.pdf_meta.lock().ok()?.get(key).cloned()?;
        let path = self.dir.join("pdf").join(format!("{key}.pdf"));
        match stamp_and_id(&path) {
            Some((s, id)) if !meta.hash.is_empty() && s == (meta.bytes, meta.modified_ns) => {
                self.mark(&path);
                self.pdf_reused.fetch_add(1, Ordering::Relaxed);
                Some((path, meta, id))
            }
            _ => {
                let _ = std::fs::remove_file(&path);
                None
            }
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
        // Temporary files a killed run left beside the cache's own files (`store`, the pieces'
        // writer): any but this run's, which may be being written now.
        let ours = format!("tmp-{}", std::process::id());
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                let name = e.file_name();
                let stale = name
                    .to_str()
                    .and_then(|n| n.rsplit_once('.'))
                    .is_some_and(|(_, ext)| ext.starts_with("tmp-") && ext != ours);
                if stale && e.file_type().is_ok_and(|t| t.is_file()) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
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
        let stamps = Stamps {
            version: build_id().to_string(),
            entries: self
                .stamps_now
                .lock()
                .map(|mut s| std::mem::take(&mut *s))
                .unwrap_or_default(),
        };
        if let Ok(bytes) = postcard::to_stdvec(&stamps) {
            self.store(&self.dir.join("stamps.bin"), &bytes);
        }
    }

    /// The file of 指标明细's deflated pieces (`output::detail`), and whether it may be read.
    pub fn detail_pieces(&self) -> (PathBuf, bool) {
        (self.dir.join("detail.pieces"), self.reuse)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_is_kept_only_for_a_file_settled_for_two_seconds() {
        let st = |m: i128, c: i128| Stamp {
            len: 1,
            modified_ns: m,
            changed_ns: c,
            dev: 1,
            ino: 1,
        };
        let now = 10_000_000_000;
        assert!(st(7_000_000_000, 7_999_999_999).settled(now));
        // Changed (status) or modified within the last 2 s: not yet trusted.
        assert!(!st(7_000_000_000, 8_000_000_000).settled(now));
        assert!(!st(9_500_000_000, 1_000_000_000).settled(now));
        // A time in the future (a clock set wrong) is never trusted.
        assert!(!st(20_000_000_000, 0).settled(now));
    }

    /// Every sample's processed result reads back from its cache entry exactly as it was made
    /// (forms, scores, issues and their codes, cells, decimals with their scale).
    /// A killed run's half-written files beside the cache's own are removed by the next run's
    /// pruning; this run's own temporary files are left to it.
    #[test]
    fn pruning_removes_the_temporary_files_of_killed_runs() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), &Limits::default(), &Rules::national(), true).unwrap();
        let ours = format!("detail.pieces.tmp-{}", std::process::id());
        for name in ["stamps.bin.tmp-4000001", "detail.pieces.tmp-4000002", &ours] {
            std::fs::write(dir.path().join(name), b"half").unwrap();
        }
        cache.prune();
        assert!(!dir.path().join("stamps.bin.tmp-4000001").exists());
        assert!(!dir.path().join("detail.pieces.tmp-4000002").exists());
        assert!(dir.path().join(&ours).exists());
        assert!(dir.path().join("stamps.bin").exists());
    }

    #[test]
    fn results_round_trip_through_an_entry() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        let rules = Rules::national();
        let limits = Limits::default();
        let mut forms = 0;
        for e in walkdir::WalkDir::new(&root)
            .into_iter()
            .filter_map(Result::ok)
        {
            if !e.file_type().is_file() {
                continue;
            }
            let result = crate::process::process_file(e.path(), &rules, &limits);
            forms += result.forms.len();
            let entry = Entry {
                version: build_id().to_string(),
                key: "k".to_string(),
                result: result.clone(),
            };
            let bytes = postcard::to_stdvec(&entry).unwrap();
            let back: Entry = postcard::from_bytes(&bytes).unwrap();
            assert_eq!(back.result, result, "{}", e.path().display());
            // A damaged entry is an error, never a different result.
            assert!(postcard::from_bytes::<Entry>(&bytes[..bytes.len() / 2]).is_err());
        }
        assert!(forms >= 10, "{forms} forms");
    }
}
