//! The fast reader for delimited interaction files (`user item rating time` per line), used by every dataset
//! whose ratings are one record per line: MovieLens, Goodbooks, Amazon ratings CSV and generic files.
//!
//! The file is read in 8 MiB blocks cut at line ends; a batch of blocks is parsed in parallel (fields split,
//! numbers parsed, ids interned per block), then blocks are merged in order, so ids get indices in order of
//! first appearance and error line numbers are exact. Fields may be RFC 4180 quoted (`"a,b"`, `""` for a quote)
//! but a record may not span lines. `\r\n` endings are accepted; blank lines are skipped.

use std::io::Read;
use std::path::Path;

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use tastebud_core::{Error, Result, Triplets};

use crate::builder::DatasetBuilder;
use crate::source;

/// Field separator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delimiter {
    /// One byte: `\t`, `,`, `|`, `;`, ` `.
    Byte(u8),
    /// A multi-byte separator such as MovieLens 1M's `::`.
    Str(String),
}

impl Delimiter {
    /// Parses a delimiter as written on the command line: `tab`, `\t`, `comma`, `::`, `;`...
    pub fn parse(s: &str) -> Result<Self> {
        let d = match s {
            "tab" | "\\t" | "\t" => Delimiter::Byte(b'\t'),
            "comma" | "," => Delimiter::Byte(b','),
            "pipe" | "|" => Delimiter::Byte(b'|'),
            "semicolon" | ";" => Delimiter::Byte(b';'),
            "space" | " " => Delimiter::Byte(b' '),
            "" => {
                return Err(Error::InvalidParam {
                    name: "delimiter",
                    reason: "empty".into(),
                });
            }
            s if s.len() == 1 => Delimiter::Byte(s.as_bytes()[0]),
            s => Delimiter::Str(s.to_string()),
        };
        Ok(d)
    }
}

/// A column chosen by position (0-based) or by header name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ColumnRef {
    /// 0-based position.
    Index(usize),
    /// Name in the header line.
    Name(String),
}

/// Which columns hold the user, item, value and time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Columns {
    /// User id column.
    pub user: ColumnRef,
    /// Item id column.
    pub item: ColumnRef,
    /// Rating / weight column; without it every interaction weighs 1.
    pub value: Option<ColumnRef>,
    /// Timestamp column (Unix seconds, or a `YYYY-MM-DD[ HH:MM:SS]` date).
    pub time: Option<ColumnRef>,
}

impl Columns {
    /// Columns by position: user, item, value, time.
    pub fn positional(user: usize, item: usize, value: Option<usize>, time: Option<usize>) -> Self {
        Columns {
            user: ColumnRef::Index(user),
            item: ColumnRef::Index(item),
            value: value.map(ColumnRef::Index),
            time: time.map(ColumnRef::Index),
        }
    }

    /// Parses a mapping such as `user=userId,item=movieId,rating=rating,time=timestamp`. Values that are
    /// whole numbers are positions (0-based), anything else a header name. `rating`, `value` and `weight`
    /// are synonyms; `timestamp` is a synonym of `time`.
    ///
    /// ```
    /// use tastebud_data::delimited::{ColumnRef, Columns};
    /// let c = Columns::parse_mapping("user=userId,item=2,rating=rating")?;
    /// assert_eq!(c.item, ColumnRef::Index(2));
    /// assert_eq!(c.time, None);
    /// # Ok::<(), tastebud_core::Error>(())
    /// ```
    pub fn parse_mapping(spec: &str) -> Result<Self> {
        let bad = |reason: String| Error::InvalidParam {
            name: "columns",
            reason,
        };
        let (mut user, mut item, mut value, mut time) = (None, None, None, None);
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| bad(format!("`{part}` is not key=column")))?;
            let r = match v.trim().parse::<usize>() {
                Ok(i) => ColumnRef::Index(i),
                Err(_) => ColumnRef::Name(v.trim().to_string()),
            };
            match k.trim() {
                "user" => user = Some(r),
                "item" => item = Some(r),
                "rating" | "value" | "weight" => value = Some(r),
                "time" | "timestamp" => time = Some(r),
                other => {
                    return Err(bad(format!(
                        "unknown key `{other}` (user, item, rating, time)"
                    )));
                }
            }
        }
        Ok(Columns {
            user: user.ok_or_else(|| bad("`user=` is required".into()))?,
            item: item.ok_or_else(|| bad("`item=` is required".into()))?,
            value,
            time,
        })
    }
}

