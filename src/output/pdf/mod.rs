//! PDF reports: one per project under `OUT/reports/<单位代码单位名称>/<项目名称>.pdf`, and one
//! evaluation pack per unit under `OUT/packs/<单位代码单位名称>.pdf`. Rendered in parallel with
//! one parsed font; fonts embedded as subsets; names made safe for every file system.

pub mod layout;
pub mod report;
pub mod subset;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use printpdf::{
    FontId, OffsetDateTime, PageAnnotId, PageAnnotation, PdfDocument, PdfPage, PdfSaveOptions,
};
use rayon::prelude::*;

use crate::aggregate::{Aggregate, IssueRow, ProjectRow, UnitSummary};
use crate::cache::{Cache, PdfMeta};
use crate::model::{FormKind, Issue};
use layout::{assemble, Doc, Fonts, Furniture, PageBody, FALLBACK_ID, MAIN_ID};
use report::{pack_pages, project_pages, section_title, Wording};

/// The font carried by the repository (WenQuanYi Micro Hei, see templates/fonts/LICENSE).
pub const DEFAULT_FONT: &[u8] = include_bytes!("../../../templates/fonts/wqy-microhei.ttf");

/// Names Windows reserves, whatever the extension.
const RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// A file or folder name safe on Linux, Windows and macOS: no separators or characters Windows
/// forbids, no control characters, no reserved names, no leading/trailing dots or spaces, at
/// most `max_bytes` bytes (cut on a character boundary).
pub fn safe_name(name: &str, max_bytes: usize) -> String {
    let mut s: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    s = s
        .trim_matches(|c: char| c == '.' || c.is_whitespace())
        .to_string();
    if s.trim_matches('_').is_empty() {
        s = "未命名".to_string();
    }
    let stem = s.split('.').next().unwrap_or("").to_ascii_uppercase();
    if RESERVED.contains(&stem.as_str()) {
        s.insert(0, '_');
    }
    if s.len() > max_bytes {
        let mut cut = max_bytes;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s = s
            .trim_end_matches(|c: char| c == '.' || c.is_whitespace())
            .to_string();
    }
    s
}

/// File names for a set of titles in one folder: safe, at most 120 bytes with ".pdf", and
/// collisions resolved deterministically in the given order (（2）, （3）…).
fn unique_names(titles: &[String]) -> Vec<String> {
    let mut used: BTreeSet<String> = BTreeSet::new();
    titles
        .iter()
        .map(|t| {
            let base = safe_name(t, 110);
            let mut name = format!("{base}.pdf");
            let mut n = 2;
            while !used.insert(name.to_lowercase()) {
                name = format!("{base}（{n}）.pdf");
                n += 1;
            }
            name
        })
        .collect()
}

/// A unit's key and its projects, each with its forms (self-evaluation first).
type UnitProjects<'a> =
    BTreeMap<(Option<String>, String), BTreeMap<String, Vec<&'a ProjectRow<'a>>>>;

