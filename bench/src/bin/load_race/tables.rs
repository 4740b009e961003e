//! Statistics (median, min, max) and the Markdown tables of throughput and latency.

use std::fmt::Write as _;

use crate::phase::Results;
use crate::runs::Window;
use crate::setup::{Options, Server, UWS};

pub(crate) fn stats(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    (median, values[0], values[n - 1])
}

fn median(windows: &[Window], f: impl Fn(&Window) -> f64) -> f64 {
    stats(&mut windows.iter().map(f).collect::<Vec<_>>()).0
}

fn fmt_rate(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else {
        format!("{v:.0}")
    }
}

pub(crate) fn ratio(a: f64, b: Option<f64>) -> String {
    match b {
        Some(b) if b > 0.0 && a.is_finite() => format!("{:.2}×", a / b),
        _ => "–".into(),
    }
}

/// The best median of `f` among the Rust servers other than `name`.
fn best_peer(
    results: &Results,
    servers: &[Server],
    c: usize,
    name: &str,
    f: &dyn Fn(&Window) -> f64,
    higher_better: bool,
) -> Option<f64> {
    servers
        .iter()
        .filter(|s| s.name != name && s.name != UWS)
        .filter_map(|s| results.get(&(c, s.name)).filter(|w| !w.is_empty()))
        .map(|w| median(w, f))
        .reduce(|a, b| if (a > b) == higher_better { a } else { b })
}

pub(crate) fn throughput_table(
    md: &mut String,
    o: &Options,
    servers: &[Server],
    results: &Results,
    generator: &str,
) {
    for (c, case) in o.cases.iter().enumerate() {
        let _ = writeln!(md, "\n#### {} ({generator})\n", case.label());
        let _ = writeln!(
            md,
            "| server | msg/s median (min–max) | vs uWS | vs best other Rust | server CPU busy | user µs/msg | sys µs/msg | user+sys µs/msg (min–max) | CPU/msg vs uWS | CPU/msg vs best other Rust | generator CPU | CPU 0 softirq | other processes |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        let rate = |w: &Window| w.msg_per_s();
        let cpu = |w: &Window| w.user_us() + w.sys_us();
        let uws = results.get(&(c, UWS)).filter(|w| !w.is_empty());
        for server in servers {
            let Some(w) = results.get(&(c, server.name)).filter(|w| !w.is_empty()) else {
                let _ = writeln!(
                    md,
                    "| {} | failed (see the log) | | | | | | | | | | | |",
                    server.name
                );
                continue;
            };
            let (r, rmin, rmax) = stats(&mut w.iter().map(rate).collect::<Vec<_>>());
            let (t, tmin, tmax) = stats(&mut w.iter().map(cpu).collect::<Vec<_>>());
            let _ = writeln!(
                md,
                "| {} | {} ({}–{}) | {} | {} | {:.0}% | {:.2} | {:.2} | {:.2} ({:.2}–{:.2}) | {} | {} | {:.0}% | {:.0}% | {:.0}% |",
                server.name,
                fmt_rate(r),
                fmt_rate(rmin),
                fmt_rate(rmax),
                ratio(r, uws.map(|u| median(u, rate))),
                ratio(r, best_peer(results, servers, c, server.name, &rate, true)),
                median(w, Window::busy_pct),
                median(w, Window::user_us),
                median(w, Window::sys_us),
                t,
                tmin,
                tmax,
                ratio(t, uws.map(|u| median(u, cpu))),
                ratio(t, best_peer(results, servers, c, server.name, &cpu, false)),
                median(w, Window::gen_pct),
                median(w, Window::softirq_pct),
                median(w, Window::other_pct),
            );
        }
    }
}

pub(crate) fn latency_table(md: &mut String, o: &Options, servers: &[Server], results: &Results) {
    for (c, case) in o.cases.iter().enumerate() {
        let _ = writeln!(md, "\n#### {} (ws_load)\n", case.label());
        let _ = writeln!(md, "| server | msg/s | p50 µs | p99 µs (min–max) | p99.9 µs | p99 vs uWS | user+sys µs/msg | server CPU busy |");
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
        let uws = results.get(&(c, UWS)).filter(|w| !w.is_empty());
        for server in servers {
            let Some(w) = results.get(&(c, server.name)).filter(|w| !w.is_empty()) else {
                let _ = writeln!(md, "| {} | failed (see the log) | | | | | | |", server.name);
                continue;
            };
            let (p99, lo, hi) = stats(&mut w.iter().map(|w| w.p99_us).collect::<Vec<_>>());
            let _ = writeln!(
                md,
                "| {} | {} | {:.0} | {:.0} ({:.0}–{:.0}) | {:.0} | {} | {:.2} | {:.0}% |",
                server.name,
                fmt_rate(median(w, Window::msg_per_s)),
                median(w, |w| w.p50_us),
                p99,
                lo,
                hi,
                median(w, |w| w.p999_us),
                ratio(p99, uws.map(|u| median(u, |w| w.p99_us))),
                median(w, |w| w.user_us() + w.sys_us()),
                median(w, Window::busy_pct),
            );
        }
    }
}
