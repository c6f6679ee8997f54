//! A zip of stored (uncompressed) parts, written by hand for calamine to read: the parts the
//! guard has inflated and measured are handed on without being inflated a second time.
//!
//! The zip crate's writer computed every part's CRC-32 again (and cost a tenth of the guard):
//! here each part keeps the CRC its original central directory states, which the zip crate
//! checked against the inflated bytes as the guard read them to their end. Only what a reader
//! needs is written: local headers, data, central directory, end record (no ZIP64: a form's
//! package is far below 4 GB, and anything that does not fit is refused, so the caller hands
//! calamine the original bytes instead).

/// 1980-01-01 00:00, the zip epoch (as the zip crate writes a part without a date).
const DOS_DATE: u16 = (1 << 5) | 1;
/// Names are UTF-8 (general purpose bit 11).
const UTF8_NAMES: u16 = 1 << 11;
/// Version 1.0: stored parts need nothing newer.
const VERSION: u16 = 10;

pub(super) struct StoredZip {
    out: Vec<u8>,
    central: Vec<u8>,
    entries: u16,
}

impl StoredZip {
    pub(super) fn with_capacity(bytes: usize) -> Self {
        StoredZip {
            out: Vec::with_capacity(bytes),
            central: Vec::new(),
            entries: 0,
        }
    }

    /// Add a part (a directory when `name` ends in '/', with no data). `crc` is the CRC-32 of
    /// `data`. False when the part cannot be written here: the zip is then unusable.
    pub(super) fn add(&mut self, name: &str, data: &[u8], crc: u32) -> bool {
        let (Ok(name_len), Ok(size), Ok(offset), Some(entries)) = (
            u16::try_from(name.len()),
            u32::try_from(data.len()),
            u32::try_from(self.out.len()),
            self.entries.checked_add(1),
        ) else {
            return false;
        };
        if name.is_empty() || u32::try_from(self.out.len() + 30 + name.len() + data.len()).is_err()
        {
            return false;
        }
        let put16 = |v: &mut Vec<u8>, x: u16| v.extend_from_slice(&x.to_le_bytes());
        let put32 = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_le_bytes());

        let o = &mut self.out;
        put32(o, 0x0403_4b50);
        put16(o, VERSION);
        put16(o, UTF8_NAMES);
        put16(o, 0); // stored
        put16(o, 0); // time
        put16(o, DOS_DATE);
        put32(o, crc);
        put32(o, size);
        put32(o, size);
        put16(o, name_len);
        put16(o, 0); // no extra field
        o.extend_from_slice(name.as_bytes());
        o.extend_from_slice(data);

        let c = &mut self.central;
        put32(c, 0x0201_4b50);
        put16(c, VERSION); // made by: MS-DOS, 1.0
        put16(c, VERSION);
        put16(c, UTF8_NAMES);
        put16(c, 0);
        put16(c, 0);
        put16(c, DOS_DATE);
        put32(c, crc);
        put32(c, size);
        put32(c, size);
        put16(c, name_len);
        put16(c, 0); // extra
        put16(c, 0); // comment
        put16(c, 0); // disk
        put16(c, 0); // internal attributes
        put32(c, 0); // external attributes
        put32(c, offset);
        c.extend_from_slice(name.as_bytes());
        self.entries = entries;
        true
    }

    /// The whole zip; None if its central directory does not fit the format.
    pub(super) fn finish(mut self) -> Option<Vec<u8>> {
        let offset = u32::try_from(self.out.len()).ok()?;
        let size = u32::try_from(self.central.len()).ok()?;
        offset.checked_add(size)?;
        self.out.append(&mut self.central);
        let o = &mut self.out;
        o.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        o.extend_from_slice(&[0; 4]); // this disk, the directory's disk
        o.extend_from_slice(&self.entries.to_le_bytes());
        o.extend_from_slice(&self.entries.to_le_bytes());
        o.extend_from_slice(&size.to_le_bytes());
        o.extend_from_slice(&offset.to_le_bytes());
        o.extend_from_slice(&[0; 2]); // no comment
        Some(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Read};

    /// The zip crate (calamine's reader) reads back every part, name and byte, its CRC
    /// checked, directories included.
    #[test]
    fn the_zip_crate_reads_it_back() {
        let parts: Vec<(String, Vec<u8>)> = vec![
            ("[Content_Types].xml".into(), b"<Types/>".to_vec()),
            ("xl/".into(), Vec::new()),
            (
                "xl/worksheets/工作表1.xml".into(),
                "<c>项目名称</c>".repeat(500).into_bytes(),
            ),
            ("xl/empty.xml".into(), Vec::new()),
        ];
        let mut z = StoredZip::with_capacity(0);
        for (name, data) in &parts {
            assert!(z.add(name, data, crc32fast::hash(data)));
        }
        let bytes = z.finish().unwrap();
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        assert_eq!(zip.len(), parts.len());
        for (name, data) in &parts {
            let mut f = zip.by_name(name).unwrap();
            assert_eq!(f.compression(), zip::CompressionMethod::Stored);
            assert_eq!(f.is_dir(), name.ends_with('/'));
            let mut back = Vec::new();
            f.read_to_end(&mut back).unwrap();
            assert_eq!(&back, data, "{name}");
        }
    }

    /// A wrong CRC is caught by the reader: the CRC written is the one given, not recomputed.
    #[test]
    fn the_crc_given_is_the_crc_written() {
        let mut z = StoredZip::with_capacity(0);
        assert!(z.add("a.xml", b"<a/>", 0xDEAD_BEEF));
        let mut zip = zip::ZipArchive::new(Cursor::new(z.finish().unwrap())).unwrap();
        let mut back = Vec::new();
        assert!(zip.by_index(0).unwrap().read_to_end(&mut back).is_err());
    }

    #[test]
    fn what_does_not_fit_is_refused() {
        let mut z = StoredZip::with_capacity(0);
        assert!(!z.add("", b"x", 0));
        assert!(!z.add(&"n".repeat(70_000), b"x", 0));
    }
}
