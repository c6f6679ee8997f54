//! A small layout layer over printpdf 0.12's op lists: measured text, Chinese line breaking
//! with 禁则, paragraphs, bordered tables whose rows wrap, split and move to the next page
//! under a repeated header, and page furniture (header, footer, 第 X 页 共 Y 页).
//!
//! printpdf places glyphs and nothing more; everything about where text goes is decided here.
//! Coordinates are points from the bottom-left corner of an A4 page.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use super::subset::Subsetter;

use printpdf::{
    Color, FontId, Line, LinePoint, Op, PaintMode, ParsedFont, PdfFont, PdfFontHandle, PdfPage,
    Point, Pt, Rect, Rgb, TextItem,
};

pub const A4_W: f32 = 595.28;
pub const A4_H: f32 = 841.89;
pub const MARGIN_X: f32 = 54.0;
pub const MARGIN_TOP: f32 = 62.0;
pub const MARGIN_BOTTOM: f32 = 60.0;

/// No line may start with these (closing punctuation, 行首禁则).
const NO_START: &str = "，。、；：？！）》」』】〕’”…·％%,.;:!?)]}";
/// No line may end with these (opening punctuation, 行尾禁则).
const NO_END: &str = "（《「『【〔‘“([{";

/// Characters that stay together as one unbreakable word: Latin letters, digits and the
/// punctuation inside numbers (185.00, 1,200, 2023-12-31, 90%).
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '.' | ',' | '%' | '-' | '_' | '/' | ':' | '+' | '@' | '#' | '&' | '=' | '\''
        )
}

/// Split a paragraph into break units: a Latin word or number, a space, or one other char.
fn tokens(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if is_word_char(c) {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        out.push(c.to_string());
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

fn starts_no_start(t: &str) -> bool {
    t.chars().next().is_some_and(|c| NO_START.contains(c))
}

fn ends_no_end(t: &str) -> bool {
    t.chars().last().is_some_and(|c| NO_END.contains(c))
}

/// Break `text` into lines no wider than `max` (in the unit `width` measures). Explicit
/// newlines break; Han characters break anywhere; words and numbers stay whole unless wider
/// than a line; 禁则 are kept by moving a character to the next line.
pub fn break_lines(text: &str, max: f32, width: &dyn Fn(char) -> f32) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.split('\n') {
        let para = para.trim_end_matches('\r');
        if para.trim().is_empty() {
            lines.push(String::new());
            continue;
        }
        let w = |t: &str| t.chars().map(width).sum::<f32>();
        let mut line: Vec<String> = Vec::new();
        let mut line_w = 0.0f32;
        let mut toks: std::collections::VecDeque<String> = tokens(para).into();
        while let Some(t) = toks.pop_front() {
            let tw = w(&t);
            if line.is_empty() && t == " " {
                continue;
            }
            if line_w + tw <= max || line.is_empty() && tw <= max {
                line_w += tw;
                line.push(t);
                continue;
            }
            if line.is_empty() {
                // A word wider than the line: cut it by characters.
                let mut head = String::new();
                let mut hw = 0.0;
                let mut rest = String::new();
                for c in t.chars() {
                    if rest.is_empty() && (hw + width(c) <= max || head.is_empty()) {
                        hw += width(c);
                        head.push(c);
                    } else {
                        rest.push(c);
                    }
                }
                lines.push(head);
                if !rest.is_empty() {
                    toks.push_front(rest);
                }
                continue;
            }
            // Break before `t`. 行首禁则: a closing mark takes the previous unit along.
            toks.push_front(t);
            if toks.front().is_some_and(|t| starts_no_start(t)) && line.len() > 1 {
                if let Some(last) = line.pop() {
                    toks.push_front(last);
                }
            }
            // 行尾禁则: an opening mark goes down with what it opens.
            while line.len() > 1 && line.last().is_some_and(|t| ends_no_end(t)) {
                if let Some(last) = line.pop() {
                    toks.push_front(last);
                }
            }
            lines.push(line.concat().trim_end().to_string());
            line.clear();
            line_w = 0.0;
        }
        if !line.is_empty() {
            lines.push(line.concat().trim_end().to_string());
        }
    }
    lines
}

/// The fonts of a document: the main CJK face and an optional fallback for characters it
/// lacks. Parsed once per run and shared by every document.
pub struct Fonts {
    /// Hash of the font files: part of every cached PDF's key.
    pub key: String,
    pub main: ParsedFont,
    pub fallback: Option<ParsedFont>,
    /// Each face indexed for per-document subsets (None for fonts that are not TrueType).
    main_subset: Option<Subsetter>,
    fallback_subset: Option<Subsetter>,
    main_upm: f32,
    fallback_upm: f32,
    /// Face and advance of each BMP character once looked up (0 = not yet).
    memo: Vec<AtomicU64>,
}

/// Which face draws a character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    Main,
    Fallback,
    /// Neither face has it: drawn as 〓 and reported.
    Missing,
}

