//! Where `tastebud quickstart` gets its data: the places the tests look first, then the download cache, a
//! download, and only then a synthetic dataset. It says which one it used.

use std::path::{Path, PathBuf};

use anyhow::Result;

/// MovieLens 100K's folder name under a data root and in the download cache.
const ML_100K: &str = "ml-100k";

/// Finds a dataset for quickstart, in this order:
///
/// 1. `data` (the `--data` flag), as given;
/// 2. `ml-100k` under [`tastebud_data::data_root`]: `$TASTEBUD_DATA` when it is set, else `../shared/data`
///    beside the workspace, where the tests find their data;
/// 3. `ml-100k` in the download cache ([`tastebud_data::download::cache_dir`], `$TASTEBUD_CACHE` or
///    `~/.cache/tastebud`);
/// 4. a download of MovieLens 100K into that cache, unless `offline`;
/// 5. a synthetic dataset of ML-100K's shape, generated under `work_dir`.
///
/// Returns the folder and a sentence naming the source, for the user.
pub fn find(data: Option<&Path>, offline: bool, work_dir: &Path) -> Result<(PathBuf, String)> {
    if let Some(d) = data {
        return Ok((d.to_path_buf(), format!("using {} (--data)", d.display())));
    }
    let root_label = if std::env::var_os("TASTEBUD_DATA").is_some() {
        "$TASTEBUD_DATA"
    } else {
        "../shared/data, beside the workspace"
    };
    let candidates = [
        (tastebud_data::data_root(None).join(ML_100K), root_label),
        (
            tastebud_data::download::cache_dir().join(ML_100K),
            "the download cache",
        ),
    ];
    for (dir, label) in &candidates {
        if dir.join("u.data").is_file() {
            // `../shared/data` is spelled from the crate's folder; print where that is.
            let dir = dir.canonicalize().unwrap_or_else(|_| dir.clone());
            return Ok((
                dir.clone(),
                format!("found MovieLens 100K in {} ({label})", dir.display()),
            ));
        }
    }
    let looked = candidates
        .iter()
        .map(|(dir, _)| dir.display().to_string())
        .collect::<Vec<_>>()
        .join(" or ");
    let why = if offline {
        "not downloaded (--offline)".to_string()
    } else {
        match download() {
            Ok(dir) => {
                return Ok((
                    dir.clone(),
                    format!("downloaded MovieLens 100K to {}", dir.display()),
                ));
            }
            Err(e) => format!("could not be downloaded ({e:#})"),
        }
    };
    let dir = work_dir.join("synthetic");
    let params = tastebud_data::synth::SynthParams::new(943, 1682, 100_000, 42);
    tastebud_data::synth::generate(&params, &dir, false)?;
    Ok((
        dir.clone(),
        format!(
            "MovieLens 100K is not in {looked} and was {why}: generated a synthetic dataset of the \
             same shape in {} (numbers below are NOT MovieLens numbers)",
            dir.display()
        ),
    ))
}

/// Downloads ML-100K into the cache (with a progress bar).
fn download() -> Result<PathBuf> {
    let remote = tastebud_data::download::find(ML_100K)
        .ok_or_else(|| anyhow::anyhow!("{ML_100K} is not a known download"))?;
    let opts = tastebud_data::download::DownloadOptions {
        progress: true,
        ..Default::default()
    };
    Ok(tastebud_data::download::download(remote, &opts)?)
}
