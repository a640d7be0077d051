//! `tastebud healthcheck`: GETs a server's `/readyz` (or any URL) and exits 0 when it answers 2xx, 1
//! otherwise. Container images without curl or a shell use it as their `HEALTHCHECK` (deploy/Dockerfile).

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;

/// Flags of `tastebud healthcheck`.
#[derive(Args, Debug)]
pub struct HealthcheckArgs {
    /// The URL to GET (http:// only: the probe runs next to the server, inside its container or pod).
    #[arg(long, default_value = "http://127.0.0.1:8080/readyz")]
    url: String,
    /// Give up after this many milliseconds (connecting, sending and reading together).
    #[arg(long, default_value_t = 3000)]
    timeout_ms: u64,
    /// Print nothing on success (errors still go to standard error).
    #[arg(long, short)]
    quiet: bool,
}

/// Checks the URL's form before any request: `http://HOST[:PORT]/...`.
fn check_url(url: &str) -> Result<()> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("--url must start with http:// (got `{url}`)"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() {
        bail!("--url has no host (got `{url}`)");
    }
    Ok(())
}

/// Runs `healthcheck`: Ok on a 2xx answer (its status line and body printed), an error otherwise (the
/// binary then exits 1).
pub fn run(args: &HealthcheckArgs, out: &mut impl Write) -> Result<()> {
    check_url(&args.url)?;
    if args.timeout_ms == 0 {
        bail!("--timeout-ms must be at least 1");
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_millis(args.timeout_ms)))
        .build()
        .into();
    let mut resp = agent
        .get(&args.url)
        .call()
        .with_context(|| format!("{}: no answer", args.url))?;
    let status = resp.status();
    // A bounded read: a probe must not hold a large body in memory.
    let body = resp
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .unwrap_or_default();
    let body = body.trim();
    if !status.is_success() {
        bail!("{}: {status}: {body}", args.url);
    }
    if !args.quiet {
        writeln!(out, "{}: {status}: {body}", args.url)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_url;

    #[test]
    fn urls_are_checked_before_any_request() {
        assert!(check_url("http://127.0.0.1:8080/readyz").is_ok());
        assert!(check_url("http://localhost/healthz").is_ok());
        let e = check_url("https://127.0.0.1/readyz")
            .unwrap_err()
            .to_string();
        assert!(e.contains("http://"), "{e}");
        let e = check_url("http:///readyz").unwrap_err().to_string();
        assert!(e.contains("no host"), "{e}");
        assert!(check_url("127.0.0.1:8080").is_err());
    }
}