/// How to read one delimited interaction file.
#[derive(Clone, Debug, PartialEq)]
pub struct InteractionFormat {
    /// Field separator.
    pub delimiter: Delimiter,
    /// Whether the first line is a header.
    pub header: bool,
    /// Column mapping.
    pub columns: Columns,
    /// Value used when there is no value column. By default, 1.
    pub default_value: f32,
}

impl InteractionFormat {
    /// A headerless format with positional columns.
    pub fn positional(delimiter: Delimiter, columns: Columns) -> Self {
        InteractionFormat {
            delimiter,
            header: false,
            columns,
            default_value: 1.0,
        }
    }
    /// A format with a header line and named (or positional) columns.
    pub fn with_header(delimiter: Delimiter, columns: Columns) -> Self {
        InteractionFormat {
            delimiter,
            header: true,
            columns,
            default_value: 1.0,
        }
    }
}

const BLOCK: usize = 8 << 20;

/// Resolved column positions.
#[derive(Clone, Copy, Debug)]
struct Pos {
    user: usize,
    item: usize,
    value: Option<usize>,
    time: Option<usize>,
    max: usize,
}

/// Reads interactions from `path` into `b`; returns the number of rows read.
pub fn read_interactions(
    path: &Path,
    fmt: &InteractionFormat,
    b: &mut DatasetBuilder,
) -> Result<u64> {
    let mut reader = source::open(path)?;
    let mut carry: Vec<u8> = Vec::new();
    let mut eof = false;
    let mut next_line: u64 = 1; // 1-based number of the first line of the next chunk
    let mut pos: Option<Pos> = None;
    let mut rows = 0u64;
    let threads = rayon::current_num_threads().max(1);
    let mut saw_any_line = false;
    while !eof {
        let mut batch: Vec<Vec<u8>> = Vec::with_capacity(2 * threads);
        while batch.len() < 2 * threads && !eof {
            let (chunk, rest, at_eof) = next_chunk(&mut reader, std::mem::take(&mut carry), path)?;
            carry = rest;
            eof = at_eof;
            if !chunk.is_empty() {
                batch.push(chunk);
            }
        }
        if batch.is_empty() {
            break;
        }
        saw_any_line = true;
        let mut skip_first_line = false;
        if pos.is_none() {
            // A UTF-8 byte-order mark (spreadsheet exports) is not part of the first field.
            if batch[0].starts_with(b"\xEF\xBB\xBF") {
                batch[0].drain(..3);
            }
            let header = if fmt.header {
                let first = &batch[0];
                let end = memchr::memchr(b'\n', first).unwrap_or(first.len());
                Some(
                    first[..end]
                        .strip_suffix(b"\r")
                        .unwrap_or(&first[..end])
                        .to_vec(),
                )
            } else {
                None
            };
            pos = Some(resolve(fmt, header.as_deref(), path)?);
            skip_first_line = fmt.header;
        }
        let p = pos.expect("resolved above");
        let outs: Vec<ChunkOut<'_>> = batch
            .par_iter()
            .enumerate()
            .map(|(k, chunk)| parse_chunk(chunk, fmt, p, k == 0 && skip_first_line))
            .collect();
        for out in outs {
            let lines = out.lines;
            rows += merge(out, next_line, path, b)?;
            next_line += lines;
        }
    }
    if !saw_any_line {
        return Err(Error::BadInput {
            path: path.to_path_buf(),
            reason: "file is empty".into(),
        });
    }
    Ok(rows)
}

/// Reads about one block, returning (chunk ending at a line end, carry-over, eof). A block holding no line end
/// (a line longer than the block) keeps growing until one is found.
fn next_chunk(r: &mut dyn Read, mut buf: Vec<u8>, path: &Path) -> Result<(Vec<u8>, Vec<u8>, bool)> {
    let mut filled = buf.len();
    let mut target = filled + BLOCK;
    loop {
        buf.resize(target, 0);
        while filled < target {
            let n = r.read(&mut buf[filled..]).map_err(|e| Error::io(path, e))?;
            if n == 0 {
                buf.truncate(filled);
                return Ok((buf, Vec::new(), true));
            }
            filled += n;
        }
        if let Some(nl) = memchr::memrchr(b'\n', &buf[..filled]) {
            let rest = buf[nl + 1..filled].to_vec();
            buf.truncate(nl + 1);
            return Ok((buf, rest, false));
        }
        target += BLOCK;
    }
}

