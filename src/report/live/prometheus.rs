//! A [`LiveFrame`] as Prometheus text (exposition format 0.0.4), or as OpenMetrics 1.0
//! text when the scraper asks for it. Latencies are in seconds, as Prometheus names
//! them: a summary per metric (`sigbench_latency_seconds`, quantiles from the exact
//! histogram) and a histogram per metric (`sigbench_latency_histogram_seconds`, fixed
//! buckets from 100 µs to 60 s) for aggregating across generators.

use std::fmt::Write as _;

use crate::metrics::live::{LIVE_BUCKETS_US, LIVE_QUANTILES};

use super::{LiveFrame, Phase};

/// The content type of [`render`]'s output for `openmetrics`.
pub fn content_type(openmetrics: bool) -> &'static str {
    if openmetrics {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    } else {
        "text/plain; version=0.0.4; charset=utf-8"
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A float the way both formats read it.
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v}")
    }
}

fn seconds(us: f64) -> String {
    float(us / 1e6)
}

struct Writer {
    out: String,
    openmetrics: bool,
}

impl Writer {
    /// `# HELP` and `# TYPE` of a family. OpenMetrics names a counter's family without
    /// its `_total` suffix.
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let family = if self.openmetrics && kind == "counter" {
            name.strip_suffix("_total").unwrap_or(name)
        } else {
            name
        };
        let _ = writeln!(self.out, "# HELP {family} {help}");
        let _ = writeln!(self.out, "# TYPE {family} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: &str) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    fn single(&mut self, name: &str, kind: &str, help: &str, value: &str) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// The frame as exposition text; see the module docs.
pub fn render(frame: &LiveFrame, openmetrics: bool) -> String {
    let mut w = Writer {
        out: String::with_capacity(4096 + frame.metrics.len() * 2048),
        openmetrics,
    };
    let s = &frame.sessions;
    w.single(
        "sigbench_elapsed_seconds",
        "gauge",
        "Seconds since the run started (login included).",
        &float(frame.elapsed_s),
    );
    w.family(
        "sigbench_phase",
        "gauge",
        "1 for the phase the run is in (login, load, drain), 0 for the others.",
    );
    for phase in [Phase::Login, Phase::Load, Phase::Drain] {
        let on = if phase == frame.phase { "1" } else { "0" };
        w.sample("sigbench_phase", &[("phase", phase.as_str())], on);
    }
    if let (Some(stage), Some(stages)) = (frame.stage, frame.stages) {
        w.single(
            "sigbench_stage",
            "gauge",
            "Current stage of the open model's schedule (1-based).",
            &stage.to_string(),
        );
        w.single(
            "sigbench_stages",
            "gauge",
            "Number of stages of the open model's schedule.",
            &stages.to_string(),
        );
    }
    if let Some(level) = frame.target_concurrency {
        w.single(
            "sigbench_target_concurrency",
            "gauge",
            "Planned sessions in flight now (closed model with ramping stages).",
            &level.to_string(),
        );
    }
    if let Some(rate) = frame.target_rate {
        w.single(
            "sigbench_target_rate",
            "gauge",
            "Planned arrival rate now, sessions per second (open model).",
            &float(rate),
        );
    }
    w.single(
        "sigbench_achieved_rate",
        "gauge",
        "Sessions started per second over the last second.",
        &float(frame.achieved_rate),
    );
    w.single(
        "sigbench_done_rate",
        "gauge",
        "Sessions finished per second over the last second.",
        &float(frame.done_rate),
    );
    w.single(
        "sigbench_sessions_started_total",
        "counter",
        "Sessions started.",
        &s.started.to_string(),
    );
    w.single(
        "sigbench_sessions_done_total",
        "counter",
        "Sessions finished, successful or not.",
        &s.done.to_string(),
    );
    w.single(
        "sigbench_sessions_failed_total",
        "counter",
        "Sessions finished with a failed expectation.",
        &s.failed.to_string(),
    );
    w.single(
        "sigbench_sessions_in_flight",
        "gauge",
        "Sessions started and not finished.",
        &s.in_flight.to_string(),
    );
    w.single(
        "sigbench_late_starts_total",
        "counter",
        "Open-model sessions that started later than planned.",
        &frame.late_starts.to_string(),
    );
    w.single(
        "sigbench_failures_total",
        "counter",
        "Failures recorded (a session may record several).",
        &frame.failures.to_string(),
    );
    if !frame.codes.is_empty() {
        w.family(
            "sigbench_codes_total",
            "counter",
            "Responses by op and code.",
        );
        for c in &frame.codes {
            w.sample(
                "sigbench_codes_total",
                &[("op", &c.op), ("code", &c.code.to_string())],
                &c.count.to_string(),
            );
        }
    }
    if !frame.metrics.is_empty() {
        w.family(
            "sigbench_latency_seconds",
            "summary",
            "Latency of each metric over the run so far (quantiles from an HdrHistogram).",
        );
        for m in &frame.metrics {
            let values = [m.p50_us, m.p90_us, m.p95_us, m.p99_us, m.p999_us];
            for (q, us) in LIVE_QUANTILES.iter().zip(values) {
                w.sample(
                    "sigbench_latency_seconds",
                    &[("metric", &m.name), ("quantile", &float(*q))],
                    &seconds(us as f64),
                );
            }
            w.sample(
                "sigbench_latency_seconds_sum",
                &[("metric", &m.name)],
                &seconds(m.sum_us),
            );
            w.sample(
                "sigbench_latency_seconds_count",
                &[("metric", &m.name)],
                &m.count.to_string(),
            );
        }
        w.family(
            "sigbench_latency_histogram_seconds",
            "histogram",
            "Latency of each metric over the run so far, in fixed buckets.",
        );
        for m in &frame.metrics {
            for (bound, count) in LIVE_BUCKETS_US.iter().zip(m.buckets) {
                w.sample(
                    "sigbench_latency_histogram_seconds_bucket",
                    &[("metric", &m.name), ("le", &seconds(*bound as f64))],
                    &count.to_string(),
                );
            }
            w.sample(
                "sigbench_latency_histogram_seconds_bucket",
                &[("metric", &m.name), ("le", "+Inf")],
                &m.count.to_string(),
            );
            w.sample(
                "sigbench_latency_histogram_seconds_sum",
                &[("metric", &m.name)],
                &seconds(m.sum_us),
            );
            w.sample(
                "sigbench_latency_histogram_seconds_count",
                &[("metric", &m.name)],
                &m.count.to_string(),
            );
        }
        w.family(
            "sigbench_latency_max_seconds",
            "gauge",
            "Highest latency of each metric so far.",
        );
        for m in &frame.metrics {
            w.sample(
                "sigbench_latency_max_seconds",
                &[("metric", &m.name)],
                &seconds(m.max_us as f64),
            );
        }
    }
    if openmetrics {
        w.out.push_str("# EOF\n");
    }
    w.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_floats_read_back() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(float(0.5), "0.5");
        assert_eq!(seconds(250.0), "0.00025");
        assert_eq!(float(f64::INFINITY), "+Inf");
    }
}
