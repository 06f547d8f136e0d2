//! Test data for sessions: feeders (rows of a CSV or JSON-lines file whose columns
//! become template variables) and generators (a fresh random int, string or UUID per
//! session). Loaded and checked when the scenario is compiled; [`DataPlan::fill`] sets
//! one session's values.

use std::fmt;
use std::sync::Arc;

use rand::RngExt as _;
use rand::distr::Alphanumeric;
use serde_json::Value;

use super::template::{Slot, Vars};

/// How a feeder hands out its rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedOrder {
    /// Row after row, starting again at the top when the file ends.
    Sequential,
    /// A row drawn at random for every session.
    Random,
    /// Row after row; each row is used by one session only, and the run stops when
    /// the rows run out.
    Unique,
}

impl FeedOrder {
    pub const NAMES: [&'static str; 3] = ["sequential", "random", "unique"];

    pub fn from_name(name: &str) -> Option<FeedOrder> {
        match name {
            "sequential" => Some(FeedOrder::Sequential),
            "random" => Some(FeedOrder::Random),
            "unique" => Some(FeedOrder::Unique),
            _ => None,
        }
    }
}

/// One feeder: a file's rows, each a value per column.
#[derive(Clone, Debug, PartialEq)]
pub struct Feeder {
    /// The file as written in the scenario, for messages.
    pub file: String,
    pub order: FeedOrder,
    /// The variable each column fills, in column order.
    pub columns: Vec<Slot>,
    /// The rows; shared between the plan's clones (a file is read once).
    pub rows: Arc<[Box<[Value]>]>,
}

/// A generated value, drawn afresh for every session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generator {
    /// `{int: 1..100}`: an integer in the range, both ends included.
    Int { min: i64, max: i64 },
    /// `{string: 12}`: this many random letters and digits.
    Str { len: usize },
    /// `uuid`: a random (version 4) UUID, as a string.
    Uuid,
}

impl Generator {
    fn draw<R: rand::Rng + ?Sized>(self, rng: &mut R) -> Value {
        match self {
            Generator::Int { min, max } => rng.random_range(min..=max).into(),
            Generator::Str { len } => (0..len)
                .map(|_| char::from(rng.sample(Alphanumeric)))
                .collect::<String>()
                .into(),
            Generator::Uuid => uuid::Uuid::new_v4().to_string().into(),
        }
    }
}

/// Where a session's data comes from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DataPlan {
    pub feeders: Vec<Feeder>,
    /// `(variable, generator)` pairs.
    pub generated: Vec<(Slot, Generator)>,
    /// `--shard I/N`: this generator's share of the rows (`(I, N)`, 1-based), so that
    /// shards never hand out one unique row twice.
    pub shard: (u32, u32),
}

/// A unique feeder has no row left for a session.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the unique feeder {file} ran dry: all {rows} rows were used")]
pub struct FeederDry {
    pub file: String,
    pub rows: usize,
}

impl DataPlan {
    /// True when the scenario has neither feeders nor generators.
    pub fn is_empty(&self) -> bool {
        self.feeders.is_empty() && self.generated.is_empty()
    }

    /// Sets session `number`'s feeder and generated values in `vars`.
    pub fn fill(&self, vars: &mut Vars, number: u64) -> Result<(), FeederDry> {
        let mut rng = rand::rng();
        let (index, count) = (
            u64::from(self.shard.0.max(1)),
            u64::from(self.shard.1.max(1)),
        );
        // Shard I of N takes rows I-1, I-1+N, I-1+2N, …: the shards' rows never overlap.
        let position = (index - 1).saturating_add(number.saturating_mul(count));
        for feeder in &self.feeders {
            let len = feeder.rows.len() as u64;
            let row = match feeder.order {
                FeedOrder::Sequential => position % len,
                FeedOrder::Random => rng.random_range(0..len),
                FeedOrder::Unique if position < len => position,
                FeedOrder::Unique => {
                    return Err(FeederDry {
                        file: feeder.file.clone(),
                        rows: feeder.rows.len(),
                    });
                }
            };
            let row = &feeder.rows[row as usize];
            for (slot, value) in feeder.columns.iter().zip(row.iter()) {
                vars.set(*slot, value.clone());
            }
        }
        for (slot, generator) in &self.generated {
            vars.set(*slot, generator.draw(&mut rng));
        }
        Ok(())
    }

