//! When ack reminders go out: fractions (`50%`) or durations (`5m`) into the ack window.

use chrono::Duration;

/// One reminder offset from the incident's start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Offset {
    Fraction(f64),
    After(Duration),
}

impl Offset {
    /// Parses `50%` or a duration such as `5m`.
    pub fn parse(s: &str) -> Result<Offset, String> {
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            let v: f64 = p
                .trim()
                .parse()
                .map_err(|_| format!("`{s}` is not a percentage like 50%"))?;
            if !(v > 0.0 && v < 100.0) {
                return Err(format!("`{s}` must be between 0% and 100% of the window"));
            }
            return Ok(Offset::Fraction(v / 100.0));
        }
        let d = humantime::parse_duration(s)
            .map_err(|_| format!("`{s}` is neither a percentage (50%) nor a duration (5m)"))?;
        Duration::from_std(d)
            .map(Offset::After)
            .map_err(|_| format!("`{s}` is too long"))
    }

    /// The offset within `window`, or `None` when it falls outside it.
    pub fn within(self, window: Duration) -> Option<Duration> {
        let d = match self {
            Offset::Fraction(f) => {
                Duration::milliseconds((window.num_milliseconds() as f64 * f).round() as i64)
            }
            Offset::After(d) => d,
        };
        (d > Duration::zero() && d < window).then_some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        let w = Duration::minutes(15);
        assert_eq!(
            Offset::parse("50%").ok().and_then(|o| o.within(w)),
            Some(Duration::seconds(450))
        );
        assert_eq!(
            Offset::parse("80%").ok().and_then(|o| o.within(w)),
            Some(Duration::minutes(12))
        );
        assert_eq!(
            Offset::parse("5m").ok().and_then(|o| o.within(w)),
            Some(Duration::minutes(5))
        );
        assert_eq!(Offset::parse("20m").ok().and_then(|o| o.within(w)), None);
        assert!(Offset::parse("100%").is_err());
        assert!(Offset::parse("0%").is_err());
        assert!(Offset::parse("soon").is_err());
    }
}
