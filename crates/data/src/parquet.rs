//! Parquet input (feature `parquet`): interactions written by Spark, pandas or any Arrow writer, as one
//! `.parquet` file or a folder of parts (Spark's `part-*.parquet`, hidden and `_SUCCESS` files skipped),
//! and the `(id, features)` factor tables of a saved Spark `ALSModel`.
//!
//! Columns are chosen as for delimited files (`--columns user=userId,item=movieId,rating=rating`, by name
//! or 0-based position; by default user, item, rating, time by position). Ids may be integers or strings;
//! ratings any numeric or boolean column; times integers (Unix seconds), Arrow timestamps or dates, or
//! strings in the formats [`crate::delimited::parse_time`] reads. A null or unreadable value is an error
//! naming the file, the row (1-based, within the file) and the column.

use std::fs::File;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Schema, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tastebud_core::{Error, Result, Triplets};

use crate::builder::DatasetBuilder;
use crate::delimited::{ColumnRef, Columns, parse_time};

pub use crate::source::{is_parquet, parquet_parts as parts};

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::BadInput {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Opens one Parquet file as batches of rows.
fn batches(path: &Path) -> Result<impl Iterator<Item = Result<RecordBatch>>> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| bad(path, format!("not a readable Parquet file: {e}")))?
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| bad(path, format!("cannot read Parquet: {e}")))?;
    let p = path.to_path_buf();
    Ok(reader.map(move |b| b.map_err(|e| bad(&p, format!("cannot read Parquet: {e}")))))
}

/// Where each wanted column is in the file's schema.
struct Pos {
    user: usize,
    item: usize,
    value: Option<usize>,
    time: Option<usize>,
}

fn resolve(schema: &Schema, columns: &Columns, path: &Path) -> Result<Pos> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let find = |c: &ColumnRef, what: &str| -> Result<usize> {
        match c {
            ColumnRef::Index(i) if *i < names.len() => Ok(*i),
            ColumnRef::Index(i) => Err(bad(
                path,
                format!(
                    "column {i} ({what}) requested but the file has {} columns: {}",
                    names.len(),
                    names.join(", ")
                ),
            )),
            ColumnRef::Name(n) => names.iter().position(|h| h == n).ok_or_else(|| {
                bad(
                    path,
                    format!(
                        "missing column `{n}` ({what}); the file has: {}",
                        names.join(", ")
                    ),
                )
            }),
        }
    };
    Ok(Pos {
        user: find(&columns.user, "user")?,
        item: find(&columns.item, "item")?,
        value: columns
            .value
            .as_ref()
            .map(|c| find(c, "rating"))
            .transpose()?,
        time: columns.time.as_ref().map(|c| find(c, "time")).transpose()?,
    })
}

/// The default mapping: user, item, then rating and time when the file has such columns.
fn default_columns(schema: &Schema) -> Columns {
    let n = schema.fields().len();
    Columns::positional(0, 1, (n > 2).then_some(2), (n > 3).then_some(3))
}

/// Reads the interactions of a Parquet file or folder into `b`; returns the number of rows read.
/// `columns` maps the columns; by default user, item, then rating and time by position.
pub fn read_interactions(
    path: &Path,
    columns: Option<&Columns>,
    b: &mut DatasetBuilder,
) -> Result<u64> {
    let files = parts(path)?;
    if files.is_empty() {
        return Err(bad(path, "no .parquet files in the folder"));
    }
    let mut rows = 0u64;
    for file in &files {
        let mut row0 = 0u64; // rows of this file before the current batch
        let mut pos = None; // the file's columns, resolved at its first batch
        for batch in batches(file)? {
            let batch = batch?;
            let pos = match &mut pos {
                Some(p) => p,
                None => pos.insert(match columns {
                    Some(c) => resolve(&batch.schema(), c, file)?,
                    None => resolve(&batch.schema(), &default_columns(&batch.schema()), file)?,
                }),
            };
            rows += read_batch(&batch, pos, file, row0, b)?;
            row0 += batch.num_rows() as u64;
        }
    }
    if rows == 0 && b.bad.count == 0 {
        return Err(bad(path, "no rows"));
    }
    Ok(rows)
}