/// Six capital letters: printpdf writes the id as the subset tag (TAG+FontName).
pub const MAIN_ID: &str = "JXAAAA";
pub const FALLBACK_ID: &str = "JXAAAB";
/// Drawn for a character no font has (GETA MARK, in GB2312): visible, never a blank box.
pub const MISSING_MARK: char = '〓';

impl Fonts {
    pub fn parse(main: &[u8], fallback: Option<&[u8]>) -> Result<Fonts, String> {
        let mut h = blake3::Hasher::new();
        h.update(main);
        if let Some(f) = fallback {
            h.update(f);
        }
        let parse = |b: &[u8], what: &str| {
            ParsedFont::from_bytes(b, 0, &mut Vec::new())
                .ok_or_else(|| format!("无法解析{what}字体文件"))
        };
        let main_subset = Subsetter::new(main);
        let fallback_subset = fallback.and_then(Subsetter::new);
        let main = parse(main, "")?;
        let fallback = fallback.map(|b| parse(b, "后备")).transpose()?;
        let upm = |f: &ParsedFont| f.pdf_font_metrics.units_per_em.max(1) as f32;
        Ok(Fonts {
            key: h.finalize().to_hex().to_string(),
            main_subset,
            fallback_subset,
            memo: (0..0x10000).map(|_| AtomicU64::new(0)).collect(),
            main_upm: upm(&main),
            fallback_upm: fallback.as_ref().map(upm).unwrap_or(1000.0),
            main,
            fallback,
        })
    }

    /// The font to embed in one document for font `id` (MAIN_ID or FALLBACK_ID). A TrueType
    /// face is subset here to just `chars` and embedded as it is, tagged `ID+Name` as a
    /// subset (ISO 32000-1, 9.6.4); any other face is handed whole to printpdf's subsetter.
    pub fn for_document(&self, id: &str, chars: &BTreeSet<char>) -> Option<PdfFont> {
        let (face, subsetter) = match id {
            MAIN_ID => (&self.main, self.main_subset.as_ref()),
            FALLBACK_ID => (self.fallback.as_ref()?, self.fallback_subset.as_ref()),
            _ => return None,
        };
        let small = subsetter.and_then(|s| {
            let glyphs = chars
                .iter()
                .filter_map(|&c| Some((c, face.lookup_glyph_index(c as u32)?)))
                .collect();
            let mut font = ParsedFont::from_bytes(&s.subset(&glyphs)?, 0, &mut Vec::new())?;
            let name = face.font_name.clone().unwrap_or_else(|| "Font".to_string());
            font.font_name = Some(format!("{id}+{}", name.replace(' ', "")));
            let mut pdf = PdfFont::new(font);
            pdf.meta.requires_subsetting = false;
            Some(pdf)
        });
        Some(small.unwrap_or_else(|| PdfFont::new(face.clone())))
    }

    pub fn face(&self, c: char) -> Face {
        self.metrics(c).0
    }

    /// Advance of `c` at `size` pt, in pt.
    pub fn advance(&self, c: char, size: f32) -> f32 {
        self.metrics(c).1 * size
    }

