//! What the runner adds to a run's timeline from the load model it ran, which the
//! recorders cannot know: the open model's planned starts and the target concurrency.

use std::time::Duration;

use crate::metrics::{self, Results};
use crate::scenario::LoadModel;

/// Counts the open model's arrivals into the timeline seconds they were meant for: the
/// schedule starts `offset` into the timeline, and arrivals after `end` (the run stopped)
/// are not counted. Seconds where nothing else happened are added.
pub(super) fn add_planned_starts(
    results: &mut Results,
    load: &LoadModel,
    offset: Duration,
    end: Duration,
) {
    let Some(arrivals) = load.arrivals() else {
        return;
    };
    let width = results.metrics.len();
    for at in arrivals.map(|a| offset + a).take_while(|at| *at < end) {
        let second = at.as_secs();
        while results.timeline.len() as u64 <= second {
            let next = results.timeline.len() as u64;
            results.timeline.push(metrics::Interval::empty(next, width));
        }
        if let Some(interval) = usize::try_from(second)
            .ok()
            .and_then(|s| results.timeline.get_mut(s))
        {
            interval.planned_starts += 1;
        }
    }
}

/// Writes the load's target concurrency (at the middle of each second) into the
/// timeline, for the seconds from `offset` (when the load began) on: 0 once the stages
/// are over, and without the parts of the load that `ended` (index in
/// [`LoadModel::parts`], time since the load began) from then on.
pub(super) fn add_targets_in_flight(
    results: &mut Results,
    load: &LoadModel,
    offset: Duration,
    ended: &[(usize, Duration)],
) {
    for interval in &mut results.timeline {
        let middle = Duration::from_millis(interval.second * 1000 + 500);
        let Some(elapsed) = middle.checked_sub(offset) else {
            continue;
        };
        interval.target_in_flight = Some(
            load.stage_at_with_ends(elapsed, ended)
                .and_then(|s| s.concurrency)
                .unwrap_or(0),
        );
    }
}
