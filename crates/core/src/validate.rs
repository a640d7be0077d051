//! Structural checks for data decoded from a file (a model file's context and bodies): lengths, CSR
//! offsets, index bounds and finite numbers. A decoded structure that passes them can be indexed without
//! panicking, whatever bytes it came from; each check names the field it found wrong.
//!
//! Every function returns [`Error::Shape`] with a reason; the model-file loader turns it into
//! [`Error::Corrupt`] naming the file.

use crate::error::{Error, Result};

fn shape(reason: String) -> Error {
    Error::Shape(reason)
}

/// `got == want`, else "`what` has `got` entries, expected `want`".
pub fn len(what: &str, got: usize, want: usize) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(shape(format!("{what} has {got} entries, expected {want}")))
    }
}

/// `rows * cols` without overflow (a corrupt count must not wrap around to a small product).
pub fn product(what: &str, rows: usize, cols: usize) -> Result<usize> {
    rows.checked_mul(cols)
        .ok_or_else(|| shape(format!("{what}: {rows} x {cols} overflows")))
}

/// CSR offsets of `n_rows` rows over `n_entries` entries: `n_rows + 1` offsets, starting at 0,
/// never decreasing, ending at `n_entries`.
pub fn offsets<T: Copy + TryInto<u64>>(
    what: &str,
    ptr: &[T],
    n_rows: usize,
    n_entries: usize,
) -> Result<()> {
    len(
        &format!("{what} offsets"),
        ptr.len(),
        n_rows.saturating_add(1),
    )?;
    let mut prev = 0u64;
    for (r, &p) in ptr.iter().enumerate() {
        let p: u64 = p.try_into().unwrap_or(u64::MAX);
        if r == 0 && p != 0 {
            return Err(shape(format!("{what} offsets start at {p}, not 0")));
        }
        if p < prev {
            return Err(shape(format!(
                "{what} offsets decrease at row {r} ({prev} -> {p})"
            )));
        }
        prev = p;
    }
    if prev != n_entries as u64 {
        return Err(shape(format!(
            "{what} offsets end at {prev}, but there are {n_entries} entries"
        )));
    }
    Ok(())
}

/// Every index `< bound`.
pub fn indices<T: Copy + TryInto<u64>>(what: &str, idx: &[T], bound: usize) -> Result<()> {
    for (p, &i) in idx.iter().enumerate() {
        let i: u64 = i.try_into().unwrap_or(u64::MAX);
        if i >= bound as u64 {
            return Err(shape(format!(
                "{what}[{p}] = {i} is out of range (there are {bound})"
            )));
        }
    }
    Ok(())
}

/// Every value finite (no NaN, no infinity): a NaN score poisons every comparison after it.
pub fn finite_f32(what: &str, v: &[f32]) -> Result<()> {
    match v.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(p) => Err(shape(format!("{what}[{p}] = {} is not finite", v[p]))),
    }
}

/// Every value finite, for `f64` arrays.
pub fn finite_f64(what: &str, v: &[f64]) -> Result<()> {
    match v.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(p) => Err(shape(format!("{what}[{p}] = {} is not finite", v[p]))),
    }
}

/// A condition with its reason.
pub fn ensure(cond: bool, reason: impl FnOnce() -> String) -> Result<()> {
    if cond { Ok(()) } else { Err(shape(reason())) }
}

/// A `rows x cols` row-major matrix: exactly `rows * cols` finite values.
pub fn matrix_f32(what: &str, v: &[f32], rows: usize, cols: usize) -> Result<()> {
    len(what, v.len(), product(what, rows, cols)?)?;
    finite_f32(what, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_catch_every_inconsistency() {
        assert!(offsets("x", &[0usize, 1, 3], 2, 3).is_ok());
        assert!(offsets("x", &[0usize, 1], 2, 1).is_err()); // too short
        assert!(offsets("x", &[1usize, 1, 3], 2, 3).is_err()); // does not start at 0
        assert!(offsets("x", &[0usize, 2, 1], 2, 1).is_err()); // decreases
        assert!(offsets("x", &[0u64, 1, 1201], 2, 3).is_err()); // past the end
        let e = offsets("rows", &[0usize, 4, 2], 2, 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("rows offsets decrease at row 2"), "{e}");
    }

    #[test]
    fn indices_finite_and_products() {
        assert!(indices("i", &[0u32, 2], 3).is_ok());
        assert!(indices("i", &[0u32, 3], 3).is_err());
        assert!(finite_f32("v", &[1.0, f32::NAN]).is_err());
        assert!(finite_f64("v", &[1.0, f64::INFINITY]).is_err());
        assert!(product("m", usize::MAX, 2).is_err());
        assert!(matrix_f32("m", &[0.0; 6], 2, 3).is_ok());
        assert!(matrix_f32("m", &[0.0; 5], 2, 3).is_err());
    }
}