    /// The face of `c` and its advance at 1 pt. Layout asks this for every character of
    /// every line it tries, so BMP answers are kept (a cmap lookup each time was a tenth of a
    /// report's time).
    fn metrics(&self, c: char) -> (Face, f32) {
        let slot = self.memo.get(c as usize);
        if let Some(v) = slot.map(|a| a.load(Ordering::Relaxed)).filter(|&v| v != 0) {
            let face = match v >> 32 {
                1 => Face::Main,
                2 => Face::Fallback,
                _ => Face::Missing,
            };
            return (face, f32::from_bits(v as u32));
        }
        let m = self.lookup(c);
        if let Some(a) = slot {
            let tag = match m.0 {
                Face::Main => 1u64,
                Face::Fallback => 2,
                Face::Missing => 3,
            };
            a.store(tag << 32 | u64::from(m.1.to_bits()), Ordering::Relaxed);
        }
        m
    }

    fn lookup(&self, c: char) -> (Face, f32) {
        let face = if c.is_control() || self.main.has_glyph(c as u32) {
            Face::Main
        } else if self
            .fallback
            .as_ref()
            .is_some_and(|f| f.has_glyph(c as u32))
        {
            Face::Fallback
        } else {
            Face::Missing
        };
        let (font, upm, c) = match face {
            Face::Main => (&self.main, self.main_upm, c),
            Face::Fallback => match &self.fallback {
                Some(f) => (f, self.fallback_upm, c),
                None => (&self.main, self.main_upm, MISSING_MARK),
            },
            Face::Missing => (&self.main, self.main_upm, MISSING_MARK),
        };
        let advance = match font.lookup_glyph_index(c as u32) {
            Some(g) => font.get_horizontal_advance(g) as f32 / upm,
            None => 1.0,
        };
        (face, advance)
    }

    pub fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.advance(c, size)).sum()
    }
}

pub fn rgb(r: f32, g: f32, b: f32) -> Color {
    Color::Rgb(Rgb {
        r,
        g,
        b,
        icc_profile: None,
    })
}

pub fn black() -> Color {
    rgb(0.0, 0.0, 0.0)
}

fn pt(x: f32, y: f32) -> Point {
    Point { x: Pt(x), y: Pt(y) }
}

/// Text style of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct TextStyle {
    pub size: f32,
    pub color: Color,
    /// Heavier strokes (fill + stroke) for titles: the font has one weight.
    pub bold: bool,
}

impl TextStyle {
    pub fn new(size: f32) -> Self {
        TextStyle {
            size,
            color: black(),
            bold: false,
        }
    }

    pub fn bold(mut self) -> Self {
        self.bold = true;
        self
    }

    pub fn color(mut self, c: Color) -> Self {
        self.color = c;
        self
    }

    pub fn line_height(&self) -> f32 {
        self.size * 1.5
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Center,
    Right,
}

/// A table column: title, width in pt, alignment.
#[derive(Debug, Clone)]
pub struct Column {
    pub title: String,
    pub width: f32,
    pub align: Align,
}

impl Column {
    pub fn new(title: &str, width: f32, align: Align) -> Self {
        Column {
            title: title.to_string(),
            width,
            align,
        }
    }
}

/// A table cell: text, and an optional fill and text colour (to mark unmet indicators).
#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub text: String,
    pub fill: Option<Color>,
    pub color: Option<Color>,
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Self {
        Cell {
            text: s.into(),
            ..Default::default()
        }
    }
}

/// A rectangle with its lower-left corner at (x, y).
fn rect(x: f32, y: f32, w: f32, h: f32, mode: PaintMode) -> Op {
    Op::DrawRectangle {
        rectangle: Rect {
            x: Pt(x),
            y: Pt(y),
            width: Pt(w),
            height: Pt(h),
            mode: Some(mode),
            winding_order: None,
        },
    }
}

