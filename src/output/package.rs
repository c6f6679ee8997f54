//! A zip package written by hand: parts copied raw from another package, and one part made of
//! deflate pieces compressed elsewhere.
//!
//! Why by hand: the zip crate compresses what it is given, or copies entries of another
//! archive; it cannot take deflated bytes made in advance, and that is how 指标明细 is cached
//! (each unit's rows deflated once, reused while the unit's forms do not change). A deflate
//! stream may be cut into pieces that each end on a byte boundary (a sync flush) and are
//! simply concatenated, the last one ending with the final block; the CRC-32 of the whole is
//! combined from the pieces' CRCs.
//!
//! ZIP64 records are written only for a part declared large: LibreOffice refuses a package
//! whose entries carry them, Excel reads both.

use std::borrow::Cow;
use std::io::{Read, Seek, SeekFrom, Write};

use flate2::{Compress, Compression, FlushCompress, Status};

const LOCAL: u32 = 0x0403_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
const END64: u32 = 0x0606_4b50;
const LOCATOR64: u32 = 0x0706_4b50;
const ZIP64_EXTRA: u16 = 0x0001;
const DEFLATED: u16 = 8;
const STORED: u16 = 0;
/// Flag bit 11: the name is UTF-8.
const UTF8: u16 = 1 << 11;
const MAX32: u64 = 0xFFFF_FFFF;

/// Deflate level of the pieces, as rust_xlsxwriter is told for the other parts.
pub const LEVEL: u32 = 2;

/// A piece of a deflate stream and what its uncompressed bytes were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece<'a> {
    pub crc: u32,
    pub len: u64,
    pub deflated: Cow<'a, [u8]>,
}

/// Deflate `data` alone (no history from earlier pieces): ends on a sync flush, or with the
/// final block when `last`.
pub fn deflate_piece(data: &[u8], last: bool) -> std::io::Result<Piece<'static>> {
    let mut c = Compress::new(Compression::new(LEVEL), false);
    let mut out = Vec::with_capacity(data.len() / 6 + 1024);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    loop {
        let done = c.total_in() as usize;
        let status = c
            .compress_vec(data.get(done..).unwrap_or_default(), &mut out, flush)
            .map_err(std::io::Error::other)?;
        let all_in = c.total_in() as usize == data.len();
        // A flush is complete when it returned with output space left over.
        let finished = if last {
            status == Status::StreamEnd
        } else {
            all_in && out.len() < out.capacity()
        };
        if finished {
            break;
        }
        out.reserve(out.capacity().max(4096));
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(data);
    Ok(Piece {
        crc: crc.finalize(),
        len: data.len() as u64,
        deflated: Cow::Owned(out),
    })
}

/// One entry as the central directory lists it.
struct Entry {
    name: Vec<u8>,
    method: u16,
    time: u16,
    date: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    offset: u64,
    zip64: bool,
}

/// The deflated part being written: where its header is and what was written so far.
pub struct OpenPart {
    entry: Entry,
    crc: crc32fast::Hasher,
    last_written: bool,
}

pub struct PackageWriter<W: Write + Seek> {
    w: W,
    pos: u64,
    entries: Vec<Entry>,
}

fn le16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn le32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn le64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// 32-bit field of a size or offset: the value, or the ZIP64 marker.
fn field32(v: u64, zip64: bool) -> u32 {
    if zip64 {
        MAX32 as u32
    } else {
        v as u32
    }
}

impl Entry {
    fn flags(&self) -> u16 {
        if self.name.is_ascii() {
            0
        } else {
            UTF8
        }
    }

    fn version(&self) -> u16 {
        if self.zip64 {
            45
        } else {
            20
        }
    }

    fn local_header(&self) -> Vec<u8> {
        let mut h = Vec::with_capacity(30 + self.name.len() + 20);
        le32(&mut h, LOCAL);
        le16(&mut h, self.version());
        le16(&mut h, self.flags());
        le16(&mut h, self.method);
        le16(&mut h, self.time);
        le16(&mut h, self.date);
        le32(&mut h, self.crc);
        le32(&mut h, field32(self.compressed, self.zip64));
        le32(&mut h, field32(self.size, self.zip64));
        le16(&mut h, self.name.len() as u16);
        le16(&mut h, if self.zip64 { 20 } else { 0 });
        h.extend_from_slice(&self.name);
        if self.zip64 {
            le16(&mut h, ZIP64_EXTRA);
            le16(&mut h, 16);
            le64(&mut h, self.size);
            le64(&mut h, self.compressed);
        }
        h
    }

