//! One load phase: every case, rep and server, interleaved; each run logged and recorded.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::thread;
use std::time::{Duration, Instant};

use crate::runs::Window;
use crate::setup::{Case, Options, Result, Server};

pub(crate) type Results = BTreeMap<(usize, &'static str), Vec<Window>>;

/// What the load phases share: each runs every case `reps` times over every
/// server, interleaved, and records each run.
pub(crate) struct Phase<'a> {
    pub(crate) o: &'a Options,
    pub(crate) servers: &'a [Server],
    pub(crate) began: Instant,
    pub(crate) raw: &'a mut String,
}

impl Phase<'_> {
    pub(crate) fn run(
        &mut self,
        phase: &str,
        reps: usize,
        one: impl Fn(&Server, Case, &str) -> Result<Window>,
    ) -> Results {
        let mut results = Results::new();
        for (c, &case) in self.o.cases.iter().enumerate() {
            for rep in 1..=reps {
                for server in self.servers {
                    let tag = format!(
                        "{phase}-{}x{}-{}-{rep}",
                        case.connections, case.payload, server.name
                    );
                    let result = one(server, case, &tag);
                    record(self.raw, phase, case, server, rep, &result);
                    let elapsed = self.began.elapsed().as_secs_f64();
                    match result {
                        Ok(w) => {
                            eprintln!(
                                "[{elapsed:>4.0}s] {tag}: {:.0} msg/s, {:.2}+{:.2} µs/msg, server busy {:.0}%, other processes {:.0}%{}",
                                w.msg_per_s(),
                                w.user_us(),
                                w.sys_us(),
                                w.busy_pct(),
                                w.other_pct(),
                                // load_test times nothing: no latency then.
                                if w.p99_us > 0.0 { format!(", p99 {:.0} µs", w.p99_us) } else { String::new() },
                            );
                            results.entry((c, server.name)).or_default().push(w);
                        }
                        Err(e) => {
                            eprintln!("[{elapsed:>4.0}s] {tag}: FAILED: {e}");
                            results.entry((c, server.name)).or_default();
                        }
                    }
                    thread::sleep(Duration::from_millis(200));
                }
            }
        }
        results
    }
}

fn record(
    raw: &mut String,
    phase: &str,
    case: Case,
    server: &Server,
    rep: usize,
    result: &Result<Window>,
) {
    let head = format!(
        "{phase},{}x{},{},{rep}",
        case.connections, case.payload, server.name
    );
    let _ = match result {
        Ok(w) => writeln!(
            raw,
            "{head},{},{:.3},{:.0},{},{},{:.3},{:.3},{:.1},{:.1},{:.1},{:.1},{},{:.1},{:.1},{:.1},,,",
            w.msgs,
            w.secs,
            w.msg_per_s(),
            w.user_ticks,
            w.sys_ticks,
            w.user_us(),
            w.sys_us(),
            w.busy_pct(),
            w.gen_pct(),
            w.softirq_pct(),
            w.other_pct(),
            w.cpu0_steal_ticks,
            w.p50_us,
            w.p99_us,
            w.p999_us
        ),
        Err(e) => writeln!(raw, "{head},,,,,,,,,,,,,,,,,,{}", e.replace(',', ";")),
    };
}
