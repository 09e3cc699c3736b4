//! `tern import`: streams a GeoJSON FeatureCollection into a feature store, with a
//! progress bar while it runs and a report of what was imported and skipped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use search_service::SearchConfig;
use search_store::{GeoJsonSource, ImportOptions, Store, StoreUrl};

use crate::Error;

/// Invalid features listed in full; the rest are counted.
const INVALID_SHOWN: usize = 20;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// GeoJSON FeatureCollection of Polygon/MultiPolygon features.
    file: PathBuf,
    /// Target store: sqlite:PATH, PATH.db or postgres://… (default: the embedded store).
    #[arg(long)]
    store: Option<String>,
    /// Property holding the feature name (default: name, NAME or ADMIN).
    #[arg(long)]
    name_field: Option<String>,
    /// Property holding a stable feature key when features have no GeoJSON id.
    #[arg(long)]
    id_field: Option<String>,
    /// Abort on the first invalid feature and import nothing.
    #[arg(long)]
    strict: bool,
    /// Features per transaction.
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
}

/// Runs `tern import`: into `--store`, else into the embedded store of the platform whose
/// data directory is `data_dir` (where its search service reads). Fails if the file had
/// features and none of them was valid.
pub async fn run(args: ImportArgs, data_dir: &Path) -> Result<(), Error> {
    let url: StoreUrl = match &args.store {
        Some(url) => url.parse()?,
        None => {
            let defaults = SearchConfig {
                data_dir: data_dir.to_owned(),
                ..SearchConfig::default()
            };
            defaults.store_url()?
        }
    };
    let store = Store::open(&url).await?;
    let source = GeoJsonSource::open(&args.file)?;
    let options = ImportOptions {
        name_field: args.name_field,
        id_field: args.id_field,
        strict: args.strict,
        batch_size: args.batch_size,
    };
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {pos} features read ({per_sec}) {msg}")
            .map_err(Error::ProgressBar)?,
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let report = store
        .import(source, options, |progress| {
            bar.set_position(progress.features_read as u64);
            bar.set_message(format!(
                "{} imported, {} invalid",
                progress.imported, progress.invalid
            ));
        })
        .await;
    bar.finish_and_clear();
    let report = report.map_err(|source| Error::Import {
        file: args.file.clone(),
        source: Box::new(source),
    })?;
    let seconds = report.elapsed.as_secs_f64();
    println!(
        "{}: {} features read, {} imported ({} updated), {} invalid in {:.2}s ({:.0} features/s); {url} is now at dataset version {}",
        report.source_name,
        report.features_read,
        report.imported,
        report.updated,
        report.invalid.len(),
        seconds,
        report.features_read as f64 / seconds.max(1e-9),
        report.version,
    );
    for invalid in report.invalid.iter().take(INVALID_SHOWN) {
        println!("  skipped {invalid}");
    }
    if report.invalid.len() > INVALID_SHOWN {
        println!("  … and {} more", report.invalid.len() - INVALID_SHOWN);
    }
    if report.imported == 0 && report.features_read > 0 {
        return Err(Error::NothingValid { file: args.file });
    }
    Ok(())
}