/// One batch into the builder; bad rows go through [`crate::builder::BadLines::record`].
fn read_batch(
    batch: &RecordBatch,
    pos: &Pos,
    path: &Path,
    row0: u64,
    b: &mut DatasetBuilder,
) -> Result<u64> {
    let schema = batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let users = IdColumn::new(batch.column(pos.user), names[pos.user], path)?;
    let items = IdColumn::new(batch.column(pos.item), names[pos.item], path)?;
    let values = pos
        .value
        .map(|i| NumColumn::new(batch.column(i), names[i], path))
        .transpose()?;
    let times = pos
        .time
        .map(|i| TimeColumn::new(batch.column(i), names[i], path))
        .transpose()?;
    let mut out = Triplets::default();
    let mut buf = String::new();
    for r in 0..batch.num_rows() {
        let row = (|| -> std::result::Result<(u32, u32, f32, Option<i64>), String> {
            let user = b.users.insert(users.get(r, &mut buf)?);
            let item = b.items.insert(items.get(r, &mut buf)?);
            let v = match &values {
                Some(c) => c.get(r)?,
                None => 1.0,
            };
            let t = times.as_ref().map(|c| c.get(r)).transpose()?;
            Ok((user, item, v, t))
        })();
        match row {
            Ok((u, i, v, t)) => out.push(u, i, v, t),
            Err(reason) => {
                let err = Error::Parse {
                    path: path.to_path_buf(),
                    line: row0 + r as u64 + 1,
                    reason,
                };
                b.bad.record(&b.opts, err)?;
            }
        }
    }
    let n = out.len() as u64;
    if n > 0 {
        b.blocks.push(out);
    }
    Ok(n)
}

/// An id column: integers or strings.
enum IdColumn<'a> {
    Int(Vec<Option<i128>>),
    Str(&'a dyn Array, &'a str),
}

impl<'a> IdColumn<'a> {
    fn new(a: &'a ArrayRef, name: &'a str, path: &Path) -> Result<Self> {
        macro_rules! ints {
            ($t:ty) => {
                IdColumn::Int(
                    a.as_primitive::<$t>()
                        .iter()
                        .map(|v| v.map(|x| x as i128))
                        .collect(),
                )
            };
        }
        Ok(match a.data_type() {
            DataType::Int8 => ints!(Int8Type),
            DataType::Int16 => ints!(Int16Type),
            DataType::Int32 => ints!(Int32Type),
            DataType::Int64 => ints!(Int64Type),
            DataType::UInt8 => ints!(UInt8Type),
            DataType::UInt16 => ints!(UInt16Type),
            DataType::UInt32 => ints!(UInt32Type),
            DataType::UInt64 => ints!(UInt64Type),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                IdColumn::Str(a.as_ref(), name)
            }
            other => {
                return Err(bad(
                    path,
                    format!("column `{name}` has type {other}; ids must be integers or strings"),
                ));
            }
        })
    }

    /// The id of row `r` (an integer is formatted into `buf`).
    fn get<'b>(&'b self, r: usize, buf: &'b mut String) -> std::result::Result<&'b str, String> {
        match self {
            IdColumn::Int(v) => match v[r] {
                Some(x) => {
                    buf.clear();
                    use std::fmt::Write;
                    let _ = write!(buf, "{x}");
                    Ok(buf.as_str())
                }
                None => Err("null id".into()),
            },
            IdColumn::Str(a, name) => {
                if a.is_null(r) {
                    return Err(format!("null id in column `{name}`"));
                }
                let s = match a.data_type() {
                    DataType::Utf8 => a.as_string::<i32>().value(r),
                    DataType::LargeUtf8 => a.as_string::<i64>().value(r),
                    _ => a.as_string_view().value(r),
                };
                if s.is_empty() {
                    return Err(format!("empty id in column `{name}`"));
                }
                if s.len() > crate::delimited::MAX_ID_BYTES {
                    return Err(format!(
                        "id in column `{name}` longer than {} bytes",
                        crate::delimited::MAX_ID_BYTES
                    ));
                }
                Ok(s)
            }
        }
    }
}

