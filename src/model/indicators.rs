//! A form's indicator rows, which a cached result keeps encoded until they are looked at.
//!
//! A night reads 10,000 cached results and was a third of its time decoding (and paging in)
//! their 943,055 indicator rows, of which it then looks at the rows of only the few units
//! that changed: every unchanged unit's reports and sheet rows come from the cache. So in the
//! cache's (binary) encoding the rows are stored as one checked byte string, with the few
//! fields the aggregate reads of every row (`Brief`) beside them, and decoded on first use.
//! In JSON they are the plain list of rows, as ever.
//!
//! Every access through `Deref` decodes, so no caller can see anything but the rows; only the
//! aggregate's use of `briefs` and `len` avoids decoding.

use std::ops::{Deref, DerefMut};
use std::sync::OnceLock;

use rust_decimal::Decimal;
use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{CellRef, Indicator};
use crate::indicator::Value;

#[derive(Default)]
pub struct Indicators(Repr);

enum Repr {
    Rows(Vec<Indicator>),
    Encoded(Box<Encoded>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Rows(Vec::new())
    }
}

/// Rows as the cache stored them: their postcard bytes and the briefs (both checked by one CRC
/// when read back), and the rows once decoded.
#[derive(Clone)]
struct Encoded {
    bytes: Box<[u8]>,
    briefs: Briefs,
    rows: OnceLock<Vec<Indicator>>,
}

/// What the aggregate reads of every row: category counts and the target table against the
/// self-evaluation. One string per form holds the texts.
#[derive(Clone, Default)]
struct Briefs {
    text: String,
    rows: Vec<BriefRow>,
}

#[derive(Clone, Copy, Default)]
struct BriefRow {
    /// Byte ranges in `Briefs::text`: level1, level2, level3, target.
    spans: [(u32, u32); 4],
    quantified: bool,
    weight: Option<Decimal>,
    target_cell: Option<CellRef>,
}

/// One row as the aggregate sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Brief<'a> {
    pub level1: &'a str,
    pub level2: &'a str,
    pub level3: &'a str,
    /// 指标值 as written.
    pub target: &'a str,
    pub target_cell: Option<CellRef>,
    /// The target is a number (one or several quantities).
    pub quantified: bool,
    /// 分值
    pub weight: Option<Decimal>,
}

impl<'a> Brief<'a> {
    fn of(i: &'a Indicator) -> Self {
        Brief {
            level1: &i.level1.value,
            level2: &i.level2.value,
            level3: &i.level3.value,
            target: &i.target.value,
            target_cell: i.target.cell,
            quantified: matches!(
                i.target_parsed.value,
                Value::Quantity(_) | Value::Compound(_)
            ),
            weight: i.weight.as_ref().map(|w| w.value),
        }
    }
}

impl Briefs {
    fn of(rows: &[Indicator]) -> Self {
        let mut b = Briefs::default();
        let mut prev = [(0u32, 0u32); 4];
        for i in rows {
            let brief = Brief::of(i);
            let mut spans = [(0, 0); 4];
            for (n, s) in [brief.level1, brief.level2, brief.level3, brief.target]
                .into_iter()
                .enumerate()
            {
                // Consecutive rows mostly share their categories: a text equal to the previous
                // row's is kept once.
                let (a, z) = prev[n];
                spans[n] = if b.text.get(a as usize..z as usize) == Some(s) {
                    prev[n]
                } else {
                    let a = b.text.len() as u32;
                    b.text.push_str(s);
                    (a, b.text.len() as u32)
                };
            }
            prev = spans;
            b.rows.push(BriefRow {
                spans,
                quantified: brief.quantified,
                weight: brief.weight,
                target_cell: brief.target_cell,
            });
        }
        b
    }

