//! One markdown table per section: the median over the repetitions of every figure, and the
//! ratio to the hand-written baseline computed per repetition (both measured in the same
//! repetition, back to back), then its median.

use std::time::Duration;

use super::drive::Run;
use crate::measure::show;

/// The runs of one path at one number of callers, one per repetition.
pub(crate) struct Row {
    pub(crate) path: &'static str,
    pub(crate) callers: usize,
    pub(crate) runs: Vec<Run>,
}

/// Prints `rows` as a table; `baseline` names the path the ratios are against. With
/// `body_runs`, a column says how many times the body ran: the median, then each repetition.
pub(crate) fn print(title: &str, rows: &[Row], baseline: &str, body_runs: bool) {
    println!("\n### {title}\n");
    let extra = if body_runs { " body runs |" } else { "" };
    let rule = if body_runs { "---:|" } else { "" };
    println!("| path | callers | calls/s | p50 | p99 |{extra} ratio vs hand-written |");
    println!("|---|---:|---:|---:|---:|{rule}---:|");
    for row in rows {
        // Absent when a selection (`COMPARE_ONLY`) left the baseline out.
        let base = rows
            .iter()
            .find(|b| b.path == baseline && b.callers == row.callers);
        let ratio = base.map_or("–".to_owned(), |base| {
            let ratios = row.runs.iter().zip(&base.runs);
            let ratios = ratios.map(|(run, base)| run.calls_per_sec / base.calls_per_sec);
            format!("{:.2}×", median(ratios.collect()))
        });
        let figure = |f: fn(&Run) -> f64| median(row.runs.iter().map(f).collect());
        let mut line = format!(
            "| {} | {} | {} | {} | {} |",
            row.path,
            row.callers,
            rate(figure(|r| r.calls_per_sec)),
            show(Duration::from_secs_f64(figure(|r| r.p50.as_secs_f64()))),
            show(Duration::from_secs_f64(figure(|r| r.p99.as_secs_f64()))),
        );
        if body_runs {
            let each: Vec<String> = row.runs.iter().map(|r| r.body_runs.to_string()).collect();
            line += &format!(
                " {} ({}) |",
                figure(|r| r.body_runs as f64),
                each.join(", ")
            );
        }
        line += &format!(" {ratio} |");
        println!("{line}");
    }
    for row in rows {
        let failures: u64 = row.runs.iter().map(|r| r.failures).sum();
        if failures > 0 {
            println!(
                "\n{}, {} callers: {failures} call(s) did not return the value.",
                row.path, row.callers
            );
        }
        let errors: Vec<String> = row
            .runs
            .iter()
            .map(|r| r.store_errors.to_string())
            .collect();
        if row.runs.iter().any(|r| r.store_errors > 0) {
            println!(
                "\n{}, {} callers: store errors (timeouts, open breaker) in the repetitions: {}; \
                 calls behind them ran uncached, so the row is partly not the cache's.",
                row.path,
                row.callers,
                errors.join(", ")
            );
        }
    }
}

/// Prints one path against another, row by row of the sections given (e.g. hit and miss):
/// the median calls/s of each, and the ratio `numerator / denominator` computed per repetition
/// (both measured in the same repetition), then its median.
pub(crate) fn print_versus(
    title: &str,
    sections: &[(&str, &[Row])],
    numerator: &str,
    denominator: &str,
) {
    let mut lines = Vec::new();
    for (section, rows) in sections {
        for row in rows.iter().filter(|row| row.path == numerator) {
            let Some(base) = rows
                .iter()
                .find(|b| b.path == denominator && b.callers == row.callers)
            else {
                continue;
            };
            let ratios = row.runs.iter().zip(&base.runs);
            let ratio = median(
                ratios
                    .map(|(run, base)| run.calls_per_sec / base.calls_per_sec)
                    .collect(),
            );
            let calls = |rows: &Row| median(rows.runs.iter().map(|r| r.calls_per_sec).collect());
            lines.push(format!(
                "| {section} | {} | {} | {} | {ratio:.2}× |",
                row.callers,
                rate(calls(row)),
                rate(calls(base)),
            ));
        }
    }
    // Nothing to say when a selection (`COMPARE_ONLY`) left either path out.
    if lines.is_empty() {
        return;
    }
    println!("\n### {title}\n");
    println!("| | callers | {numerator} | {denominator} | ratio |");
    println!("|---|---:|---:|---:|---:|");
    for line in lines {
        println!("{line}");
    }
}

/// Says which rows of a hit table are not all hits: the body ran during the run (for a
/// `#[cached]` path, the breaker opened or a read timed out and calls ran uncached). Such a row's
/// figures are not a hit's; the run is kept so that the other rows still count.
pub(crate) fn note_misses(rows: &[Row]) {
    for row in rows {
        let runs: u64 = row.runs.iter().map(|r| r.body_runs).sum();
        if runs > 0 {
            println!(
                "\nNot all hits: {} at {} callers ran the body {runs} times; its row is not a hit's.",
                row.path, row.callers
            );
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

fn rate(calls_per_sec: f64) -> String {
    if calls_per_sec >= 1e6 {
        format!("{:.2} M", calls_per_sec / 1e6)
    } else if calls_per_sec >= 1e4 {
        format!("{:.1} k", calls_per_sec / 1e3)
    } else {
        format!("{calls_per_sec:.0}")
    }
}