/// What rendering produced: files written and issues to add to 问题清单.
#[derive(Debug, Default)]
pub struct PdfOutcome {
    /// Every PDF of the run: project reports, then unit packs.
    pub reports: Vec<ReportFile>,
    pub packs: Vec<ReportFile>,
    pub issues: Vec<IssueRow>,
    /// How many of them were left where they are in `RenderOptions::published` (already the
    /// cache's file there) instead of being put into `out`.
    pub kept: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFile {
    pub unit_code: Option<String>,
    pub unit_name: String,
    pub project: String,
    pub kinds: Vec<FormKind>,
    /// Relative to OUT.
    pub path: PathBuf,
    pub pages: usize,
    pub sources: Vec<PathBuf>,
    /// blake3 of the PDF's bytes.
    pub hash: String,
}

/// `OUT/manifest.csv`: every PDF with its unit, project, form kinds, path, pages, hash and
/// sources (UTF-8 with BOM, fields quoted as in issues.csv).
pub fn write_manifest(out: &mut impl std::io::Write, files: &[ReportFile]) -> std::io::Result<()> {
    use crate::output::csv::field;
    out.write_all("\u{feff}".as_bytes())?;
    let header = [
        "单位编码",
        "单位名称",
        "项目名称",
        "表类型",
        "PDF 路径",
        "页数",
        "blake3",
        "来源文件",
    ];
    write!(
        out,
        "{}\r\n",
        header
            .iter()
            .map(|h| field(h))
            .collect::<Vec<_>>()
            .join(",")
    )?;
    for f in files {
        let kinds: Vec<&str> = f.kinds.iter().map(|k| k.title_zh()).collect();
        let row = [
            f.unit_code.clone().unwrap_or_default(),
            f.unit_name.clone(),
            f.project.clone(),
            if kinds.is_empty() {
                "单位评价材料".to_string()
            } else {
                kinds.join("、")
            },
            f.path.display().to_string(),
            f.pages.to_string(),
            f.hash.clone(),
            f.sources
                .iter()
                .map(|s| s.display().to_string())
                .collect::<Vec<_>>()
                .join("；"),
        ];
        write!(
            out,
            "{}\r\n",
            row.iter().map(|v| field(v)).collect::<Vec<_>>().join(",")
        )?;
    }
    Ok(())
}

/// `OUT/distribute/<单位>.zip`: one unit's reports and pack, to send back to it. PDFs are
/// stored (already compressed) with fixed times, so the zip is reproducible. A PDF kept in
/// `published` (`PdfOutcome::kept`) is read from there.
pub fn write_distribution(
    out: &Path,
    published: Option<&Path>,
    outcome: &PdfOutcome,
) -> Result<usize, String> {
    use std::io::Write;
    let mut by_unit: BTreeMap<PathBuf, Vec<&ReportFile>> = BTreeMap::new();
    for p in &outcome.packs {
        by_unit.entry(p.path.clone()).or_default().push(p);
        for r in outcome
            .reports
            .iter()
            .filter(|r| r.unit_code == p.unit_code && r.unit_name == p.unit_name)
        {
            by_unit.entry(p.path.clone()).or_default().push(r);
        }
    }
    let dir = out.join("distribute");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    for (pack, files) in &by_unit {
        let name = pack
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let file =
            std::fs::File::create(dir.join(format!("{name}.zip"))).map_err(|e| e.to_string())?;
        let mut zip = zip::ZipWriter::new(file);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .last_modified_time(zip::DateTime::default());
        for f in files {
            let inner = f.path.to_string_lossy().replace('\\', "/");
            zip.start_file(inner, opts).map_err(|e| e.to_string())?;
            let bytes = std::fs::read(out.join(&f.path))
                .or_else(|e| match published {
                    Some(p) if e.kind() == std::io::ErrorKind::NotFound => {
                        std::fs::read(p.join(&f.path))
                    }
                    _ => Err(e),
                })
                .map_err(|e| format!("无法读取 {}: {e}", f.path.display()))?;
            zip.write_all(&bytes).map_err(|e| e.to_string())?;
        }
        zip.finish().map_err(|e| e.to_string())?;
    }
    Ok(by_unit.len())
}

/// A printpdf document with deterministic resource ids and creation date.
pub fn save_pdf(
    fonts: &Fonts,
    title: &str,
    pages: Vec<PdfPage>,
    bookmarks: &[(String, usize)],
    timestamp: i64,
) -> Vec<u8> {
    let mut doc = PdfDocument::new(title);
    doc.metadata.info.creation_date =
        OffsetDateTime::from_unix_timestamp(timestamp).unwrap_or(doc.metadata.info.creation_date);
    doc.metadata.info.modification_date = doc.metadata.info.creation_date;
    doc.metadata.info.producer = "jixiao".to_string();
    doc.metadata.info.creator = "jixiao".to_string();
    for (id, chars) in chars_by_font(&pages) {
        if let Some(font) = fonts.for_document(id, &chars) {
            doc.resources.fonts.map.insert(FontId(id.to_string()), font);
        }
    }
    for (i, (name, page)) in bookmarks.iter().enumerate() {
        doc.bookmarks.map.insert(
            PageAnnotId(format!("B{i:05}")),
            PageAnnotation {
                name: name.clone(),
                page: *page,
            },
        );
    }
    doc.with_pages(pages);
    // Serialise without printpdf's compression (zlib level 9, a fifth of a report's time) and
    // compress the streams at the default level: a few per cent larger, several times faster.
    let opts = PdfSaveOptions {
        optimize: false,
        ..PdfSaveOptions::default()
    };
    let mut lo = doc.to_lopdf_document(&opts, &mut Vec::new());
    for object in lo.objects.values_mut() {
        if let lopdf::Object::Stream(stream) = object {
            if stream.allows_compression && stream.dict.get(b"Filter").is_err() {
                compress(stream);
            }
        }
    }
    let mut bytes = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = lo.save_to(&mut bytes);
    content_id(&mut bytes);
    bytes
}

/// Deflate one stream at zlib's default level (lopdf's own `compress` uses level 9).
fn compress(stream: &mut lopdf::Stream) {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(2));
    if z.write_all(&stream.content).is_err() {
        return;
    }
    if let Ok(packed) = z.finish() {
        if packed.len() + 19 < stream.content.len() {
            stream.dict.set("Filter", "FlateDecode");
            stream.set_content(packed);
        }
    }
}

