//! `perf-budget`: instruction counts per unit of work, held to the limits of
//! `bench/budgets.toml` (`make perf-budget`, part of `make test`).
//!
//! * `perf-budget check [--budgets FILE] [--markdown FILE]`: runs every unit
//!   of `xdpstack_bench::units` under callgrind (this binary again, with
//!   `run`), counting only the server's measured turns; prints
//!   `budget UNIT INSTRUCTIONS limit LIMIT` per unit and a last line
//!   `perf-budget: N units within budget`, or names the units over their
//!   limit and exits 1. `--markdown` also writes the table for
//!   `docs/results.md`.
//! * `perf-budget run UNIT [--steps N]`: set the unit up, run N measured steps,
//!   print `units DONE` (what `check` divides by).
//!
//! Callgrind counts instructions, not time: the same binary and input give the
//! same count whatever else the machine does, so the limits can be tight.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use xdpstack_bench::units::{unit, UNITS};

/// Measured steps per unit under callgrind.
const STEPS: u64 = 2000;

#[derive(Deserialize)]
struct Budgets {
    units: BTreeMap<String, Budget>,
}

#[derive(Deserialize)]
struct Budget {
    /// Most instructions per unit.
    limit: u64,
    /// Where the issue wants the unit to go.
    goal: u64,
    /// Why the limit stands where it does: one line per change.
    #[allow(dead_code)]
    why: Vec<String>,
}

fn usage() -> ExitCode {
    eprintln!("usage: perf-budget check [--budgets FILE] [--markdown FILE] | perf-budget run UNIT [--steps N]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    match args.first().map(String::as_str) {
        Some("run") => {
            let Some(name) = args.get(1) else { return usage() };
            let steps = opt("--steps").and_then(|s| s.parse().ok()).unwrap_or(STEPS);
            run(name, steps)
        }
        Some("check") => {
            let budgets = opt("--budgets").map_or_else(|| PathBuf::from("bench/budgets.toml"), PathBuf::from);
            check(&budgets, opt("--markdown").map(PathBuf::from).as_deref())
        }
        _ => usage(),
    }
}

fn run(name: &str, steps: u64) -> ExitCode {
    let Some(mut u) = unit(name) else {
        eprintln!("perf-budget: no unit {name:?} (units: {})", UNITS.join(", "));
        return ExitCode::from(2);
    };
    let mut done = 0;
    for _ in 0..steps {
        done += u.step(true);
    }
    println!("units {done}");
    ExitCode::SUCCESS
}

/// The `totals:` (or `summary:`) line of a callgrind output file: instructions.
fn callgrind_total(path: &Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .find_map(|l| l.strip_prefix("totals:").or_else(|| l.strip_prefix("summary:")))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("{}: no totals line", path.display()))
}

/// Instructions per unit of `name`, measured under callgrind.
fn measure(name: &str) -> Result<u64, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let out_file = std::env::temp_dir().join(format!("perf-budget.{}.{name}.cg", std::process::id()));
    let out = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--toggle-collect=*perf_unit_measured*")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(&me)
        .args(["run", name, "--steps", &STEPS.to_string()])
        .output()
        .map_err(|e| format!("valgrind: {e} (install valgrind: `make setup`)"))?;
    if !out.status.success() {
        return Err(format!("{name}: valgrind failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let done: u64 = stdout.lines().find_map(|l| l.strip_prefix("units ")?.trim().parse().ok()).ok_or_else(|| format!("{name}: no `units` line in {stdout:?}"))?;
    let total = callgrind_total(&out_file);
    let _ = std::fs::remove_file(&out_file);
    let total = total?;
    if done == 0 {
        return Err(format!("{name}: no units done"));
    }
    Ok((total + done / 2) / done)
}

fn check(budgets: &Path, markdown: Option<&Path>) -> ExitCode {
    let text = match std::fs::read_to_string(budgets) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("perf-budget: {}: {e}", budgets.display());
            return ExitCode::from(2);
        }
    };
    let b: Budgets = match toml::from_str(&text) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("perf-budget: {}: {e}", budgets.display());
            return ExitCode::from(2);
        }
    };
    let mut over = Vec::new();
    let mut rows = Vec::new();
    for name in UNITS {
        let Some(budget) = b.units.get(*name) else {
            eprintln!("perf-budget: {} has no limit for unit {name}", budgets.display());
            return ExitCode::from(2);
        };
        match measure(name) {
            Ok(n) => {
                println!("budget {name} {n} limit {}", budget.limit);
                if n > budget.limit {
                    over.push(format!("{name} ({n} > {})", budget.limit));
                }
                rows.push((name, n, budget.limit, budget.goal));
            }
            Err(e) => {
                eprintln!("perf-budget: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(md) = markdown {
        let mut s = String::from("| unit | instructions | limit | goal |\n|---|---:|---:|---:|\n");
        for (name, n, limit, goal) in &rows {
            s.push_str(&format!("| `{name}` | {n} | {limit} | {goal} |\n"));
        }
        if let Err(e) = std::fs::write(md, s) {
            eprintln!("perf-budget: {}: {e}", md.display());
            return ExitCode::from(2);
        }
    }
    if over.is_empty() {
        println!("perf-budget: {} units within budget", rows.len());
        ExitCode::SUCCESS
    } else {
        println!("perf-budget: over budget: {}", over.join(", "));
        ExitCode::FAILURE
    }
}
