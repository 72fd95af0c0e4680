//! How the client commands print data: `--output table` (the default: columns as wide as
//! their widest cell, so 64-character function names fit, under a bold header), `--output
//! json` (the API's own shapes, for `jq`) or `--output text` (tab-separated, no header, for
//! `cut` and `while read`).

use serde::Serialize;

use super::style;

/// The formats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns with a header.
    #[default]
    Table,
    /// JSON, as the API answers it.
    Json,
    /// Tab-separated fields, one record per line, no header.
    Text,
}

/// The `--output` flag.
#[derive(Debug, Clone, clap::Args)]
pub struct Output {
    /// How to print: table, json or text (tab-separated, no header).
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Table, global = true)]
    pub output: Format,
    /// The same as --output json.
    #[arg(long, hide = true, global = true)]
    pub json: bool,
}

impl Output {
    /// The format asked for.
    pub fn format(&self) -> Format {
        if self.json { Format::Json } else { self.output }
    }

    /// Prints `data` as JSON when asked, else `table` in the format asked.
    pub fn print(&self, table: &Table, data: &impl Serialize) -> anyhow::Result<()> {
        match self.format() {
            Format::Json => println!("{}", serde_json::to_string_pretty(data)?),
            Format::Text => {
                for row in &table.rows {
                    println!("{}", row.join("\t"));
                }
            }
            Format::Table => table.print(),
        }
        Ok(())
    }
}

/// Rows under a header.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<&'static str>,
    /// Which columns hold numbers (aligned right).
    numeric: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns; a header ending in `>` is a numeric column (aligned
    /// right; the `>` is not shown).
    pub fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.trim_end_matches('>')).collect(),
            numeric: headers.iter().map(|h| h.ends_with('>')).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (as many cells as columns).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn widths(&self) -> Vec<usize> {
        let mut w: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, c) in row.iter().enumerate() {
                if let Some(x) = w.get_mut(i) {
                    *x = (*x).max(c.chars().count());
                }
            }
        }
        w
    }

    fn line(&self, cells: &[String], widths: &[usize]) -> String {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            let pad = w.saturating_sub(c.chars().count());
            if self.numeric.get(i).copied().unwrap_or(false) {
                out.push_str(&" ".repeat(pad));
                out.push_str(c);
            } else {
                out.push_str(c);
                if i != last {
                    out.push_str(&" ".repeat(pad));
                }
            }
            if i != last {
                out.push_str("  ");
            }
        }
        out
    }

    /// Prints the header (bold on a terminal) and the rows.
    pub fn print(&self) {
        let widths = self.widths();
        let header: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        anstream::println!("{}", style::bold(&self.line(&header, &widths)));
        for row in &self.rows {
            println!("{}", self.line(row, &widths));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let mut t = Table::new(&["NAME", "COUNT>", "NOTE"]);
        let long = "f".repeat(64);
        t.row(vec![long.clone(), "7".into(), "x".into()]);
        t.row(vec!["g".into(), "1234".into(), "y".into()]);
        let w = t.widths();
        assert_eq!(w, vec![64, 5, 4]);
        assert_eq!(t.line(&t.rows[0], &w), format!("{long}      7  x"));
        assert_eq!(
            t.line(&t.rows[1], &w),
            format!("g{}   1234  y", " ".repeat(63))
        );
    }
}
