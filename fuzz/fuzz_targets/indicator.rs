//! The 指标值 grammar on arbitrary text, with and without an indicator name, and scoring of
//! whatever it parses: nothing may panic, and a score stays within [0, 分值].
#![no_main]

use jixiao::indicator::{parse_with_name, Value};
use jixiao::rules::Rules;
use jixiao::score::score_indicator;
use libfuzzer_sys::fuzz_target;
use rust_decimal::Decimal;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (target, rest) = text.split_once('|').unwrap_or((&text, ""));
    let (actual, name) = rest.split_once('|').unwrap_or((rest, ""));
    let t = parse_with_name(target, Some(name));
    let a = parse_with_name(actual, None);
    assert_eq!(t.value == Value::Empty, target.trim().is_empty());
    let weight = Decimal::from(data.len() as u64 % 40);
    let o = score_indicator(&Rules::national(), &t, Some(&a), weight, Some(Decimal::new(data.len() as i64 % 5000, 2)));
    assert!(o.score >= Decimal::ZERO && o.score <= weight, "{o:?}");
});
