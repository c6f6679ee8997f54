//! Substring tests for short cell texts.

/// Whether `hay` contains `needle`: `str::contains` compares every window of a short
/// haystack with a `memcmp` call (its SIMD search needs ≥ 32 bytes, and label cells are
/// shorter), a tenth of recognising. Here a window is compared only where the needle's last
/// byte stands (a plain loop: for cells this short, `memchr`'s dispatch cost more).
pub fn has(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    let Some((&last, _)) = n.split_last() else {
        return true;
    };
    let k = n.len() - 1;
    h.iter()
        .enumerate()
        .skip(k)
        .any(|(end, &b)| b == last && h[end - k..=end] == *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `has` answers as `str::contains` does, at every place and edge.
    #[test]
    fn has_is_contains() {
        let hays = [
            "",
            "元",
            "单位:元",
            "项目资金(元)",
            "万元万元",
            "a元b",
            "年度)2023年度)",
            "表表表",
            "ab",
        ];
        let needles = [
            "",
            "元",
            "(元)",
            "单位:元)",
            "年度)",
            "表",
            "绩效目标表",
            "b",
            "ab",
            "abc",
        ];
        for h in hays {
            for n in needles {
                assert_eq!(has(h, n), h.contains(n), "{h:?} / {n:?}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn has_is_contains_on_any_text(h in "[元表度()a-c:]{0,12}", n in "[元表度()a-c:]{0,4}") {
            proptest::prop_assert_eq!(has(&h, &n), h.contains(n.as_str()));
        }
    }
}
