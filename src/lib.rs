//! jixiao: read, check and score 项目支出绩效目标表 and 项目支出绩效自评表 in bulk.
//!
//! The pipeline flows one way: scan → read → form → check → score → aggregate → output.
//! `process` runs one file through read → form → score → check.

pub mod aggregate;
pub mod cache;
pub mod check;
pub mod form;
pub mod indicator;
pub mod model;
pub mod output;
pub mod process;
pub mod read;
pub mod rules;
pub mod run;
pub mod samples;
pub mod scan;
pub mod score;
pub mod synth;
pub mod text;
