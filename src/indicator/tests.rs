use super::*;
use proptest::prelude::*;
use rust_decimal_macros::dec;

/// Expected reading of one 指标值.
#[derive(Debug)]
enum Want {
    Q(Op, Decimal, &'static str),
    Compound(Vec<(&'static str, Op, Decimal, &'static str)>),
    Deadline(i32, u32, u32),
    Qual,
}
use Want::*;

fn unit_of(label: &str) -> Unit {
    match label {
        "%" => Unit::Percent,
        "万元" => Unit::Money,
        "" => Unit::None,
        other => Unit::Count(other.to_string()),
    }
}

fn check(text: &str, name: &str, want: &Want) {
    let p = parse_with_name(text, Some(name));
    match (want, &p.value) {
        (Q(op, v, u), Value::Quantity(q)) => {
            assert_eq!((q.op, q.value, &q.unit), (*op, *v, &unit_of(u)), "{text}");
        }
        (Compound(parts), Value::Compound(qs)) => {
            assert_eq!(parts.len(), qs.len(), "{text}");
            for ((label, op, v, u), q) in parts.iter().zip(qs) {
                assert_eq!(q.label.as_deref(), Some(*label), "{text}");
                assert_eq!((q.op, q.value, &q.unit), (*op, *v, &unit_of(u)), "{text}");
            }
        }
        (Deadline(y, m, d), Value::Deadline(date)) => {
            assert_eq!(
                *date,
                Date {
                    year: Some(*y),
                    month: *m,
                    day: *d
                },
                "{text}"
            );
        }
        (Qual, Value::Qualitative { .. }) => {}
        _ => panic!("{text}: wanted {want:?}, got {:?}", p.value),
    }
}

/// All 70 indicator rows of the five seed tables, literally, with their 三级指标.
#[test]
fn every_seed_target_value() {
    use Op::*;
    let rows: Vec<(&str, &str, Want)> = vec![
        // 1. 基层科普能力提升项目（中央专款）
        ("完成项目数量", "≥8个", Q(Ge, dec!(8), "个")),
        ("应结项目结项通过率", "≥90%", Q(Ge, dec!(90), "%")),
        ("项目按期完成率", "≥90%", Q(Ge, dec!(90), "%")),
        ("不超过预算资金", "≤185万元", Q(Le, dec!(185), "万元")),
        ("提升基层公共科普服务能力", "提升基层公共科普服务能力", Qual),
        ("服务对象满意度指标", "≥90%", Q(Ge, dec!(90), "%")),
        // 2. 科普经费
        (
            "组织市级科普主场活动",
            "主场活动2场，带动全市开展活动不少于1万场",
            Compound(vec![
                ("主场活动", Eq, dec!(2), "场"),
                ("带动全市开展活动", Ge, dec!(10000), "场"),
            ]),
        ),
        (
            "直接参与活动的市民",
            "≥100万人次",
            Q(Ge, dec!(1000000), "人次"),
        ),
        ("组织学术交流活动场数", "≥30场次", Q(Ge, dec!(30), "场次")),
        ("举办青少年科技竞赛及活动", "≥6项", Q(Ge, dec!(6), "项")),
        (
            "弘扬的宣传科学家精神",
            "宣传先进典型不少于10人，拍摄专题宣传片不少于1部",
            Compound(vec![
                ("宣传先进典型", Ge, dec!(10), "人"),
                ("拍摄专题宣传片", Ge, dec!(1), "部"),
            ]),
        ),
        (
            "建设管理服务科学家精神教育基地",
            "≥5个",
            Q(Ge, dec!(5), "个"),
        ),
        (
            "开展科协重点活动和日常工作宣传",
            "≥20次",
            Q(Ge, dec!(20), "次"),
        ),
        ("编发《天津科协》杂志", "≥4期", Q(Ge, dec!(4), "期")),
        (
            "组织为企业服务的专家人数",
            "≥100人次",
            Q(Ge, dec!(100), "人次"),
        ),
        (
            "发挥强科技创新智库作用，开展决策咨询课题研究",
            "≥20个",
            Q(Ge, dec!(20), "个"),
        ),
        ("全域科普基层阵地标准化覆盖率", "≥90%", Q(Ge, dec!(90), "%")),
        (
            "青少年科技竞赛及活动参与者",
            "≥10万人次",
            Q(Ge, dec!(100000), "人次"),
        ),
        (
            "科协新媒体平台建设及维护",
            "平台服务能力和新媒体影响力，位于全国科协系统前列",
            Qual,
        ),
        ("提升科普活动质量", "提升科普活动质量", Qual),
        ("决策咨询、智库课题", "≥1次", Q(Ge, dec!(1), "次")),
        ("营造良好学术氛围", "逐年提升", Qual),
        ("按时完成率", "≥90%", Q(Ge, dec!(90), "%")),
        ("按照预算执行", "≥95%", Q(Ge, dec!(95), "%")),
        (
            "推动全域科普向纵深发展",
            "公民具备科学素质的比例达到18%",
            Q(Ge, dec!(18), "%"),
        ),
        ("学会能力全面提升", "提升", Qual),
        (
            "持续扩大基层科协组织有效覆盖",
            "街道、乡镇科协组织覆盖率达百分之百",
            Q(Ge, dec!(100), "%"),
        ),
        (
            "宣传党的创新理论和重要会议精神",
            "理论政策宣传深入全市企业、园区基层一线科技工作者，宣传覆盖面进一步扩大",
            Qual,
        ),
        ("企业科技创新能力提升", "企业科技创新能力提升", Qual),
        ("活动参与者满意度", "≥90%", Q(Ge, dec!(90), "%")),
        // 3. 2023年天津科学技术馆编制外长聘人员经费项目
        ("人员指标", "≥20人", Q(Ge, dec!(20), "人")),
        (
            "编外长聘人员工资发放、社保和公积金缴纳合规率",
            "100百分比",
            Q(Eq, dec!(100), "%"),
        ),
        (
            "编外长聘人员工资发放、社保和公积金缴纳按时率",
            "100百分比",
            Q(Eq, dec!(100), "%"),
        ),
        (
            "编外长聘人员经费支出",
            "156.5万元",
            Q(Eq, dec!(156.5), "万元"),
        ),
        (
            "科技馆正常运转率",
            "≥90科技馆正常运转率",
            Q(Ge, dec!(90), "%"),
        ),
        (
            "科技馆编外人员稳定率",
            "≥90科技馆编外人员稳定率",
            Q(Ge, dec!(90), "%"),
        ),
        ("编制外长聘人员满意度", "≥90百分比", Q(Ge, dec!(90), "%")),
        // 4. 2023年天津科学技术馆免费开放项目-中央
        ("支付以前免费开放项目尾款数", "≥4项", Q(Ge, dec!(4), "项")),
        ("物业安保服务人员数", "≤81人次", Q(Le, dec!(81), "人次")),
        ("保障劳务派遣人员数", "≤28人次", Q(Le, dec!(28), "人次")),
        ("提升系统设施数", "≥3套", Q(Ge, dec!(3), "套")),
        (
            "以前年度免费开放项目尾款支付合格率",
            "100百分比",
            Q(Eq, dec!(100), "%"),
        ),
        ("物业服务合格率", "100百分比", Q(Eq, dec!(100), "%")),
        ("安保服务合格率", "100百分比", Q(Eq, dec!(100), "%")),
        (
            "劳务派遣人员费用支付合规率",
            "100百分比",
            Q(Eq, dec!(100), "%"),
        ),
        ("提升系统或设施合格率", "100百分比", Q(Eq, dec!(100), "%")),
        (
            "以前年度免费开放项目尾款按时支付率",
            "≥95百分比",
            Q(Ge, dec!(95), "%"),
        ),
        ("物业服务按时完成率", "≥95百分比", Q(Ge, dec!(95), "%")),
        ("安保服务按时完成率", "≥95百分比", Q(Ge, dec!(95), "%")),
        ("保障供冷供热时间", "≥8月", Q(Ge, dec!(8), "月")),
        (
            "劳务派遣人员费用按时支付率",
            "≥95百分比",
            Q(Ge, dec!(95), "%"),
        ),
        ("提升系统和设施工作完成时间", "按合同规定实施", Qual),
        (
            "免费开放专项成本费用额",
            "777万元",
            Q(Eq, dec!(777), "万元"),
        ),
        ("受益人民群众", "≥40万人次", Q(Ge, dec!(400000), "人次")),
        ("系统和设施可使用年限", "≥1年", Q(Ge, dec!(1), "年")),
        ("观众满意度", "≥90百分比", Q(Ge, dec!(90), "%")),
        // 5. 2023年天津科学技术馆运行保障项目
        ("运行维护系统数量", "≥5个", Q(Ge, dec!(5), "个")),
        ("维修维护展品数量", "≥660件", Q(Ge, dec!(660), "件")),
        ("科普活动场次", "≥400场", Q(Ge, dec!(400), "场")),
        (
            "全年所需运行保障费用",
            "542.5万元",
            Q(Eq, dec!(542.5), "万元"),
        ),
        (
            "系统日常维护完成时间",
            "2023年底前完成",
            Deadline(2023, 12, 31),
        ),
        ("展品维修维护按时完成率", "≥95百分比", Q(Ge, dec!(95), "%")),
        ("科普活动举办按时完成率", "≥95百分比", Q(Ge, dec!(95), "%")),
        (
            "科普活动受众人数",
            "≥100万人次",
            Q(Ge, dec!(1000000), "人次"),
        ),
        ("展品维修维护合格率", "≥95百分比", Q(Ge, dec!(95), "%")),
        ("系统日常维护合格率", "≥95百分比", Q(Ge, dec!(95), "%")),
        ("科技馆正常运行率", "≥230天", Q(Ge, dec!(230), "天")),
        ("系统维护年限", "≥0.5年", Q(Ge, dec!(0.5), "年")),
        ("展厅接待量", "≥40万人次", Q(Ge, dec!(400000), "人次")),
        ("科技馆参观人员满意度", "≥95百分比", Q(Ge, dec!(95), "%")),
    ];
    assert_eq!(rows.len(), 70);
    for (name, text, want) in &rows {
        check(text, name, want);
    }
}

#[test]
fn number_then_indicator_name_warns() {
    let p = parse_with_name("≥90科技馆正常运转率", Some("科技馆正常运转率"));
    assert_eq!(p.notes.len(), 1);
    assert_eq!(p.notes[0].code, "indicator.unit_inferred");
    // A plain value has no note.
    assert!(parse("≥90%").notes.is_empty());
}

#[test]
fn operators_words_and_full_width() {
    use Op::*;
    let cases: &[(&str, Op, Decimal, &str)] = &[
        (">=90%", Ge, dec!(90), "%"),
        ("<=10天", Le, dec!(10), "天"),
        ("＞＝９０％", Ge, dec!(90), "%"),
        ("≧ 8 个", Ge, dec!(8), "个"),
        ("＜5次", Lt, dec!(5), "次"),
        (">3项", Gt, dec!(3), "项"),
        ("=100%", Eq, dec!(100), "%"),
        ("不少于10人", Ge, dec!(10), "人"),
        ("不低于95%", Ge, dec!(95), "%"),
        ("不超过50万元", Le, dec!(50), "万元"),
        ("不高于3%", Le, dec!(3), "%"),
        ("10人以上", Ge, dec!(10), "人"),
        ("30天以内", Le, dec!(30), "天"),
        ("达到90%", Ge, dec!(90), "%"),
        ("1,200个", Eq, dec!(1200), "个"),
        ("１，２００个", Eq, dec!(1200), "个"),
        ("2.5亿元", Eq, dec!(25000), "万元"),
        ("250000元", Eq, dec!(25), "万元"),
        ("215457.6元", Eq, dec!(21.54576), "万元"),
        ("50", Eq, dec!(50), ""),
        ("百分之九十五", Eq, dec!(95), "%"),
        ("≥90分", Ge, dec!(90), "分"),
        ("5千元", Eq, dec!(0.5), "万元"),
    ];
    for (text, op, v, u) in cases {
        let p = parse(text);
        let q = p
            .quantity()
            .unwrap_or_else(|| panic!("{text}: {:?}", p.value));
        assert_eq!((q.op, q.value, &q.unit), (*op, *v, &unit_of(u)), "{text}");
    }
}

#[test]
fn deadlines_and_actual_dates() {
    let cases: &[(&str, Option<i32>, u32, u32)] = &[
        ("2023年底前完成", Some(2023), 12, 31),
        ("2023年12月31日前", Some(2023), 12, 31),
        ("2023年11月完成", Some(2023), 11, 30),
        ("2024年2月底前", Some(2024), 2, 29),
        ("2023-06-30", Some(2023), 6, 30),
        ("12月底前完成", None, 12, 31),
        ("6月中旬前", None, 6, 20),
    ];
    for (text, y, m, d) in cases {
        assert_eq!(
            parse(text).value,
            Value::Deadline(Date {
                year: *y,
                month: *m,
                day: *d
            }),
            "{text}"
        );
    }
    // Durations are not dates.
    assert!(matches!(parse("≥8月").value, Value::Quantity(_)));
    assert!(matches!(parse("≥1年").value, Value::Quantity(_)));
}

#[test]
fn actual_values() {
    assert_eq!(parse("100%").quantity().map(|q| q.value), Some(dec!(100)));
    assert_eq!(parse("50").quantity().map(|q| q.value), Some(dec!(50)));
    let band = |t: &str| match parse(t).value {
        Value::Qualitative { attainment } => attainment,
        other => panic!("{t}: {other:?}"),
    };
    assert_eq!(band("达成预期指标"), Some(Attainment::Met));
    assert_eq!(band("已完成"), Some(Attainment::Met));
    assert_eq!(band("部分达成"), Some(Attainment::Partial));
    assert_eq!(band("未达成"), Some(Attainment::Unmet));
    assert_eq!(band("效果明显"), Some(Attainment::Met));
    assert_eq!(band("正在推进中"), None);
}

#[test]
fn unparsed_is_kept_verbatim_with_a_reason() {
    for text in ["90%-95%", "≥", "第3季度2次", "%%%"] {
        let p = parse(text);
        assert!(
            matches!(&p.value, Value::Unparsed { reason } if !reason.is_empty()),
            "{text}: {:?}",
            p.value
        );
    }
    assert_eq!(parse("  ").value, Value::Empty);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    /// The parser never panics, and reads blank as empty only.
    #[test]
    fn never_panics(s in "\\PC*", name in proptest::option::of("\\PC{0,12}")) {
        let p = parse_with_name(&s, name.as_deref());
        prop_assert_eq!(p.value == Value::Empty, s.trim().is_empty());
    }

    /// Grammar-shaped noise: operators, digits, units and CJK mixed.
    #[test]
    fn never_panics_on_grammar_noise(s in "[≥≤<>=０-９0-9.,，万亿元%年月日底前百分之比人次个场 不少于以上内a-z]{0,24}") {
        let p = parse(&s);
        prop_assert_eq!(p.value == Value::Empty, s.trim().is_empty());
    }
}

/// Crash found by `cargo fuzz run indicator` (Decimal overflow in scoring a 24-digit target):
/// kept as a regression test.
#[test]
fn fuzz_crash_huge_figures_are_refused() {
    let data = include_bytes!("fuzz-crash-1.bin");
    let text = String::from_utf8_lossy(data);
    let (target, rest) = text.split_once('|').unwrap_or((&text, ""));
    let (actual, name) = rest.split_once('|').unwrap_or((rest, ""));
    let t = parse_with_name(target, Some(name));
    let a = parse_with_name(actual, None);
    let weight = Decimal::from(data.len() as u64 % 40);
    let o =
        crate::score::score_indicator(&crate::rules::Rules::national(), &t, Some(&a), weight, None);
    assert!(o.score >= Decimal::ZERO && o.score <= weight);
    for huge in [
        "≥1000000000000000000000000个",
        "10000000000000亿元",
        "≤9999999999999999",
    ] {
        assert!(parse(huge).is_unparsed(), "{huge}");
    }
    assert!(parse("≥999999999999999个").quantity().is_some());
}

/// `normalise` as it was written first, in two passes: the reference for the one-pass fold.
fn normalise_two_pass(text: &str) -> Vec<char> {
    let out: Vec<char> = text
        .chars()
        .map(fold_glyph)
        .filter(|c| !c.is_whitespace())
        .collect();
    let mut folded = Vec::with_capacity(out.len());
    let mut i = 0;
    while i < out.len() {
        match (out[i], out.get(i + 1).copied()) {
            ('>', Some('=')) => {
                folded.push('≥');
                i += 2;
            }
            ('<', Some('=')) => {
                folded.push('≤');
                i += 2;
            }
            ('=', Some('=')) => {
                folded.push('=');
                i += 2;
            }
            (c, _) => {
                folded.push(c);
                i += 1;
            }
        }
    }
    folded
}

#[test]
fn normalise_folds_pairs_as_the_two_pass_fold() {
    for s in [
        ">=",
        ">==",
        "===",
        "====",
        "<= 5",
        "> = 3",
        "＞＝95%",
        "=>",
        "<<=",
        "≥=",
        "a=b==c",
        "",
    ] {
        assert_eq!(normalise(s), normalise_two_pass(s), "{s:?}");
    }
}

proptest::proptest! {
    #[test]
    fn normalise_is_the_two_pass_fold(s in "[<>=＞＝ ≧a1]{0,10}") {
        proptest::prop_assert_eq!(normalise(&s), normalise_two_pass(&s));
    }
}