fn resolve(fmt: &InteractionFormat, header: Option<&[u8]>, path: &Path) -> Result<Pos> {
    let names: Vec<String> = match header {
        Some(h) => {
            let mut f = Vec::new();
            split_fields(h, &fmt.delimiter, usize::MAX, &mut f);
            f.iter()
                .map(|x| String::from_utf8_lossy(&unquote(x)).trim().to_string())
                .collect()
        }
        None => Vec::new(),
    };
    let find = |c: &ColumnRef, what: &str| -> Result<usize> {
        match c {
            ColumnRef::Index(i) => Ok(*i),
            ColumnRef::Name(n) => {
                if header.is_none() {
                    return Err(Error::BadInput {
                        path: path.to_path_buf(),
                        reason: format!("column `{n}` ({what}) named but the file has no header"),
                    });
                }
                names
                    .iter()
                    .position(|h| h == n)
                    .ok_or_else(|| Error::BadInput {
                        path: path.to_path_buf(),
                        reason: format!(
                            "missing column `{n}` ({what}); the header has: {}",
                            names.join(", ")
                        ),
                    })
            }
        }
    };
    let user = find(&fmt.columns.user, "user")?;
    let item = find(&fmt.columns.item, "item")?;
    let value = fmt
        .columns
        .value
        .as_ref()
        .map(|c| find(c, "rating"))
        .transpose()?;
    let time = fmt
        .columns
        .time
        .as_ref()
        .map(|c| find(c, "time"))
        .transpose()?;
    let max = user
        .max(item)
        .max(value.unwrap_or(0))
        .max(time.unwrap_or(0));
    if header.is_some() && max >= names.len() {
        return Err(Error::BadInput {
            path: path.to_path_buf(),
            reason: format!(
                "column {} requested but the header has only {} columns",
                max + 1,
                names.len()
            ),
        });
    }
    Ok(Pos {
        user,
        item,
        value,
        time,
        max,
    })
}

/// A field of a line: its bytes, and whether it was quoted (and so may contain `""` escapes).
type Field<'a> = (&'a [u8], bool);

/// Splits `line` into at most `limit` fields (the rest of the line is ignored).
fn split_fields<'a>(line: &'a [u8], delim: &Delimiter, limit: usize, out: &mut Vec<Field<'a>>) {
    out.clear();
    let d: &[u8] = match delim {
        Delimiter::Byte(b) => std::slice::from_ref(b),
        Delimiter::Str(s) => s.as_bytes(),
    };
    let mut rest = line;
    loop {
        if out.len() == limit {
            return;
        }
        if let Some(inner) = rest.strip_prefix(b"\"") {
            // quoted: find the closing quote not followed by another quote
            let mut i = 0;
            let mut closed = None;
            while i < inner.len() {
                if inner[i] == b'"' {
                    if inner.get(i + 1) == Some(&b'"') {
                        i += 2;
                        continue;
                    }
                    closed = Some(i);
                    break;
                }
                i += 1;
            }
            if let Some(c) = closed {
                out.push((&inner[..c], true));
                let after = &inner[c + 1..];
                if after.is_empty() {
                    return;
                }
                if let Some(r) = after.strip_prefix(d) {
                    rest = r;
                    continue;
                }
                // garbage after the closing quote: treat the remainder as part of the field list
                rest = after;
                continue;
            }
            out.push((rest, false));
            return;
        }
        let next = if d.len() == 1 {
            memchr::memchr(d[0], rest)
        } else {
            memchr::memmem::find(rest, d)
        };
        match next {
            Some(k) => {
                out.push((&rest[..k], false));
                rest = &rest[k + d.len()..];
            }
            None => {
                out.push((rest, false));
                return;
            }
        }
    }
}

fn unquote<'a>(f: &Field<'a>) -> std::borrow::Cow<'a, [u8]> {
    if f.1 && memchr::memmem::find(f.0, b"\"\"").is_some() {
        let s = String::from_utf8_lossy(f.0).replace("\"\"", "\"");
        std::borrow::Cow::Owned(s.into_bytes())
    } else {
        std::borrow::Cow::Borrowed(f.0)
    }
}

/// Longest id accepted, in bytes (the HTTP API's limit too): a longer "id" is a broken line (a missing
/// newline, a binary file), refused with its file and line instead of interned.
pub const MAX_ID_BYTES: usize = 256;

