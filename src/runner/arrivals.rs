//! The open model's timetable: the intended start of every session, from arrival
//! stages (ramps and holds in sessions per second). Starts are evenly spaced within
//! a stage (as wrk2 does), so the offered load is exact and reproducible.

use std::time::Duration;

/// A stage: the rate goes linearly from `from` to `to` (sessions/s) over `duration`.
/// A hold has `from == to`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stage {
    pub from: f64,
    pub to: f64,
    pub duration: Duration,
}

impl Stage {
    /// Sessions this stage starts (the area under its rate curve).
    pub fn expected_sessions(&self) -> f64 {
        (self.from + self.to) / 2.0 * self.duration.as_secs_f64()
    }
}

/// Intended start offsets from the beginning of the run, in order.
pub fn arrivals(stages: &[Stage]) -> impl Iterator<Item = Duration> + '_ {
    let mut stage_start = 0.0f64;
    // Arrivals owed but not yet started carry over between stages, so that rates
    // join up without gaps or bursts.
    let mut carry = 0.0f64;
    stages.iter().flat_map(move |stage| {
        let t_len = stage.duration.as_secs_f64();
        let start = stage_start;
        stage_start += t_len;
        let total = stage.expected_sessions();
        let first = carry;
        let count = (total - first).max(0.0).floor() as u64 + u64::from(total > first);
        let emitted = (0..count)
            .map(move |i| first + i as f64)
            .take_while(move |k| *k < total);
        let last = emitted.clone().last();
        carry = last.map_or(first - total, |k| k + 1.0 - total);
        emitted.map(move |k| {
            // Solve from*t + (to-from)*t^2/(2T) = k for t in [0, T].
            let a = (stage.to - stage.from) / (2.0 * t_len.max(f64::MIN_POSITIVE));
            let b = stage.from;
            let t = if a.abs() < 1e-12 {
                if b > 0.0 { k / b } else { t_len }
            } else {
                (-b + (b * b + 4.0 * a * k).max(0.0).sqrt()) / (2.0 * a)
            };
            Duration::from_secs_f64(start + t.clamp(0.0, t_len))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(v: &[Duration]) -> Vec<f64> {
        v.iter()
            .map(|d| (d.as_secs_f64() * 1000.0).round() / 1000.0)
            .collect()
    }

    #[test]
    fn a_hold_spaces_starts_evenly() {
        let stages = [Stage {
            from: 4.0,
            to: 4.0,
            duration: Duration::from_secs(1),
        }];
        let v: Vec<_> = arrivals(&stages).collect();
        assert_eq!(secs(&v), vec![0.0, 0.25, 0.5, 0.75]);
    }

    #[test]
    fn a_ramp_starts_the_area_under_its_curve_and_speeds_up() {
        let stages = [Stage {
            from: 0.0,
            to: 100.0,
            duration: Duration::from_secs(10),
        }];
        let v: Vec<_> = arrivals(&stages).collect();
        assert_eq!(v.len(), 500);
        assert!(v.windows(2).all(|w| w[0] <= w[1]));
        let first_half = v.iter().filter(|d| d.as_secs_f64() < 5.0).count();
        assert!((120..=130).contains(&first_half), "{first_half}");
        assert!(v.last().unwrap() <= &Duration::from_secs(10));
    }

    #[test]
    fn stages_follow_each_other() {
        let stages = [
            Stage {
                from: 2.0,
                to: 2.0,
                duration: Duration::from_secs(1),
            },
            Stage {
                from: 10.0,
                to: 10.0,
                duration: Duration::from_secs(1),
            },
        ];
        let v: Vec<_> = arrivals(&stages).collect();
        assert_eq!(v.len(), 12);
        assert_eq!(secs(&v[..3]), vec![0.0, 0.5, 1.0]);
        assert!(v.iter().all(|d| *d <= Duration::from_secs(2)));
    }
}
