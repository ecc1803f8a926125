//! The `text` column of parquet files (Hugging Face data set shards).

use crate::error::{Result, TrainError};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use parquet::schema::types::Type;
use std::path::Path;
use std::sync::Arc;

/// The column holding the text, one row per line of the raw text.
pub const TEXT_COLUMN: &str = "text";

/// True for a path ending in `.parquet`.
pub fn is_parquet(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "parquet")
}

/// Every row of the top-level string column `text` of a parquet file, in order (nulls read as
/// empty rows).
pub fn read_text_column(path: &Path) -> Result<Vec<String>> {
    let bad = |message: String| TrainError::Parquet {
        path: path.to_path_buf(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| TrainError::io(path, "read", e))?;
    let reader = SerializedFileReader::new(file).map_err(|e| bad(e.to_string()))?;
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let fields = schema.root_schema().get_fields();
    let column = fields
        .iter()
        .find(|f| f.name() == TEXT_COLUMN && f.is_primitive())
        .ok_or_else(|| {
            let names: Vec<&str> = fields.iter().map(|f| f.name()).collect();
            bad(format!(
                "no string column {TEXT_COLUMN:?} (columns: {})",
                names.join(", ")
            ))
        })?;
    let projection = Type::group_type_builder("schema")
        .with_fields(vec![Arc::clone(column)])
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let rows = reader
        .get_row_iter(Some(projection))
        .map_err(|e| bad(e.to_string()))?;
    let mut texts =
        Vec::with_capacity(reader.metadata().file_metadata().num_rows().max(0) as usize);
    for row in rows {
        let row = row.map_err(|e| bad(e.to_string()))?;
        match row.get_column_iter().next().map(|(_, field)| field) {
            Some(Field::Str(text)) => texts.push(text.clone()),
            Some(Field::Null) | None => texts.push(String::new()),
            Some(other) => {
                return Err(bad(format!(
                    "column {TEXT_COLUMN:?} holds {other:?}, expected strings"
                )))
            }
        }
    }
    Ok(texts)
}
