//! The Natural Earth data shipped with tern (public domain), compiled into the binary so
//! `tern up` answers real queries on a fresh machine from any directory.

use std::io::Cursor;

use search_store::{GeoJsonSource, ImportOptions, Store};

use crate::Error;

struct BundledLayer {
    file: &'static str,
    name_field: &'static str,
    bytes: &'static [u8],
}

const LAYERS: [BundledLayer; 2] = [
    BundledLayer {
        file: "ne_50m_admin_0_countries.json",
        name_field: "NAME",
        bytes: include_bytes!("../../../../data/ne_50m_admin_0_countries.json"),
    },
    BundledLayer {
        file: "ne_50m_admin_1_states_provinces.json",
        name_field: "name",
        bytes: include_bytes!("../../../../data/ne_50m_admin_1_states_provinces.json"),
    },
];

/// Imports the bundled layers when the store has never been imported into.
/// Returns whether it imported.
pub async fn import_if_empty(store: &Store) -> Result<bool, Error> {
    if store.version().await? != 0 {
        return Ok(false);
    }
    for layer in &LAYERS {
        let source = GeoJsonSource::new(layer.file, Cursor::new(layer.bytes));
        let options = ImportOptions {
            name_field: Some(layer.name_field.to_owned()),
            ..ImportOptions::default()
        };
        let report = store.import(source, options, |_| {}).await?;
        tracing::info!(
            source = layer.file,
            imported = report.imported,
            invalid = report.invalid.len(),
            "imported bundled data"
        );
    }
    Ok(true)
}