/// One page's body, before page numbers are known.
#[derive(Debug, Clone, Default)]
pub struct PageBody {
    pub ops: Vec<Op>,
    /// The graphics state these ops leave, so a setting is written only when it changes (a
    /// report has thousands of text lines: repeating colour and font for each was a quarter of
    /// its content stream). A page starts with nothing known.
    pen: Pen,
}

#[derive(Debug, Clone, Default)]
struct Pen {
    fill: Option<Color>,
    stroke: Option<(Color, f32)>,
    font: Option<(&'static str, f32)>,
    /// Text drawn filled and stroked (our bold).
    bold: Option<bool>,
}

impl PageBody {
    fn fill(&mut self, col: &Color) {
        if self.pen.fill.as_ref() != Some(col) {
            self.ops.push(Op::SetFillColor { col: col.clone() });
            self.pen.fill = Some(col.clone());
        }
    }

    fn stroke(&mut self, col: &Color, thickness: f32) {
        if self.pen.stroke.as_ref() != Some(&(col.clone(), thickness)) {
            self.ops.push(Op::SetOutlineColor { col: col.clone() });
            self.ops.push(Op::SetOutlineThickness { pt: Pt(thickness) });
            self.pen.stroke = Some((col.clone(), thickness));
        }
    }

    fn font(&mut self, id: &'static str, size: f32) {
        if self.pen.font != Some((id, size)) {
            self.ops.push(Op::SetFont {
                font: PdfFontHandle::External(FontId(id.to_string())),
                size: Pt(size),
            });
            self.pen.font = Some((id, size));
        }
    }

    fn bold(&mut self, bold: bool) {
        if self.pen.bold != Some(bold) {
            let mode = if bold {
                printpdf::TextRenderingMode::FillStroke
            } else {
                printpdf::TextRenderingMode::Fill
            };
            self.ops.push(Op::SetTextRenderingMode { mode });
            self.pen.bold = Some(bold);
        }
    }
}

/// Lays content out top to bottom over as many pages as it takes.
pub struct Doc<'f> {
    pub fonts: &'f Fonts,
    pub pages: Vec<PageBody>,
    /// Baseline cursor: the top of the next block, in pt from the bottom.
    pub y: f32,
    /// Characters no font could draw.
    pub missing: BTreeSet<char>,
}

const CELL_PAD: f32 = 3.0;

impl<'f> Doc<'f> {
    pub fn new(fonts: &'f Fonts) -> Self {
        let mut d = Doc {
            fonts,
            pages: Vec::new(),
            y: 0.0,
            missing: BTreeSet::new(),
        };
        d.new_page();
        d
    }

    pub fn content_width(&self) -> f32 {
        A4_W - 2.0 * MARGIN_X
    }

    pub fn new_page(&mut self) {
        self.pages.push(PageBody::default());
        self.y = A4_H - MARGIN_TOP;
    }