/// A numeric rating column, read as f64.
struct NumColumn<'a> {
    values: Vec<Option<f64>>,
    name: &'a str,
}

impl<'a> NumColumn<'a> {
    fn new(a: &ArrayRef, name: &'a str, path: &Path) -> Result<Self> {
        macro_rules! nums {
            ($t:ty) => {
                a.as_primitive::<$t>()
                    .iter()
                    .map(|v| v.map(|x| x as f64))
                    .collect()
            };
        }
        let values: Vec<Option<f64>> = match a.data_type() {
            DataType::Float32 => nums!(Float32Type),
            DataType::Float64 => nums!(Float64Type),
            DataType::Int8 => nums!(Int8Type),
            DataType::Int16 => nums!(Int16Type),
            DataType::Int32 => nums!(Int32Type),
            DataType::Int64 => nums!(Int64Type),
            DataType::UInt8 => nums!(UInt8Type),
            DataType::UInt16 => nums!(UInt16Type),
            DataType::UInt32 => nums!(UInt32Type),
            DataType::UInt64 => nums!(UInt64Type),
            DataType::Boolean => a
                .as_boolean()
                .iter()
                .map(|v| v.map(|x| if x { 1.0 } else { 0.0 }))
                .collect(),
            other => {
                return Err(bad(
                    path,
                    format!("column `{name}` has type {other}; ratings must be numbers"),
                ));
            }
        };
        Ok(NumColumn { values, name })
    }

    fn get(&self, r: usize) -> std::result::Result<f32, String> {
        match self.values[r] {
            Some(v) if v.is_finite() => Ok(v as f32),
            Some(v) => Err(format!(
                "rating {v} in column `{}` is not finite",
                self.name
            )),
            None => Err(format!("null rating in column `{}`", self.name)),
        }
    }
}

/// A time column, read as Unix seconds.
struct TimeColumn<'a> {
    secs: Vec<Option<i64>>,
    strings: Option<&'a dyn Array>,
    name: &'a str,
}

impl<'a> TimeColumn<'a> {
    fn new(a: &'a ArrayRef, name: &'a str, path: &Path) -> Result<Self> {
        macro_rules! scaled {
            ($t:ty, $div:expr) => {
                a.as_primitive::<$t>()
                    .iter()
                    .map(|v| v.map(|x| (x as i64).div_euclid($div)))
                    .collect()
            };
        }
        let (secs, strings): (Vec<Option<i64>>, Option<&dyn Array>) = match a.data_type() {
            DataType::Int32 => (scaled!(Int32Type, 1), None),
            DataType::Int64 => (scaled!(Int64Type, 1), None),
            DataType::UInt32 => (scaled!(UInt32Type, 1), None),
            DataType::Timestamp(TimeUnit::Second, _) => (scaled!(TimestampSecondType, 1), None),
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                (scaled!(TimestampMillisecondType, 1_000), None)
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                (scaled!(TimestampMicrosecondType, 1_000_000), None)
            }
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                (scaled!(TimestampNanosecondType, 1_000_000_000), None)
            }
            DataType::Date32 => (
                a.as_primitive::<Date32Type>()
                    .iter()
                    .map(|v| v.map(|d| d as i64 * 86_400))
                    .collect(),
                None,
            ),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                (Vec::new(), Some(a.as_ref()))
            }
            other => {
                return Err(bad(
                    path,
                    format!(
                        "column `{name}` has type {other}; times must be integers (Unix seconds), \
                         timestamps, dates or date strings"
                    ),
                ));
            }
        };
        Ok(TimeColumn {
            secs,
            strings,
            name,
        })
    }

    fn get(&self, r: usize) -> std::result::Result<i64, String> {
        let name = self.name;
        match self.strings {
            None => self.secs[r].ok_or_else(|| format!("null time in column `{name}`")),
            Some(a) => {
                if a.is_null(r) {
                    return Err(format!("null time in column `{name}`"));
                }
                let s = match a.data_type() {
                    DataType::Utf8 => a.as_string::<i32>().value(r),
                    DataType::LargeUtf8 => a.as_string::<i64>().value(r),
                    _ => a.as_string_view().value(r),
                };
                parse_time(s).ok_or_else(|| format!("bad time `{s}` in column `{name}`"))
            }
        }
    }
}

