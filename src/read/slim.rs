//! xl/styles.xml cut to what reading values needs, for calamine to parse.
//!
//! calamine 0.38 reads every font, fill and border of the style sheet (to offer cell styles,
//! which jixiao does not read) before the first cell; only the number formats (`<numFmts>`)
//! and the cell formats (`<cellXfs>`, whose `numFmtId` tells a date from a number) change a
//! value read. Its cell formats look fonts, fills and borders up by index and do without them
//! when they are missing, so the rest of the sheet is left out.

use memchr::memmem;

/// The style sheet with only its root, `<numFmts>` and `<cellXfs>`; None (keep it whole) when
/// it is not plainly written: a namespace prefix (`<x:styleSheet>`), a comment, CDATA or
/// processing instruction after the declaration (where a tag could be text), a section
/// missing its end, or nothing to leave out.
pub(super) fn slim_styles(xml: &[u8]) -> Option<Vec<u8>> {
    let root = memmem::find(xml, b"<styleSheet")?;
    let body = &xml[root..];
    if memmem::find(body, b"<!").is_some() || memmem::find(body, b"<?").is_some() {
        return None;
    }
    // The root's start tag: its attributes are namespace declarations, without a `>`.
    let open_end = root + memchr::memchr(b'>', body)? + 1;
    if xml[open_end - 2] == b'/' {
        return None;
    }
    let section = |name: &str| -> Option<Option<&[u8]>> {
        let open = format!("<{name}");
        let close = format!("</{name}>");
        let Some(at) = memmem::find(&xml[open_end..], open.as_bytes()) else {
            return Some(None);
        };
        let at = open_end + at;
        // `<numFmts count="0"/>`: nothing inside.
        let tag_end = at + memchr::memchr(b'>', &xml[at..])?;
        if xml[tag_end - 1] == b'/' {
            return Some(Some(&xml[at..=tag_end]));
        }
        let end = at + memmem::find(&xml[at..], close.as_bytes())? + close.len();
        Some(Some(&xml[at..end]))
    };
    let formats = section("numFmts")?;
    let cells = section("cellXfs")?;
    // Kept in their order: calamine resolves a cell format's custom number format only when
    // `<numFmts>` came first.
    if let (Some(f), Some(c)) = (formats, cells) {
        if f.as_ptr() > c.as_ptr() {
            return None;
        }
    }
    let mut out = Vec::with_capacity(
        open_end + formats.map_or(0, <[u8]>::len) + cells.map_or(0, <[u8]>::len) + 16,
    );
    out.extend_from_slice(&xml[..open_end]);
    out.extend_from_slice(formats.unwrap_or_default());
    out.extend_from_slice(cells.unwrap_or_default());
    out.extend_from_slice(b"</styleSheet>");
    (out.len() < xml.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slim(s: &str) -> Option<String> {
        slim_styles(s.as_bytes()).map(|v| String::from_utf8(v).expect("utf-8"))
    }

    const ROOT: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#;

    #[test]
    fn only_number_and_cell_formats_are_kept() {
        let full = format!(
            r#"{ROOT}<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy&quot;年&quot;m&quot;月&quot;"/></numFmts><fonts count="1"><font><sz val="11"/></font></fonts><fills count="1"><fill/></fills><borders count="1"><border/></borders><cellStyleXfs count="1"><xf numFmtId="0"/></cellStyleXfs><cellXfs count="2"><xf numFmtId="0" fontId="0"/><xf numFmtId="164" fontId="0" applyNumberFormat="1"><alignment wrapText="1"/></xf></cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles><dxfs count="0"/></styleSheet>"#
        );
        assert_eq!(
            slim(&full).as_deref(),
            Some(format!(
                r#"{ROOT}<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy&quot;年&quot;m&quot;月&quot;"/></numFmts><cellXfs count="2"><xf numFmtId="0" fontId="0"/><xf numFmtId="164" fontId="0" applyNumberFormat="1"><alignment wrapText="1"/></xf></cellXfs></styleSheet>"#
            ).as_str())
        );
        // Without custom number formats, and with an empty one.
        let plain = format!(
            r#"{ROOT}<fonts/><cellXfs count="1"><xf numFmtId="14"/></cellXfs><dxfs/></styleSheet>"#
        );
        assert_eq!(
            slim(&plain).as_deref(),
            Some(
                format!(r#"{ROOT}<cellXfs count="1"><xf numFmtId="14"/></cellXfs></styleSheet>"#)
                    .as_str()
            )
        );
        let empty =
            format!(r#"{ROOT}<numFmts count="0"/><fonts/><cellXfs count="0"/></styleSheet>"#);
        assert_eq!(
            slim(&empty).as_deref(),
            Some(
                format!(r#"{ROOT}<numFmts count="0"/><cellXfs count="0"/></styleSheet>"#).as_str()
            )
        );
    }

    #[test]
    fn a_sheet_not_plainly_written_is_kept_whole() {
        for odd in [
            format!(r#"{ROOT}<!-- <cellXfs/> --><fonts/><cellXfs count="0"/></styleSheet>"#),
            format!(r#"{ROOT}<fonts/><cellXfs count="1"><xf numFmtId="0"/></styleSheet>"#),
            r#"<x:styleSheet xmlns:x="m"><x:fonts/><x:cellXfs/></x:styleSheet>"#.to_string(),
            r#"<styleSheet xmlns="m"/>"#.to_string(),
            format!(r#"{ROOT}<cellXfs count="0"/></styleSheet>"#),
            format!(r#"{ROOT}<cellXfs count="0"/><numFmts count="0"/><fonts/></styleSheet>"#),
        ] {
            assert_eq!(slim(&odd), None, "{odd}");
        }
    }
}
