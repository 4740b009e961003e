//! `loadgen`: runs the harness's scenarios against the example servers.
//!
//! ```text
//! loadgen <scenario>... [--server echo|chat|both] [--server-bin PATH]
//!         [--long] [--<parameter> <value>]...
//! ```
//!
//! Scenarios: `idle`, `churn`, `hostile`, `fd-limit`, `relay`, or `all`.
//! `--server` picks the example (default `both`); the binaries are looked
//! for beside this one (`cargo build --release -p wsmachine-loadgen` builds
//! all three), or given with `--server-bin` (one server only). `--long`
//! switches to the long mode's sizes; any size can be set on its own with
//! the parameter's name (`--idle-connections 20000`, `--churn-rate 1000`,
//! see `Params::set`). Prints one report per scenario and server; exits 0
//! if every check passed, 1 if one failed, 2 on bad usage.

use std::path::PathBuf;
use std::process::ExitCode;
use wsmachine_loadgen::scenario::{Params, Scenario};
use wsmachine_loadgen::server::{Kind, Spec};

const USAGE: &str = "usage: loadgen <idle|churn|hostile|fd-limit|relay|all>... \
[--server echo|chat|both] [--server-bin PATH] [--long] [--<parameter> <value>]...";

struct Options {
    scenarios: Vec<Scenario>,
    kinds: Vec<Kind>,
    binary: Option<PathBuf>,
    params: Params,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let long = args.iter().any(|a| a == "--long");
    let mut options = Options {
        scenarios: Vec::new(),
        kinds: vec![Kind::Echo, Kind::Chat],
        binary: None,
        params: if long {
            Params::long()
        } else {
            Params::short()
        },
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let Some(name) = arg.strip_prefix("--") else {
            match arg.as_str() {
                "all" => options.scenarios.extend(Scenario::ALL),
                name => options
                    .scenarios
                    .push(Scenario::parse(name).ok_or(format!("unknown scenario {name:?}"))?),
            }
            continue;
        };
        if name == "long" {
            continue;
        }
        let value = args.next().ok_or(format!("--{name} needs a value"))?;
        match name {
            "server" if value == "both" => options.kinds = vec![Kind::Echo, Kind::Chat],
            "server" => {
                options.kinds = vec![Kind::parse(value).ok_or(format!("unknown server {value:?}"))?]
            }
            "server-bin" => options.binary = Some(PathBuf::from(value)),
            name => options.params.set(name, value)?,
        }
    }
    if options.scenarios.is_empty() {
        return Err("no scenario given".into());
    }
    if options.binary.is_some() && options.kinds.len() != 1 {
        return Err("--server-bin needs --server echo or --server chat".into());
    }
    Ok(options)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(options) => options,
        Err(why) => {
            eprintln!("loadgen: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match wsmachine_loadgen::runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = Vec::new();
    for &scenario in &options.scenarios {
        for &kind in &options.kinds {
            let mut spec = Spec::beside_me(kind);
            if let Some(binary) = &options.binary {
                spec.binary = binary.clone();
            }
            let report = runtime.block_on(scenario.run(&spec, &options.params));
            println!("{report}");
            if !report.passed() {
                failed.push(report.title);
            }
        }
    }
    if failed.is_empty() {
        println!("loadgen: every check passed");
        ExitCode::SUCCESS
    } else {
        println!("loadgen: failed: {}", failed.join("; "));
        ExitCode::FAILURE
    }
}
