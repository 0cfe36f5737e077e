//! Sizes (`64`, `4KiB`, `64k`, `1MiB`) and durations (`10s`, `500ms`, `2m`) as the command
//! line writes them, parsed for clap's `value_parser`.

use std::time::Duration;

/// The largest message or chunk size accepted (64 MiB): bigger ones would only measure
/// the allocator.
pub const MAX_SIZE: usize = 64 << 20;

/// The longest duration accepted (one day), so a typo such as `10h` for `10s` is the only
/// way to wait long.
const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Parses a byte count: a whole number with an optional binary unit — `k` / `K` / `KiB` /
/// `KB` (1024), `m` / `M` / `MiB` / `MB` (1024²), and a plain `B`. Between 1 byte and
/// [`MAX_SIZE`].
///
/// # Errors
/// A message saying what is wrong and what is accepted.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let trimmed = text.trim();
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(digits_end);
    let bad = || {
        format!(
            "invalid size {text:?}: expected a whole number of bytes with an optional unit, \
             such as 64, 4KiB, 64k or 1MiB"
        )
    };
    if number.is_empty() {
        return Err(bad());
    }
    let multiplier: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        _ => return Err(bad()),
    };
    let value = number
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("size {text:?} is too large (at most 64MiB)"))?;
    if value == 0 {
        return Err(format!("size {text:?} must be at least 1 byte"));
    }
    if value > MAX_SIZE {
        return Err(format!("size {text:?} is too large (at most 64MiB)"));
    }
    Ok(value)
}

/// Parses a positive duration: a number (decimals allowed) followed by a unit — `ms`, `s`,
/// `m` (minutes) or `h` — such as `10s`, `500ms`, `1.5s`, `2m`. At most one day.
///
/// # Errors
/// A message saying what is wrong and what is accepted.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let number_end = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(number_end);
    let bad = || {
        format!(
            "invalid duration {text:?}: expected a number of seconds or a number and a \
             unit (ms, s, m, h), such as 10, 10s, 500ms or 2m"
        )
    };
    let seconds_per_unit = match unit.trim() {
        "ms" => 1e-3,
        // A bare number is seconds, as wrk reads `-d 10`.
        "s" | "" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(bad()),
    };
    // `f64::from_str` accepts "inf" and "1e3" too: only digits and one dot get here.
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return Err(bad());
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let seconds = value * seconds_per_unit;
    if seconds > MAX_DURATION.as_secs_f64() {
        return Err(format!("duration {text:?} is too long (at most 24h)"));
    }
    let duration = Duration::from_secs_f64(seconds);
    if duration < Duration::from_millis(1) {
        return Err(format!("duration {text:?} must be at least 1ms"));
    }
    Ok(duration)
}

/// A TCP address as typed on a command line: `HOST:PORT`, `[IPv6]:PORT`, or an IPv6
/// address with a port; the host is resolved later. A host without a port is an error
/// here, not a failed connect later.
pub fn parse_host_port(text: &str) -> Result<String, String> {
    let bad = |why: &str| {
        format!("invalid address {text:?}: {why}; expected HOST:PORT, such as 127.0.0.1:7878 or [::1]:7878")
    };
    if text.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(text.to_string());
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(bad("no port"));
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(bad("an IPv6 host goes in brackets"));
    }
    if port.parse::<u16>().is_err() {
        return Err(bad("the port is not a number from 0 to 65535"));
    }
    Ok(text.to_string())
}

/// A byte count the way the tables show it: `64 B`, `4 KiB`, `1.5 MiB`.
pub fn format_size(bytes: usize) -> String {
    if bytes < 1 << 10 {
        format!("{bytes} B")
    } else if bytes < 1 << 20 {
        format_unit(bytes as f64 / 1024.0, "KiB")
    } else {
        format_unit(bytes as f64 / (1024.0 * 1024.0), "MiB")
    }
}

/// `4.0` -> `4 KiB`, `1.5` -> `1.5 KiB`.
fn format_unit(value: f64, unit: &str) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0} {unit}")
    } else {
        format!("{value:.1} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("64"), Ok(64));
        assert_eq!(parse_size("64B"), Ok(64));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("64k"), Ok(65_536));
        assert_eq!(parse_size("64K"), Ok(65_536));
        assert_eq!(parse_size("2kb"), Ok(2048));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert_eq!(parse_size(" 16 KiB "), Ok(16 << 10));
        assert_eq!(parse_size("64MiB"), Ok(MAX_SIZE));
    }

    #[test]
    fn bad_sizes_are_rejected_with_a_message() {
        for bad in ["", "k", "-1", "1.5k", "4 GiB", "12x", "0x10", "KiB4"] {
            let e = parse_size(bad).unwrap_err();
            assert!(e.contains("invalid size"), "{bad:?}: {e}");
        }
        assert!(parse_size("0").unwrap_err().contains("at least 1 byte"));
        assert!(parse_size("65MiB").unwrap_err().contains("too large"));
        assert!(parse_size("99999999999999999999999")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration(" 3 s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
    }

    #[test]
    fn bad_durations_are_rejected_with_a_message() {
        for bad in [
            "", "s", "ten s", "1e3s", "infs", "1..5s", ".s", "-1s", "10sec", "inf", "1e3",
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains("invalid duration"), "{bad:?}: {e}");
        }
        assert!(parse_duration("0s").unwrap_err().contains("at least 1ms"));
        assert!(parse_duration("25h").unwrap_err().contains("too long"));
    }

    #[test]
    fn addresses_need_a_port() {
        for good in [
            "127.0.0.1:7878",
            "localhost:80",
            "[::1]:0",
            "example.com:65535",
        ] {
            assert_eq!(parse_host_port(good), Ok(good.to_string()));
        }
        for bad in [
            "127.0.0.1",
            "localhost",
            ":80",
            "::1",
            "host:port",
            "host:70000",
        ] {
            let e = parse_host_port(bad).unwrap_err();
            assert!(e.contains("expected HOST:PORT"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn sizes_are_formatted_for_people() {
        assert_eq!(format_size(64), "64 B");
        assert_eq!(format_size(4096), "4 KiB");
        assert_eq!(format_size(1536), "1.5 KiB");
        assert_eq!(format_size(1 << 20), "1 MiB");
    }
}
