//! `feeders:` and `generate:`: test data files read and checked at load time (so
//! `sigbench check` reports a missing file or a bad row), and generated values. Their
//! variables are added to the layout before the steps, as values every step can read.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::{Cx, describe};
use crate::scenario::data::{DataPlan, FeedOrder, Feeder, Generator};
use crate::scenario::error::did_you_mean;
use crate::scenario::node::{Node, Span, Value};
use crate::scenario::template::is_var_name;

/// Largest feeder file read into memory.
pub(crate) const MAX_FEEDER_BYTES: u64 = 64 * 1024 * 1024;

/// Longest generated string.
const MAX_GENERATED_STRING: u64 = 4096;

impl Cx<'_> {
    /// Compiles `feeders` and `generate` (either may be absent).
    pub(crate) fn data(&mut self, feeders: Option<&Node>, generate: Option<&Node>) -> DataPlan {
        let mut data = DataPlan {
            shard: (1, 1),
            ..DataPlan::default()
        };
        if let Some(node) = feeders {
            match &node.value {
                Value::Seq(items) => {
                    for item in items {
                        if let Some(f) = self.feeder(item) {
                            data.feeders.push(f);
                        }
                    }
                }
                other => self.error(
                    node.span,
                    format!(
                        "feeders must be a list, e.g. [{{file: data/users.csv, order: unique}}], found {}",
                        other.kind()
                    ),
                ),
            }
        }
        if let Some(node) = generate
            && let Some(f) = self.map(node, "generate")
        {
            for (key, value) in f.entries {
                let Some(generator) = self.generator(value) else {
                    continue;
                };
                if let Some(slot) = self.data_variable(&key.name, key.span, "generate") {
                    data.generated.push((slot, generator));
                }
            }
        }
        data
    }

    fn feeder(&mut self, node: &Node) -> Option<Feeder> {
        let f = self.map(node, "a feeder")?;
        self.check_keys(&f, &["file", "order", "format"], "a feeder");
        let Some(file_node) = f.get("file") else {
            self.error(node.span, "a feeder needs 'file': a .csv or .jsonl file");
            return None;
        };
        let file = self.string(file_node, "file")?;
        let order = match f.get("order") {
            None => FeedOrder::Sequential,
            Some(n) => {
                let name = self.string(n, "order")?;
                let Some(order) = FeedOrder::from_name(&name) else {
                    let hint = did_you_mean(&name, FeedOrder::NAMES);
                    self.error(
                        n.span,
                        format!(
                            "unknown feeder order '{name}'{hint} (expected one of: {})",
                            FeedOrder::NAMES.join(", ")
                        ),
                    );
                    return None;
                };
                order
            }
        };
        let format = match f.get("format") {
            Some(n) => self.string(n, "format")?,
            None => match Path::new(&file).extension().and_then(|e| e.to_str()) {
                Some("csv") => "csv".into(),
                Some("jsonl" | "ndjson") => "jsonl".into(),
                _ => {
                    self.error(
                        file_node.span,
                        format!("cannot tell the format of '{file}' from its extension: name it .csv or .jsonl, or add format: csv | jsonl"),
                    );
                    return None;
                }
            },
        };
        let path = self.relative_to_scenario(&file);
        let text = match read_bounded(&path) {
            Ok(t) => t,
            Err(e) => {
                self.error(file_node.span, format!("feeder '{file}': {e}"));
                return None;
            }
        };
        let parsed = match format.as_str() {
            "csv" => parse_csv(&text),
            "jsonl" => parse_jsonl(&text),
            other => {
                let span = f.get("format").map_or(file_node.span, |n| n.span);
                self.error(
                    span,
                    format!("unknown feeder format '{other}' (expected csv or jsonl)"),
                );
                return None;
            }
        };
        let (columns, rows) = match parsed {
            Ok(table) => table,
            Err(e) => {
                self.error(file_node.span, format!("feeder {file}:{e}"));
                return None;
            }
        };
        if rows.is_empty() {
            self.error(file_node.span, format!("feeder '{file}' has no rows"));
            return None;
        }
        let mut slots = Vec::with_capacity(columns.len());
        for column in &columns {
            slots.push(self.data_variable(column, file_node.span, &format!("feeder '{file}'"))?);
        }
        Some(Feeder {
            file,
            order,
            columns: slots,
            rows: rows.into(),
        })
    }

    /// A file named in the scenario, relative to the scenario's folder.
    fn relative_to_scenario(&self, file: &str) -> PathBuf {
        let path = Path::new(file);
        match Path::new(self.file).parent() {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        }
    }

    /// Declares a variable set when the session starts.
    fn data_variable(
        &mut self,
        name: &str,
        span: Span,
        what: &str,
    ) -> Option<crate::scenario::template::Slot> {
        if !is_var_name(name) {
            self.error(
                span,
                format!("{what}: '{name}' cannot be a variable name (letters, digits, '_' or '-', starting with a letter or '_')"),
            );
            return None;
        }
        let slot = self.layout.data_slot(name);
        if slot.is_none() {
            self.error(
                span,
                format!("{what}: variable '{name}' is already a role, a builtin or another feeder column or generated value"),
            );
        }
        slot
    }

    /// `{int: 1..100}`, `{string: 12}` or `uuid`.
    fn generator(&mut self, node: &Node) -> Option<Generator> {
        const SHAPES: &str = "a generator is {int: MIN..MAX}, {string: LENGTH} or uuid";
        if let Value::Str(s) = &node.value {
            if s == "uuid" {
                return Some(Generator::Uuid);
            }
            self.error(node.span, format!("unknown generator '{s}'; {SHAPES}"));
            return None;
        }
        let f = self.map(node, "a generator")?;
        self.check_keys(&f, &["int", "string"], "a generator");
        if let Some(n) = f.get("int") {
            let text = n.value.scalar_text().unwrap_or_default();
            let range = text.split_once("..").and_then(|(a, b)| {
                Some((a.trim().parse::<i64>().ok()?, b.trim().parse::<i64>().ok()?))
            });
            match range {
                Some((min, max)) if min <= max => Some(Generator::Int { min, max }),
                _ => {
                    self.error(
                        n.span,
                        format!(
                            "int: expected MIN..MAX with MIN <= MAX, e.g. 1..100, found {}",
                            describe(&n.value)
                        ),
                    );
                    None
                }
            }
        } else if let Some(n) = f.get("string") {
            let len = self.positive(n, "string")?;
            if len > MAX_GENERATED_STRING {
                self.error(
                    n.span,
                    format!("string: at most {MAX_GENERATED_STRING} characters"),
                );
                return None;
            }
            Some(Generator::Str { len: len as usize })
        } else {
            self.error(node.span, SHAPES);
            None
        }
    }
}