    fn get(&self, r: &BriefRow) -> Brief<'_> {
        let s = |n: usize| {
            let (a, z) = r.spans[n];
            self.text.get(a as usize..z as usize).unwrap_or("")
        };
        Brief {
            level1: s(0),
            level2: s(1),
            level3: s(2),
            target: s(3),
            target_cell: r.target_cell,
            quantified: r.quantified,
            weight: r.weight,
        }
    }

    /// Every span lies in the text on character boundaries (checked when read back, so that
    /// `get` never has to guess).
    fn valid(&self) -> bool {
        self.rows.iter().all(|r| {
            r.spans.iter().all(|&(a, z)| {
                a <= z
                    && self.text.is_char_boundary(a as usize)
                    && self.text.is_char_boundary(z as usize)
                    && (z as usize) <= self.text.len()
            })
        })
    }
}

impl Indicators {
    /// The number of rows, without decoding them.
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Rows(v) => v.len(),
            Repr::Encoded(e) => e.briefs.rows.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows as the aggregate reads them, without decoding encoded rows.
    pub fn briefs(&self) -> Vec<Brief<'_>> {
        match &self.0 {
            Repr::Rows(v) => v.iter().map(Brief::of).collect(),
            Repr::Encoded(e) => match e.rows.get() {
                Some(v) => v.iter().map(Brief::of).collect(),
                None => e.briefs.rows.iter().map(|r| e.briefs.get(r)).collect(),
            },
        }
    }

    /// Whether the rows are still encoded.
    #[cfg(test)]
    fn is_encoded(&self) -> bool {
        matches!(&self.0, Repr::Encoded(e) if e.rows.get().is_none())
    }

    fn rows(&self) -> &Vec<Indicator> {
        match &self.0 {
            Repr::Rows(v) => v,
            Repr::Encoded(e) => e.rows.get_or_init(|| decode(&e.bytes)),
        }
    }
}

static DECODED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many forms' cached rows this process has decoded (the run's debug log says it).
pub fn decoded() -> usize {
    DECODED.load(std::sync::atomic::Ordering::Relaxed)
}

/// The rows of an entry whose bytes passed their CRC and were written by this very build
/// (the cache keys entries by the build): they decode. Should they not, nothing that follows
/// can be trusted, so the run stops before it publishes anything (last night's outputs stay).
fn decode(bytes: &[u8]) -> Vec<Indicator> {
    DECODED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match postcard::from_bytes(bytes) {
        Ok(v) => v,
        Err(e) => panic!("缓存中的指标数据无法解码（{e}）：缓存已损坏，请用 --full 重新运行"),
    }
}

impl Deref for Indicators {
    type Target = Vec<Indicator>;

    fn deref(&self) -> &Vec<Indicator> {
        self.rows()
    }
}

impl DerefMut for Indicators {
    fn deref_mut(&mut self) -> &mut Vec<Indicator> {
        if let Repr::Encoded(e) = &mut self.0 {
            let rows = match e.rows.take() {
                Some(v) => v,
                None => decode(&e.bytes),
            };
            self.0 = Repr::Rows(rows);
        }
        match &mut self.0 {
            Repr::Rows(v) => v,
            // Just made rows above.
            Repr::Encoded(_) => unreachable!("rows were decoded above"),
        }
    }
}

impl From<Vec<Indicator>> for Indicators {
    fn from(v: Vec<Indicator>) -> Self {
        Indicators(Repr::Rows(v))
    }
}

impl FromIterator<Indicator> for Indicators {
    fn from_iter<I: IntoIterator<Item = Indicator>>(iter: I) -> Self {
        Indicators::from(iter.into_iter().collect::<Vec<_>>())
    }
}

impl<'a> IntoIterator for &'a Indicators {
    type Item = &'a Indicator;
    type IntoIter = std::slice::Iter<'a, Indicator>;

    fn into_iter(self) -> Self::IntoIter {
        self.rows().iter()
    }
}

impl<'a> IntoIterator for &'a mut Indicators {
    type Item = &'a mut Indicator;
    type IntoIter = std::slice::IterMut<'a, Indicator>;

