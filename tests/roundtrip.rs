//! Form → official form workbook → recognise → Form is the identity, for both kinds of form,
//! over many generated projects (one layout, two uses: the template writer fills forms too).

use std::path::Path;

use jixiao::form::recognise;
use jixiao::indicator::parse_with_name;
use jixiao::model::{Budget, Execution, Form, FormKind, FundRow, Indicator, Sourced, Unit};
use jixiao::read::{read_bytes, Limits};
use jixiao::samples::xlsx_bytes;
use proptest::prelude::*;
use rust_decimal::Decimal;

const WORDS: &[&str] = &[
    "科普",
    "场馆",
    "运行",
    "维护",
    "培训",
    "设备",
    "采购",
    "基层",
    "服务",
    "能力",
    "提升",
    "宣传",
    "活动",
    "监测",
    "信息化",
    "平台",
    "建设",
    "人才",
    "补助",
    "专项",
];
const TARGETS: &[&str] = &[
    "≥8个",
    "≥90%",
    "≤185万元",
    "100百分比",
    "2023年底前完成",
    "提升",
    "逐年提升",
    "≥100万人次",
    "不少于10人",
    "156.5万元",
    "≥0.5年",
    "按合同规定实施",
    "主场活动2场，带动全市开展活动不少于1万场",
];
const ACTUALS: &[&str] = &[
    "8个",
    "95%",
    "180万元",
    "100%",
    "2023年11月完成",
    "达成预期指标",
    "部分达成",
    "50",
];

fn phrase() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(WORDS), 1..5).prop_map(|w| w.concat())
}

/// Money in 万元 with 2 decimals; scores with 2 decimals.
fn money() -> impl Strategy<Value = Decimal> {
    (1i64..100_000_000).prop_map(|c| Decimal::new(c, 2))
}

fn score() -> impl Strategy<Value = Decimal> {
    (0i64..3000).prop_map(|c| Decimal::new(c, 2))
}

fn d(v: Decimal) -> Option<Sourced<Decimal>> {
    Some(Sourced::derived(v))
}

fn s(v: &str) -> Sourced<String> {
    Sourced::derived(v.to_string())
}

prop_compose! {
    fn indicator(selfeval: bool)(
        (l1, l2) in proptest::sample::select(jixiao::model::framework_pairs().collect::<Vec<_>>()),
        l3 in phrase(),
        desc in phrase(),
        target in proptest::sample::select(TARGETS),
        actual in proptest::sample::select(ACTUALS),
        w in score(),
        sc in score(),
        reason in proptest::option::of(phrase()),
    ) -> Indicator {
        let mut i = Indicator {
            level1: s(l1),
            level2: s(l2),
            level3: s(&l3),
            target: s(target),
            target_parsed: parse_with_name(target, Some(&l3)),
            ..Default::default()
        };
        if selfeval {
            i.actual = Some(s(actual));
            i.actual_parsed = Some(Box::new(parse_with_name(actual, Some(&l3))));
            i.weight = d(w);
            i.score_reported = d(sc);
            i.reason = reason.map(|r| s(&r));
        } else {
            i.description = Some(s(&desc));
        }
        i
    }
}

prop_compose! {
    fn form(kind: FormKind)(
        code in 100_000u32..999_999,
        unit in phrase(),
        project in phrase(),
        year in proptest::option::of(2015i32..2030),
        yuan in any::<bool>(),
        (total, fiscal, other) in (money(), money(), proptest::option::of(money())),
        (annual, executed, rate, bscore) in (money(), money(), score(), score()),
        goals in phrase(),
        goals_actual in phrase(),
        dept in phrase(),
        indicators in proptest::collection::vec(indicator(kind == FormKind::SelfEval), 1..14),
        total_reported in score(),
    ) -> Form {
        let mut f = Form {
            kind: Some(kind),
            unit: Some(Sourced::derived(Unit { code: Some(code.to_string()), name: format!("天津市{unit}中心") })),
            project: Some(s(&format!("{project}项目"))),
            money_in_yuan: yuan,
            goals: Some(s(&goals)),
            indicators: indicators.into(),
            ..Default::default()
        };
        match kind {
            FormKind::Target => {
                let title = match year {
                    Some(y) => format!("{y}年{project}项目绩效目标表"),
                    None => format!("{project}项目绩效目标表"),
                };
                f.title = Some(s(&title));
                f.year = year.map(Sourced::derived);
                f.budget = Budget { total: d(total), fiscal: d(fiscal), other: other.and_then(d) };
                f.fund_use = Some(s(&format!("用于{project}")));
            }
            FormKind::SelfEval => {
                f.title = Some(s("项目支出绩效自评表"));
                f.year = Some(Sourced::derived(year.unwrap_or(2023)));
                f.department = Some(s(&format!("天津市{dept}局")));
                f.goals_actual = Some(s(&goals_actual));
                f.execution = Some(Execution {
                    total: FundRow {
                        initial: d(annual),
                        annual: d(annual),
                        executed: d(executed),
                        weight: d(Decimal::TEN),
                        rate_reported: d(rate),
                        score_reported: d(bscore),
                    },
                    fiscal: FundRow { initial: d(annual), annual: d(annual), executed: d(executed), ..Default::default() },
                    ..Default::default()
                });
                f.total_weight_reported = d(Decimal::ONE_HUNDRED);
                f.total_reported = d(total_reported);
            }
        }
        f
    }
}

/// Drop what depends on where a value was read: cells, file and sheet.
fn placeless(mut f: Form) -> Form {
    fn clear<T>(v: &mut Option<Sourced<T>>) {
        if let Some(s) = v {
            s.cell = None;
        }
    }
    f.source = Default::default();
    clear(&mut f.title);
    clear(&mut f.unit);
    clear(&mut f.department);
    clear(&mut f.project);
    clear(&mut f.year);
    clear(&mut f.budget.total);
    clear(&mut f.budget.fiscal);
    clear(&mut f.budget.other);
    clear(&mut f.fund_use);
    clear(&mut f.goals);
    clear(&mut f.goals_actual);
    clear(&mut f.total_weight_reported);
    clear(&mut f.total_reported);
    if let Some(ex) = &mut f.execution {
        for row in [
            &mut ex.total,
            &mut ex.fiscal,
            &mut ex.carryover,
            &mut ex.other,
        ] {
            for v in [
                &mut row.initial,
                &mut row.annual,
                &mut row.executed,
                &mut row.weight,
                &mut row.rate_reported,
                &mut row.score_reported,
            ] {
                clear(v);
            }
        }
    }
    for i in &mut f.indicators {
        i.level1.cell = None;
        i.level2.cell = None;
        i.level3.cell = None;
        i.target.cell = None;
        clear(&mut i.description);
        clear(&mut i.actual);
        clear(&mut i.weight);
        clear(&mut i.score_reported);
        clear(&mut i.reason);
    }
    f
}

fn round_trip(form: &Form) -> Vec<Form> {
    let bytes = xlsx_bytes(std::slice::from_ref(form), false, false).expect("write");
    let wb = read_bytes(bytes, &Limits::default()).expect("read");
    wb.sheets
        .iter()
        .flat_map(|sheet| recognise(sheet, Path::new("x.xlsx")))
        .map(|r| placeless(r.form))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn target_forms_round_trip(f in form(FormKind::Target)) {
        prop_assert_eq!(round_trip(&f), vec![placeless(f)]);
    }

    #[test]
    fn selfeval_forms_round_trip(f in form(FormKind::SelfEval)) {
        prop_assert_eq!(round_trip(&f), vec![placeless(f)]);
    }
}