/// Reads a file of at most [`MAX_FEEDER_BYTES`].
fn read_bounded(path: &Path) -> Result<String, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.len() > MAX_FEEDER_BYTES {
        return Err(format!(
            "{} is {} bytes; feeders are read into memory and may be at most {MAX_FEEDER_BYTES}",
            path.display(),
            meta.len()
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

type Table = (Vec<String>, Vec<Box<[Json]>>);

/// A CSV file with a header row; every cell is a string. Errors start with the line.
fn parse_csv(text: &str) -> Result<Table, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let columns: Vec<String> = reader
        .headers()
        .map_err(|e| format!("1: {e}"))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if columns.iter().all(String::is_empty) {
        return Err("1: the first line must name the columns".into());
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            match e.kind() {
                csv::ErrorKind::UnequalLengths {
                    expected_len, len, ..
                } => {
                    format!("{line}: {len} cells, but the first line names {expected_len} columns")
                }
                csv::ErrorKind::Utf8 { .. } => format!("{line}: not UTF-8 text"),
                _ => format!("{line}: {e}"),
            }
        })?;
        rows.push(record.iter().map(|c| Json::String(c.to_string())).collect());
    }
    Ok((columns, rows))
}

/// One JSON object per line (blank lines skipped); values keep their JSON types. The
/// columns are every key seen, in order of first appearance; a key a line lacks is
/// `null` for that row.
fn parse_jsonl(text: &str) -> Result<Table, String> {
    let mut columns: Vec<String> = Vec::new();
    let mut objects = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Json = serde_json::from_str(line).map_err(|e| format!("{}: {e}", i + 1))?;
        let Json::Object(map) = value else {
            return Err(format!("{}: each line must be a JSON object", i + 1));
        };
        for key in map.keys() {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
        objects.push(map);
    }
    let rows = objects
        .into_iter()
        .map(|mut map| {
            columns
                .iter()
                .map(|c| map.remove(c).unwrap_or(Json::Null))
                .collect()
        })
        .collect();
    Ok((columns, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_jsonl_tables() {
        let (cols, rows) = parse_csv("room,pin\nr1,11\nr2,22\n").unwrap();
        assert_eq!(cols, ["room", "pin"]);
        assert_eq!(rows[1][1], Json::String("22".into()));
        let err = parse_csv("room,pin\nr1\n").unwrap_err();
        assert_eq!(err, "2: 1 cells, but the first line names 2 columns");
        let (cols, rows) = parse_jsonl("{\"a\": 1}\n\n{\"b\": \"x\", \"a\": 2}\n").unwrap();
        assert_eq!(cols, ["a", "b"]);
        assert_eq!(rows[0][1], Json::Null);
        assert_eq!(rows[1][0], Json::from(2));
        assert!(
            parse_jsonl("{\"a\": 1}\n[1]\n")
                .unwrap_err()
                .starts_with("2: ")
        );
        assert!(parse_jsonl("{\"a\": \n").unwrap_err().starts_with("1: "));
    }
}
