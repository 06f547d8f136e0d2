//! Human-readable values on the command line: durations (`90s`, `2h`, `250ms`), sizes
//! (`64KiB`, `1MiB`, `65536`) and rates (`100/s`).

use std::time::Duration;

/// `90s`, `2h`, `1h30m`, `250ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration '{s}' ({e}); examples: 250ms, 90s, 2h"))
}

/// A byte count with an optional unit: B, KB/KiB, MB/MiB (KB = 1000, KiB = 1024).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: usize = number
        .parse()
        .map_err(|_| format!("invalid size '{s}'; examples: 65536, 64KiB, 1MiB"))?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "kib" | "k" => 1024,
        "mb" => 1000 * 1000,
        "mib" | "m" => 1024 * 1024,
        _ => {
            return Err(format!(
                "invalid size unit in '{s}'; use B, KB, KiB, MB or MiB"
            ));
        }
    };
    number
        .checked_mul(factor)
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("size '{s}' must be positive and fit in memory"))
}

/// `100/s` or `100`: a positive count per second.
pub fn parse_rate(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let number = t.strip_suffix("/s").unwrap_or(t).trim();
    number
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            format!("invalid rate '{s}'; expected a positive number per second such as 100/s")
        })
}

/// `4MiB/s` or `4MiB`: a positive size per second.
pub fn parse_size_rate(s: &str) -> Result<usize, String> {
    let t = s.trim();
    parse_size(t.strip_suffix("/s").unwrap_or(t))
        .map_err(|e| format!("{e} (a size per second such as 4MiB/s)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size_rate("4MiB/s"), Ok(4 << 20));
        assert!(parse_size_rate("fast/s").is_err());
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("1 MiB"), Ok(1 << 20));
        assert_eq!(parse_size("2KB"), Ok(2000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert_eq!(parse_rate("100/s"), Ok(100));
        assert_eq!(parse_rate("5"), Ok(5));
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("fast").is_err());
    }
}