    /// Why `sessions` sessions cannot all get a row of their own, if a unique feeder
    /// has fewer rows.
    pub fn unique_shortfall(&self, sessions: u64) -> Option<String> {
        self.feeders
            .iter()
            .find(|f| f.order == FeedOrder::Unique && (f.rows.len() as u64) < sessions)
            .map(|f| {
                format!(
                    "the unique feeder {} has {} rows but the load plans {sessions} sessions (a row each)",
                    f.file,
                    f.rows.len()
                )
            })
    }
}

impl fmt::Display for Generator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Generator::Int { min, max } => write!(f, "int {min}..{max}"),
            Generator::Str { len } => write!(f, "string of {len}"),
            Generator::Uuid => f.write_str("uuid"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feeder(order: FeedOrder, rows: usize) -> Feeder {
        Feeder {
            file: "rows.csv".into(),
            order,
            columns: vec![Slot(0)],
            rows: (0..rows)
                .map(|i| vec![Value::from(i as u64)].into_boxed_slice())
                .collect(),
        }
    }

    fn plan(order: FeedOrder, rows: usize, shard: (u32, u32)) -> DataPlan {
        DataPlan {
            feeders: vec![feeder(order, rows)],
            generated: vec![
                (Slot(1), Generator::Int { min: 5, max: 7 }),
                (Slot(2), Generator::Str { len: 12 }),
                (Slot(3), Generator::Uuid),
            ],
            shard,
        }
    }

    fn row(data: &DataPlan, n: u64) -> Result<Value, FeederDry> {
        let mut vars = Vars::with_len(4);
        data.fill(&mut vars, n)?;
        Ok(vars.get(Slot(0)).clone())
    }

    #[test]
    fn sequential_wraps_and_unique_runs_dry() {
        let seq = plan(FeedOrder::Sequential, 3, (1, 1));
        let got: Vec<Value> = (0..5).map(|n| row(&seq, n).unwrap()).collect();
        assert_eq!(got, [0, 1, 2, 0, 1].map(Value::from));
        let unique = plan(FeedOrder::Unique, 3, (1, 1));
        assert_eq!(row(&unique, 2), Ok(Value::from(2)));
        assert_eq!(
            row(&unique, 3),
            Err(FeederDry {
                file: "rows.csv".into(),
                rows: 3
            })
        );
        assert!(unique.unique_shortfall(4).unwrap().contains("has 3 rows"));
        assert_eq!(unique.unique_shortfall(3), None);
    }

    #[test]
    fn shards_take_disjoint_rows() {
        let mut seen: Vec<u64> = Vec::new();
        for (index, sessions) in [(1, 4), (2, 3), (3, 3)] {
            let data = plan(FeedOrder::Unique, 10, (index, 3));
            for n in 0..sessions {
                seen.push(row(&data, n).unwrap().as_u64().unwrap());
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..10).collect::<Vec<u64>>());
    }

    #[test]
    fn generators_draw_in_range_and_random_rows_exist() {
        let data = plan(FeedOrder::Random, 4, (1, 1));
        for n in 0..200 {
            let mut vars = Vars::with_len(4);
            data.fill(&mut vars, n).unwrap();
            assert!(vars.get(Slot(0)).as_u64().unwrap() < 4);
            assert!((5..=7).contains(&vars.get(Slot(1)).as_i64().unwrap()));
            let s = vars.get(Slot(2)).as_str().unwrap();
            assert!(s.len() == 12 && s.chars().all(|c| c.is_ascii_alphanumeric()));
            let u = vars.get(Slot(3)).as_str().unwrap();
            assert!(uuid::Uuid::parse_str(u).is_ok(), "{u}");
        }
    }
}
