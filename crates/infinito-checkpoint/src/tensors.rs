//! Tensor files: safetensors writing and reading, format detection, and the JSON metadata.

use crate::atomic::write_atomic;
use crate::error::{CheckpointError, Result, TENSOR_FORMATS};
use crate::pytorch;
use candle_core::safetensors::Load;
use candle_core::{DType, Device, Tensor};
use safetensors::tensor::{SafeTensorError, SafeTensors, View};
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// The key of the safetensors `__metadata__` entry holding this crate's JSON metadata.
pub const METADATA_KEY: &str = "infinito";

/// Largest safetensors header accepted (the limit of the safetensors crate).
const MAX_HEADER_LEN: u64 = 100_000_000;

const SAFETENSORS: &str = "safetensors";

/// The on-disk format of a tensor file, recognised from its first bytes.
enum Format {
    Safetensors,
    /// A zip archive (the PyTorch >= 1.6 `torch.save` format, among others).
    Zip,
    /// The pre-1.6 PyTorch format (a bare pickle stream).
    LegacyTorch,
    Unknown,
}

/// The pickle stream start `PROTO 2, LONG1 10 bytes` of the legacy PyTorch magic number.
const LEGACY_TORCH_MAGIC: [u8; 4] = [0x80, 0x02, 0x8a, 0x0a];

fn detect(bytes: &[u8]) -> Format {
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return Format::Zip;
    }
    if bytes.starts_with(&LEGACY_TORCH_MAGIC) {
        return Format::LegacyTorch;
    }
    if let Some(header_len) = safetensors_header_len(bytes) {
        if (2..=MAX_HEADER_LEN).contains(&header_len) && bytes.get(8) == Some(&b'{') {
            return Format::Safetensors;
        }
    }
    Format::Unknown
}

/// The header length declared by the first 8 bytes of a safetensors file.
fn safetensors_header_len(bytes: &[u8]) -> Option<u64> {
    let prefix: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    Some(u64::from_le_bytes(prefix))
}

/// Saves tensors as a safetensors file, atomically, with optional JSON metadata.
///
/// The metadata is stored as a JSON string under the key `"infinito"` of the safetensors
/// `__metadata__` map. Tensors may live on any device and have any of the dtypes u8, u32, i16,
/// i32, i64, bf16, f16, f32, f64; non-contiguous tensors are written in row-major order.
pub fn save_tensors(
    path: &Path,
    tensors: &HashMap<String, Tensor>,
    metadata: Option<&serde_json::Value>,
) -> Result<()> {
    let mut views = Vec::with_capacity(tensors.len());
    for (name, tensor) in tensors {
        views.push((name.as_str(), OwnedView::new(tensor, path)?));
    }
    let info = match metadata {
        Some(value) => {
            let text = serde_json::to_string(value).map_err(|source| CheckpointError::Json {
                path: path.to_path_buf(),
                source,
            })?;
            Some(HashMap::from([(METADATA_KEY.to_string(), text)]))
        }
        None => None,
    };
    let bytes = safetensors::serialize(views, info).map_err(|e| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        format: SAFETENSORS,
        detail: format!("cannot serialize: {e}"),
    })?;
    write_atomic(path, &bytes)
}

