//! Writers: the official forms (template and filled), the consolidated workbook, JSON shapes,
//! the issues CSV, and legacy formats for samples.

pub mod csv;
pub mod detail;
pub mod form;
pub mod json;
pub mod legacy;
pub mod package;
pub mod pdf;
pub mod workbook;