    fn central_record(&self, out: &mut Vec<u8>) {
        let far = self.offset >= MAX32;
        let mut extra = Vec::new();
        if self.zip64 || far {
            le16(&mut extra, ZIP64_EXTRA);
            le16(
                &mut extra,
                if self.zip64 { 16 } else { 0 } + if far { 8 } else { 0 },
            );
            if self.zip64 {
                le64(&mut extra, self.size);
                le64(&mut extra, self.compressed);
            }
            if far {
                le64(&mut extra, self.offset);
            }
        }
        le32(out, CENTRAL);
        le16(out, self.version());
        le16(out, self.version());
        le16(out, self.flags());
        le16(out, self.method);
        le16(out, self.time);
        le16(out, self.date);
        le32(out, self.crc);
        le32(out, field32(self.compressed, self.zip64));
        le32(out, field32(self.size, self.zip64));
        le16(out, self.name.len() as u16);
        le16(out, extra.len() as u16);
        le16(out, 0); // comment
        le16(out, 0); // disk
        le16(out, 0); // internal attributes
        le32(out, 0); // external attributes
        le32(out, field32(self.offset, far));
        out.extend_from_slice(&self.name);
        out.extend_from_slice(&extra);
    }
}

impl<W: Write + Seek> PackageWriter<W> {
    pub fn new(w: W) -> Self {
        PackageWriter {
            w,
            pos: 0,
            entries: Vec::new(),
        }
    }

    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.w.write_all(bytes)?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    /// Copy an entry of another archive, its compressed bytes as they are.
    pub fn copy_raw<R: Read>(
        &mut self,
        mut file: zip::read::ZipFile<'_, R>,
    ) -> std::io::Result<()> {
        let method = match file.compression() {
            zip::CompressionMethod::Stored => STORED,
            zip::CompressionMethod::Deflated => DEFLATED,
            other => return Err(std::io::Error::other(format!("不支持的压缩方式 {other:?}"))),
        };
        let modified = file.last_modified().unwrap_or_default();
        let entry = Entry {
            name: file.name_raw().to_vec(),
            method,
            time: modified.timepart(),
            date: modified.datepart(),
            crc: file.crc32(),
            compressed: file.compressed_size(),
            size: file.size(),
            offset: self.pos,
            zip64: file.compressed_size() >= MAX32 || file.size() >= MAX32,
        };
        self.put(&entry.local_header())?;
        let copied = std::io::copy(&mut file, &mut self.w)?;
        self.pos += copied;
        if copied != entry.compressed {
            return Err(std::io::Error::other("条目长度与目录不符"));
        }
        self.entries.push(entry);
        Ok(())
    }

    /// Start a deflated part; its pieces follow, then `end_part`. `zip64` when it may reach
    /// 4 GiB (decided before, since the local header's size depends on it).
    pub fn begin_part(
        &mut self,
        name: &str,
        modified: zip::DateTime,
        zip64: bool,
    ) -> std::io::Result<OpenPart> {
        let entry = Entry {
            name: name.as_bytes().to_vec(),
            method: DEFLATED,
            time: modified.timepart(),
            date: modified.datepart(),
            crc: 0,
            compressed: 0,
            size: 0,
            offset: self.pos,
            zip64,
        };
        self.put(&entry.local_header())?;
        Ok(OpenPart {
            entry,
            crc: crc32fast::Hasher::new(),
            last_written: false,
        })
    }

    /// Append one piece; the piece made with `last` must come last.
    pub fn write_piece(
        &mut self,
        part: &mut OpenPart,
        piece: &Piece,
        last: bool,
    ) -> std::io::Result<()> {
        if part.last_written {
            return Err(std::io::Error::other("压缩流已结束"));
        }
        self.put(&piece.deflated)?;
        part.crc.combine(&crc32fast::Hasher::new_with_initial_len(
            piece.crc, piece.len,
        ));
        part.entry.size += piece.len;
        part.entry.compressed += piece.deflated.len() as u64;
        part.last_written = last;
        Ok(())
    }

    /// Close the part: its CRC and sizes go back into its local header.
    pub fn end_part(&mut self, part: OpenPart) -> std::io::Result<()> {
        let mut entry = part.entry;
        if !part.last_written {
            return Err(std::io::Error::other("压缩流没有结束块"));
        }
        if !entry.zip64 && (entry.size >= MAX32 || entry.compressed >= MAX32) {
            return Err(std::io::Error::other("工作表超过 4 GB"));
        }
        entry.crc = part.crc.finalize();
        self.w.seek(SeekFrom::Start(entry.offset))?;
        self.w.write_all(&entry.local_header())?;
        self.w.seek(SeekFrom::Start(self.pos))?;
        self.entries.push(entry);
        Ok(())
    }

