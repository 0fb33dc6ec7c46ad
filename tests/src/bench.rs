//! The benchmark harness behind `ci/bench`: workloads timed as medians over interleaved rounds,
//! each beside a raw-libc baseline of the same syscalls and Python's `multiprocessing` figure
//! from the same run.

use std::collections::HashMap;
use std::time::Instant;

/// Which way is better for a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Times: lower is better.
    Lower,
    /// Rates: higher is better.
    Higher,
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// Workload name; also the key of the Python figure (`ci/bench.py` prints `key value unit`).
    pub key: &'static str,
    /// Human description.
    pub what: &'static str,
    /// Unit of all three figures.
    pub unit: &'static str,
    /// Lower or higher is better.
    pub better: Better,
    /// This project's median.
    pub ours: f64,
    /// The raw-libc baseline's median, if the workload has one.
    pub raw: Option<f64>,
    /// The target, as text, from the issue.
    pub target: &'static str,
}

/// The median of `rounds` runs of `f`.
pub fn median(rounds: usize, mut f: impl FnMut() -> f64) -> f64 {
    let mut v: Vec<f64> = (0..rounds.max(1)).map(|_| f()).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Medians of two workloads run in alternation, so that machine noise hits both alike.
pub fn median_pair(rounds: usize, mut a: impl FnMut() -> f64, mut b: impl FnMut() -> f64) -> (f64, f64) {
    let mut va = Vec::new();
    let mut vb = Vec::new();
    for _ in 0..rounds.max(1) {
        va.push(a());
        vb.push(b());
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(|x, y| x.total_cmp(y));
        v[v.len() / 2]
    };
    (med(&mut va), med(&mut vb))
}

/// Microseconds per iteration of `n` runs of `f`.
pub fn us_per(n: usize, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_secs_f64() * 1e6 / n as f64
}

/// Runs `python3 ci/bench.py scale` (when python3 exists) and returns its `key value` figures.
pub fn python_figures(script: &str, scale: f64) -> HashMap<String, f64> {
    let out = std::process::Command::new("python3").arg(script).arg(scale.to_string()).output();
    let mut map = HashMap::new();
    match out {
        Ok(out) if out.status.success() => {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let mut it = line.split_whitespace();
                if let (Some(k), Some(Ok(v))) = (it.next(), it.next().map(str::parse)) {
                    map.insert(k.to_string(), v);
                }
            }
        }
        Ok(out) => eprintln!("python benchmark failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => eprintln!("python3 not run ({e}); the Python column stays empty"),
    }
    map
}

/// Digits grouped by thousands: "10000" as "10,000".
pub fn thousands(digits: &str) -> String {
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn fmt(v: f64) -> String {
    if v >= 100_000.0 {
        thousands(&format!("{v:.0}"))
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Prints the table in Markdown.
pub fn print_table(rows: &[Row], python: &HashMap<String, f64>) {
    println!(
        "| workload | unit | this project | raw libc | ratio (ours/raw) | Python | vs Python | target |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |");
    for r in rows {
        let raw = r.raw.map_or("—".to_string(), fmt);
        let ratio = r.raw.map_or("—".to_string(), |raw| format!("{:.2}x", r.ours / raw));
        let py = python.get(r.key).copied();
        let vs = py.map_or("—".to_string(), |py| {
            let x = match r.better {
                Better::Lower => py / r.ours,
                Better::Higher => r.ours / py,
            };
            format!("{x:.1}x faster")
        });
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.what,
            r.unit,
            fmt(r.ours),
            raw,
            ratio,
            py.map_or("—".to_string(), fmt),
            vs,
            r.target
        );
    }
}
