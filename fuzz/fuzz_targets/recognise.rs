//! Form recognition, scoring and checking on an arbitrary cell grid: cells drawn from the
//! forms' own labels and values so the fuzzer reaches deep into the reader.
#![no_main]

use std::path::Path;

use jixiao::check::check_form;
use jixiao::form::recognise;
use jixiao::read::{Grid, GridCell, Sheet};
use jixiao::rules::Rules;
use jixiao::score::score_form;
use libfuzzer_sys::fuzz_target;

const WORDS: &[&str] = &[
    "项目名称", "项目支出绩效目标表", "项目支出绩效自评表", "（2023年度）", "569301天津市科学技术协会", "单位：万元",
    "单位：元", "预算数", "其中：财政    资金", "其他资金", "预算规模及资金用途", "绩效目标", "一级指标", "二级指标",
    "三级指标", "绩效指标描述", "指标值", "年度指标值（A）", "实际完成值（B）", "分值", "得分", "偏差原因分析及改进措施",
    "主管部门", "实施单位", "项目资金（万元）", "年初预算数", "全年预算数", "全年执行数", "执行率", "年度资金总额",
    "其中：当年财政拨款", "上年结转资金", "预期目标", "实际完成情况", "总分", "产出指标", "效益指标", "满意度指标",
    "数量指标", "≥8个", "≤185万元", "100百分比", "提升", "部分达成", "2023年底前完成", "—", "185.00", "10", "-3", "备注",
];

fuzz_target!(|data: &[u8]| {
    let mut grid = Grid::default();
    // Each cell: row, column, word, and an optional number.
    for chunk in data.chunks(4) {
        if chunk.len() < 4 {
            break;
        }
        let row = (chunk[0] % 64) as u32;
        let col = (chunk[1] % 12) as u32;
        let word = WORDS[chunk[2] as usize % WORDS.len()];
        let number = (chunk[3] & 1 == 1).then(|| rust_decimal::Decimal::from(chunk[3] as i64 - 100));
        let text = number.map(|n| n.to_string()).unwrap_or_else(|| word.to_string());
        grid.insert(row, col, GridCell { text: text.into(), number, anchor: None });
    }
    grid.finish();
    let sheet = Sheet { name: "S".into(), grid };
    let rules = Rules::national();
    for read in recognise(&sheet, Path::new("fuzz.xlsx")) {
        let score = score_form(&rules, &read.form);
        let _ = check_form(&read.form, score.as_ref());
    }
});
