//! kubectl's tables, read by cell boundaries rather than by whitespace.
//!
//! kubectl prints every table (`get`, `-o wide`, `-o custom-columns`, `get -w`) through Go's
//! tabwriter with a padding of 3: each cell but the last is followed by at least three spaces.
//! Headers and cells may contain single spaces (`NOMINATED NODE`, `READINESS GATES`,
//! `1 (75s ago)`), never two in a row. So a line is split where two or more spaces meet, and
//! cells are matched to headers by position. This also reads watch rows, which do not line up
//! with the header (kubectl <=1.11 pads each watch row on its own; newer kubectl remembers
//! widths that only grow), e.g. from `fixtures/kubectl/get-pods/watch-undo-1.33.stdout`:
//!
//! ```text
//! NAME                                      READY   STATUS    RESTARTS   AGE
//! calico-node-qvg4l                         2/2     Running   0          21s
//! calico-node-qvg4l                         2/2     Terminating   0          22s
//! ```

use super::Unrecognised;

/// A table borrowed from kubectl's output: cells are slices of the text, so reading a table
/// allocates only the row vectors (a 100k-pod table is read without a copy of every cell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table<'a> {
    pub headers: Vec<&'a str>,
    pub rows: Vec<Vec<&'a str>>,
}

/// Split one table line into its cells.
pub fn cells(line: &str) -> Vec<&str> {
    line.trim_end().split("  ").map(str::trim).filter(|cell| !cell.is_empty()).collect()
}

/// Read a whole table: the first non-empty line is the header; a later line equal to the
/// header (some kubectl versions repeat it in watch output) is skipped; every row must have
/// exactly as many cells as the header.
pub fn parse<'a>(what: &str, text: &'a str) -> Result<Table<'a>, Unrecognised> {
    let mut lines = text.lines().filter(|line| !line.trim().is_empty());
    let Some(header_line) = lines.next() else {
        return Ok(Table { headers: Vec::new(), rows: Vec::new() });
    };
    let headers = cells(header_line);
    let mut rows = Vec::new();
    for line in lines {
        let row = cells(line);
        if row == headers {
            continue;
        }
        if row.len() != headers.len() {
            return Err(Unrecognised::new(
                what,
                format!(
                    "a row has {} cells where the header has {} ({})",
                    row.len(),
                    headers.len(),
                    headers.join(", ")
                ),
                &format!("{header_line}\n{line}"),
            ));
        }
        rows.push(row);
    }
    Ok(Table { headers, rows })
}

/// Check that a table has exactly the columns asked for (custom-columns tables).
pub fn expect_headers(what: &str, table: &Table, expected: &[&str], text: &str) -> Result<(), Unrecognised> {
    if table.headers.is_empty() || table.headers.iter().copied().eq(expected.iter().copied()) {
        Ok(())
    } else {
        Err(Unrecognised::new(
            what,
            format!("expected the columns {}, found {}", expected.join(" "), table.headers.join(" ")),
            text,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_keep_single_spaces_inside_headers_and_values() {
        assert_eq!(
            cells("NAME   READY   RESTARTS        NOMINATED NODE   READINESS GATES"),
            ["NAME", "READY", "RESTARTS", "NOMINATED NODE", "READINESS GATES"]
        );
        assert_eq!(
            cells("calico-node-hvvg8   2/2     1 (75s ago)     95s"),
            ["calico-node-hvvg8", "2/2", "1 (75s ago)", "95s"]
        );
    }

    #[test]
    fn a_row_with_a_missing_cell_is_refused() {
        let error = parse("test table", "NAME   READY\nonly-one-cell\n").unwrap_err();
        assert!(error.reason.contains("1 cells where the header has 2"), "{error}");
    }
}
