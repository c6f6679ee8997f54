//! Writers: the official forms (template and filled), JSON shapes, legacy formats for samples.

pub mod form;
pub mod json;
pub mod legacy;
