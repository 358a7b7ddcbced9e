//! Latency and memory figures, computed the same way by every bench.

use std::fmt::Display;
use std::time::Duration;

/// The sample at fraction `p` (0.0 to 1.0) of `sorted`, at the index `p * (n - 1)` rounded to
/// the nearest; the default (zero) when there are no samples.
pub fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The nearest-rank percentile: the smallest sample with at least `p` of all samples at or
/// below it. The engine bench reports with this rule, and its figures in docs/benchmarks.md
/// are only comparable when taken with the same one.
pub fn nearest_rank<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// A duration as milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// A kB figure such as `VmRSS:` or `Threads:` from `/proc/<pid>/status` (`pid` may be
/// `"self"`), or 0 where it cannot be read.
pub fn status_kib(pid: impl Display, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