/// Refuses an id over [`MAX_ID_BYTES`] (what `what` names), for the readers that parse ids themselves
/// (Amazon JSON lines, Netflix Prize).
pub(crate) fn check_id_len(what: &str, id: &str) -> std::result::Result<(), String> {
    if id.len() > MAX_ID_BYTES {
        return Err(format!(
            "{what} longer than {MAX_ID_BYTES} bytes ({} bytes; a missing line break or a binary file?)",
            id.len()
        ));
    }
    Ok(())
}

/// Numeric ids below this use a direct-index table (at most 16 MiB per block and id kind).
const DENSE_LIMIT: u64 = 1 << 22;

/// Per-block interner of id bytes to local indices, in order of first appearance.
#[derive(Default)]
struct Interner<'a> {
    /// Canonical decimal ids (no sign, no leading zero, at most 18 digits) keyed by value: integer hashing
    /// and comparison are several times cheaper than byte-slice ones, and most datasets use such ids.
    nums: FxHashMap<u64, u32>,
    /// Small numeric ids (below [`DENSE_LIMIT`]) index this table directly (`u32::MAX` = not yet seen):
    /// one array access instead of a hash probe, which dominated parsing time.
    dense: Vec<u32>,
    map: FxHashMap<std::borrow::Cow<'a, [u8]>, u32>,
    ids: Vec<&'a str>,
    owned: Vec<(u32, String)>,
}

impl<'a> Interner<'a> {
    /// Returns the local index, or an error reason for a non-UTF-8 or empty id.
    fn intern(&mut self, f: &Field<'a>) -> std::result::Result<u32, &'static str> {
        let raw = f.0;
        if !f.1
            && !raw.is_empty()
            && raw.len() <= 18
            && (raw[0] != b'0' || raw.len() == 1)
            && raw.iter().all(u8::is_ascii_digit)
        {
            let key = raw
                .iter()
                .fold(0u64, |acc, &c| acc * 10 + (c - b'0') as u64);
            let next = self.ids.len() as u32;
            let i = if key < DENSE_LIMIT {
                let k = key as usize;
                if k >= self.dense.len() {
                    self.dense.resize((k + 1).next_power_of_two(), u32::MAX);
                }
                if self.dense[k] == u32::MAX {
                    self.dense[k] = next;
                }
                self.dense[k]
            } else {
                *self.nums.entry(key).or_insert(next)
            };
            if i == next {
                self.ids
                    .push(std::str::from_utf8(raw).expect("ASCII digits"));
            }
            return Ok(i);
        }
        if raw.len() > MAX_ID_BYTES && raw.trim_ascii().len() > MAX_ID_BYTES {
            return Err("id longer than 256 bytes (a missing line break or a binary file?)");
        }
        if let Some(&i) = self.map.get(raw) {
            return Ok(i);
        }
        let bytes = unquote(f);
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| "invalid UTF-8 in id")?
            .trim();
        if text.is_empty() {
            return Err("empty id");
        }
        let i = self.ids.len() as u32;
        match (&bytes, std::str::from_utf8(raw).ok().map(str::trim)) {
            (std::borrow::Cow::Borrowed(_), Some(t)) if t.len() == raw.len() => self.ids.push(t),
            _ => {
                self.owned.push((i, text.to_string()));
                self.ids.push("");
            }
        }
        self.map.insert(std::borrow::Cow::Borrowed(raw), i);
        Ok(i)
    }
    fn id(&self, i: u32) -> &str {
        let s = self.ids[i as usize];
        if s.is_empty() {
            let k = self
                .owned
                .binary_search_by_key(&i, |(j, _)| *j)
                .expect("owned id recorded");
            &self.owned[k].1
        } else {
            s
        }
    }
}

struct ChunkOut<'a> {
    users: Interner<'a>,
    items: Interner<'a>,
    rows: Triplets,
    /// (0-based line offset within the chunk, reason)
    errors: Vec<(u64, String)>,
    /// Number of lines in the chunk.
    lines: u64,
}

