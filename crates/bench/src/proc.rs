//! Child processes: peers and servers that must not outlive the benchmark, and memory use.

use std::process::Child;

/// A spawned child process (a peer server, `tastebud serve`) killed and reaped when dropped, so that
/// an early return or a panic never leaves it running.
#[derive(Debug)]
pub struct ChildGuard {
    name: String,
    child: Child,
}

impl ChildGuard {
    /// Guards `child`; `name` says what it is in messages.
    pub fn new(name: impl Into<String>, child: Child) -> Self {
        ChildGuard {
            name: name.into(),
            child,
        }
    }

    /// What the child is, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process itself (to take its stdout, or to see whether it has exited).
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Kills the child if it is still running and waits for it.
    pub fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// Kills the child and waits for it now rather than at the end of the scope.
    pub fn stop(mut self) {
        self.kill();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// This process's peak resident memory so far (`VmHWM` in `/proc/self/status`), in KiB; 0 where the
/// file is not there (not Linux).
pub fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
