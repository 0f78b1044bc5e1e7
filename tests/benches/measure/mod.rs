//! Measuring helpers shared by the load-generator benches: per-call samples, interleaved rounds,
//! CPU time of this process, and how figures are printed.

#![allow(dead_code)]

use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// One round of one case: mean wall time and mean CPU time of this process per call.
#[derive(Clone, Copy)]
pub(crate) struct Sample {
    pub(crate) wall: Duration,
    pub(crate) cpu: Duration,
}

/// Runs `calls` calls one after the other.
pub(crate) async fn per_call<F, Fut>(calls: u32, mut call: F) -> Sample
where
    F: FnMut() -> Fut,
    Fut: Future,
{
    let cpu = process_cpu();
    let started = Instant::now();
    for _ in 0..calls {
        black_box(call().await);
    }
    Sample {
        wall: started.elapsed() / calls,
        cpu: process_cpu().saturating_sub(cpu) / calls,
    }
}

/// `rounds` rounds of every case, each round starting with the next case, so that neither a
/// burst of load from elsewhere nor the order of the cases favours one of them.
pub(crate) fn interleaved<T: Clone>(
    rounds: usize,
    cases: &mut [&mut dyn FnMut() -> T],
) -> Vec<Vec<T>> {
    let mut samples = vec![Vec::with_capacity(rounds); cases.len()];
    for round in 0..rounds {
        for offset in 0..cases.len() {
            let case = (round + offset) % cases.len();
            samples[case].push(cases[case]());
        }
    }
    samples
}

/// CPU time used so far by every thread of this process (not by `redis-server`), from
/// `/proc/self/task/*/schedstat`; zero where that does not exist.
pub(crate) fn process_cpu() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let nanos = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|line| line.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

pub(crate) fn percent(a: Duration, b: Duration) -> f64 {
    (a.as_secs_f64() / b.as_secs_f64() - 1.0) * 100.0
}

pub(crate) fn show(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos < 10_000 {
        format!("{nanos} ns")
    } else if nanos < 10_000_000 {
        format!("{:.1} µs", nanos as f64 / 1e3)
    } else {
        format!("{:.1} ms", nanos as f64 / 1e6)
    }
}

pub(crate) fn signed(a: Duration, b: Duration) -> String {
    if a >= b {
        format!("+{}", show(a - b))
    } else {
        format!("−{}", show(b - a))
    }
}

pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}
