use super::*;
use crate::indicator::parse;
use crate::model::{Execution, FundRow, Indicator};
use proptest::prelude::*;
use rust_decimal_macros::dec;

fn rules() -> Rules {
    Rules::national()
}

fn ind(level1: &str, target: &str, actual: &str, weight: Decimal, reported: Decimal) -> Indicator {
    Indicator {
        level1: Sourced::derived(level1.to_string()),
        level3: Sourced::derived(format!("{level1}-{target}")),
        target: Sourced::derived(target.to_string()),
        target_parsed: parse(target),
        actual: Some(Sourced::derived(actual.to_string())),
        actual_parsed: Some(Box::new(parse(actual))),
        weight: Some(Sourced::derived(weight)),
        score_reported: Some(Sourced::derived(reported)),
        ..Default::default()
    }
}

fn selfeval(annual: Decimal, executed: Decimal, indicators: Vec<Indicator>) -> Form {
    Form {
        kind: Some(FormKind::SelfEval),
        execution: Some(Execution {
            total: FundRow {
                annual: Some(Sourced::derived(annual)),
                executed: Some(Sourced::derived(executed)),
                weight: Some(Sourced::derived(dec!(10))),
                ..Default::default()
            },
            ..Default::default()
        }),
        indicators: indicators.into(),
        ..Default::default()
    }
}

fn all_met(weights: &[Decimal]) -> Vec<Indicator> {
    let level1 = ["产出指标", "产出指标", "效益指标", "效益指标", "满意度指标"];
    weights
        .iter()
        .zip(level1.iter().cycle())
        .map(|(w, l1)| ind(l1, "≥90%", "95%", *w, *w))
        .collect()
}

/// Published self-evaluation (a): 250000 元 budget, 215457.6 元 executed, all met.
#[test]
fn published_a() {
    let r = rules();
    // 元 → 万元 exactly, as the reader does.
    let annual = parse("250000元").quantity().unwrap().value;
    let executed = parse("215457.6元").quantity().unwrap().value;
    let b = score_budget(&r, annual, executed, dec!(10));
    assert_eq!(b.rate, Some(dec!(86.18)));
    assert_eq!(b.score, dec!(8.62));
    let weights = [dec!(10), dec!(20), dec!(20), dec!(30), dec!(10)];
    let form = selfeval(annual, executed, all_met(&weights));
    let s = score_form(&r, &form).unwrap();
    assert_eq!(s.total, dec!(98.62));
    assert_eq!(s.grade, Grade::Excellent);
    // The published 86.19 % is within the tolerance of the rounding rule.
    let mut form = form;
    form.execution.as_mut().unwrap().total.rate_reported = Some(Sourced::derived(dec!(86.19)));
    form.total_reported = Some(Sourced::derived(dec!(98.62)));
    let s = score_form(&r, &form).unwrap();
    assert!(
        s.issues
            .iter()
            .all(|i| i.code != "score.rate_mismatch" && i.code != "score.total_mismatch"),
        "{:?}",
        s.issues
    );
}

/// Published self-evaluation (b): 20000 元 budget, 9034 元 executed, indicators 90, all met.
#[test]
fn published_b() {
    let r = rules();
    let b = score_budget(&r, dec!(2), dec!(0.9034), dec!(10));
    assert_eq!(b.rate, Some(dec!(45.17)));
    assert_eq!(b.score, dec!(4.52));
    let weights = [dec!(20), dec!(20), dec!(20), dec!(20), dec!(10)];
    let s = score_form(&r, &selfeval(dec!(2), dec!(0.9034), all_met(&weights))).unwrap();
    assert_eq!(s.total, dec!(94.52));
    assert_eq!(s.grade, Grade::Excellent);
}

/// Published self-evaluation (c): 90 万元, 89.974 executed, four indicators.
#[test]
fn published_c() {
    let r = rules();
    let b = score_budget(&r, dec!(90), dec!(89.974), dec!(10));
    assert_eq!(b.score, dec!(10.00));
    let cases = [
        ("≥50个", "50", dec!(8), dec!(8)),
        ("≥100百分比", "100", dec!(8), dec!(8)),
        ("≤90万元", "90", dec!(8), dec!(8)),
    ];
    for (t, a, w, want) in cases {
        let o = score_indicator(&r, &parse(t), Some(&parse(a)), w, Some(w));
        assert_eq!(o.score, want, "{t}");
        assert_eq!(o.met, Some(true), "{t}");
        assert!(!o.reason_required, "{t}");
    }
    let q = score_indicator(
        &r,
        &parse("效果明显"),
        Some(&parse("达成预期指标")),
        dec!(10),
        Some(dec!(10)),
    );
    assert_eq!(q.score, dec!(10));
    assert!(!q.out_of_band);
    assert_eq!(q.band, Some((dec!(8.00), dec!(10.00))));
}

fn score(t: &str, a: &str, w: Decimal) -> IndicatorOutcome {
    score_indicator(&rules(), &parse(t), Some(&parse(a)), w, None)
}

#[test]
fn reverse_positive_equal_zero() {
    assert_eq!(score("≤100", "150", dec!(10)).score, dec!(5.00));
    assert_eq!(score("≤100", "200", dec!(10)).score, dec!(0));
    assert_eq!(score("≤100", "250", dec!(10)).score, dec!(0));
    assert_eq!(score("≤100", "90", dec!(10)).score, dec!(10));
    assert_eq!(score("≥8", "6", dec!(10)).score, dec!(7.50));
    assert!(score("≥8", "6", dec!(10)).reason_required);
    assert_eq!(score("=0", "0", dec!(10)).score, dec!(10));
    assert_eq!(score("=0", "1", dec!(10)).score, dec!(0));
    // A unitless actual is read in the target's written unit.
    assert_eq!(score("≥100万人次", "105", dec!(10)).met, Some(true));
    assert_eq!(score("≥100万人次", "50万人次", dec!(10)).score, dec!(5));
}

