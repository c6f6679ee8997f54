//! A fast TrueType subsetter: the font is indexed once per run, then each PDF gets a compact
//! font holding only the glyphs it draws (plus the components of composite glyphs).
//!
//! Why not leave it to printpdf: printpdf subsets through allsorts, which re-parses the whole
//! 4.6 MB CJK font (49,531 glyphs, a 540 KB `post` table) for every document; that was a third
//! of the time of a report. Here a subset is a few copies of byte ranges. printpdf still runs
//! its own subsetting on the result (cheap on a few hundred glyphs), so the embedding, the
//! `TAG+Name` subset tag, `/W` and `/ToUnicode` stay exactly printpdf's.
//!
//! Only TrueType outlines (`glyf`) are handled; for anything else (a CFF `--font`, a
//! collection) `Subsetter::new` returns None and the caller embeds the font as before.

use std::collections::{BTreeMap, BTreeSet};

/// The tables a PDF-embedded TrueType font keeps (ISO 32000-1, 9.9: glyf, head, hhea, hmtx,
/// loca, maxp, cvt, fpgm, prep; plus cmap so the subset can be parsed and used by itself).
/// Sorted by tag, as the table directory requires.
const KEEP: [&[u8; 4]; 14] = [
    b"OS/2", b"cmap", b"cvt ", b"fpgm", b"gasp", b"glyf", b"head", b"hhea", b"hmtx", b"loca",
    b"maxp", b"name", b"post", b"prep",
];

