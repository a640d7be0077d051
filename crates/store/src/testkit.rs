//! Throwaway PostgreSQL and Redis servers for tests and benchmarks: each on a free port with its
//! own data folder, so a test can kill and restart it. Not for production.
//!
//! They need the Debian packages `postgresql` and `redis-server` (`scripts/install-services.sh`
//! installs them); [`Postgres::start`] and [`Redis::start`] fail with a message saying so when the
//! binaries are missing: tests that need them fail, they do not skip. PostgreSQL's `initdb` refuses
//! to run as root, so as root the server runs as the `postgres` user (its data folder is given to it).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn unique_dir(what: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "tastebud-{what}-{}-{n}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    ))
}

fn wait_port(port: u16, timeout: Duration) -> bool {
    let t = Instant::now();
    while t.elapsed() < timeout {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn kill(child: &mut Option<Child>, signal: i32) {
    if let Some(mut c) = child.take() {
        if signal == SIGKILL {
            let _ = c.kill();
        } else {
            let _ = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(c.id().to_string())
                .status();
        }
        let _ = c.wait();
    }
}

/// SIGKILL: the process dies without a chance to flush anything.
pub const SIGKILL: i32 = 9;
/// SIGINT: PostgreSQL's "fast" shutdown (its "smart" one, SIGTERM, waits for clients to leave).
pub const SIGINT: i32 = 2;

/// `uid`, `gid` of the `postgres` user (from /etc/passwd), when this process is root.
fn postgres_ids() -> Option<(u32, u32)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1))?;
    if euid != "0" {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&"postgres") && f.len() > 3)
            .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
            .flatten()
    })
}

/// The folder of PostgreSQL's server binaries (`initdb`, `postgres`): `PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin`, else the `PATH`.
fn pg_bin() -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var("PG_BIN") {
        return Ok(PathBuf::from(p));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.flatten()
                .map(|e| e.path().join("bin"))
                .filter(|p| p.join("initdb").is_file())
                .collect()
        })
        .unwrap_or_default();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(p) = found.pop() {
        return Ok(p);
    }
    if let Ok(path) = std::env::var("PATH") {
        for d in std::env::split_paths(&path) {
            if d.join("initdb").is_file() {
                return Ok(d);
            }
        }
    }
    Err("PostgreSQL's server binaries (initdb, postgres) were not found: install the Debian package \
         `postgresql` (scripts/install-services.sh does), or set PG_BIN"
        .to_string())
}

/// A throwaway PostgreSQL server (trust authentication, user `postgres`, database `postgres`).
/// Stopped and its folder removed when dropped.
pub struct Postgres {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    ids: Option<(u32, u32)>,
    child: Option<Child>,
}

impl Postgres {
    /// Initialises a data folder and starts the server on a free port.
    pub fn start() -> Result<Postgres, String> {
        let bin = pg_bin()?;
        let ids = postgres_ids();
        let dir = unique_dir("pg");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if let Some((uid, gid)) = ids {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .map_err(|e| format!("chown {}: {e}", dir.display()))?;
        }
        let data = dir.join("data");
        let mut init = Command::new(bin.join("initdb"));
        init.args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        as_postgres(&mut init, ids);
        let out = init.output().map_err(|e| format!("running initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let mut pg = Postgres {
            port: free_port(),
            dir,
            bin,
            ids,
            child: None,
        };
        pg.restart()?;
        Ok(pg)
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The data folder (what an erasure test scans).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Starts the server again on the same port and data (after [`Postgres::kill`] or
    /// [`Postgres::stop`]); waits until it accepts connections.
    pub fn restart(&mut self) -> Result<(), String> {
        if self.child.is_some() {
            return Ok(());
        }
        let mut cmd = Command::new(self.bin.join("postgres"));
        cmd.arg("-D")
            .arg(self.data_dir())
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(&self.dir)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=200",
                "-c",
                "logging_collector=off",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        as_postgres(&mut cmd, self.ids);
        let child = cmd.spawn().map_err(|e| format!("starting postgres: {e}"))?;
        self.child = Some(child);
        if !wait_port(self.port, Duration::from_secs(30)) {
            return Err(format!("postgres did not listen on {} in 30 s", self.port));
        }
        // Listening comes before accepting queries (recovery after a kill): wait for pg_isready.
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            let ok = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .map(|s| s.success())
                .unwrap_or(true);
            if ok {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err("postgres did not become ready in 30 s".to_string())
    }

    /// SIGKILL: an abrupt stop (a crash); [`Postgres::restart`] recovers from the WAL.
    pub fn kill(&mut self) {
        kill(&mut self.child, SIGKILL);
        // The postmaster's children exit when it is gone; give them a moment to release the port.
        std::thread::sleep(Duration::from_millis(300));
    }

    /// A fast shutdown (SIGINT): clients are disconnected, everything committed is kept.
    pub fn stop(&mut self) {
        kill(&mut self.child, SIGINT);
    }
}

fn as_postgres(cmd: &mut Command, ids: Option<(u32, u32)>) {
    use std::os::unix::process::CommandExt;
    if let Some((uid, gid)) = ids {
        cmd.uid(uid).gid(gid);
        cmd.env("HOME", "/tmp");
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A throwaway Redis server (no persistence). Stopped when dropped.
pub struct Redis {
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Option<Child>,
}

impl Redis {
    /// Starts `redis-server` on a free port.
    pub fn start() -> Result<Redis, String> {
        let mut r = Redis {
            port: free_port(),
            child: None,
        };
        r.restart()?;
        Ok(r)
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts it again on the same port (empty: it keeps nothing).
    pub fn restart(&mut self) -> Result<(), String> {
        if self.child.is_some() {
            return Ok(());
        }
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "starting redis-server: {e}; install the Debian package `redis-server` \
                     (scripts/install-services.sh does)"
                )
            })?;
        self.child = Some(child);
        if !wait_port(self.port, Duration::from_secs(10)) {
            return Err(format!("redis-server did not listen on {}", self.port));
        }
        Ok(())
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        kill(&mut self.child, SIGKILL);
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Every occurrence of `needle` in the file `path`, or in the files under it (recursively):
/// `(file, count)`.
pub fn scan_bytes(path: &Path, needle: &[u8]) -> Vec<(PathBuf, usize)> {
    let mut out = Vec::new();
    if path.is_file() {
        if let Ok(bytes) = std::fs::read(path) {
            let n = bytes.windows(needle.len()).filter(|w| *w == needle).count();
            if n > 0 {
                out.push((path.to_path_buf(), n));
            }
        }
        return out;
    }
    let mut stack = vec![path.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                let n = bytes.windows(needle.len()).filter(|w| *w == needle).count();
                if n > 0 {
                    out.push((p, n));
                }
            }
        }
    }
    out
}
