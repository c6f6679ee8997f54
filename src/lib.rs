//! jixiao: read, check and score 项目支出绩效目标表 and 项目支出绩效自评表 in bulk.
//!
//! The pipeline flows one way: scan → read → form → check → score → aggregate → output.

pub mod indicator;
pub mod model;
pub mod rules;
pub mod score;