/// One factor table of a saved Spark `ALSModel` (`userFactors/` or `itemFactors/`): `(id, features)` rows,
/// `id: int32` and `features: array<float>`, every vector of length `rank`.
pub fn read_factors(path: &Path, rank: usize) -> Result<Vec<(i64, Vec<f32>)>> {
    let files = parts(path)?;
    if files.is_empty() {
        return Err(bad(path, "no .parquet files: not a Spark factor table"));
    }
    let mut out = Vec::new();
    for file in &files {
        let mut row0 = 0u64;
        for batch in batches(file)? {
            let batch = batch?;
            let schema = batch.schema();
            let col = |n: &str| {
                schema.index_of(n).map_err(|_| {
                    bad(
                        file,
                        format!(
                            "missing column `{n}`: a Spark factor table has `id` and `features`"
                        ),
                    )
                })
            };
            let (ic, fc) = (col("id")?, col("features")?);
            let ids: Vec<Option<i64>> = match batch.column(ic).data_type() {
                DataType::Int32 => batch
                    .column(ic)
                    .as_primitive::<Int32Type>()
                    .iter()
                    .map(|v| v.map(i64::from))
                    .collect(),
                DataType::Int64 => batch
                    .column(ic)
                    .as_primitive::<Int64Type>()
                    .iter()
                    .collect(),
                other => return Err(bad(file, format!("column `id` has type {other}, not int"))),
            };
            let lists = batch.column(fc).as_list_opt::<i32>().ok_or_else(|| {
                bad(
                    file,
                    format!(
                        "column `features` has type {}, not array<float>",
                        batch.column(fc).data_type()
                    ),
                )
            })?;
            for (r, id) in ids.into_iter().enumerate() {
                let at = |reason: String| Error::Parse {
                    path: file.clone(),
                    line: row0 + r as u64 + 1,
                    reason,
                };
                let id = id.ok_or_else(|| at("null id".into()))?;
                if lists.is_null(r) {
                    return Err(at(format!("null features for id {id}")));
                }
                let v = lists.value(r);
                let v: Vec<f32> = match v.data_type() {
                    DataType::Float32 => v
                        .as_primitive::<Float32Type>()
                        .iter()
                        .map(|x| x.unwrap_or(f32::NAN))
                        .collect(),
                    DataType::Float64 => v
                        .as_primitive::<Float64Type>()
                        .iter()
                        .map(|x| x.map_or(f32::NAN, |x| x as f32))
                        .collect(),
                    other => return Err(at(format!("features of type {other}, not float"))),
                };
                if v.len() != rank {
                    return Err(at(format!(
                        "id {id} has {} features but the model's rank is {rank}",
                        v.len()
                    )));
                }
                if let Some(x) = v.iter().find(|x| !x.is_finite()) {
                    return Err(at(format!("id {id} has a non-finite feature ({x})")));
                }
                out.push((id, v));
            }
            row0 += batch.num_rows() as u64;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::LoadOptions;
    use arrow_array::builder::{Float32Builder, ListBuilder};
    use arrow_array::{Float64Array, Int32Array, Int64Array, StringArray};
    use std::sync::Arc;
    use tastebud_core::Feedback;

    fn write(path: &Path, batch: &RecordBatch) {
        let f = File::create(path).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).unwrap();
        w.write(batch).unwrap();
        w.close().unwrap();
    }

    fn ratings(users: Vec<i64>, items: Vec<&str>, r: Vec<Option<f64>>) -> RecordBatch {
        let n = users.len();
        RecordBatch::try_from_iter(vec![
            ("userId", Arc::new(Int64Array::from(users)) as ArrayRef),
            ("movieId", Arc::new(StringArray::from(items)) as ArrayRef),
            ("rating", Arc::new(Float64Array::from(r)) as ArrayRef),
            (
                "ts",
                Arc::new(Int64Array::from(
                    (0..n as i64).map(|t| 1000 + t).collect::<Vec<_>>(),
                )) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    #[test]
    fn reads_a_folder_of_parts_by_name_and_by_position() {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path().join("part-00000.parquet"),
            &ratings(vec![1, 2], vec!["a", "b"], vec![Some(4.0), Some(3.5)]),
        );
        write(
            &dir.path().join("part-00001.parquet"),
            &ratings(vec![1], vec!["c"], vec![Some(5.0)]),
        );
        std::fs::write(dir.path().join("_SUCCESS"), b"").unwrap();
        std::fs::write(dir.path().join(".part-00000.parquet.crc"), b"x").unwrap();
        assert!(is_parquet(dir.path()));
        for columns in [
            Some(Columns::parse_mapping("user=userId,item=movieId,rating=rating,time=ts").unwrap()),
            None,
        ] {
            let mut b = DatasetBuilder::new(Feedback::Explicit, &LoadOptions::default());
            assert_eq!(
                read_interactions(dir.path(), columns.as_ref(), &mut b).unwrap(),
                3
            );
            let d = b.finish("t", "t").unwrap();
            assert_eq!(d.n_users(), 2);
            assert_eq!(d.items.0.id(2), Some("c"));
            assert_eq!(d.interactions.values(), &[4.0, 5.0, 3.5]);
        }
    }

    #[test]
    fn a_null_rating_names_file_row_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.parquet");
        write(
            &p,
            &ratings(
                vec![1, 2, 3],
                vec!["a", "b", "c"],
                vec![Some(1.0), None, Some(2.0)],
            ),
        );
        let mut b = DatasetBuilder::new(Feedback::Explicit, &LoadOptions::default());
        let err = read_interactions(&p, None, &mut b).unwrap_err();
        match err {
            Error::Parse { path, line, reason } => {
                assert_eq!(path, p);
                assert_eq!(line, 2);
                assert!(
                    reason.contains("null rating") && reason.contains("rating"),
                    "{reason}"
                );
            }
            other => panic!("{other}"),
        }
        // skipping bad rows keeps the others
        let opts = LoadOptions {
            skip_bad_lines: true,
            ..Default::default()
        };
        let mut b = DatasetBuilder::new(Feedback::Explicit, &opts);
        assert_eq!(read_interactions(&p, None, &mut b).unwrap(), 2);
        assert_eq!(b.bad.count, 1);
        let columns = Columns::parse_mapping("user=userId,item=nope").unwrap();
        let mut b = DatasetBuilder::new(Feedback::Explicit, &LoadOptions::default());
        let msg = read_interactions(&p, Some(&columns), &mut b)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("missing column `nope`") && msg.contains("movieId"),
            "{msg}"
        );
    }

    #[test]
    fn reads_spark_factor_tables() {
        let dir = tempfile::tempdir().unwrap();
        let mut lb = ListBuilder::new(Float32Builder::new());
        for r in [[1.0f32, 2.0], [3.0, 4.0]] {
            lb.values().append_slice(&r);
            lb.append(true);
        }
        let batch = RecordBatch::try_from_iter(vec![
            ("id", Arc::new(Int32Array::from(vec![7, 9])) as ArrayRef),
            ("features", Arc::new(lb.finish()) as ArrayRef),
        ])
        .unwrap();
        write(&dir.path().join("part-00000-x.snappy.parquet"), &batch);
        let f = read_factors(dir.path(), 2).unwrap();
        assert_eq!(f, vec![(7, vec![1.0, 2.0]), (9, vec![3.0, 4.0])]);
        let msg = read_factors(dir.path(), 3).unwrap_err().to_string();
        assert!(msg.contains("rank is 3"), "{msg}");
    }
}
