//! Downloading published datasets into a local cache (`tastebud datasets download NAME`).
//!
//! [`known`] lists the datasets Tastebud knows how to fetch. [`download`] streams one into a temporary file
//! beside `<cache>/<name>.zip` while hashing it with SHA-256, checks the hash when one is expected, then
//! replaces `<cache>/<name>.zip` with it ([`write_atomic`]) and unpacks it into `<cache>/<name>/` through a
//! temporary folder that is renamed only once unpacking succeeded, so a failed run never leaves a partial
//! archive or a half-unpacked dataset behind.
//!
//! Checksums: the registry pins a SHA-256 only where it is known for certain; where it is `None` the
//! computed hash is shown (with progress on) and [`DownloadOptions::sha256`] (the CLI's `--sha256 HEX`)
//! pins it.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tastebud_core::fsio::write_atomic;
use tastebud_core::{Error, Result};

/// How a remote file is packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ArchiveKind {
    /// A zip archive with stored or deflated entries.
    Zip,
}

/// A published dataset that [`download`] can fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Remote {
    /// Short name used on the command line and for cache paths (letters, digits, `-`, `_`, `.`).
    pub name: &'static str,
    /// Where the archive is published.
    pub url: &'static str,
    /// Expected SHA-256 of the archive (lowercase hex), where known for certain.
    pub sha256: Option<&'static str>,
    /// The MD5 the publisher lists for the archive (GroupLens publishes `<archive>.md5` files and no SHA-256),
    /// checked when no SHA-256 is known. Weaker than SHA-256 against tampering, but it catches corruption.
    pub md5: Option<&'static str>,
    /// How the archive is packed.
    pub kind: ArchiveKind,
    /// The single top-level folder the archive unpacks to, or `None` when its files sit at the top.
    pub folder: Option<&'static str>,
    /// Approximate archive size in bytes, for messages only.
    pub approx_bytes: u64,
    /// One-line description.
    pub description: &'static str,
}

static KNOWN: [Remote; 6] = [
    Remote {
        name: "ml-100k",
        url: "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        sha256: None,
        md5: Some("0e33842e24a9c977be4e0107933c0723"),
        kind: ArchiveKind::Zip,
        folder: Some("ml-100k"),
        approx_bytes: 4_900_000,
        description: "MovieLens 100K: 100,000 ratings (1-5) from 943 users on 1,682 movies, with demographics (1998)",
    },
    Remote {
        name: "ml-1m",
        url: "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        sha256: None,
        md5: Some("c4d9eecfca2ab87c1945afe126590906"),
        kind: ArchiveKind::Zip,
        folder: Some("ml-1m"),
        approx_bytes: 5_900_000,
        description: "MovieLens 1M: 1,000,209 ratings (1-5) from 6,040 users on 3,706 movies, with demographics (2003)",
    },
    Remote {
        name: "ml-latest-small",
        url: "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip",
        sha256: None,
        md5: None,
        kind: ArchiveKind::Zip,
        folder: Some("ml-latest-small"),
        approx_bytes: 1_000_000,
        description: "MovieLens latest, small: about 100,000 half-star ratings and tags from 610 users (updated over time)",
    },
    Remote {
        name: "ml-20m",
        url: "https://files.grouplens.org/datasets/movielens/ml-20m.zip",
        sha256: None,
        md5: Some("cd245b17a1ae2cc31bb14903e1204af3"),
        kind: ArchiveKind::Zip,
        folder: Some("ml-20m"),
        approx_bytes: 198_000_000,
        description: "MovieLens 20M: 20,000,263 half-star ratings from 138,493 users on 27,278 movies, tag genome (2015)",
    },
    Remote {
        name: "ml-25m",
        url: "https://files.grouplens.org/datasets/movielens/ml-25m.zip",
        sha256: None,
        md5: Some("6b51fb2759a8657d3bfcbfc42b592ada"),
        kind: ArchiveKind::Zip,
        folder: Some("ml-25m"),
        approx_bytes: 262_000_000,
        description: "MovieLens 25M: 25,000,095 half-star ratings from 162,541 users on 62,423 movies, tag genome (2019)",
    },
    Remote {
        name: "goodbooks-10k",
        url: "https://github.com/zygmuntz/goodbooks-10k/releases/download/v1.0/goodbooks-10k.zip",
        sha256: None,
        md5: None,
        kind: ArchiveKind::Zip,
        folder: None,
        approx_bytes: 30_000_000,
        description: "Goodbooks-10k: about 6 million ratings (1-5) from 53,424 users on 10,000 books, with tags and to-read lists",
    },
];

/// The datasets Tastebud knows how to download.
pub fn known() -> &'static [Remote] {
    &KNOWN
}

/// Looks a known dataset up by name (ASCII case-insensitive).
pub fn find(name: &str) -> Option<&'static Remote> {
    KNOWN.iter().find(|r| r.name.eq_ignore_ascii_case(name))
}