fn parse_chunk<'a>(
    chunk: &'a [u8],
    fmt: &InteractionFormat,
    p: Pos,
    skip_first: bool,
) -> ChunkOut<'a> {
    let mut out = ChunkOut {
        users: Interner::default(),
        items: Interner::default(),
        rows: Triplets::default(),
        errors: Vec::new(),
        lines: 0,
    };
    let approx = chunk.len() / 24 + 16;
    out.rows.users.reserve(approx);
    out.rows.items.reserve(approx);
    out.rows.values.reserve(approx);
    if p.time.is_some() {
        out.rows.times.reserve(approx);
    }
    let mut fields: Vec<Field<'a>> = Vec::with_capacity(p.max + 1);
    let mut start = 0usize;
    let mut line = 0u64;
    while start < chunk.len() {
        let end = memchr::memchr(b'\n', &chunk[start..]).map_or(chunk.len(), |k| start + k);
        let mut l = &chunk[start..end];
        start = end + 1;
        let this = line;
        line += 1;
        if this == 0 && skip_first {
            continue;
        }
        if let Some(s) = l.strip_suffix(b"\r") {
            l = s;
        }
        // Blank lines are skipped; the full scan only runs for lines that start with whitespace.
        if l.first().is_none_or(u8::is_ascii_whitespace) && l.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Err(reason) = parse_line(l, fmt, p, &mut fields, &mut out) {
            out.errors.push((this, reason));
        }
    }
    out.rows.shrink();
    out.lines = line;
    out
}

fn parse_line<'a>(
    l: &'a [u8],
    fmt: &InteractionFormat,
    p: Pos,
    fields: &mut Vec<Field<'a>>,
    out: &mut ChunkOut<'a>,
) -> std::result::Result<(), String> {
    split_fields(l, &fmt.delimiter, p.max + 1, fields);
    if fields.len() <= p.max {
        return Err(format!(
            "expected at least {} fields, found {}",
            p.max + 1,
            fields.len()
        ));
    }
    let value = match p.value {
        Some(k) => parse_value(&fields[k]).ok_or_else(|| {
            format!(
                "rating `{}` is not a finite number",
                String::from_utf8_lossy(fields[k].0)
            )
        })?,
        None => fmt.default_value,
    };
    let time = match p.time {
        Some(k) => Some(parse_time_bytes(fields[k].0).ok_or_else(|| {
            format!(
                "timestamp `{}` is not Unix seconds or a date",
                String::from_utf8_lossy(fields[k].0)
            )
        })?),
        None => None,
    };
    let u = out
        .users
        .intern(&fields[p.user])
        .map_err(|r| format!("user: {r}"))?;
    let i = out
        .items
        .intern(&fields[p.item])
        .map_err(|r| format!("item: {r}"))?;
    out.rows.push(u, i, value, time);
    Ok(())
}

fn parse_value(f: &Field<'_>) -> Option<f32> {
    if let Some(v) = parse_decimal_fast(f.0) {
        return Some(v);
    }
    let s = std::str::from_utf8(f.0).ok()?.trim();
    let v: f32 = s.parse().ok()?;
    v.is_finite().then_some(v)
}

/// Fast path for the plain decimals rating files hold (`4`, `3.5`, `-1`, `0.25`): at most 7 significant
/// digits and 10 decimals, so `digits / 10^k` is a division of two exactly representable `f32`s and IEEE
/// rounding makes it equal to the correctly rounded parse. Anything else falls back to `str::parse`.
#[inline]
fn parse_decimal_fast(b: &[u8]) -> Option<f32> {
    let (neg, b) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    if b.is_empty() || b.len() > 12 {
        return None;
    }
    let mut n: u32 = 0;
    let (mut seen, mut digits) = (false, 0u32);
    let mut frac: Option<u32> = None;
    for &c in b {
        match c {
            b'0'..=b'9' => {
                seen = true;
                if n > 0 || c != b'0' {
                    // Significant digits only; checked before `n` can overflow.
                    digits += 1;
                    if digits > 7 {
                        return None;
                    }
                }
                n = n * 10 + u32::from(c - b'0');
                if let Some(f) = frac.as_mut() {
                    *f += 1;
                }
            }
            b'.' if frac.is_none() => frac = Some(0),
            _ => return None,
        }
    }
    if !seen || frac.unwrap_or(0) > 10 {
        return None;
    }
    const POW10: [f32; 11] = [1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];
    let v = n as f32 / POW10[frac.unwrap_or(0) as usize];
    Some(if neg { -v } else { v })
}

/// Unix seconds as plain digits (the common case), else the general [`parse_time`].
#[inline]
fn parse_time_bytes(b: &[u8]) -> Option<i64> {
    if !b.is_empty() && b.len() <= 18 && b.iter().all(u8::is_ascii_digit) {
        return Some(b.iter().fold(0i64, |acc, &c| acc * 10 + (c - b'0') as i64));
    }
    parse_time(std::str::from_utf8(b).ok()?)
}

