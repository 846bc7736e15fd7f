//! Tables as kubectl prints them: Go's `text/tabwriter` (kubectl ≤1.11, minwidth 10) and
//! `liggitt/tabwriter` with `RememberWidths` (1.12+, minwidth 6), both with padding 3 and ' '.
//!
//! Every cell but the last of a row is padded with spaces to
//! `max(minwidth, widest cell of the column + 3)`; the last cell is never padded, so no line
//! has trailing spaces. With `remember`, a column never gets narrower than it was in an
//! earlier call (how `kubectl get --watch` keeps its columns across events).

/// One tabwriter: `format` is one write + flush.
#[derive(Debug, Clone)]
pub struct TabWriter {
    minwidth: usize,
    padding: usize,
    remember: bool,
    widths: Vec<usize>,
}

/// minwidth of kubectl's tabwriter: 10 up to 1.11, 6 from 1.12 on.
pub const MINWIDTH_OLD: usize = 10;
pub const MINWIDTH_NEW: usize = 6;

impl TabWriter {
    pub fn new(minwidth: usize, remember: bool) -> Self {
        TabWriter { minwidth, padding: 3, remember, widths: Vec::new() }
    }

    /// Format rows (each a list of cells) as one flushed block, ending every line in `\n`.
    pub fn format(&mut self, rows: &[Vec<String>]) -> String {
        let columns = rows.iter().map(|r| r.len().saturating_sub(1)).max().unwrap_or(0);
        let mut widths = vec![0usize; columns];
        for row in rows {
            for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
                let w = (cell.chars().count() + self.padding).max(self.minwidth);
                widths[i] = widths[i].max(w);
            }
        }
        if self.remember {
            for (i, w) in widths.iter_mut().enumerate() {
                if let Some(old) = self.widths.get(i) {
                    *w = (*w).max(*old);
                }
            }
            for (i, w) in widths.iter().enumerate() {
                if i < self.widths.len() {
                    self.widths[i] = *w;
                } else {
                    self.widths.push(*w);
                }
            }
        }
        let mut out = String::new();
        for row in rows {
            for (i, cell) in row.iter().enumerate() {
                out.push_str(cell);
                if i + 1 < row.len() {
                    let pad = widths[i].saturating_sub(cell.chars().count());
                    out.push_str(&" ".repeat(pad));
                }
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &[&[&str]]) -> Vec<Vec<String>> {
        text.iter().map(|r| r.iter().map(|c| c.to_string()).collect()).collect()
    }

    /// `real/kubectl-1.33.1/get-controllerrevisions-custom-columns.out`, byte for byte.
    #[test]
    fn matches_real_controllerrevisions_capture() {
        let table = rows(&[
            &["NAME", "REVISION", "CREATED", "IMAGES"],
            &[
                "calico-node-98648fc54",
                "133",
                "2026-11-23T20:22:59Z",
                "quay.io/calico/node:v2.6.8,quay.io/calico/cni:v1.11.4",
            ],
            &[
                "calico-node-c79b9df76",
                "134",
                "2026-11-23T21:30:32Z",
                "quay.io/calico/node:v3.0.4,quay.io/calico/cni:v2.0.2",
            ],
        ]);
        let expected = "NAME                    REVISION   CREATED                IMAGES\n\
calico-node-98648fc54   133        2026-11-23T20:22:59Z   quay.io/calico/node:v2.6.8,quay.io/calico/cni:v1.11.4\n\
calico-node-c79b9df76   134        2026-11-23T21:30:32Z   quay.io/calico/node:v3.0.4,quay.io/calico/cni:v2.0.2\n";
        assert_eq!(TabWriter::new(MINWIDTH_NEW, false).format(&table), expected);
    }

    /// `real/kubectl-1.33.1/get-ds-custom-columns.out`: `DESIRED` is padded to its header.
    #[test]
    fn matches_real_daemonset_capture() {
        let table = rows(&[
            &["NAME", "DESIRED", "STRATEGY", "IMAGES"],
            &["calico-node", "3", "RollingUpdate", "quay.io/calico/node:v3.0.4,quay.io/calico/cni:v2.0.2"],
        ]);
        let expected = "NAME          DESIRED   STRATEGY        IMAGES\n\
calico-node   3         RollingUpdate   quay.io/calico/node:v3.0.4,quay.io/calico/cni:v2.0.2\n";
        assert_eq!(TabWriter::new(MINWIDTH_NEW, false).format(&table), expected);
    }

    /// minwidth 10 (kubectl ≤1.11): `1/1` is followed by 7 spaces.
    #[test]
    fn old_minwidth_pads_short_columns_to_ten() {
        let table = rows(&[&["NAME", "READY", "AGE"], &["calico-node-hvvg8", "1/1", "1m"]]);
        let text = TabWriter::new(MINWIDTH_OLD, false).format(&table);
        assert_eq!(text, "NAME                READY     AGE\ncalico-node-hvvg8   1/1       1m\n");
    }

    /// The watch stream of `real/kubectl-1.33.1/get-pods-watch-undo.out`: widths only grow.
    #[test]
    fn remembered_widths_only_grow() {
        let mut tw = TabWriter::new(MINWIDTH_NEW, true);
        let first = tw.format(&rows(&[
            &["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
            &["calico-node-qvg4l", "2/2", "Running", "0", "21s"],
        ]));
        assert_eq!(first, "NAME                READY   STATUS    RESTARTS   AGE\ncalico-node-qvg4l   2/2     Running   0          21s\n");
        let grown = tw.format(&rows(&[&["calico-node-qvg4l", "2/2", "Terminating", "0", "22s"]]));
        assert_eq!(grown, "calico-node-qvg4l   2/2     Terminating   0          22s\n");
        let kept = tw.format(&rows(&[&["calico-node-fhcnl", "0/2", "Pending", "0", "0s"]]));
        assert_eq!(kept, "calico-node-fhcnl   0/2     Pending       0          0s\n");
    }

    /// Without `remember` (kubectl ≤1.11 watch), each row is padded on its own.
    #[test]
    fn fresh_writer_pads_each_row_alone() {
        let mut tw = TabWriter::new(MINWIDTH_OLD, false);
        tw.format(&rows(&[&["NAME", "STATUS", "AGE"], &["calico-node-long-name", "Running", "1m"]]));
        let row = tw.format(&rows(&[&["calico-node-x", "Running", "2m"]]));
        assert_eq!(row, "calico-node-x   Running   2m\n");
    }
}
