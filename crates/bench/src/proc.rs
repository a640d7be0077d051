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

/// Spawns `cmd` (a `tastebud serve ... --bind 127.0.0.1:0`, its stderr already pointed at `log`), waits
/// up to two minutes for its first stdout line, `listening on http://ADDR ...`, and returns the server
/// with `ADDR`. On failure the server is killed and the error carries `log`'s text.
pub fn start_server(
    mut cmd: std::process::Command,
    log: &std::path::Path,
) -> Result<(ChildGuard, String), String> {
    use std::io::BufRead;
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    let mut proc = ChildGuard::new("tastebud serve", child);
    let stdout = proc
        .child_mut()
        .stdout
        .take()
        .ok_or("the server's stdout was not captured")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = std::io::BufReader::new(stdout).lines();
        let _ = tx.send(lines.next());
        for _ in lines {}
    });
    let Ok(Some(Ok(first))) = rx.recv_timeout(std::time::Duration::from_secs(120)) else {
        proc.kill();
        let tail = std::fs::read_to_string(log).unwrap_or_default();
        return Err(format!("the server did not start:\n{tail}"));
    };
    let addr = first
        .strip_prefix("listening on http://")
        .and_then(|rest| rest.split_whitespace().next())
        .ok_or_else(|| format!("unexpected first line `{first}`"))?
        .to_string();
    Ok((proc, addr))
}

/// The `tastebud` binary a benchmark runs: `flag`, else `$TASTEBUD_BIN`, else `tastebud` next to this
/// program (both in `target/release` after `cargo build --release`).
pub fn tastebud_binary(flag: Option<std::path::PathBuf>) -> std::path::PathBuf {
    flag.or_else(|| std::env::var_os("TASTEBUD_BIN").map(std::path::PathBuf::from))
        .unwrap_or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(|d| d.join("tastebud")))
                .unwrap_or_else(|| std::path::PathBuf::from("tastebud"))
        })
}

/// Runs `tastebud ARGS` to completion and returns its stdout; fails with its stderr.
pub fn tastebud_run(tastebud: &std::path::Path, args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new(tastebud)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", tastebud.display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "tastebud {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A synthetic dataset of `users x items` with `interactions` in `dir/data` and a `model` trained on it
/// in `dir/MODEL.tbm`, made by the `tastebud` binary; returns the model file.
pub fn synth_model(
    tastebud: &std::path::Path,
    dir: &std::path::Path,
    (users, items, interactions): (u64, u64, u64),
    model: &str,
) -> Result<std::path::PathBuf, String> {
    let data = dir.join("data");
    let out = dir.join(format!("{model}.tbm"));
    let (data_s, out_s) = (data.to_string_lossy(), out.to_string_lossy());
    tastebud_run(
        tastebud,
        &[
            "datasets",
            "synth",
            "--users",
            &users.to_string(),
            "--items",
            &items.to_string(),
            "--interactions",
            &interactions.to_string(),
            "--out",
            &data_s,
        ],
    )?;
    tastebud_run(
        tastebud,
        &[
            "train", "--data", &data_s, "--model", model, "--out", &out_s,
        ],
    )?;
    Ok(out)
}