/// A TrueType font indexed for subsetting.
pub struct Subsetter {
    bytes: Vec<u8>,
    tables: BTreeMap<[u8; 4], (usize, usize)>,
    /// Glyph `g` is `glyf[loca[g]..loca[g + 1]]`.
    loca: Vec<u32>,
    /// (advance, left side bearing) of every glyph.
    metrics: Vec<(u16, i16)>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl Subsetter {
    /// Index a TrueType font; None if it is not a single-face font with `glyf` outlines.
    pub fn new(bytes: &[u8]) -> Option<Subsetter> {
        let version = u32_at(bytes, 0)?;
        if version != 0x0001_0000 && &bytes[..4] != b"true" {
            return None; // CFF ('OTTO') or a collection ('ttcf')
        }
        let num_tables = u16_at(bytes, 4)? as usize;
        let mut tables = BTreeMap::new();
        for i in 0..num_tables {
            let rec = 12 + 16 * i;
            let tag: [u8; 4] = bytes.get(rec..rec + 4)?.try_into().ok()?;
            let offset = u32_at(bytes, rec + 8)? as usize;
            let length = u32_at(bytes, rec + 12)? as usize;
            bytes.get(offset..offset.checked_add(length)?)?;
            tables.insert(tag, (offset, length));
        }
        let table = |tag: &[u8; 4]| -> Option<&[u8]> {
            let &(o, l) = tables.get(tag)?;
            bytes.get(o..o + l)
        };
        let num_glyphs = u16_at(table(b"maxp")?, 4)? as usize;
        if num_glyphs == 0 {
            return None; // not even .notdef
        }
        let long_loca = u16_at(table(b"head")?, 50)? == 1;
        let loca_table = table(b"loca")?;
        let glyf_len = table(b"glyf")?.len() as u32;
        let mut loca = Vec::with_capacity(num_glyphs + 1);
        for g in 0..=num_glyphs {
            let off = if long_loca {
                u32_at(loca_table, 4 * g)?
            } else {
                u32::from(u16_at(loca_table, 2 * g)?) * 2
            };
            loca.push(off.min(glyf_len));
        }
        let num_hmetrics = (u16_at(table(b"hhea")?, 34)? as usize).clamp(1, num_glyphs.max(1));
        let hmtx = table(b"hmtx")?;
        let mut metrics = Vec::with_capacity(num_glyphs);
        let mut last_advance = 0;
        for g in 0..num_glyphs {
            let m = if g < num_hmetrics {
                last_advance = u16_at(hmtx, 4 * g)?;
                (last_advance, u16_at(hmtx, 4 * g + 2)? as i16)
            } else {
                let lsb = u16_at(hmtx, 4 * num_hmetrics + 2 * (g - num_hmetrics)).unwrap_or(0);
                (last_advance, lsb as i16)
            };
            metrics.push(m);
        }
        for (tag, len) in [(b"head", 54), (b"hhea", 36), (b"maxp", 6), (b"post", 32)] {
            if table(tag)?.len() < len {
                return None;
            }
        }
        Some(Subsetter {
            bytes: bytes.to_vec(),
            tables,
            loca,
            metrics,
        })
    }

    fn table(&self, tag: &[u8; 4]) -> Option<&[u8]> {
        let &(o, l) = self.tables.get(tag)?;
        self.bytes.get(o..o + l)
    }

    fn glyph(&self, gid: u16) -> &[u8] {
        let g = gid as usize;
        match (self.loca.get(g), self.loca.get(g + 1), self.table(b"glyf")) {
            (Some(&a), Some(&b), Some(glyf)) if a < b => &glyf[a as usize..b as usize],
            _ => &[],
        }
    }

    /// The component glyph ids of a composite glyph, with the byte offset of each id.
    fn components(data: &[u8]) -> Vec<(usize, u16)> {
        let mut out = Vec::new();
        if data.len() < 10 || (u16_at(data, 0).unwrap_or(0) as i16) >= 0 {
            return out;
        }
        let mut at = 10;
        while let (Some(flags), Some(gid)) = (u16_at(data, at), u16_at(data, at + 2)) {
            out.push((at + 2, gid));
            at += 4;
            at += if flags & 0x0001 != 0 { 4 } else { 2 };
            if flags & 0x0008 != 0 {
                at += 2;
            } else if flags & 0x0040 != 0 {
                at += 4;
            } else if flags & 0x0080 != 0 {
                at += 8;
            }
            if flags & 0x0020 == 0 || out.len() > 64 {
                break;
            }
        }
        out
    }

    /// A font holding glyph 0 and the glyphs of `chars` (given as (char, glyph id) pairs), with
    /// a cmap for exactly those characters. None if the result would not fit the tables.
    pub fn subset(&self, chars: &BTreeMap<char, u16>) -> Option<Vec<u8>> {
        let num_glyphs = self.metrics.len();
        // The glyph set: .notdef, the characters' glyphs, and composite components (closed).
        let mut keep: BTreeSet<u16> = BTreeSet::from([0]);
        let mut todo: Vec<u16> = chars
            .values()
            .copied()
            .filter(|&g| (g as usize) < num_glyphs)
            .collect();
        while let Some(g) = todo.pop() {
            if keep.insert(g) {
                for (_, c) in Self::components(self.glyph(g)) {
                    if (c as usize) < num_glyphs && !keep.contains(&c) {
                        todo.push(c);
                    }
                }
            }
        }
        let new_id: BTreeMap<u16, u16> = keep
            .iter()
            .enumerate()
            .map(|(i, &g)| (g, i as u16))
            .collect();

        let mut glyf = Vec::new();
        let mut loca = Vec::with_capacity(4 * (keep.len() + 1));
        let mut hmtx = Vec::with_capacity(4 * keep.len());
        for &g in &keep {
            loca.extend_from_slice(&(glyf.len() as u32).to_be_bytes());
            let start = glyf.len();
            glyf.extend_from_slice(self.glyph(g));
            for (at, c) in Self::components(self.glyph(g)) {
                let n = new_id.get(&c).copied().unwrap_or(0);
                glyf[start + at..start + at + 2].copy_from_slice(&n.to_be_bytes());
            }
            while glyf.len() % 4 != 0 {
                glyf.push(0);
            }
            let (adv, lsb) = self.metrics[g as usize];
            hmtx.extend_from_slice(&adv.to_be_bytes());
            hmtx.extend_from_slice(&lsb.to_be_bytes());
        }
        loca.extend_from_slice(&(glyf.len() as u32).to_be_bytes());

        let count = keep.len() as u16;
        let mut head = self.table(b"head")?.to_vec();
        head[8..12].copy_from_slice(&[0; 4]); // checkSumAdjustment, set at the end
        head[50..52].copy_from_slice(&1u16.to_be_bytes()); // long loca
        let mut hhea = self.table(b"hhea")?.to_vec();
        hhea[34..36].copy_from_slice(&count.to_be_bytes());
        let mut maxp = self.table(b"maxp")?.to_vec();
        maxp[4..6].copy_from_slice(&count.to_be_bytes());
        let mut post = self.table(b"post")?[..32].to_vec();
        post[0..4].copy_from_slice(&0x0003_0000u32.to_be_bytes()); // no glyph names
        let cmap = cmap_format4(
            chars
                .iter()
                .filter_map(|(&c, g)| Some((u16::try_from(c as u32).ok()?, *new_id.get(g)?))),
        )?;

        let mut out_tables: Vec<(&[u8; 4], Vec<u8>)> = Vec::new();
        for tag in KEEP {
            let data = match tag {
                b"cmap" => cmap.clone(),
                b"glyf" => std::mem::take(&mut glyf),
                b"head" => std::mem::take(&mut head),
                b"hhea" => std::mem::take(&mut hhea),
                b"hmtx" => std::mem::take(&mut hmtx),
                b"loca" => std::mem::take(&mut loca),
                b"maxp" => std::mem::take(&mut maxp),
                b"post" => std::mem::take(&mut post),
                other => match self.table(other) {
                    Some(t) => t.to_vec(),
                    None => continue,
                },
            };
            out_tables.push((tag, data));
        }
        Some(assemble(out_tables))
    }
}

/// A cmap with one format 4 subtable (Windows, Unicode BMP) mapping each character to its
/// glyph; runs of consecutive characters with consecutive glyphs share a segment.
fn cmap_format4(pairs: impl Iterator<Item = (u16, u16)>) -> Option<Vec<u8>> {
    // (start, end, delta) segments.
    let mut segs: Vec<(u16, u16, u16)> = Vec::new();
    for (c, g) in pairs {
        if c == 0xFFFF {
            continue;
        }
        let delta = g.wrapping_sub(c);
        match segs.last_mut() {
            Some((_, end, d)) if *end + 1 == c && *d == delta => *end = c,
            _ => segs.push((c, c, delta)),
        }
    }
    segs.push((0xFFFF, 0xFFFF, 1));
    let n = segs.len();
    let length = 16 + 8 * n;
    if length > 0xFFFF {
        return None;
    }
    let pow = 1usize << (usize::BITS - 1 - n.leading_zeros());
    let search_range = 2 * pow;
    let mut t = Vec::with_capacity(12 + length);
    for v in [0u16, 1, 3, 1] {
        t.extend_from_slice(&v.to_be_bytes()); // version, numTables, platform 3, encoding 1
    }
    t.extend_from_slice(&12u32.to_be_bytes());
    for v in [
        4,
        length as u16,
        0,
        (2 * n) as u16,
        search_range as u16,
        pow.trailing_zeros() as u16,
        (2 * n - search_range) as u16,
    ] {
        t.extend_from_slice(&v.to_be_bytes());
    }
    segs.iter()
        .for_each(|s| t.extend_from_slice(&s.1.to_be_bytes()));
    t.extend_from_slice(&[0, 0]);
    segs.iter()
        .for_each(|s| t.extend_from_slice(&s.0.to_be_bytes()));
    segs.iter()
        .for_each(|s| t.extend_from_slice(&s.2.to_be_bytes()));
    t.extend(std::iter::repeat_n(0u8, 2 * n)); // idRangeOffset
    Some(t)
}

fn checksum(data: &[u8]) -> u32 {
    data.chunks(4).fold(0u32, |sum, c| {
        let mut w = [0u8; 4];
        w[..c.len()].copy_from_slice(c);
        sum.wrapping_add(u32::from_be_bytes(w))
    })
}

/// An sfnt file from its tables (given sorted by tag), with checksums and the head adjustment.
fn assemble(tables: Vec<(&[u8; 4], Vec<u8>)>) -> Vec<u8> {
    let n = tables.len();
    let pow = 1usize << (usize::BITS - 1 - n.max(1).leading_zeros());
    let mut out = Vec::new();
    out.extend_from_slice(&0x0001_0000u32.to_be_bytes());
    for v in [
        n,
        16 * pow,
        pow.trailing_zeros() as usize,
        16 * n - 16 * pow,
    ] {
        out.extend_from_slice(&(v as u16).to_be_bytes());
    }
    let mut offset = 12 + 16 * n;
    let mut head_at = None;
    for (tag, data) in &tables {
        out.extend_from_slice(*tag);
        out.extend_from_slice(&checksum(data).to_be_bytes());
        out.extend_from_slice(&(offset as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        if *tag == b"head" {
            head_at = Some(offset);
        }
        offset += data.len().div_ceil(4) * 4;
    }
    for (_, data) in &tables {
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(4) * 4, 0);
    }
    if let Some(h) = head_at {
        let adjust = 0xB1B0_AFBAu32.wrapping_sub(checksum(&out));
        out[h + 8..h + 12].copy_from_slice(&adjust.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::pdf::DEFAULT_FONT;
    use printpdf::ParsedFont;

    #[test]
    fn a_subset_draws_the_same_glyphs_with_the_same_advances() {
        let full = ParsedFont::from_bytes(DEFAULT_FONT, 0, &mut Vec::new()).unwrap();
        let s = Subsetter::new(DEFAULT_FONT).expect("the bundled font is TrueType");
        let text = "项目支出绩效自评表（2023年度）ABC xyz 0.5%≥≤，。〓";
        let chars: BTreeMap<char, u16> = text
            .chars()
            .filter_map(|c| Some((c, full.lookup_glyph_index(c as u32)?)))
            .collect();
        assert_eq!(chars.len(), text.chars().collect::<BTreeSet<_>>().len());
        let bytes = s.subset(&chars).unwrap();
        assert!(bytes.len() < 40_000, "{} bytes", bytes.len());
        let sub = ParsedFont::from_bytes(&bytes, 0, &mut Vec::new()).expect("subset parses");
        for (&c, &g) in &chars {
            let n = sub.lookup_glyph_index(c as u32).expect("mapped");
            assert_eq!(
                sub.get_horizontal_advance(n),
                full.get_horizontal_advance(g),
                "{c}"
            );
            let new = Subsetter::new(&bytes).unwrap();
            assert!(same_outline(&new, n, &s, g), "outline of {c}");
        }
        assert!(
            chars
                .values()
                .any(|&g| !Subsetter::components(s.glyph(g)).is_empty()),
            "the sample holds a composite glyph (度)"
        );
        // A character not asked for is not in the subset.
        assert_eq!(sub.lookup_glyph_index('龙' as u32), None);
        // Checksums are right: the whole font sums to the magic constant.
        assert_eq!(checksum(&bytes), 0xB1B0_AFBA);
    }

    /// The glyph data are equal but for component ids, whose glyphs are equal in turn.
    fn same_outline(a: &Subsetter, ga: u16, b: &Subsetter, gb: u16) -> bool {
        let (da, db) = (a.glyph(ga), b.glyph(gb));
        let (ca, cb) = (Subsetter::components(da), Subsetter::components(db));
        let blank = |d: &[u8], c: &[(usize, u16)]| {
            let mut d = d.to_vec();
            for &(at, _) in c {
                d[at..at + 2].copy_from_slice(&[0, 0]);
            }
            d
        };
        ca.len() == cb.len()
            && blank(da, &ca) == blank(db, &cb)
            && ca
                .iter()
                .zip(&cb)
                .all(|(&(_, x), &(_, y))| same_outline(a, x, b, y))
    }

    #[test]
    fn composite_components_are_kept_and_renumbered() {
        // A composite glyph: header, then one component (flags with ARG_1_AND_2_ARE_WORDS).
        let composite = [
            0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, // numberOfContours = -1, bbox
            0x00, 0x01, 0x00, 0x07, 0, 0, 0, 0, // flags, glyphIndex 7, two word args
        ];
        assert_eq!(Subsetter::components(&composite), vec![(12, 7)]);
        assert!(Subsetter::components(&[0, 1, 0, 0]).is_empty());
    }

    #[test]
    fn fonts_it_cannot_subset_are_refused() {
        assert!(Subsetter::new(b"OTTO\0\0\0\0").is_none());
        assert!(Subsetter::new(b"ttcf").is_none());
        assert!(Subsetter::new(&[]).is_none());
        assert!(Subsetter::new(&DEFAULT_FONT[..5000]).is_none());
    }
}