#[test]
fn over_achievement_needs_a_reason() {
    let o = score("≥100", "131", dec!(10));
    assert_eq!(o.score, dec!(10));
    assert!(o.over_achieved);
    assert!(o.reason_required);
    assert!(!score("≥100", "129", dec!(10)).reason_required);
    // Deduction only when the rules say so.
    let mut r = rules();
    r.over_achievement.deduct = true;
    let o = score_indicator(&r, &parse("≥100"), Some(&parse("131")), dec!(10), None);
    assert_eq!(o.score, dec!(9));
}

#[test]
fn qualitative_band_is_checked() {
    let o = score_indicator(
        &rules(),
        &parse("提升"),
        Some(&parse("部分达成")),
        dec!(10),
        Some(dec!(9)),
    );
    assert!(o.out_of_band);
    assert_eq!(o.band, Some((dec!(6.00), dec!(8.00))));
    let form = selfeval(
        dec!(1),
        dec!(1),
        vec![ind("效益指标", "提升", "部分达成", dec!(10), dec!(9))],
    );
    let s = score_form(&rules(), &form).unwrap();
    let issue = s
        .issues
        .iter()
        .find(|i| i.code == "score.out_of_band")
        .expect("band issue");
    assert!(issue.message.contains("60–80%"), "{}", issue.message);
    // Inside the band: accepted as the unit chose.
    let o = score_indicator(
        &rules(),
        &parse("提升"),
        Some(&parse("部分达成")),
        dec!(10),
        Some(dec!(7)),
    );
    assert_eq!((o.score, o.out_of_band), (dec!(7), false));
}

#[test]
fn deadlines() {
    assert_eq!(
        score("2023年底前完成", "2023年11月完成", dec!(5)).score,
        dec!(5)
    );
    let late = score_indicator(
        &rules(),
        &parse("2023年6月底前"),
        Some(&parse("2023年8月完成")),
        dec!(5),
        Some(dec!(2)),
    );
    assert_eq!(late.met, Some(false));
    assert_eq!(late.score, dec!(2));
}

#[test]
fn disagreements_are_reported() {
    let mut i = ind("产出指标", "≥8个", "6个", dec!(10), dec!(10));
    i.reason = None;
    let mut form = selfeval(dec!(10), dec!(10), vec![i]);
    form.total_reported = Some(Sourced::derived(dec!(20)));
    let s = score_form(&rules(), &form).unwrap();
    let codes: Vec<_> = s.issues.iter().map(|i| i.code).collect();
    assert!(codes.contains(&"score.mismatch"), "{codes:?}");
    assert!(codes.contains(&"score.reason_missing"), "{codes:?}");
    assert!(codes.contains(&"score.weights_differ"), "{codes:?}");
    assert!(codes.contains(&"score.weights_total"), "{codes:?}");
    assert_eq!(s.total, dec!(17.50));
    assert!(codes.contains(&"score.total_mismatch"), "{codes:?}");
}

#[test]
fn grades() {
    let r = rules();
    assert_eq!(grade(&r, dec!(90)), Grade::Excellent);
    assert_eq!(grade(&r, dec!(89.99)), Grade::Good);
    assert_eq!(grade(&r, dec!(80)), Grade::Good);
    assert_eq!(grade(&r, dec!(60)), Grade::Pass);
    assert_eq!(grade(&r, dec!(59.99)), Grade::Poor);
}

fn dec_strategy() -> impl Strategy<Value = Decimal> {
    (0i64..100_000_000, 0u32..5).prop_map(|(m, s)| Decimal::new(m, s))
}

fn op_strategy() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("≥"),
        Just(">"),
        Just("="),
        Just("≤"),
        Just("<"),
        Just("")
    ]
}

proptest! {
    #[test]
    fn score_within_zero_and_weight(op in op_strategy(), t in dec_strategy(), a in dec_strategy(), w in 0i64..100) {
        let w = Decimal::from(w);
        let o = score(&format!("{op}{t}"), &a.to_string(), w);
        prop_assert!(o.score >= Decimal::ZERO && o.score <= w, "{o:?}");
    }

    #[test]
    fn positive_is_monotone(t in dec_strategy(), a in dec_strategy(), more in dec_strategy(), w in 1i64..100) {
        let w = Decimal::from(w);
        let lo = score(&format!("≥{t}"), &a.to_string(), w).score;
        let hi = score(&format!("≥{t}"), &(a + more).to_string(), w).score;
        prop_assert!(lo <= hi, "{lo} > {hi}");
    }

    #[test]
    fn total_is_the_exact_sum(actuals in proptest::collection::vec((dec_strategy(), 1i64..30), 1..20), exec in dec_strategy()) {
        let inds: Vec<Indicator> = actuals.iter().map(|(a, w)| {
            let w = Decimal::from(*w);
            ind("产出指标", "≥1000", &a.to_string(), w, w)
        }).collect();
        let form = selfeval(dec!(1000), exec, inds);
        let s = score_form(&rules(), &form).unwrap();
        let sum = s.budget.as_ref().unwrap().score + s.indicators.iter().map(|o| o.score).sum::<Decimal>();
        prop_assert_eq!(s.total, sum);
    }
}