    /// The central directory and its end record (ZIP64 ones when offsets or counts need them).
    pub fn finish(mut self) -> std::io::Result<W> {
        let start = self.pos;
        let mut central = Vec::new();
        for e in &self.entries {
            e.central_record(&mut central);
        }
        self.put(&central)?;
        let size = central.len() as u64;
        let count = self.entries.len() as u64;
        let mut end = Vec::new();
        let zip64 = start >= MAX32 || size >= MAX32 || count >= 0xFFFF;
        if zip64 {
            let record = self.pos;
            le32(&mut end, END64);
            le64(&mut end, 44);
            le16(&mut end, 45);
            le16(&mut end, 45);
            le32(&mut end, 0);
            le32(&mut end, 0);
            le64(&mut end, count);
            le64(&mut end, count);
            le64(&mut end, size);
            le64(&mut end, start);
            le32(&mut end, LOCATOR64);
            le32(&mut end, 0);
            le64(&mut end, record);
            le32(&mut end, 1);
        }
        le32(&mut end, END);
        le16(&mut end, 0);
        le16(&mut end, 0);
        let count16 = if zip64 { 0xFFFF } else { count as u16 };
        le16(&mut end, count16);
        le16(&mut end, count16);
        le32(&mut end, field32(size, zip64));
        le32(&mut end, field32(start, zip64));
        le16(&mut end, 0);
        self.put(&end)?;
        self.w.flush()?;
        Ok(self.w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn source() -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let deflated = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        w.start_file("[Content_Types].xml", deflated).unwrap();
        w.write_all(b"<Types>types</Types>".repeat(50).as_slice())
            .unwrap();
        w.start_file("docProps/中文.xml", stored).unwrap();
        w.write_all(b"stored bytes").unwrap();
        w.finish().unwrap().into_inner()
    }

    /// Copied entries and a part of several pieces read back through the zip crate, which
    /// checks every CRC and size; with and without ZIP64 records.
    fn package(zip64: bool) -> Vec<u8> {
        let mut src = zip::ZipArchive::new(Cursor::new(source())).unwrap();
        let mut p = PackageWriter::new(Cursor::new(Vec::new()));
        for i in 0..src.len() {
            p.copy_raw(src.by_index_raw(i).unwrap()).unwrap();
        }
        let mut part = p
            .begin_part("xl/worksheets/sheet3.xml", zip::DateTime::default(), zip64)
            .unwrap();
        let texts: Vec<Vec<u8>> = (0..5)
            .map(|k| format!("<row>{}</row>", "单元格 ".repeat(k * 3000)).into_bytes())
            .collect();
        for (k, t) in texts.iter().enumerate() {
            let piece = deflate_piece(t, k == texts.len() - 1).unwrap();
            p.write_piece(&mut part, &piece, k == texts.len() - 1)
                .unwrap();
        }
        p.end_part(part).unwrap();
        p.finish().unwrap().into_inner()
    }

    #[test]
    fn pieces_and_copied_parts_read_back() {
        for zip64 in [false, true] {
            let bytes = package(zip64);
            let mut z = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
            assert_eq!(z.len(), 3);
            let mut read = |name: &str| {
                let mut s = String::new();
                z.by_name(name).unwrap().read_to_string(&mut s).unwrap();
                s
            };
            assert_eq!(
                read("[Content_Types].xml"),
                "<Types>types</Types>".repeat(50)
            );
            assert_eq!(read("docProps/中文.xml"), "stored bytes");
            let sheet = read("xl/worksheets/sheet3.xml");
            let expected: String = (0..5)
                .map(|k| format!("<row>{}</row>", "单元格 ".repeat(k * 3000)))
                .collect();
            assert_eq!(sheet, expected);
        }
    }

    #[test]
    fn a_stream_without_its_final_block_is_refused() {
        let mut p = PackageWriter::new(Cursor::new(Vec::new()));
        let mut part = p
            .begin_part("a.xml", zip::DateTime::default(), false)
            .unwrap();
        let piece = deflate_piece(b"abc", false).unwrap();
        p.write_piece(&mut part, &piece, false).unwrap();
        assert!(p.end_part(part).is_err());
    }
}
