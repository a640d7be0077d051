//! Command-line pieces the programs share. Every program parses its flags with clap derive
//! (`Args::parse()`), so `--help` and `-h` print the usage and exit before any work, and an unknown
//! flag or a bad value is an error (exit status 2) that names it.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use clap::Args;

/// `--data DIR`: the folder holding the datasets (`ml-100k/`, ...).
#[derive(Args, Clone, Debug)]
pub struct DataArg {
    /// The data folder holding ml-100k [default: $TASTEBUD_DATA, else ../shared/data]
    #[arg(long = "data", value_name = "DIR")]
    data: Option<String>,
}

impl DataArg {
    /// The data folder: `--data`, else `$TASTEBUD_DATA`, else `../shared/data` beside the workspace
    /// ([`tastebud_data::data_root`]).
    pub fn root(&self) -> PathBuf {
        tastebud_data::data_root(self.data.clone())
    }
}

/// A count, with `_` allowed between digits (`1_000_000`).
///
/// ```
/// assert_eq!(tastebud_bench::args::count("1_000_000"), Ok(1_000_000));
/// assert!(tastebud_bench::args::count("ten").is_err());
/// ```
pub fn count(s: &str) -> Result<usize, String> {
    s.replace('_', "")
        .parse()
        .map_err(|e| format!("`{s}`: {e}"))
}

/// A number that is finite and not negative.
///
/// ```
/// assert_eq!(tastebud_bench::args::non_negative("0.5"), Ok(0.5));
/// assert!(tastebud_bench::args::non_negative("-1").is_err());
/// ```
pub fn non_negative(s: &str) -> Result<f32, String> {
    let x: f32 = s.parse().map_err(|e| format!("`{s}`: {e}"))?;
    if x.is_finite() && x >= 0.0 {
        Ok(x)
    } else {
        Err("must be a non-negative number".into())
    }
}

/// A comma-separated list on the command line (`--ef 32,64,128`); the empty string is the empty list.
/// Items are trimmed; `_` between digits is allowed.
///
/// ```
/// use tastebud_bench::args::List;
/// let l: List<usize> = "32, 64,1_000".parse().unwrap();
/// assert_eq!(l.0, vec![32, 64, 1000]);
/// assert!("".parse::<List<usize>>().unwrap().0.is_empty());
/// assert!("32,x".parse::<List<usize>>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct List<T>(pub Vec<T>);

impl<T: FromStr> FromStr for List<T>
where
    T::Err: fmt::Display,
{
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().is_empty() {
            return Ok(List(Vec::new()));
        }
        s.split(',')
            .map(|v| {
                let v = v.trim().replace('_', "");
                v.parse().map_err(|e| format!("`{v}`: {e}"))
            })
            .collect::<Result<_, _>>()
            .map(List)
    }
}

impl<T: fmt::Display> fmt::Display for List<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, x) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{x}")?;
        }
        Ok(())
    }
}