/// The download cache: `$TASTEBUD_CACHE` if set, else `$HOME/.cache/tastebud`.
///
/// Falls back to `%USERPROFILE%` when `HOME` is unset, and to `.cache/tastebud` under the current folder
/// when neither is set.
pub fn cache_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("TASTEBUD_CACHE") {
        return PathBuf::from(dir);
    }
    let home = var("HOME").or_else(|| var("USERPROFILE"));
    home.map(PathBuf::from)
        .unwrap_or_default()
        .join(".cache")
        .join("tastebud")
}

/// Options for [`download`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadOptions {
    /// Folder that holds archives and unpacked datasets.
    pub cache_dir: PathBuf,
    /// Fetch from this URL instead of [`Remote::url`] (mirrors, tests).
    pub url: Option<String>,
    /// Expected SHA-256 (hex), overriding [`Remote::sha256`].
    pub sha256: Option<String>,
    /// Download and unpack again even if the dataset is already in the cache.
    pub force: bool,
    /// Show a byte progress bar and messages on stderr.
    pub progress: bool,
}

impl DownloadOptions {
    /// Options for `cache_dir` with no overrides, no forcing and no progress output.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        DownloadOptions {
            cache_dir: cache_dir.into(),
            url: None,
            sha256: None,
            force: false,
            progress: false,
        }
    }
}

impl Default for DownloadOptions {
    /// Options for [`cache_dir`] with no overrides, no forcing and no progress output.
    fn default() -> Self {
        DownloadOptions::new(cache_dir())
    }
}

/// Downloads, verifies and unpacks `remote` into the cache; returns the dataset folder.
///
/// The dataset folder is the archive's single top-level folder if it has one (`<cache>/ml-100k/ml-100k`),
/// else `<cache>/<name>`. If `<cache>/<name>` already exists and `opts.force` is false, it is returned
/// without any network access. A `<cache>/<name>.zip` left by an earlier run is reused only when an
/// expected checksum is known and matches.
///
/// Errors: [`Error::Download`] for HTTP and connection failures (naming the URL) and for a checksum
/// mismatch (naming both hashes; the partial file is deleted); [`Error::BadInput`] for an archive that
/// cannot be read or holds unsafe paths (absolute, `..`, symbolic links); [`Error::InvalidParam`] for a
/// malformed name or checksum; [`Error::Io`] for file-system failures.
pub fn download(remote: &Remote, opts: &DownloadOptions) -> Result<PathBuf> {
    check_name(remote.name)?;
    let expected = match (&opts.sha256, remote.sha256) {
        (Some(hex), _) => Some(normalize_sha256(hex)?),
        (None, Some(hex)) => Some(normalize_sha256(hex)?),
        (None, None) => None,
    };
    let cache = &opts.cache_dir;
    let target = cache.join(remote.name);
    if !opts.force && target.is_dir() {
        return dataset_root(&target);
    }
    fs::create_dir_all(cache).map_err(|e| Error::io(cache, e))?;
    let url = opts.url.as_deref().unwrap_or(remote.url);
    let archive = cache.join(format!("{}.zip", remote.name));

    let reuse = match &expected {
        Some(hex) if !opts.force && archive.is_file() => sha256_file(&archive)? == *hex,
        _ => false,
    };
    if !reuse {
        // The archive is replaced only once the download is complete and its checksum verified; any
        // failure removes the partial download and leaves an earlier archive as it was.
        write_atomic(&archive, |out| {
            let digests = fetch(url, out, &archive, remote.name, opts.progress)?;
            let actual = digests.sha256;
            // The publisher's MD5 applies only to the published URL's file, so not when a SHA-256 is
            // pinned.
            if let (None, Some(md5)) = (&expected, remote.md5)
                && digests.md5 != md5
            {
                return Err(Error::Download(format!(
                    "checksum mismatch for {url}: expected md5 {md5} (published), got {} \
                     (the partial download was deleted)",
                    digests.md5
                )));
            }
            match &expected {
                Some(hex) if *hex != actual => {
                    return Err(Error::Download(format!(
                        "checksum mismatch for {url}: expected sha256 {hex}, got {actual} \
                         (the partial download was deleted)"
                    )));
                }
                Some(_) => {}
                None if opts.progress => eprintln!(
                    "sha256 {actual}  {}.zip (no checksum pinned; pass --sha256 {actual} to pin it)",
                    remote.name
                ),
                None => {}
            }
            Ok(())
        })?;
    }

    let tmp = cache.join(format!(".{}.unpack-{}", remote.name, std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    if opts.progress {
        eprintln!("unpacking {} into {}", archive.display(), target.display());
    }
    if let Err(e) = unpack_zip(&archive, &tmp) {
        let _ = fs::remove_dir_all(&tmp);
        // A broken archive would be reused by nobody; drop it so the next run downloads afresh.
        if matches!(e, Error::BadInput { .. }) {
            let _ = fs::remove_file(&archive);
        }
        return Err(e);
    }
    if target.exists()
        && let Err(e) = fs::remove_dir_all(&target)
    {
        let _ = fs::remove_dir_all(&tmp);
        return Err(Error::io(&target, e));
    }
    if let Err(e) = fs::rename(&tmp, &target) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(Error::io(&target, e));
    }
    dataset_root(&target)
}

/// The SHA-256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(path, e)),
        };
        hasher.update(&buf[..n]);
    }
    Ok(to_hex(&hasher.finalize()))
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// Validates a SHA-256 given as 64 hex digits and returns it in lowercase.
fn normalize_sha256(hex: &str) -> Result<String> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::InvalidParam {
            name: "sha256",
            reason: format!("`{hex}` is not a SHA-256 (64 hexadecimal digits)"),
        });
    }
    Ok(hex.to_ascii_lowercase())
}