/// Parses Unix seconds (`874965758`, `1.2e9` not accepted; a fractional part is truncated) or a date
/// `YYYY-MM-DD`, optionally followed by ` HH:MM:SS` or `THH:MM:SS[Z]` (taken as UTC).
///
/// ```
/// use tastebud_data::delimited::parse_time;
/// assert_eq!(parse_time("874965758"), Some(874965758));
/// assert_eq!(parse_time("2005-09-06"), Some(1125964800));
/// assert_eq!(parse_time("1970-01-02T00:00:01Z"), Some(86401));
/// assert_eq!(parse_time("yesterday"), None);
/// ```
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = s.parse::<i64>() {
        return Some(t);
    }
    if let Some((int, frac)) = s.split_once('.')
        && frac.bytes().all(|c| c.is_ascii_digit())
        && let Ok(t) = int.parse::<i64>()
    {
        return Some(t);
    }
    let (date, clock) = match s.find([' ', 'T']) {
        Some(k) => (&s[..k], Some(s[k + 1..].trim_end_matches('Z'))),
        None => (s, None),
    };
    let mut d = date.split('-');
    let y: i64 = d.next()?.parse().ok()?;
    let m: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let mut secs = days_from_civil(y, m, day) * 86_400;
    if let Some(c) = clock {
        let mut it = c.split(':');
        let h: i64 = it.next()?.parse().ok()?;
        let mi: i64 = it.next().unwrap_or("0").parse().ok()?;
        let se: f64 = it.next().unwrap_or("0").parse().ok()?;
        secs += h * 3600 + mi * 60 + se as i64;
    }
    Some(secs)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Maps a parsed chunk's local ids to the builder's global ids and appends its rows; reports errors with
/// absolute line numbers (`first_line` is the 1-based number of the chunk's first line).
fn merge(out: ChunkOut<'_>, first_line: u64, path: &Path, b: &mut DatasetBuilder) -> Result<u64> {
    for (off, reason) in out.errors {
        let err = Error::Parse {
            path: path.to_path_buf(),
            line: first_line + off,
            reason,
        };
        b.bad.record(&b.opts, err)?;
    }
    let umap: Vec<u32> = (0..out.users.ids.len() as u32)
        .map(|i| b.users.insert(out.users.id(i)))
        .collect();
    let imap: Vec<u32> = (0..out.items.ids.len() as u32)
        .map(|i| b.items.insert(out.items.id(i)))
        .collect();
    let mut rows = out.rows;
    for u in rows.users.iter_mut() {
        *u = umap[*u as usize];
    }
    for i in rows.items.iter_mut() {
        *i = imap[*i as usize];
    }
    let n = rows.len() as u64;
    if n > 0 {
        b.blocks.push(rows);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quoted_fields() {
        let mut f = Vec::new();
        split_fields(
            br#"1,"a,b",3,"say ""hi""""#,
            &Delimiter::Byte(b','),
            usize::MAX,
            &mut f,
        );
        let got: Vec<String> = f
            .iter()
            .map(|x| String::from_utf8(unquote(x).into_owned()).unwrap())
            .collect();
        assert_eq!(got, vec!["1", "a,b", "3", "say \"hi\""]);
        split_fields(
            b"1::2::5::978300760",
            &Delimiter::Str("::".into()),
            usize::MAX,
            &mut f,
        );
        assert_eq!(f.len(), 4);
        split_fields(
            b"1::2::5::978300760",
            &Delimiter::Str("::".into()),
            2,
            &mut f,
        );
        assert_eq!(f.len(), 2);
    }

    #[test]
    fn fast_decimal_equals_std_parse() {
        for s in [
            "4",
            "3.5",
            "0.5",
            "-1",
            "0.1",
            "2.25",
            "1234567",
            "0.0000001",
            "007",
            "4.",
            "99.99",
        ] {
            assert_eq!(
                parse_decimal_fast(s.as_bytes()),
                Some(s.parse::<f32>().unwrap()),
                "{s}"
            );
        }
        for s in [
            "",
            ".",
            "-",
            "1e5",
            "12345678",
            "1.2.3",
            "nan",
            " 4",
            "999999999999",
            "0.00000000001",
        ] {
            assert_eq!(parse_decimal_fast(s.as_bytes()), None, "{s}");
        }
        assert_eq!(parse_time_bytes(b"874965758"), Some(874965758));
        assert_eq!(parse_time_bytes(b"2005-09-06"), Some(1125964800));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(parse_time("1970-01-01"), Some(0));
        assert_eq!(parse_time("2000-03-01 00:00:00"), Some(951868800));
        assert_eq!(parse_time("2005-13-01"), None);
    }
}
