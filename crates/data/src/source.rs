//! Opening input files: plain or gzip-compressed (by the `.gz` suffix or the gzip magic bytes), and finding a
//! file in a dataset folder with or without `.gz`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use tastebud_core::{Error, Result};

/// Opens `path` for reading, decompressing gzip transparently.
///
/// A file named `*.gz` must be gzip: one without the gzip magic bytes is refused here, and a damaged
/// stream fails on read with an error saying the file is not valid gzip (never "empty input").
pub fn open(path: &Path) -> Result<Box<dyn Read + Send>> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let head = r.fill_buf().map_err(|e| Error::io(path, e))?;
    let gz = head.starts_with(&[0x1f, 0x8b]);
    let named_gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    if gz {
        Ok(Box::new(GzipChecked(flate2::read::MultiGzDecoder::new(r))))
    } else if named_gz && !head.is_empty() {
        Err(Error::BadInput {
            path: path.to_path_buf(),
            reason: "not valid gzip: the file is named .gz but does not start with the gzip magic \
                     bytes (1f 8b); decompress or rename it"
                .into(),
        })
    } else {
        Ok(Box::new(r))
    }
}

/// A gzip decoder whose read errors say that the data is not valid gzip.
struct GzipChecked<R>(R);

impl<R: Read> Read for GzipChecked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not valid gzip (corrupt or truncated): {e}"),
            )
        })
    }
}

/// Reads a whole (small) file, decompressing gzip, as bytes.
pub fn read_all(path: &Path) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    open(path)?
        .read_to_end(&mut v)
        .map_err(|e| Error::io(path, e))?;
    Ok(v)
}

/// `dir/name` if it exists, else `dir/name.gz` if that exists.
pub fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    let p = dir.join(name);
    if p.is_file() {
        return Some(p);
    }
    let gz = dir.join(format!("{name}.gz"));
    gz.is_file().then_some(gz)
}

/// Like [`find`], but a missing file is an error naming the folder and the file.
pub fn require(dir: &Path, name: &str) -> Result<PathBuf> {
    find(dir, name).ok_or_else(|| Error::BadInput {
        path: dir.to_path_buf(),
        reason: format!("missing `{name}`"),
    })
}

/// Whether `path` is Parquet input: a file named `*.parquet`, or a folder holding such files.
pub fn is_parquet(path: &Path) -> bool {
    if path.is_dir() {
        return parquet_parts(path).is_ok_and(|p| !p.is_empty());
    }
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

/// The Parquet files of `path`: the file itself, or a folder's `*.parquet` files in name order (names
/// starting with `.` or `_`, Spark's checksums and markers, are skipped).
pub fn parquet_parts(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(path).map_err(|e| Error::io(path, e))? {
        let p = e.map_err(|e| Error::io(path, e))?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_file()
            && !name.starts_with('.')
            && !name.starts_with('_')
            && name.to_ascii_lowercase().ends_with(".parquet")
        {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// Decodes ISO-8859-1 (Latin-1) bytes: each byte is the code point of the same value.
///
/// ```
/// assert_eq!(tastebud_data::source::latin1(b"Mis\xe9rables"), "Misérables");
/// ```
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}
