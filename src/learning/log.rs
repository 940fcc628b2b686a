//! The per-step log of dictionary training, kept as a small CSV file
//! (`training.csv`) that spreadsheets, pandas and `lca plot training` read.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Header line of a training log, naming the fields of [`TrainingRow`] in order.
pub const CSV_HEADER: &str = "step,seconds,mse,l1,active_fraction,energy,heldout_energy";

/// Header of logs written before the held-out column existed; still read.
const CSV_HEADER_V1: &str = "step,seconds,mse,l1,active_fraction,energy";

/// One line of the training log: statistics of the codes after a training step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingRow {
    /// Training step (number of dictionary updates so far).
    pub step: u64,
    /// Wall-clock seconds since training started.
    pub seconds: f64,
    /// Mean squared reconstruction error.
    pub mse: f64,
    /// Mean L1 norm of the codes per signal.
    pub l1: f64,
    /// Fraction of code coefficients that are non-zero.
    pub active_fraction: f64,
    /// Mean LASSO energy `½‖x − Φa‖² + λ‖a‖₁` per signal.
    pub energy: f64,
    /// Exact mean LASSO objective of the fixed held-out patches (never
    /// trained on) for the dictionary after this step; only on the steps where
    /// the held-out set was scored (an empty cell in the CSV otherwise).
    pub heldout_energy: Option<f64>,
}

impl TrainingRow {
    /// The row as one CSV line in [`CSV_HEADER`] order, without a line break.
    ///
    /// Numbers use Rust's shortest round-trip formatting, so
    /// [`read_training_csv`] reads back exactly the same values (NaN included).
    ///
    /// ```
    /// use lca::dictionary::TrainingRow;
    /// let mut row = TrainingRow { step: 3, seconds: 1.5, mse: 0.25, l1: 2.0, active_fraction: 0.1, energy: 0.325, heldout_energy: None };
    /// assert_eq!(row.to_csv_line(), "3,1.5,0.25,2,0.1,0.325,");
    /// row.heldout_energy = Some(0.25);
    /// assert_eq!(row.to_csv_line(), "3,1.5,0.25,2,0.1,0.325,0.25");
    /// ```
    pub fn to_csv_line(&self) -> String {
        let heldout = self.heldout_energy.map_or(String::new(), |v| v.to_string());
        format!(
            "{},{},{},{},{},{},{heldout}",
            self.step, self.seconds, self.mse, self.l1, self.active_fraction, self.energy
        )
    }
}

/// Reads a training log written with [`CSV_HEADER`] and
/// [`TrainingRow::to_csv_line`].
///
/// The first line must be the header (spaces around names and a Windows
/// `\r\n` line end are accepted); blank lines are skipped. Logs of earlier
/// versions, without the `heldout_energy` column, are read too.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read; [`Error::Format`] naming the
/// file and the line number for a missing or different header, a line with the
/// wrong number of columns, or a cell that is not a number (`step` must be a
/// non-negative integer).
pub fn read_training_csv(path: &Path) -> Result<Vec<TrainingRow>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_training_csv(&text, path)
}

fn parse_training_csv(text: &str, path: &Path) -> Result<Vec<TrainingRow>> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
    let Some((_, header)) = lines.next() else {
        return Err(Error::format(
            path,
            format!("line 1: missing header '{CSV_HEADER}' (the file is empty)"),
        ));
    };
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let n_columns = names.len();
    if names != CSV_HEADER.split(',').collect::<Vec<_>>()
        && names != CSV_HEADER_V1.split(',').collect::<Vec<_>>()
    {
        return Err(Error::format(
            path,
            format!(
                "line 1: missing header '{CSV_HEADER}', found '{}'",
                shorten(header)
            ),
        ));
    }
    let columns: Vec<&str> = CSV_HEADER.split(',').collect();
    let mut rows = Vec::new();
    for (line_no, line) in lines {
        if line.is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != n_columns {
            return Err(Error::format(
                path,
                format!(
                    "line {line_no}: expected {n_columns} columns ({}), found {}",
                    names.join(","),
                    cells.len()
                ),
            ));
        }
        let bad = |col: usize, kind: &str| {
            Error::format(
                path,
                format!(
                    "line {line_no}: column '{}': cannot read '{}' as {kind}",
                    columns[col],
                    shorten(cells[col])
                ),
            )
        };
        let num = |col: usize| cells[col].parse::<f64>().map_err(|_| bad(col, "a number"));
        rows.push(TrainingRow {
            step: cells[0]
                .parse::<u64>()
                .map_err(|_| bad(0, "a non-negative integer"))?,
            seconds: num(1)?,
            mse: num(2)?,
            l1: num(3)?,
            active_fraction: num(4)?,
            energy: num(5)?,
            heldout_energy: match cells.get(6) {
                None | Some(&"") => None,
                Some(_) => Some(num(6)?),
            },
        });
    }
    Ok(rows)
}

/// At most 40 characters of `s`, for error messages about arbitrary input.
fn shorten(s: &str) -> String {
    if s.chars().count() <= 40 {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(40).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_crlf_and_blank_lines() {
        let text = format!("{CSV_HEADER}\r\n1,0.5,1,2,0.5,3,\r\n\r\n2,1,0.5,1,0.25,1.5,1.25\r\n");
        let rows = parse_training_csv(&text, Path::new("t.csv")).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].step, 2);
        assert_eq!(
            (rows[0].heldout_energy, rows[1].heldout_energy),
            (None, Some(1.25))
        );
    }

    #[test]
    fn reads_logs_without_the_heldout_column() {
        let text = format!("{CSV_HEADER_V1}\n1,0.5,1,2,0.5,3\n");
        let rows = parse_training_csv(&text, Path::new("t.csv")).unwrap();
        assert_eq!((rows[0].energy, rows[0].heldout_energy), (3.0, None));
        let bad = format!("{CSV_HEADER_V1}\n1,0.5,1,2,0.5,3,4\n");
        assert!(parse_training_csv(&bad, Path::new("t.csv")).is_err());
    }
}