/// The characters each of our font ids draws in these pages.
fn chars_by_font(pages: &[PdfPage]) -> BTreeMap<&'static str, BTreeSet<char>> {
    let mut used: BTreeMap<&'static str, BTreeSet<char>> = BTreeMap::new();
    for page in pages {
        let mut current = None;
        for op in &page.ops {
            match op {
                printpdf::Op::SetFont {
                    font: printpdf::PdfFontHandle::External(FontId(id)),
                    ..
                } => {
                    current = [MAIN_ID, FALLBACK_ID].into_iter().find(|k| k == id);
                }
                printpdf::Op::ShowText { items } => {
                    if let Some(id) = current {
                        let set = used.entry(id).or_default();
                        for item in items {
                            if let printpdf::TextItem::Text(t) = item {
                                set.extend(t.chars());
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    used
}
/// printpdf draws the trailer /ID from a process-wide counter, so it depends on which thread
/// rendered what first. Overwrite both 32-character strings, in place (same length: the xref
/// stays valid), with a hash of everything before the trailer, as the PDF spec intends.
pub fn content_id(bytes: &mut [u8]) {
    let Some(at) = bytes.windows(5).rposition(|w| w == b"/ID[(") else {
        return;
    };
    let hash = blake3::hash(&bytes[..at]).to_hex().to_ascii_uppercase();
    let hex = hash.as_bytes();
    let first = at + 5;
    // /ID[(<32>)(<32>)]
    if bytes.len() < first + 32 + 2 + 32 + 2 || &bytes[first + 32..first + 34] != b")(" {
        return;
    }
    bytes[first..first + 32].copy_from_slice(&hex[..32]);
    bytes[first + 34..first + 66].copy_from_slice(&hex[32..64]);
}

/// The folder `path` goes into, created if missing.
fn create_parent(path: &Path) -> Result<(), String> {
    match path.parent() {
        Some(parent) => std::fs::create_dir_all(parent)
            .map_err(|e| format!("无法创建目录 {}: {e}", parent.display())),
        None => Ok(()),
    }
}

/// `put` at `path`, its folder made when missing: tried first, as the folder mostly exists
/// (a unit's reports share one; a stat or mkdir per PDF was a tenth of a night's time).
fn with_parent(path: &Path, put: impl Fn() -> std::io::Result<()>) -> Result<(), String> {
    let failed = |e: std::io::Error| format!("无法写入 {}: {e}", path.display());
    match put() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create_parent(path)?;
            put().map_err(failed)
        }
        done => done.map_err(failed),
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    with_parent(path, || std::fs::write(path, bytes))
}

fn missing_issue(
    chars: &BTreeSet<char>,
    project: &str,
    unit: &ProjectRow,
    file: &Path,
) -> Option<IssueRow> {
    if chars.is_empty() {
        return None;
    }
    let list: String = chars
        .iter()
        .map(|c| format!("「{c}」(U+{:04X})", *c as u32))
        .collect::<Vec<_>>()
        .join("、");
    Some(IssueRow {
        issue: Issue::warning(
            "pdf.missing_glyph",
            format!("报告字体缺少字符 {list}，PDF 中以〓代替；可用 --font 指定含该字的字体"),
        )
        .in_file(file),
        unit_code: unit.unit_code.clone(),
        unit_name: Some(unit.unit_name.clone()),
        project: Some(project.to_string()),
    })
}

/// A unit's rendered reports, its pack, and the glyph issues found.
type UnitDone = (Vec<ReportFile>, Option<ReportFile>, Vec<IssueRow>);

/// What one render needs besides the data.
struct Ctx<'a> {
    out: &'a Path,
    fonts: &'a Fonts,
    wording: &'a Wording,
    timestamp: i64,
    date: String,
    cache: Option<&'a Cache>,
    /// Where last night's PDFs are (OUT): one that already is the cache's file is kept there.
    published: Option<&'a Path>,
    kept: std::sync::atomic::AtomicUsize,
    /// What every PDF of the run depends on besides its data: the build (layout code), the
    /// fonts and the wording, hashed once.
    salt: String,
}

impl Ctx<'_> {
    /// A cached PDF for `key` with what its bytes do not say.
    fn cached(&self, key: &str) -> Option<(Pdf, PdfMeta)> {
        let (path, meta, id) = self.cache.and_then(|c| c.pdf(key))?;
        Some((Pdf::Cached(path, id), meta))
    }

    /// Put `pdf` at `rel` in the outputs: nothing to do when last night's file there already
    /// is this cache entry (a hard link to it: same device and inode), else into `out`.
    fn place(&self, pdf: &Pdf, rel: &Path) -> Result<(), String> {
        if let (Pdf::Cached(_, Some(id)), Some(published)) = (pdf, self.published) {
            let there = std::fs::symlink_metadata(published.join(rel));
            if there.is_ok_and(|m| m.is_file() && crate::cache::file_id(&m) == Some(*id)) {
                self.kept.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Ok(());
            }
        }
        pdf.place(&self.out.join(rel))
    }

    /// A rendered PDF, cached when there is a cache; `meta` gets its hash.
    fn store(&self, key: &str, bytes: Vec<u8>, meta: &mut PdfMeta) -> Pdf {
        meta.hash = blake3::hash(&bytes).to_hex().to_string();
        match self
            .cache
            .and_then(|c| c.put_pdf(key, &bytes, meta.clone()))
        {
            Some(path) => Pdf::Cached(path, None),
            None => Pdf::Bytes(bytes),
        }
    }
}

/// A PDF to put into the outputs: a cache entry, or bytes when there is no cache.
enum Pdf {
    /// A cache entry, with its file's identity when known.
    Cached(PathBuf, Option<crate::cache::FileId>),
    Bytes(Vec<u8>),
}

impl Pdf {
    /// Write it at `dest`. A cache entry is hard-linked (no second copy on disk; a night with
    /// 30,000 unchanged reports writes none of them), copied where links are impossible (the
    /// cache on another file system).
    fn place(&self, dest: &Path) -> Result<(), String> {
        match self {
            Pdf::Bytes(bytes) => write_file(dest, bytes),
            Pdf::Cached(src, _) => with_parent(dest, || {
                std::fs::hard_link(src, dest).or_else(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => Err(e),
                    _ => std::fs::copy(src, dest).map(|_| ()),
                })
            }),
        }
    }
}

/// A project's laid-out pages and the characters no font had.
fn layout_project(ctx: &Ctx, forms: &[&ProjectRow]) -> (Vec<PageBody>, BTreeSet<char>) {
    let mut doc = Doc::new(ctx.fonts);
    project_pages(&mut doc, forms, ctx.wording);
    (std::mem::take(&mut doc.pages), doc.missing)
}

/// A project's report within its unit: the cache key, and the page bodies when it was laid out
/// (a unit's pack needs every report's pages only when the pack itself is rendered).
struct Part<'a> {
    title: String,
    forms: &'a [&'a ProjectRow<'a>],
    sources: Vec<PathBuf>,
    key: String,
    bodies: Option<Vec<PageBody>>,
}

/// One project's report: from the cache when its inputs are unchanged (no layout at all),
/// else laid out, rendered and cached.
fn render_project<'a>(
    ctx: &Ctx,
    project: &str,
    forms: &'a [&'a ProjectRow<'a>],
    rel: PathBuf,
) -> Result<(Part<'a>, ReportFile, Option<IssueRow>), String> {
    let sources: Vec<PathBuf> = forms.iter().map(|p| p.file.to_path_buf()).collect();
    let title = forms
        .first()
        .map(|p| section_title(p.form(), ctx.wording))
        .unwrap_or_default();
    let key = input_key(ctx, "report", &title, |w| {
        for p in forms {
            w.write_all(p.digest())?;
        }
        Ok(())
    });
    let (pdf, meta, bodies) = match ctx.cached(&key) {
        Some((pdf, meta)) => (pdf, meta, None),
        None => {
            let (bodies, mut missing) = layout_project(ctx, forms);
            let furniture = Furniture {
                header: &ctx.wording.office,
                footer_left: vec![footer(ctx.wording, &ctx.date, &sources); bodies.len()],
            };
            let (pages, more_missing) = assemble(ctx.fonts, bodies.clone(), &furniture);
            missing.extend(more_missing);
            let bytes = save_pdf(ctx.fonts, &title, pages, &[], ctx.timestamp);
            let mut meta = PdfMeta {
                pages: bodies.len(),
                missing: missing.iter().collect(),
                ..PdfMeta::default()
            };
            let pdf = ctx.store(&key, bytes, &mut meta);
            (pdf, meta, Some(bodies))
        }
    };
    ctx.place(&pdf, &rel)?;
    let first = forms[0];
    let file = ReportFile {
        unit_code: first.unit_code.clone(),
        unit_name: first.unit_name.clone(),
        project: project.to_string(),
        kinds: forms.iter().map(|p| p.form().kind()).collect(),
        path: rel,
        pages: meta.pages,
        sources: sources.clone(),
        hash: meta.hash.clone(),
    };
    let missing: BTreeSet<char> = meta.missing.chars().collect();
    let issue = missing_issue(&missing, project, first, first.file);
    let part = Part {
        title: project.to_string(),
        forms,
        sources,
        key,
        bodies,
    };
    Ok((part, file, issue))
}

