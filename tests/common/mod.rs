//! Helpers for the end-to-end tests: run the built binary, make the samples.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_jixiao"))
}

pub fn run(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().expect("run jixiao")
}

/// Generate the samples with the binary into a fresh folder.
pub fn samples() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(&["samples", "--out", dir.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

pub fn inspect(path: &Path) -> Value {
    let out = run(&["inspect", path.to_str().unwrap(), "--json"]);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("inspect prints JSON")
}

/// The forms of a file, without the fields that name where they were read.
pub fn forms_without_place(v: &Value) -> Vec<Value> {
    v["forms"]
        .as_array()
        .expect("forms")
        .iter()
        .map(|f| {
            let mut f = f.clone();
            f.as_object_mut().unwrap().remove("sheet");
            f
        })
        .collect()
}

pub fn issues_without_place(v: &Value) -> Vec<Value> {
    v["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| {
            let mut i = i.clone();
            i.as_object_mut().unwrap().remove("sheet");
            i
        })
        .collect()
}
