//! `--shard I/N`: N generators run one scenario together. Each takes its share of the
//! sessions, of the concurrency (at every instant of a ramp) and of the open model's
//! arrival rates; account names carry the shard so that shards never share an account.

use crate::scenario::{LoadModel, Rate, ShardShare, Stage};

/// The `index`-th (1-based) of `count` equal shares of `total`, the first shares taking
/// the remainder, so the shares add up to `total` exactly.
pub fn share(total: u64, index: u32, count: u32) -> u64 {
    ShardShare { index, count }.of(total)
}

fn rate(r: Rate, count: u32) -> Rate {
    Rate {
        per_sec: r.per_sec / f64::from(count.max(1)),
    }
}

/// The load model one shard runs.
pub fn shard_load(load: &LoadModel, index: u32, count: u32) -> LoadModel {
    match load {
        LoadModel::Closed {
            sessions,
            duration,
            concurrency,
        } => LoadModel::Closed {
            sessions: sessions.map(|s| share(s, index, count)),
            duration: *duration,
            concurrency: share(*concurrency, index, count).max(1),
        },
        LoadModel::Open {
            stages,
            max_in_flight,
        } => LoadModel::Open {
            stages: stages
                .iter()
                .map(|stage| match *stage {
                    Stage::Ramp { from, to, over } => Stage::Ramp {
                        from: rate(from, count),
                        to: rate(to, count),
                        over,
                    },
                    Stage::Hold { rate: r, duration } => Stage::Hold {
                        rate: rate(r, count),
                        duration,
                    },
                })
                .collect(),
            max_in_flight: share(*max_in_flight, index, count).max(1),
        },
        // The total level is shared at every instant (see `ShardShare`), not each
        // stage's ends, so the shards' concurrencies always add up to the scenario's.
        LoadModel::Ramping {
            stages, sessions, ..
        } => LoadModel::Ramping {
            stages: stages.clone(),
            sessions: sessions.map(|s| share(s, index, count)),
            share: ShardShare { index, count },
        },
        // Every flow's load is split as if it were the scenario's.
        LoadModel::PerFlow(loads) => LoadModel::PerFlow(
            loads
                .iter()
                .map(|part| shard_load(part, index, count))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn shares_add_up_exactly() {
        for total in [0u64, 1, 7, 1000, 1001] {
            let sum: u64 = (1..=3).map(|i| share(total, i, 3)).sum();
            assert_eq!(sum, total);
        }
        assert_eq!(share(1000, 1, 3), 334);
        assert_eq!(share(1000, 3, 3), 333);
    }

    #[test]
    fn open_model_rates_are_divided() {
        let load = LoadModel::Open {
            stages: vec![Stage::Hold {
                rate: Rate { per_sec: 90.0 },
                duration: Duration::from_secs(10),
            }],
            max_in_flight: 10,
        };
        let LoadModel::Open {
            stages,
            max_in_flight,
        } = shard_load(&load, 2, 3)
        else {
            panic!("open stays open")
        };
        assert_eq!(max_in_flight, 3);
        assert!(
            matches!(stages[0], Stage::Hold { rate, .. } if (rate.per_sec - 30.0).abs() < 1e-9)
        );
    }
}