/// A unit's pack: cover, contents and every report of the unit. From the cache when none of
/// its reports' inputs changed; else the reports not laid out yet are laid out now.
fn render_pack(
    ctx: &Ctx,
    summary: &UnitSummary,
    forms: &[&ProjectRow],
    (code, name): &(Option<String>, String),
    dir: &str,
    parts: Vec<Part>,
) -> Result<ReportFile, String> {
    let year = forms
        .iter()
        .filter(|p| p.form().kind() == FormKind::SelfEval)
        .filter_map(|p| p.form().year.as_ref().map(|y| y.value))
        .max();
    let title = format!("{}{}", code.as_deref().unwrap_or(""), name);
    let mut all_sources: Vec<PathBuf> = parts.iter().flat_map(|p| p.sources.clone()).collect();
    all_sources.sort();
    all_sources.dedup();
    let key = input_key(ctx, "pack", &title, |w| {
        write_data(w, summary)?;
        write!(w, "|{year:?}|")?;
        for p in &parts {
            write!(w, "{}|{}|", p.title, p.key)?;
        }
        Ok(())
    });
    let (pdf, meta) = match ctx.cached(&key) {
        Some(hit) => hit,
        None => {
            let titled: Vec<(String, Vec<PageBody>, Vec<PathBuf>)> = parts
                .into_iter()
                .map(|p| {
                    let bodies = p.bodies.unwrap_or_else(|| layout_project(ctx, p.forms).0);
                    (p.title, bodies, p.sources)
                })
                .collect();
            let for_pack: Vec<(String, Vec<PageBody>)> = titled
                .iter()
                .map(|(t, b, _)| (t.clone(), b.clone()))
                .collect();
            let (bodies, entries, _missing) =
                pack_pages(ctx.fonts, summary, year, &for_pack, ctx.wording);
            let mut marks = vec![("封面".to_string(), 1), ("目录".to_string(), 2)];
            marks.extend(entries);
            let front = bodies.len() - titled.iter().map(|(_, b, _)| b.len()).sum::<usize>();
            let mut footers = vec![footer(ctx.wording, &ctx.date, &[]); front];
            for (_, b, sources) in &titled {
                footers.extend(std::iter::repeat_n(
                    footer(ctx.wording, &ctx.date, sources),
                    b.len(),
                ));
            }
            let furniture = Furniture {
                header: &ctx.wording.office,
                footer_left: footers,
            };
            let n_pages = bodies.len();
            let (pages, _) = assemble(ctx.fonts, bodies, &furniture);
            let bytes = save_pdf(ctx.fonts, &title, pages, &marks, ctx.timestamp);
            let mut meta = PdfMeta {
                pages: n_pages,
                ..PdfMeta::default()
            };
            let pdf = ctx.store(&key, bytes, &mut meta);
            (pdf, meta)
        }
    };
    let rel = PathBuf::from("packs").join(format!("{dir}.pdf"));
    ctx.place(&pdf, &rel)?;
    Ok(ReportFile {
        unit_code: code.clone(),
        unit_name: name.clone(),
        project: "（单位评价材料）".to_string(),
        kinds: Vec::new(),
        path: rel,
        pages: meta.pages,
        sources: all_sources,
        hash: meta.hash,
    })
}