/// Names become file names in the cache: keep them to a safe alphabet.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidParam {
            name: "name",
            reason: format!(
                "`{name}` is not a valid dataset name (use letters, digits, `-`, `_`, `.`)"
            ),
        })
    }
}

/// Hex digests of a downloaded file.
struct Digests {
    sha256: String,
    md5: String,
}

/// Streams `url` into `out` (the file `path`, named in errors), hashing as it goes; returns its SHA-256 and
/// MD5 as lowercase hex.
fn fetch(
    url: &str,
    out: &mut dyn Write,
    path: &Path,
    label: &str,
    progress: bool,
) -> Result<Digests> {
    let fail = |reason: String| Error::Download(format!("GET {url}: {reason}"));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(120)))
        .user_agent(concat!("tastebud/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let response = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
    let status = response.status();
    if status.as_u16() >= 400 {
        return Err(fail(format!("HTTP {status}")));
    }
    let len = response.body().content_length();
    let mut reader = response.into_body().into_reader();

    let bar = progress_bar(len, progress, label);
    let mut hasher = Sha256::new();
    let mut md5 = md5::Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                bar.abandon();
                return Err(fail(format!("reading the body after {total} bytes: {e}")));
            }
        };
        hasher.update(&buf[..n]);
        md5.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| Error::io(path, e))?;
        total += n as u64;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    if let Some(len) = len
        && total != len
    {
        return Err(fail(format!("the body ended after {total} of {len} bytes")));
    }
    if progress {
        eprintln!("downloaded {label}: {total} bytes");
    }
    Ok(Digests {
        sha256: to_hex(&hasher.finalize()),
        md5: to_hex(&md5.finalize()),
    })
}

fn progress_bar(len: Option<u64>, progress: bool, label: &str) -> ProgressBar {
    if !progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
    let template = if len.is_some() {
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    } else {
        "{spinner} {msg} {bytes} {bytes_per_sec}"
    };
    let style = ProgressStyle::with_template(template)
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(format!("downloading {label}"));
    bar
}

fn bad_archive(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::BadInput {
        path: path.to_path_buf(),
        reason: format!("cannot unpack: {reason}"),
    }
}

/// Unpacks a zip archive into `dest`, refusing entries that would land outside it.
fn unpack_zip(archive: &Path, dest: &Path) -> Result<()> {
    let file = File::open(archive).map_err(|e| Error::io(archive, e))?;
    let mut zip =
        zip::ZipArchive::new(BufReader::new(file)).map_err(|e| bad_archive(archive, e))?;
    fs::create_dir_all(dest).map_err(|e| Error::io(dest, e))?;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| bad_archive(archive, e))?;
        let Some(rel) = entry.enclosed_name() else {
            return Err(bad_archive(
                archive,
                format!(
                    "entry `{}` has an absolute path or leaves the folder with `..`",
                    entry.name()
                ),
            ));
        };
        if rel.starts_with("__MACOSX") {
            continue;
        }
        if entry.is_symlink() {
            return Err(bad_archive(
                archive,
                format!("entry `{}` is a symbolic link", entry.name()),
            ));
        }
        let out = dest.join(&rel);
        if entry.is_dir() {
            fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
            continue;
        }
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let file = File::create(&out).map_err(|e| Error::io(&out, e))?;
        let mut writer = BufWriter::with_capacity(1 << 16, file);
        io::copy(&mut entry, &mut writer).map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => {
                bad_archive(archive, format!("entry `{}`: {e}", rel.display()))
            }
            _ => Error::io(&out, e),
        })?;
        writer.flush().map_err(|e| Error::io(&out, e))?;
    }
    Ok(())
}

/// The unpacked dataset: the folder's single sub-folder if that is all it holds, else the folder.
fn dataset_root(dir: &Path) -> Result<PathBuf> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        if name == "__MACOSX" {
            continue;
        }
        entries.push(entry.path());
    }
    match entries.as_slice() {
        [only] if only.is_dir() => Ok(only.clone()),
        _ => Ok(dir.to_path_buf()),
    }
}