    fn page(&mut self) -> &mut PageBody {
        if self.pages.is_empty() {
            self.pages.push(PageBody::default());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    /// Room left on this page, in pt.
    pub fn room(&self) -> f32 {
        self.y - MARGIN_BOTTOM
    }

    /// Start a new page unless `h` pt fit on this one.
    pub fn ensure(&mut self, h: f32) {
        if self.room() < h && self.y < A4_H - MARGIN_TOP {
            self.new_page();
        }
    }

    pub fn space(&mut self, h: f32) {
        self.y -= h;
        if self.room() < 0.0 {
            self.new_page();
        }
    }

    /// Draw one line of text with its baseline at (x, y), splitting runs by face.
    pub fn draw_text(&mut self, x: f32, y: f32, text: &str, style: &TextStyle) {
        let mut runs: Vec<(Face, String)> = Vec::new();
        for c in text.chars() {
            let face = self.fonts.face(c);
            let (face, c) = match face {
                Face::Missing => {
                    self.missing.insert(c);
                    (Face::Main, MISSING_MARK)
                }
                Face::Fallback if self.fonts.fallback.is_none() => (Face::Main, MISSING_MARK),
                f => (f, c),
            };
            match runs.last_mut() {
                Some((f, s)) if *f == face => s.push(c),
                _ => runs.push((face, c.to_string())),
            }
        }
        let mut x = x;
        let size = style.size;
        for (face, run) in runs {
            let id = if face == Face::Fallback {
                FALLBACK_ID
            } else {
                MAIN_ID
            };
            let width = self.fonts.width(&run, size);
            let page = self.page();
            page.ops.push(Op::StartTextSection);
            page.fill(&style.color);
            if style.bold {
                // Fill and stroke the glyphs: a heavier face from the one weight we carry.
                page.stroke(&style.color, size * 0.035);
            }
            page.bold(style.bold);
            page.font(id, size);
            page.ops.push(Op::SetTextCursor { pos: pt(x, y) });
            page.ops.push(Op::ShowText {
                items: vec![TextItem::Text(run)],
            });
            page.ops.push(Op::EndTextSection);
            x += width;
        }
    }

    pub fn measure(&self, text: &str, size: f32) -> f32 {
        self.fonts.width(text, size)
    }

    pub fn lines(&self, text: &str, width: f32, size: f32) -> Vec<String> {
        let f = |c: char| self.fonts.advance(c, size);
        break_lines(text, width, &f)
    }

    /// A paragraph at `indent` pt from the left margin, wrapped, flowing over pages.
    pub fn paragraph(&mut self, text: &str, style: &TextStyle, indent: f32) {
        let width = self.content_width() - indent;
        let lh = style.line_height();
        for line in self.lines(text, width, style.size) {
            if self.room() < lh {
                self.new_page();
            }
            self.y -= lh;
            self.draw_text(MARGIN_X + indent, self.y + lh * 0.28, &line, style);
        }
    }

    /// A centred line (titles).
    pub fn centered(&mut self, text: &str, style: &TextStyle) {
        for line in self.lines(text, self.content_width(), style.size) {
            let lh = style.line_height();
            if self.room() < lh {
                self.new_page();
            }
            self.y -= lh;
            let w = self.measure(&line, style.size);
            self.draw_text((A4_W - w) / 2.0, self.y + lh * 0.28, &line, style);
        }
    }

    pub fn rule(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, thickness: f32, color: Color) {
        let page = self.page();
        page.stroke(&color, thickness);
        page.ops.push(Op::DrawLine {
            line: Line {
                points: vec![
                    LinePoint {
                        p: pt(x1, y1),
                        bezier: false,
                    },
                    LinePoint {
                        p: pt(x2, y2),
                        bezier: false,
                    },
                ],
                is_closed: false,
            },
        });
    }

    /// A filled rectangle with its lower-left corner at (x, y).
    pub fn fill_rect(&mut self, x: f32, y: f32, w: f32, h: f32, color: Color) {
        let page = self.page();
        page.fill(&color);
        page.ops.push(rect(x, y, w, h, PaintMode::Fill));
    }

    pub fn stroke_rect(&mut self, x: f32, y: f32, w: f32, h: f32, color: Color) {
        let page = self.page();
        page.stroke(&color, 0.6);
        page.ops.push(rect(x, y, w, h, PaintMode::Stroke));
    }

    /// A bordered table. Cells wrap; a row that does not fit moves to the next page, a row
    /// taller than a page is split; the header row is repeated on every page.
    pub fn table(&mut self, cols: &[Column], rows: &[Vec<Cell>], size: f32) {
        let style = TextStyle::new(size);
        let lh = style.line_height();
        let header: Vec<Vec<String>> = cols
            .iter()
            .map(|c| self.lines(&c.title, c.width - 2.0 * CELL_PAD, size))
            .collect();
        let header_h = header.iter().map(Vec::len).max().unwrap_or(1) as f32 * lh + 2.0 * CELL_PAD;
        // Never start a table with less room than its header and one line.
        if self.room() < header_h + lh + 2.0 * CELL_PAD {
            self.new_page();
        }
        self.table_header(cols, &header, header_h, size);
        for row in rows {
            let wrapped: Vec<Vec<String>> = cols
                .iter()
                .zip(row)
                .map(|(c, cell)| self.lines(&cell.text, c.width - 2.0 * CELL_PAD, size))
                .collect();
            let mut start = 0usize; // lines of this row already drawn
            let total = wrapped.iter().map(Vec::len).max().unwrap_or(1).max(1);
            while start < total {
                let left = total - start;
                let fits = ((self.room() - 2.0 * CELL_PAD) / lh).floor().max(0.0) as usize;
                let full_page = ((A4_H - MARGIN_TOP - MARGIN_BOTTOM - header_h - 2.0 * CELL_PAD)
                    / lh)
                    .floor() as usize;
                let take = if fits >= left {
                    left
                } else if left <= full_page || fits == 0 {
                    // Move the whole (rest of the) row to a fresh page under the header.
                    self.new_page();
                    self.table_header(cols, &header, header_h, size);
                    continue;
                } else {
                    fits // split a row taller than a page
                };
                let h = take as f32 * lh + 2.0 * CELL_PAD;
                let top = self.y;
                let mut x = MARGIN_X;
                for ((c, cell), lines) in cols.iter().zip(row).zip(&wrapped) {
                    if let Some(fill) = &cell.fill {
                        self.fill_rect(x, top - h, c.width, h, fill.clone());
                    }
                    let st = match &cell.color {
                        Some(col) => style.clone().color(col.clone()),
                        None => style.clone(),
                    };
                    for (i, line) in lines.iter().skip(start).take(take).enumerate() {
                        let base = top - CELL_PAD - (i as f32 + 1.0) * lh + lh * 0.28;
                        let tx = match c.align {
                            Align::Left => x + CELL_PAD,
                            Align::Center => x + (c.width - self.measure(line, size)) / 2.0,
                            Align::Right => x + c.width - CELL_PAD - self.measure(line, size),
                        };
                        self.draw_text(tx, base, line, &st);
                    }
                    self.stroke_rect(x, top - h, c.width, h, black());
                    x += c.width;
                }
                self.y = top - h;
                start += take;
                if start < total {
                    self.new_page();
                    self.table_header(cols, &header, header_h, size);
                }
            }
        }
    }

    fn table_header(&mut self, cols: &[Column], header: &[Vec<String>], h: f32, size: f32) {
        let style = TextStyle::new(size).bold();
        let lh = style.line_height();
        let top = self.y;
        let mut x = MARGIN_X;
        for (c, lines) in cols.iter().zip(header) {
            self.fill_rect(x, top - h, c.width, h, rgb(0.87, 0.92, 0.97));
            for (i, line) in lines.iter().enumerate() {
                let w = self.measure(line, size);
                let base = top - CELL_PAD - (i as f32 + 1.0) * lh + lh * 0.28;
                self.draw_text(x + (c.width - w) / 2.0, base, line, &style);
            }
            self.stroke_rect(x, top - h, c.width, h, black());
            x += c.width;
        }
        self.y = top - h;
    }
}

/// Page furniture added once the page count is known.
pub struct Furniture<'a> {
    /// Top-left text on every page (the issuing office).
    pub header: &'a str,
    /// Footer left text (generation date and source), per page.
    pub footer_left: Vec<String>,
}

/// Turn page bodies into printpdf pages with header, footer and 第 X 页 共 Y 页.
pub fn assemble(
    fonts: &Fonts,
    bodies: Vec<PageBody>,
    furniture: &Furniture,
) -> (Vec<PdfPage>, BTreeSet<char>) {
    let total = bodies.len();
    let mut missing = BTreeSet::new();
    let pages = bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let mut d = Doc {
                fonts,
                pages: vec![PageBody::default()],
                y: 0.0,
                missing: BTreeSet::new(),
            };
            let small = TextStyle::new(8.0).color(rgb(0.35, 0.35, 0.35));
            if !furniture.header.is_empty() {
                d.draw_text(MARGIN_X, A4_H - 40.0, furniture.header, &small);
                d.rule(
                    MARGIN_X,
                    A4_H - 45.0,
                    A4_W - MARGIN_X,
                    A4_H - 45.0,
                    0.5,
                    rgb(0.5, 0.5, 0.5),
                );
            }
            d.rule(
                MARGIN_X,
                45.0,
                A4_W - MARGIN_X,
                45.0,
                0.5,
                rgb(0.5, 0.5, 0.5),
            );
            if let Some(left) = furniture.footer_left.get(i) {
                let max = A4_W - 2.0 * MARGIN_X - 90.0;
                let line = d
                    .lines(left, max, 8.0)
                    .into_iter()
                    .next()
                    .unwrap_or_default();
                d.draw_text(MARGIN_X, 33.0, &line, &small);
            }
            let number = format!("第 {} 页 共 {} 页", i + 1, total);
            let w = d.measure(&number, 8.0);
            d.draw_text(A4_W - MARGIN_X - w, 33.0, &number, &small);
            missing.extend(d.missing);
            let mut ops = body.ops;
            ops.extend(d.pages.pop().map(|p| p.ops).unwrap_or_default());
            PdfPage::new(printpdf::Mm(210.0), printpdf::Mm(297.0), ops)
        })
        .collect();
    (pages, missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Han and full-width punctuation 10 wide, ASCII 5 wide.
    fn w(c: char) -> f32 {
        if c.is_ascii() {
            5.0
        } else {
            10.0
        }
    }

    #[test]
    fn breaks_between_han_and_keeps_numbers_whole() {
        let lines = break_lines("预算数185.00万元", 60.0, &w);
        // 预算数 = 30, "185.00" = 30 → fits exactly; 万元 to the next line.
        assert_eq!(lines, vec!["预算数185.00", "万元"]);
        let lines = break_lines("共计1234567个", 50.0, &w);
        assert_eq!(lines, vec!["共计", "1234567个"]);
    }

    #[test]
    fn no_line_starts_with_closing_punctuation() {
        // Five Han fill the line; the comma may not start the next one.
        let lines = break_lines("一二三四五，六七", 50.0, &w);
        assert_eq!(lines, vec!["一二三四", "五，六七"]);
        for text in [
            "提升基层公共科普服务能力。实施项目8项以上。",
            "（一）目标：完成，验收；结项！",
        ] {
            for width in [30.0, 40.0, 50.0, 70.0] {
                for l in break_lines(text, width, &w).iter().skip(1) {
                    assert!(!starts_no_start(l), "{text} @ {width}: {l}");
                }
            }
        }
    }

    #[test]
    fn no_line_ends_with_opening_punctuation() {
        let lines = break_lines("一二三四（五六）", 50.0, &w);
        assert_eq!(lines, vec!["一二三四", "（五六）"]);
        for width in [30.0, 40.0, 60.0] {
            for l in break_lines("项目《天津科协》杂志（中央专款）", width, &w) {
                assert!(!ends_no_end(&l), "{width}: {l}");
            }
        }
    }

    #[test]
    fn newlines_and_long_words() {
        assert_eq!(break_lines("一\n二", 100.0, &w), vec!["一", "二"]);
        let lines = break_lines("abcdefghijklmnopqrstuvwxyz", 50.0, &w);
        assert_eq!(lines[0], "abcdefghij");
        assert_eq!(lines.concat(), "abcdefghijklmnopqrstuvwxyz");
    }

    #[test]
    fn nothing_is_lost() {
        let text = "街道、乡镇科协组织覆盖率达百分之百，主场活动2场，带动全市开展活动不少于1万场（含线上）。";
        for width in [20.0, 35.0, 55.0, 100.0, 1000.0] {
            let lines = break_lines(text, width, &w);
            assert_eq!(lines.concat(), text, "{width}");
            for l in &lines {
                let lw: f32 = l.chars().map(w).sum();
                assert!(lw <= width.max(10.0) + 10.0, "{width}: {l}");
            }
        }
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;

    fn fonts() -> Fonts {
        Fonts::parse(crate::output::pdf::DEFAULT_FONT, None).unwrap()
    }

    fn texts(page: &PageBody) -> Vec<String> {
        page.ops
            .iter()
            .filter_map(|op| match op {
                Op::ShowText { items } => Some(
                    items
                        .iter()
                        .map(|i| match i {
                            TextItem::Text(t) => t.clone(),
                            _ => String::new(),
                        })
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn header_repeats_on_every_page_and_tall_rows_split() {
        let f = fonts();
        let mut doc = Doc::new(&f);
        let cols = [
            Column::new("三级指标", 200.0, Align::Left),
            Column::new("指标值", 200.0, Align::Left),
        ];
        let mut rows: Vec<Vec<Cell>> = (0..120)
            .map(|i| vec![Cell::text(format!("指标{i}")), Cell::text("≥90%")])
            .collect();
        // One row taller than a page: 400 lines.
        rows.push(vec![
            Cell::text("很长的说明"),
            Cell::text(vec!["说明文字"; 400].join("\n")),
        ]);
        doc.table(&cols, &rows, 9.0);
        assert!(doc.pages.len() >= 4, "{} pages", doc.pages.len());
        for (n, page) in doc.pages.iter().enumerate() {
            let t = texts(page);
            assert_eq!(
                t.first().map(String::as_str),
                Some("三级指标"),
                "page {n} starts with the header"
            );
            assert_eq!(t.iter().filter(|s| *s == "三级指标").count(), 1, "page {n}");
        }
        // Every row is drawn exactly once, the tall one across pages.
        let all: Vec<String> = doc.pages.iter().flat_map(texts).collect();
        for i in 0..120 {
            assert_eq!(
                all.iter().filter(|s| **s == format!("指标{i}")).count(),
                1,
                "row {i}"
            );
        }
        assert_eq!(all.iter().filter(|s| *s == "说明文字").count(), 400);
        // Nothing below the bottom margin.
        for page in &doc.pages {
            for op in &page.ops {
                if let Op::SetTextCursor { pos } = op {
                    assert!(pos.y.0 >= MARGIN_BOTTOM - 1.0, "{pos:?}");
                }
            }
        }
    }

    #[test]
    fn a_character_no_font_has_is_reported_not_blank() {
        let f = fonts();
        let mut doc = Doc::new(&f);
        doc.paragraph("项目𪚥", &TextStyle::new(10.0), 0.0);
        assert!(doc.missing.contains(&'𪚥'));
        let drawn: String = doc.pages.iter().flat_map(texts).collect();
        assert!(drawn.contains(MISSING_MARK));
    }

    #[test]
    fn colour_and_font_are_written_only_when_they_change() {
        let fonts = fonts();
        let mut doc = Doc::new(&fonts);
        let plain = TextStyle::new(10.0);
        for _ in 0..3 {
            doc.paragraph("绩效目标", &plain, 0.0);
        }
        doc.fill_rect(0.0, 0.0, 10.0, 10.0, rgb(0.9, 0.9, 0.9));
        doc.paragraph("得分", &plain, 0.0);
        doc.paragraph("标题", &TextStyle::new(14.0).bold(), 0.0);
        let count = |f: fn(&Op) -> bool| doc.pages[0].ops.iter().filter(|o| f(o)).count();
        assert_eq!(count(|o| matches!(o, Op::ShowText { .. })), 5);
        // Font: 10 pt once, then 14 pt; fill: black, grey (the rectangle), black again.
        assert_eq!(count(|o| matches!(o, Op::SetFont { .. })), 2);
        assert_eq!(count(|o| matches!(o, Op::SetFillColor { .. })), 3);
        assert_eq!(count(|o| matches!(o, Op::SetTextRenderingMode { .. })), 2);
        // A new page knows nothing: its first line sets everything again.
        doc.new_page();
        doc.paragraph("绩效目标", &plain, 0.0);
        let last = doc.pages.last().unwrap();
        assert!(last.ops.iter().any(|o| matches!(o, Op::SetFont { .. })));
        assert!(last
            .ops
            .iter()
            .any(|o| matches!(o, Op::SetFillColor { .. })));
    }
}
