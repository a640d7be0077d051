//! File-system helpers: [`write_atomic`], the one way Tastebud replaces a file.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Error;

/// Replaces the file at `path` with what `write` writes, atomically and durably: readers see the old
/// file or the whole new one, never a part, and once this returns `Ok` the new file survives a crash.
///
/// `write` writes into a temporary file in the same folder (a hidden `.NAME.PID-N.tmp`, unique per call
/// so that concurrent writers of one path never share it), through a buffer this function flushes.
/// Then the file is flushed and fsynced, renamed over `path`, and, on unix, the folder is fsynced so the
/// rename itself is durable. When `write` or any step fails, the temporary file is removed and the old
/// file at `path`, if any, is left as it was; the error is `write`'s own or an [`Error::Io`] naming the
/// file (temporary or final) or folder that failed, converted into `E`. A buffer of the caller's own
/// inside `write` must be flushed by the caller (a `BufWriter` drops write errors when dropped).
///
/// `E` is any error an [`Error`] converts into: [`Error`] itself, or [`std::io::Error`] for a closure
/// that only does I/O.
///
/// ```
/// use std::io::Write;
/// # let dir = std::env::temp_dir().join(format!("tastebud-fsio-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join("settings.json");
/// tastebud_core::fsio::write_atomic(&path, |w| w.write_all(b"{\"k\": 10}\n"))?;
/// assert_eq!(std::fs::read_to_string(&path)?, "{\"k\": 10}\n");
/// // A failing write leaves the file as it was.
/// let failed = tastebud_core::fsio::write_atomic(&path, |w| {
///     w.write_all(b"{\"k\":")?;
///     Err::<(), _>(std::io::Error::other("interrupted"))
/// });
/// assert!(failed.is_err());
/// assert_eq!(std::fs::read_to_string(&path)?, "{\"k\": 10}\n");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_atomic<T, E>(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<Error>,
{
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let (tmp, file) = create_temporary(dir, path)?;
    let written = (|| -> Result<T, E> {
        let mut out = BufWriter::with_capacity(1 << 16, file);
        let value = write(&mut out)?;
        let file = out
            .into_inner()
            .map_err(|e| Error::io(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        drop(file);
        fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
        Ok(value)
    })();
    let value = match written {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    sync_dir(dir).map_err(|e| Error::io(dir, e))?;
    Ok(value)
}

/// Creates a fresh temporary file beside `path` in `dir`, never reusing an existing one.
fn create_temporary(dir: &Path, path: &Path) -> Result<(PathBuf, File), Error> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| {
        Error::io(
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "not a file name"),
        )
    })?;
    loop {
        let mut tmp_name = OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(
            ".{}-{}.tmp",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let tmp = dir.join(tmp_name);
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            // A file left by a crashed process that had the same id: take the next name.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(&tmp, e)),
        }
    }
}

/// Makes a rename inside `dir` durable (unix: fsync the folder; elsewhere the rename is all we can do).
/// Fsyncs a folder so that renames and removals in it are durable (a no-op off unix).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh, empty folder under the system temporary folder, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            static N: AtomicU64 = AtomicU64::new(0);
            let p = std::env::temp_dir().join(format!(
                "tastebud-fsio-{tag}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
        fn entries(&self) -> Vec<String> {
            let mut v: Vec<String> = fs::read_dir(&self.0)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn creates_a_new_file() {
        let dir = TempDir::new("create");
        let path = dir.0.join("a.txt");
        let n = write_atomic(&path, |w| {
            w.write_all(b"hello")?;
            Ok::<_, io::Error>(5)
        })
        .unwrap();
        assert_eq!(n, 5);
        assert_eq!(fs::read(&path).unwrap(), b"hello");
        assert_eq!(dir.entries(), ["a.txt"], "no temporary file left");
    }

    #[test]
    fn replaces_the_whole_content() {
        let dir = TempDir::new("replace");
        let path = dir.0.join("a.txt");
        fs::write(&path, "a much longer old content than the new one").unwrap();
        write_atomic(&path, |w| w.write_all(b"new")).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(dir.entries(), ["a.txt"], "no temporary file left");
    }

    #[test]
    fn an_error_in_the_closure_keeps_the_old_file() {
        let dir = TempDir::new("error");
        let path = dir.0.join("a.txt");
        fs::write(&path, "old").unwrap();
        let err = write_atomic(&path, |w| {
            w.write_all(b"half of the new")
                .map_err(|e| Error::io("a.txt", e))?;
            Err::<(), _>(Error::Shape("the writer gave up".into()))
        })
        .unwrap_err();
        assert!(matches!(err, Error::Shape(_)), "the closure's own error");
        assert_eq!(fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(dir.entries(), ["a.txt"], "the temporary file is removed");
    }

    #[test]
    fn an_error_without_an_old_file_leaves_nothing() {
        let dir = TempDir::new("nothing");
        let path = dir.0.join("a.txt");
        let r = write_atomic(&path, |w| {
            w.write_all(b"x")?;
            Err::<(), _>(io::Error::other("no"))
        });
        assert!(r.is_err());
        assert!(dir.entries().is_empty());
    }

    #[test]
    fn a_missing_folder_is_an_error_naming_it() {
        let dir = TempDir::new("missing");
        let path = dir.0.join("no/such/folder/a.txt");
        let err = write_atomic(&path, |w| {
            w.write_all(b"x").map_err(|e| Error::io(&path, e))
        })
        .unwrap_err();
        assert!(
            matches!(&err, Error::Io { path: p, .. } if p.starts_with(dir.0.join("no/such/folder"))),
            "{err}"
        );
        assert!(dir.entries().is_empty());
    }

    #[test]
    fn io_errors_convert_with_their_kind() {
        let e: io::Error = Error::io("x", io::Error::from(io::ErrorKind::NotFound)).into();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains('x'));
        let e: io::Error = Error::Shape("bad".into()).into();
        assert_eq!(e.kind(), io::ErrorKind::Other);
    }
}