    fn into_iter(self) -> Self::IntoIter {
        self.deref_mut().iter_mut()
    }
}

impl Clone for Indicators {
    fn clone(&self) -> Self {
        match &self.0 {
            Repr::Rows(v) => Indicators(Repr::Rows(v.clone())),
            Repr::Encoded(e) => Indicators(Repr::Encoded(e.clone())),
        }
    }
}

impl PartialEq for Indicators {
    fn eq(&self, other: &Self) -> bool {
        self.rows() == other.rows()
    }
}

impl std::fmt::Debug for Indicators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.rows().fmt(f)
    }
}

/// Bytes written as one byte string (serde's default for a `Vec<u8>` is a sequence of
/// numbers, read back one visit per byte).
struct RawBytes<'a>(&'a [u8]);

impl Serialize for RawBytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

struct OwnedBytes(Box<[u8]>);

impl<'de> Deserialize<'de> for OwnedBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OwnedBytes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<OwnedBytes, E> {
                Ok(OwnedBytes(v.into()))
            }
        }
        d.deserialize_bytes(V)
    }
}

/// A brief row on the wire: spans, flags and the weight as `Decimal`'s 16 bytes (its serde
/// form is a string, parsed again on every read).
#[derive(Serialize, Deserialize)]
struct WireRow {
    spans: [(u32, u32); 4],
    quantified: bool,
    weight: Option<[u8; 16]>,
    target_cell: Option<CellRef>,
}

/// The CRC of an entry's rows and briefs together: neither is trusted unless both read back.
fn crc(rows: &[u8], text: &str, wire: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(rows);
    h.update(text.as_bytes());
    h.update(wire);
    h.finalize()
}

impl Serialize for Indicators {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            return self.rows().serialize(s);
        }
        let fresh;
        let (bytes, briefs): (&[u8], &Briefs) = match &self.0 {
            Repr::Encoded(e) => (&e.bytes, &e.briefs),
            Repr::Rows(v) => {
                let bytes = postcard::to_stdvec(v).map_err(serde::ser::Error::custom)?;
                fresh = (bytes, Briefs::of(v));
                (&fresh.0, &fresh.1)
            }
        };
        let wire: Vec<WireRow> = briefs
            .rows
            .iter()
            .map(|r| WireRow {
                spans: r.spans,
                quantified: r.quantified,
                weight: r.weight.map(|w| w.serialize()),
                target_cell: r.target_cell,
            })
            .collect();
        let wire = postcard::to_stdvec(&wire).map_err(serde::ser::Error::custom)?;
        let mut t = s.serialize_tuple(4)?;
        t.serialize_element(&crc(bytes, &briefs.text, &wire))?;
        t.serialize_element(&RawBytes(bytes))?;
        t.serialize_element(&briefs.text)?;
        t.serialize_element(&RawBytes(&wire))?;
        t.end()
    }
}

