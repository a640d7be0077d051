//! indicatif progress bars behind the models' [`Progress`] trait.

use indicatif::{ProgressBar, ProgressStyle};
use tastebud_models::Progress;

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub struct Bar(ProgressBar);

impl Bar {
    /// A new, not yet started bar.
    pub fn new() -> Self {
        Bar(ProgressBar::new(0))
    }
    /// Clears the bar.
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bar {
    fn start(&self, phase: &str, total: u64) {
        let style =
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed_precise} {msg}")
                .map(|s| s.progress_chars("=> "))
                .unwrap_or_else(|_| ProgressStyle::default_bar());
        self.0.set_style(style);
        self.0.set_prefix(phase.to_string());
        self.0.set_length(total);
        self.0.set_position(0);
    }
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }
    fn message(&self, msg: &str) {
        self.0.set_message(msg.to_string());
    }
    /// Printed above the bar (on stderr, also when the bar is hidden), so it stays after the bar clears.
    fn note(&self, msg: &str) {
        if self.0.is_hidden() {
            eprintln!("{msg}");
        } else {
            self.0.println(msg);
        }
    }
}