/// How to render: where, with what, and whom to tell of progress.
pub struct RenderOptions<'a> {
    pub out: &'a Path,
    pub fonts: &'a Fonts,
    pub wording: &'a Wording,
    pub timestamp: i64,
    pub cache: Option<&'a Cache>,
    /// Last night's outputs (OUT): a PDF already there as the cache's own file stays, and is
    /// not put into `out` (`PdfOutcome::kept`). None: every PDF goes into `out`.
    pub published: Option<&'a Path>,
    /// Unit packs too (the benchmark measures reports alone without them).
    pub packs: bool,
    /// Called once per unit rendered (a progress bar on a terminal).
    pub progress: Option<&'a (dyn Fn() + Sync)>,
}

/// The number of units `render_all` will render (for a progress bar's length).
pub fn unit_count(agg: &Aggregate) -> usize {
    agg.counted()
        .map(|p| (&p.unit_code, &p.unit_name))
        .collect::<BTreeSet<_>>()
        .len()
}

/// Render every project report and, with `packs`, every unit pack. Units are rendered in
/// parallel, each one whole (its reports, then its pack) before its pages are dropped, so
/// memory holds a few units' pages, not the province's.
pub fn render_all(agg: &Aggregate, o: &RenderOptions) -> Result<PdfOutcome, String> {
    // Projects of each unit: the counted forms, grouped by project name (self-evaluation first).
    let mut units: UnitProjects = BTreeMap::new();
    for p in agg.counted() {
        units
            .entry((p.unit_code.clone(), p.unit_name.clone()))
            .or_default()
            .entry(p.form().project_name().to_string())
            .or_default()
            .push(p);
    }
    for projects in units.values_mut() {
        for forms in projects.values_mut() {
            forms.sort_by_key(|p| {
                if p.form().kind() == FormKind::SelfEval {
                    0
                } else {
                    1
                }
            });
        }
    }
    let ctx = Ctx {
        out: o.out,
        fonts: o.fonts,
        wording: o.wording,
        timestamp: o.timestamp,
        date: layout_date(o.timestamp),
        cache: o.cache,
        published: o.published,
        kept: Default::default(),
        salt: blake3::hash(
            format!(
                "{}|{}|{:?}",
                crate::cache::build_id(),
                o.fonts.key,
                o.wording
            )
            .as_bytes(),
        )
        .to_hex()
        .to_string(),
    };
    let unit_dirs: Vec<String> = units
        .keys()
        .map(|(code, name)| format!("{}{}", code.as_deref().unwrap_or(""), name))
        .collect();
    let unit_dirs: Vec<String> = unique_names(&unit_dirs)
        .into_iter()
        .map(|n| n.trim_end_matches(".pdf").to_string())
        .collect();
    let units: Vec<_> = units.into_iter().collect();
    let summaries: HashMap<(Option<String>, String), &UnitSummary> = agg
        .units
        .iter()
        .map(|u| ((u.code.clone(), u.name.clone()), u))
        .collect();
    let done: Vec<Result<UnitDone, String>> = units
        .par_iter()
        .zip(&unit_dirs)
        .map(|((key, projects), dir)| {
            let titles: Vec<String> = projects.keys().cloned().collect();
            let mut files = Vec::with_capacity(projects.len());
            let mut parts = Vec::with_capacity(projects.len());
            let mut issues = Vec::new();
            for ((project, forms), name) in projects.iter().zip(unique_names(&titles)) {
                let rel = PathBuf::from("reports").join(dir).join(name);
                let (part, file, issue) = render_project(&ctx, project, forms, rel)?;
                parts.push(part);
                files.push(file);
                issues.extend(issue);
            }
            let pack = if o.packs {
                let forms: Vec<&ProjectRow> = projects.values().flatten().copied().collect();
                let summary = summaries.get(key).copied().cloned().unwrap_or_default();
                Some(render_pack(&ctx, &summary, &forms, key, dir, parts)?)
            } else {
                None
            };
            if let Some(tick) = o.progress {
                tick();
            }
            Ok((files, pack, issues))
        })
        .collect();
    let mut outcome = PdfOutcome {
        kept: ctx.kept.into_inner(),
        ..PdfOutcome::default()
    };
    for d in done {
        let (files, pack, issues) = d?;
        outcome.reports.extend(files);
        outcome.packs.extend(pack);
        outcome.issues.extend(issues);
    }
    Ok(outcome)
}