impl<'de> Deserialize<'de> for Indicators {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            return Vec::<Indicator>::deserialize(d).map(Indicators::from);
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Indicators;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("encoded indicator rows")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Indicators, A::Error> {
                let missing = || de::Error::custom("indicator rows cut short");
                let sum: u32 = seq.next_element()?.ok_or_else(missing)?;
                let bytes: OwnedBytes = seq.next_element()?.ok_or_else(missing)?;
                let text: String = seq.next_element()?.ok_or_else(missing)?;
                let wire: OwnedBytes = seq.next_element()?.ok_or_else(missing)?;
                if crc(&bytes.0, &text, &wire.0) != sum {
                    return Err(de::Error::custom("indicator rows fail their CRC"));
                }
                let wire: Vec<WireRow> =
                    postcard::from_bytes(&wire.0).map_err(de::Error::custom)?;
                let briefs = Briefs {
                    text,
                    rows: wire
                        .into_iter()
                        .map(|w| BriefRow {
                            spans: w.spans,
                            quantified: w.quantified,
                            weight: w.weight.map(Decimal::deserialize),
                            target_cell: w.target_cell,
                        })
                        .collect(),
                };
                if !briefs.valid() {
                    return Err(de::Error::custom("indicator briefs out of range"));
                }
                Ok(Indicators(Repr::Encoded(Box::new(Encoded {
                    bytes: bytes.0,
                    briefs,
                    rows: OnceLock::new(),
                }))))
            }
        }
        d.deserialize_tuple(4, V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicator::parse;
    use crate::model::Sourced;

    fn row(l1: &str, l2: &str, l3: &str, target: &str, weight: Option<&str>) -> Indicator {
        Indicator {
            level1: Sourced::derived(l1.to_string()),
            level2: Sourced::derived(l2.to_string()),
            level3: Sourced::at(l3.to_string(), CellRef::new(5, 2)),
            target: Sourced::at(target.to_string(), CellRef::new(5, 3)),
            target_parsed: parse(target),
            weight: weight.map(|w| Sourced::derived(w.parse().unwrap_or_default())),
            ..Default::default()
        }
    }

    fn rows() -> Vec<Indicator> {
        vec![
            row("产出指标", "数量指标", "培训人次", "≥1200人次", Some("10")),
            row("产出指标", "数量指标", "场次", "12场", Some("10.5")),
            row("产出指标", "质量指标", "合格率", "≥95%", None),
            row("效益指标", "社会效益指标", "群众满意", "提升", Some("5")),
        ]
    }

    #[test]
    fn the_cache_keeps_rows_encoded_until_looked_at() {
        let original = Indicators::from(rows());
        let bytes = postcard::to_stdvec(&original).expect("encode");
        let back: Indicators = postcard::from_bytes(&bytes).expect("decode");
        assert!(back.is_encoded());
        assert_eq!(back.len(), 4);
        // The briefs are the rows' own, without decoding.
        assert_eq!(back.briefs(), original.briefs());
        assert!(back.is_encoded());
        assert_eq!(back.briefs()[1].weight, Some(Decimal::new(105, 1)));
        assert_eq!(back.briefs()[2].target_cell, Some(CellRef::new(5, 3)));
        assert!(back.briefs()[0].quantified && !back.briefs()[3].quantified);
        // Any look at the rows decodes them, whole.
        assert_eq!(*back, rows());
        assert!(!back.is_encoded());
        // Encoded again as it came, byte for byte.
        assert_eq!(postcard::to_stdvec(&back).expect("encode"), bytes);
    }

    #[test]
    fn json_is_the_plain_list() {
        let i = Indicators::from(rows());
        let json = serde_json::to_value(&i).expect("json");
        assert_eq!(json, serde_json::to_value(rows()).expect("json"));
        let back: Indicators = serde_json::from_value(json).expect("back");
        assert!(!back.is_encoded());
        assert_eq!(back, i);
    }

    #[test]
    fn a_damaged_entry_is_refused_when_read_not_when_used() {
        let bytes = postcard::to_stdvec(&Indicators::from(rows())).expect("encode");
        // Flip one byte inside the rows, and one in the briefs at the end.
        for at in [8, bytes.len() / 3, bytes.len() - 3] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x55;
            assert!(
                postcard::from_bytes::<Indicators>(&bad).is_err(),
                "byte {at}"
            );
        }
    }

    #[test]
    fn rows_can_be_changed_after_decoding() {
        let bytes = postcard::to_stdvec(&Indicators::from(rows())).expect("encode");
        let mut back: Indicators = postcard::from_bytes(&bytes).expect("decode");
        back.push(row(
            "满意度指标",
            "服务对象满意度指标",
            "满意度",
            "≥90%",
            Some("10"),
        ));
        assert_eq!(back.len(), 5);
        assert_eq!(back.briefs()[4].level1, "满意度指标");
    }
}