/// A tensor's dtype, shape and little-endian bytes, copied to the host.
struct OwnedView {
    dtype: safetensors::Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl OwnedView {
    fn new(tensor: &Tensor, path: &Path) -> Result<Self> {
        let dtype = match tensor.dtype() {
            DType::U8 => safetensors::Dtype::U8,
            DType::U32 => safetensors::Dtype::U32,
            DType::I16 => safetensors::Dtype::I16,
            DType::I32 => safetensors::Dtype::I32,
            DType::I64 => safetensors::Dtype::I64,
            DType::BF16 => safetensors::Dtype::BF16,
            DType::F16 => safetensors::Dtype::F16,
            DType::F32 => safetensors::Dtype::F32,
            DType::F64 => safetensors::Dtype::F64,
            other => {
                return Err(CheckpointError::Corrupt {
                    path: path.to_path_buf(),
                    format: SAFETENSORS,
                    detail: format!("cannot save a tensor of dtype {other:?}"),
                })
            }
        };
        let mut data = Vec::with_capacity(tensor.elem_count() * tensor.dtype().size_in_bytes());
        tensor
            .write_bytes(&mut data)
            .map_err(|e| CheckpointError::candle(path, e))?;
        Ok(Self {
            dtype,
            shape: tensor.dims().to_vec(),
            data,
        })
    }
}

impl View for OwnedView {
    fn dtype(&self) -> safetensors::Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Loads every tensor of a file onto `device`.
///
/// The format is recognised from the content, not the extension: a safetensors file, or a
/// PyTorch `.pt`/`.pth` zip archive written by `torch.save`. For PyTorch files, `key` names the
/// top-level dict entry holding the state dict (e.g. `"model_state_dict"`); with `None` the
/// top-level dict is used if it holds tensors, otherwise the first of `"model_state_dict"`,
/// `"state_dict"`, `"model"` that exists. `key` is ignored for safetensors files, which are flat.
/// PyTorch bool tensors load as u8 and int8 tensors as i16.
pub fn load_tensors(
    path: &Path,
    key: Option<&str>,
    device: &Device,
) -> Result<HashMap<String, Tensor>> {
    let bytes = std::fs::read(path).map_err(|e| CheckpointError::io(path, "read", e))?;
    load_tensors_from_bytes(path, &bytes, key, device)
}

/// [`load_tensors`] on a file's content already in memory (e.g. a member of an archive);
/// `path` only names the content in error messages.
pub fn load_tensors_from_bytes(
    path: &Path,
    bytes: &[u8],
    key: Option<&str>,
    device: &Device,
) -> Result<HashMap<String, Tensor>> {
    if bytes.is_empty() {
        return Err(CheckpointError::Empty {
            path: path.to_path_buf(),
            expected: TENSOR_FORMATS,
        });
    }
    let tensors = match detect(bytes) {
        Format::Safetensors => load_safetensors(path, bytes, device),
        Format::Zip => pytorch::load(path, bytes, key, device),
        Format::LegacyTorch => Err(CheckpointError::Foreign {
            path: path.to_path_buf(),
            expected: TENSOR_FORMATS,
            detail: "legacy PyTorch (< 1.6) serialization; re-save it with a recent torch.save"
                .to_string(),
        }),
        Format::Unknown if bytes.len() <= 8 => Err(CheckpointError::Truncated {
            path: path.to_path_buf(),
            format: TENSOR_FORMATS,
            detail: format!("only {} bytes", bytes.len()),
        }),
        Format::Unknown => Err(CheckpointError::Foreign {
            path: path.to_path_buf(),
            expected: TENSOR_FORMATS,
            detail: describe_start(bytes),
        }),
    }?;
    check_finite(path, &tensors)?;
    Ok(tensors)
}

/// Refuses a file with a NaN or infinite value in any floating-point tensor, naming the first
/// such tensor (in name order).
fn check_finite(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<()> {
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    for name in names {
        let t = &tensors[name];
        if !t.dtype().is_float() {
            continue;
        }
        // x - x is 0 for finite x and NaN for NaN or ±inf, so the sum is NaN exactly when some
        // value is not finite.
        let sum = t
            .sub(t)
            .and_then(|d| d.to_dtype(candle_core::DType::F32))
            .and_then(|d| d.sum_all())
            .and_then(|s| s.to_scalar::<f32>())
            .map_err(|e| CheckpointError::candle(path, e))?;
        if sum.is_nan() {
            return Err(CheckpointError::NonFinite {
                path: path.to_path_buf(),
                name: name.clone(),
            });
        }
    }
    Ok(())
}

/// A short description of unrecognised content, for error messages.
fn describe_start(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(16)];
    let printable = head
        .iter()
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace());
    if printable {
        let text: String = String::from_utf8_lossy(head)
            .chars()
            .map(|c| if c.is_whitespace() { ' ' } else { c })
            .collect();
        format!("starts with text {:?}", text.trim_end())
    } else {
        let hex: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("starts with bytes {}", hex.join(" "))
    }
}

fn load_safetensors(path: &Path, bytes: &[u8], device: &Device) -> Result<HashMap<String, Tensor>> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| safetensors_error(path, bytes, e))?;
    let mut out = HashMap::with_capacity(file.len());
    for (name, view) in file.iter() {
        let tensor = view.load(device).map_err(|e| CheckpointError::Corrupt {
            path: path.to_path_buf(),
            format: SAFETENSORS,
            detail: format!(
                "tensor {name:?}: {}",
                e.to_string().lines().next().unwrap_or_default()
            ),
        })?;
        out.insert(name.to_string(), tensor);
    }
    Ok(out)
}