/// What a PDF's bytes depend on, except the generation date: the run's salt (build, fonts,
/// wording), the kind and title, and the data drawn (`data` writes it: the forms
/// with their scores and issues, or a pack's summary and its reports' keys). Keyed by inputs,
/// an unchanged report is reused without being laid out; it keeps the date it was first
/// generated on, so with SOURCE_DATE_EPOCH set cached and full runs are byte-identical.
fn input_key(
    ctx: &Ctx,
    kind: &str,
    title: &str,
    data: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> String {
    let mut h = blake3::Hasher::new();
    h.update(ctx.salt.as_bytes());
    h.update(format!("|{kind}|{title}|").as_bytes());
    {
        // Streamed into the hash: no intermediate string. Writing into a hasher cannot fail.
        let mut w = std::io::BufWriter::with_capacity(1 << 16, &mut h);
        let _ = data(&mut w);
        let _ = std::io::Write::flush(&mut w);
    }
    h.finalize().to_hex().to_string()
}

/// A value into a key: as JSON (fast, and keeps a decimal's scale: 1.0 and 1.00 print
/// differently); as Debug only if JSON cannot say it (a path that is not UTF-8).
fn write_data<T: serde::Serialize + std::fmt::Debug>(
    w: &mut dyn std::io::Write,
    value: &T,
) -> std::io::Result<()> {
    let mut json = Vec::new();
    match serde_json::to_writer(&mut json, value) {
        Ok(()) => w.write_all(&json),
        Err(_) => write!(w, "{value:?}"),
    }
}

fn layout_date(timestamp: i64) -> String {
    crate::output::workbook::beijing_time(timestamp)
        .split(' ')
        .next()
        .unwrap_or("")
        .to_string()
}

fn footer(w: &Wording, date: &str, sources: &[PathBuf]) -> String {
    let source = if sources.is_empty() {
        "本单位报送材料汇总".to_string()
    } else {
        sources
            .iter()
            .map(|s| {
                s.file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("、")
    };
    w.footer
        .replace("{date}", date)
        .replace("{source}", &source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe() {
        assert_eq!(safe_name("../../x", 120), "_.._x");
        assert_eq!(safe_name("CON", 120), "_CON");
        assert_eq!(safe_name("con.txt", 120), "_con.txt");
        assert_eq!(safe_name("a\nb", 120), "a_b");
        assert_eq!(safe_name("..", 120), "未命名");
        assert_eq!(safe_name("科普经费", 120), "科普经费");
        let long = "长".repeat(300);
        let s = safe_name(&long, 110);
        assert!(s.len() <= 110 && s.chars().all(|c| c == '长'));
        let names = unique_names(&["a/b".into(), "a_b".into(), "A_B".into()]);
        assert_eq!(names, vec!["a_b.pdf", "a_b（2）.pdf", "A_B（3）.pdf"]);
        assert!(unique_names(&[long]).iter().all(|n| n.len() <= 120));
    }
}
