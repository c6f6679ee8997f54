//! `OUT/issues.csv`: UTF-8 with a BOM so Excel opens it in Chinese; every field quoted; a field
//! that Excel would take for a formula (= + - @, tab, carriage return) is neutralised.

use std::io::Write;

use crate::aggregate::IssueRow;

/// The columns of 问题清单, in issues.csv and in consolidated.xlsx alike.
pub const ISSUE_HEADERS: &[&str] = &[
    "严重程度",
    "代码",
    "单位编码",
    "单位名称",
    "项目名称",
    "文件",
    "工作表",
    "单元格",
    "问题描述",
];

/// One issue as the values of `ISSUE_HEADERS`.
pub fn issue_fields(r: &IssueRow) -> [String; 9] {
    let i = &r.issue;
    [
        i.severity.label_zh().to_string(),
        i.code.to_string(),
        r.unit_code.clone().unwrap_or_default(),
        r.unit_name.clone().unwrap_or_default(),
        r.project.clone().unwrap_or_default(),
        i.file
            .as_ref()
            .map(|f| f.display().to_string())
            .unwrap_or_default(),
        i.sheet.clone().unwrap_or_default(),
        i.cell.map(|c| c.a1()).unwrap_or_default(),
        i.message.clone(),
    ]
}

/// One CSV field: quoted, quotes doubled, formula triggers prefixed with an apostrophe.
pub fn field(s: &str) -> String {
    let safe = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    format!("\"{}\"", safe.replace('"', "\"\""))
}

pub fn write_issues(out: &mut impl Write, rows: &[IssueRow]) -> std::io::Result<()> {
    out.write_all("\u{feff}".as_bytes())?;
    write!(
        out,
        "{}\r\n",
        ISSUE_HEADERS
            .iter()
            .map(|h| field(h))
            .collect::<Vec<_>>()
            .join(",")
    )?;
    for r in rows {
        let fields = issue_fields(r);
        // CRLF: what Excel expects of a CSV.
        write!(
            out,
            "{}\r\n",
            fields
                .iter()
                .map(|f| field(f))
                .collect::<Vec<_>>()
                .join(",")
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_quotes_doubled() {
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("+1"), "\"'+1\"");
        assert_eq!(field("-2"), "\"'-2\"");
        assert_eq!(field("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(field("科普经费"), "\"科普经费\"");
    }
}
