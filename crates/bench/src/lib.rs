//! Tastebud's benchmark programs (`src/bin/bench-*.rs`, the numbers in BENCHMARKS.md) and what they
//! share. Not published: library crates keep only what their users need, and everything that exists
//! only to measure them lives here.
//!
//! - [`args`]: the pieces of every program's command line (clap derive, so `--help`/`-h` print the usage
//!   and exit, and an unknown flag is an error): the data folder, comma-separated lists, counts with `_`.
//! - [`stats`]: [`median`], [`mean`] and [`percentile`] of timings; the seed studies' comparison row.
//! - [`proc`]: [`ChildGuard`], a spawned peer process or server killed and reaped on drop, and the peak
//!   resident memory of this process.
//! - [`table`]: Markdown tables as the programs print them.
//! - [`synth`]: the seeded clustered catalogue `bench-ann` searches.
//!
//! ```
//! use tastebud_bench::{Table, median};
//! let secs = median([0.3, 0.1, 0.2]);
//! let mut t = Table::new(&["reader", "seconds"]);
//! t.row([String::from("tastebud"), format!("{secs:.1}")]);
//! assert_eq!(t.to_string(), "| reader | seconds |\n|---|---|\n| tastebud | 0.2 |\n");
//! ```

pub mod args;
pub mod proc;
pub mod stats;
pub mod synth;
pub mod table;

use std::path::PathBuf;

pub use proc::{ChildGuard, peak_rss_kb, start_server, synth_model, tastebud_binary, tastebud_run};
pub use stats::{mean, median, percentile};
pub use table::{Align, Table};

/// The workspace's root folder (where `scripts/` and the shared data's parent live), as compiled in.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A peer script under the workspace's `scripts/` folder, e.g. `script("bench_knn_peer.py")`.
pub fn script(name: &str) -> PathBuf {
    workspace_root().join("scripts").join(name)
}

/// Seconds as `1.23 s` from one second up, else as `12.3 ms`.
///
/// ```
/// assert_eq!(tastebud_bench::fmt_secs(2.0), "2.00 s");
/// assert_eq!(tastebud_bench::fmt_secs(0.0123), "12.3 ms");
/// ```
pub fn fmt_secs(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else {
        format!("{:.1} ms", s * 1e3)
    }
}