/// Maps a safetensors parse error to a truncation or corruption error.
fn safetensors_error(path: &Path, bytes: &[u8], err: SafeTensorError) -> CheckpointError {
    let truncated = |detail: String| CheckpointError::Truncated {
        path: path.to_path_buf(),
        format: SAFETENSORS,
        detail,
    };
    match err {
        SafeTensorError::InvalidHeaderLength | SafeTensorError::HeaderTooSmall => {
            let declared = safetensors_header_len(bytes).unwrap_or_default();
            truncated(format!(
                "the header declares {declared} bytes but the file has only {} after the length prefix",
                bytes.len().saturating_sub(8)
            ))
        }
        SafeTensorError::MetadataIncompleteBuffer => {
            truncated("the tensor data does not match the sizes declared in the header".to_string())
        }
        other => CheckpointError::Corrupt {
            path: path.to_path_buf(),
            format: SAFETENSORS,
            detail: other.to_string(),
        },
    }
}

/// Reads the JSON metadata written by [`save_tensors`], or `None` if the file has none.
///
/// Only the header is read. Fails if the file is not a safetensors file.
pub fn read_metadata(path: &Path) -> Result<Option<serde_json::Value>> {
    let header = read_safetensors_header(path)?;
    let parsed: serde_json::Value =
        serde_json::from_slice(&header).map_err(|e| CheckpointError::Corrupt {
            path: path.to_path_buf(),
            format: SAFETENSORS,
            detail: format!("header is not JSON: {e}"),
        })?;
    let text = match parsed.get("__metadata__").and_then(|m| m.get(METADATA_KEY)) {
        None => return Ok(None),
        Some(serde_json::Value::String(text)) => text,
        Some(_) => {
            return Err(CheckpointError::Corrupt {
                path: path.to_path_buf(),
                format: SAFETENSORS,
                detail: format!("metadata entry {METADATA_KEY:?} is not a string"),
            })
        }
    };
    serde_json::from_str(text)
        .map(Some)
        .map_err(|source| CheckpointError::Json {
            path: path.to_path_buf(),
            source,
        })
}

/// Reads the JSON header bytes of a safetensors file without reading the tensor data.
fn read_safetensors_header(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| CheckpointError::io(path, "open", e))?;
    let file_len = file
        .metadata()
        .map_err(|e| CheckpointError::io(path, "read", e))?
        .len();
    if file_len == 0 {
        return Err(CheckpointError::Empty {
            path: path.to_path_buf(),
            expected: SAFETENSORS,
        });
    }
    let mut reader = std::io::BufReader::new(file);
    let mut start = Vec::with_capacity(9);
    (&mut reader)
        .take(9)
        .read_to_end(&mut start)
        .map_err(|e| CheckpointError::io(path, "read", e))?;
    if !matches!(detect(&start), Format::Safetensors) {
        return Err(CheckpointError::Foreign {
            path: path.to_path_buf(),
            expected: SAFETENSORS,
            detail: describe_start(&start),
        });
    }
    let header_len = safetensors_header_len(&start).unwrap_or_default();
    if header_len > file_len.saturating_sub(8) {
        return Err(CheckpointError::Truncated {
            path: path.to_path_buf(),
            format: SAFETENSORS,
            detail: format!(
                "the header declares {header_len} bytes but the file has only {} after the length prefix",
                file_len.saturating_sub(8)
            ),
        });
    }
    let mut header = start.split_off(8);
    (&mut reader)
        .take(header_len.saturating_sub(1))
        .read_to_end(&mut header)
        .map_err(|e| CheckpointError::io(path, "read", e))?;
    Ok(header)
}
