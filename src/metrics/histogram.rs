//! The latency histogram every metric uses, its text encoding, and the numbers we read out.
//!
//! All histograms count microseconds with 3 significant digits and resize themselves, so
//! no recorded value is ever clamped (a one-hour latency is as representable as a 50 µs
//! one). The text encoding is HdrHistogram's "V2 + deflate" binary format in standard
//! base64 — the same bytes the Java, Go and C implementations read — so histograms from
//! different runs and machines can be added exactly.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};

/// Significant digits kept by every histogram: values within 0.1 % are counted together.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// A histogram of microseconds.
pub type LatencyHistogram = Histogram<u64>;

/// Why an encoded histogram could not be read back (or, in theory, written).
#[derive(Debug, thiserror::Error)]
pub enum HistogramCodecError {
    /// The text is not valid base64.
    #[error("histogram is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// The bytes are not a V2 (deflate) HdrHistogram.
    #[error("histogram bytes are not a V2 HdrHistogram: {0}")]
    Decode(#[from] hdrhistogram::serialization::DeserializeError),
    /// Serialization failed (only possible for absurd histogram sizes).
    #[error("histogram could not be serialized: {0}")]
    Encode(#[from] hdrhistogram::serialization::V2DeflateSerializeError),
}

/// A new, empty, auto-resizing microsecond histogram.
pub fn new_histogram() -> LatencyHistogram {
    // `new` only fails for a precision above 5 digits; ours is a constant 3.
    #[allow(clippy::expect_used)]
    let mut histogram =
        Histogram::new(SIGNIFICANT_DIGITS).expect("3 significant digits is a valid precision");
    histogram.auto(true);
    histogram
}

/// A duration as whole microseconds, saturating at `u64::MAX`.
pub fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// Records `count` occurrences of `us`, growing the histogram as needed. (hdrhistogram's
/// `saturating_record` would clamp instead of growing, silently hiding outliers.)
pub fn record_n(histogram: &mut LatencyHistogram, us: u64, count: u64) {
    if histogram.record_n(us, count).is_err() {
        // Only reachable if the counts array cannot grow (usize overflow): clamp.
        histogram.saturating_record_n(us, count);
    }
}

/// Records one occurrence of `us`; see [`record_n`].
pub fn record(histogram: &mut LatencyHistogram, us: u64) {
    record_n(histogram, us, 1);
}

/// Adds `source` into `target`, growing `target` as needed.
pub fn add_into(target: &mut LatencyHistogram, source: &LatencyHistogram) {
    if target.add(source).is_err() {
        // `add` fails only if `target` cannot grow; fall back to clamped recording.
        for bucket in source.iter_recorded() {
            record_n(target, bucket.value_iterated_to(), bucket.count_at_value());
        }
    }
}

/// Encodes a histogram as base64 of its V2 + deflate serialization.
pub fn encode(histogram: &LatencyHistogram) -> Result<String, HistogramCodecError> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new().serialize(histogram, &mut bytes)?;
    Ok(STANDARD.encode(bytes))
}

/// Decodes what [`encode`] produced (or any V2 / V2-deflate HdrHistogram in base64). The
/// result auto-resizes, so it can take values from any other histogram.
pub fn decode(text: &str) -> Result<LatencyHistogram, HistogramCodecError> {
    let bytes = STANDARD.decode(text.trim())?;
    let mut histogram: LatencyHistogram = Deserializer::new().deserialize(&mut bytes.as_slice())?;
    histogram.auto(true);
    Ok(histogram)
}

/// A microsecond value in human units: `850µs`, `1.25ms`, `12.5ms`, `250ms`, `1.50s`.
pub fn format_micros(us: u64) -> String {
    let us_f = us as f64;
    match us {
        0..1_000 => format!("{us}µs"),
        1_000..10_000 => format!("{:.2}ms", us_f / 1e3),
        10_000..100_000 => format!("{:.1}ms", us_f / 1e3),
        100_000..1_000_000 => format!("{:.0}ms", us_f / 1e3),
        _ => format!("{:.2}s", us_f / 1e6),
    }
}

/// The summary numbers of one histogram, in microseconds. All zero when it is empty.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    pub count: u64,
    pub min_us: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl Stats {
    /// Reads the summary numbers out of `histogram`.
    pub fn of(histogram: &LatencyHistogram) -> Stats {
        if histogram.is_empty() {
            return Stats::default();
        }
        Stats {
            count: histogram.len(),
            min_us: histogram.min(),
            mean_us: histogram.mean(),
            p50_us: histogram.value_at_quantile(0.50),
            p90_us: histogram.value_at_quantile(0.90),
            p95_us: histogram.value_at_quantile(0.95),
            p99_us: histogram.value_at_quantile(0.99),
            p999_us: histogram.value_at_quantile(0.999),
            max_us: histogram.max(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_every_count() {
        let mut h = new_histogram();
        for v in [0, 1, 7, 250, 999, 1_000, 12_345, 1_000_000, 3_600_000_000] {
            record(&mut h, v);
        }
        record_n(&mut h, 42, 1_000);
        let text = encode(&h).expect("encode");
        let back = decode(&text).expect("decode");
        assert_eq!(back.len(), h.len());
        assert_eq!(back.max(), h.max());
        assert_eq!(back.min(), h.min());
        for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(back.value_at_quantile(q), h.value_at_quantile(q), "q={q}");
        }
        assert!(back.is_auto_resize());
    }

    #[test]
    fn empty_histogram_round_trips_and_has_zero_stats() {
        let h = new_histogram();
        let back = decode(&encode(&h).expect("encode")).expect("decode");
        assert!(back.is_empty());
        assert_eq!(Stats::of(&back), Stats::default());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(matches!(
            decode("not base64!"),
            Err(HistogramCodecError::Base64(_))
        ));
        assert!(matches!(
            decode("AAAAAAAA"),
            Err(HistogramCodecError::Decode(_))
        ));
    }

    #[test]
    fn human_units() {
        assert_eq!(format_micros(850), "850µs");
        assert_eq!(format_micros(1_250), "1.25ms");
        assert_eq!(format_micros(12_500), "12.5ms");
        assert_eq!(format_micros(250_400), "250ms");
        assert_eq!(format_micros(1_500_000), "1.50s");
    }

    #[test]
    fn one_hour_is_recordable_at_full_precision() {
        let mut h = new_histogram();
        record(&mut h, micros(Duration::from_secs(3600)));
        let max = h.max();
        assert!((3_600_000_000..=3_604_000_000).contains(&max), "{max}");
    }
}
