//! Reading tensors from PyTorch `torch.save` zip archives (`.pt`, `.pth`).
//!
//! The archive holds `<name>/data.pkl`, a pickle of the saved object whose tensors refer to
//! storages stored as `<name>/data/<key>`. The pickle is parsed with `candle_core::pickle`; the
//! object tree is then walked here so that unsupported or malformed tensors are reported instead
//! of being skipped, and so that strided views and shared storages load correctly.

use crate::error::{CheckpointError, Result};
use candle_core::pickle::{Object, Stack};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::path::Path;

const FORMAT: &str = "PyTorch .pt";

/// Nested state-dict keys tried, in order, when the top-level dict holds no tensors.
const NESTED_KEYS: [&str; 3] = ["model_state_dict", "state_dict", "model"];

/// Loads the tensors of a `torch.save` zip archive held in `bytes`.
pub(crate) fn load(
    path: &Path,
    bytes: &[u8],
    key: Option<&str>,
    device: &Device,
) -> Result<HashMap<String, Tensor>> {
    let mut archive = Archive::open(path, bytes)?;
    let root = archive.root_object()?;
    let entries = match root {
        Object::Dict(entries) => entries,
        other => {
            return Err(archive.corrupt(format!(
                "the saved object is {}, expected a dict of tensors",
                describe(&other)
            )))
        }
    };
    let mut state = select_state_dict(&archive, entries, key)?;
    state.sort_by(|a, b| a.1.storage_key.cmp(&b.1.storage_key));
    let mut out = HashMap::with_capacity(state.len());
    for (name, tensor) in state {
        let tensor = archive.read_tensor(&name, &tensor, device)?;
        out.insert(name, tensor);
    }
    Ok(out)
}

/// Picks the dict of tensors named by `key`, or the default one, from the top-level entries.
fn select_state_dict(
    archive: &Archive,
    entries: Vec<(Object, Object)>,
    key: Option<&str>,
) -> Result<Vec<(String, TensorRef)>> {
    let top_keys: Vec<String> = entries
        .iter()
        .filter_map(|(k, _)| match k {
            Object::Unicode(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    let mut nested: HashMap<String, Object> = HashMap::new();
    let mut top_level = Vec::new();
    for (k, v) in entries {
        let Object::Unicode(name) = k else { continue };
        // Errors of top-level tensors only matter if the top level is the state dict.
        match tensor_ref(&v) {
            Some(parsed) => top_level.push((name, parsed)),
            None => {
                nested.insert(name, v);
            }
        }
    }
    if let Some(key) = key {
        let value = nested
            .remove(key)
            .ok_or_else(|| CheckpointError::MissingKey {
                path: archive.path.to_path_buf(),
                key: key.to_string(),
                available: top_keys,
            })?;
        return tensors_of(archive, key, value);
    }
    if !top_level.is_empty() {
        return top_level
            .into_iter()
            .map(|(name, parsed)| match parsed {
                Ok(tensor) => Ok((name, tensor)),
                Err(e) => Err(archive.tensor_error(&name, e)),
            })
            .collect();
    }
    for candidate in NESTED_KEYS {
        if let Some(value) = nested.remove(candidate) {
            return tensors_of(archive, candidate, value);
        }
    }
    // No tensors and no well-known key: point at entries that do hold tensors, if any.
    let mut holders: Vec<String> = nested
        .into_iter()
        .filter(
            |(_, v)| matches!(v, Object::Dict(d) if d.iter().any(|(_, t)| tensor_ref(t).is_some())),
        )
        .map(|(k, _)| k)
        .collect();
    if holders.is_empty() {
        return Ok(Vec::new());
    }
    holders.sort();
    Err(archive.corrupt(format!(
        "no tensors at the top level; tensors are under the keys {holders:?}, pass one as the key"
    )))
}

/// The tensors directly inside `value`, which must be a dict (the entry `key` of the top level).
fn tensors_of(archive: &Archive, key: &str, value: Object) -> Result<Vec<(String, TensorRef)>> {
    let Object::Dict(entries) = value else {
        return Err(archive.corrupt(format!(
            "entry {key:?} is {}, expected a state dict",
            describe(&value)
        )));
    };
    let mut out = Vec::new();
    for (k, v) in entries {
        let Object::Unicode(name) = k else { continue };
        if let Some(parsed) = tensor_ref(&v) {
            let tensor = parsed.map_err(|e| archive.tensor_error(&format!("{key}.{name}"), e))?;
            out.push((name, tensor));
        }
    }
    Ok(out)
}

/// How the bytes of a storage become tensor elements.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Element {
    /// Stored exactly as candle's dtype.
    Native(DType),
    /// torch.bool: one byte 0/1, loaded as u8.
    Bool,
    /// torch.int8: loaded as i16.
    Int8,
}

impl Element {
    fn size(self) -> usize {
        match self {
            Element::Native(dtype) => dtype.size_in_bytes(),
            Element::Bool | Element::Int8 => 1,
        }
    }
}

/// A tensor as described by the pickle: a view into a storage of the archive.
#[derive(Debug, Clone, PartialEq)]
struct TensorRef {
    storage_key: String,
    element: Element,
    storage_len: usize,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
}

/// Recognises a pickled tensor. `None`: not a tensor; `Some(Err)`: a tensor that cannot be loaded.
fn tensor_ref(obj: &Object) -> Option<std::result::Result<TensorRef, String>> {
    let Object::Reduce { callable, args } = obj else {
        return None;
    };
    let Object::Class {
        module_name,
        class_name,
    } = callable.as_ref()
    else {
        return None;
    };
    match (module_name.as_str(), class_name.as_str()) {
        ("torch._utils", "_rebuild_tensor_v2") => Some(rebuild_tensor_args(args)),
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
            match tuple_items(args).and_then(|items| items.first()) {
                Some(inner) => tensor_ref(inner),
                None => Some(Err("malformed parameter".to_string())),
            }
        }
        ("torch._tensor", "_rebuild_from_type_v2") => {
            // Arguments: (function, type, function arguments, state).
            match tuple_items(args) {
                Some([func, _, func_args, ..]) => {
                    let rebuild = Object::Reduce {
                        callable: Box::new(func.clone()),
                        args: Box::new(func_args.clone()),
                    };
                    tensor_ref(&rebuild)
                }
                _ => Some(Err("malformed tensor subclass".to_string())),
            }
        }
        ("torch._utils", other) if other.starts_with("_rebuild") => Some(Err(format!(
            "unsupported tensor kind {other} (sparse, quantized or similar)"
        ))),
        _ => None,
    }
}

/// Parses the arguments of `torch._utils._rebuild_tensor_v2`:
/// `(storage, storage_offset, size, stride, requires_grad, backward_hooks, ...)`, where the storage
/// is a persistent id `("storage", storage_type, key, location, numel)`.
fn rebuild_tensor_args(args: &Object) -> std::result::Result<TensorRef, String> {
    let malformed = || "malformed tensor record".to_string();
    let items = tuple_items(args).ok_or_else(malformed)?;
    let [storage, offset, size, stride, ..] = items else {
        return Err(malformed());
    };
    let Object::PersistentLoad(id) = storage else {
        return Err(malformed());
    };
    let id = tuple_items(id).ok_or_else(malformed)?;
    let [_, storage_type, key, _location, numel, ..] = id else {
        return Err(malformed());
    };
    let Object::Class { class_name, .. } = storage_type else {
        return Err(malformed());
    };
    let element = match class_name.as_str() {
        "FloatStorage" => Element::Native(DType::F32),
        "DoubleStorage" => Element::Native(DType::F64),
        "HalfStorage" => Element::Native(DType::F16),
        "BFloat16Storage" => Element::Native(DType::BF16),
        "ByteStorage" => Element::Native(DType::U8),
        "ShortStorage" => Element::Native(DType::I16),
        "IntStorage" => Element::Native(DType::I32),
        "LongStorage" => Element::Native(DType::I64),
        "BoolStorage" => Element::Bool,
        "CharStorage" => Element::Int8,
        other => return Err(format!("unsupported storage type {other}")),
    };
    let Object::Unicode(storage_key) = key else {
        return Err(malformed());
    };
    let shape = usize_tuple(size).ok_or_else(malformed)?;
    let stride = usize_tuple(stride).ok_or_else(|| "negative or malformed strides".to_string())?;
    if shape.len() != stride.len() {
        return Err(malformed());
    }
    Ok(TensorRef {
        storage_key: storage_key.clone(),
        element,
        storage_len: as_usize(numel).ok_or_else(malformed)?,
        offset: as_usize(offset).ok_or_else(malformed)?,
        shape,
        stride,
    })
}

fn tuple_items(obj: &Object) -> Option<&[Object]> {
    match obj {
        Object::Tuple(items) | Object::List(items) => Some(items),
        _ => None,
    }
}

fn as_usize(obj: &Object) -> Option<usize> {
    match obj {
        Object::Int(v) => usize::try_from(*v).ok(),
        Object::Long(v) => usize::try_from(*v).ok(),
        _ => None,
    }
}

fn usize_tuple(obj: &Object) -> Option<Vec<usize>> {
    tuple_items(obj)?.iter().map(as_usize).collect()
}

/// A short name for a pickled object's kind, for error messages.
fn describe(obj: &Object) -> String {
    match obj {
        Object::Class {
            module_name,
            class_name,
        } => format!("the class {module_name}.{class_name}"),
        Object::Int(_) | Object::Long(_) => "an integer".to_string(),
        Object::Float(_) => "a float".to_string(),
        Object::Unicode(_) => "a string".to_string(),
        Object::Bool(_) => "a bool".to_string(),
        Object::None => "None".to_string(),
        Object::Tuple(_) => "a tuple".to_string(),
        Object::List(_) => "a list".to_string(),
        Object::Dict(_) => "a dict".to_string(),
        Object::Reduce { callable, .. } | Object::Build { callable, .. } => match callable.as_ref()
        {
            Object::Class {
                module_name,
                class_name,
            } => format!("an object of {module_name}.{class_name}"),
            _ => "an object".to_string(),
        },
        Object::Mark | Object::PersistentLoad(_) => "an internal pickle record".to_string(),
    }
}

/// An opened `torch.save` archive.
struct Archive<'a> {
    path: &'a Path,
    zip: zip::ZipArchive<Cursor<&'a [u8]>>,
    /// The archive's top-level folder, with a trailing slash (e.g. `"archive/"`).
    prefix: String,
    /// The storage read last, by key. Tensors are read grouped by storage, so each storage is
    /// read once and only one is held in memory at a time.
    storage: Option<(String, Vec<u8>)>,
}

impl<'a> Archive<'a> {
    fn open(path: &'a Path, bytes: &'a [u8]) -> Result<Self> {
        let zip =
            zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| CheckpointError::Corrupt {
                path: path.to_path_buf(),
                format: FORMAT,
                detail: format!("unreadable zip archive (truncated or damaged): {e}"),
            })?;
        let mut names: Vec<String> = zip
            .file_names()
            .filter_map(|n| n.ok().map(|n| n.into_owned()))
            .collect();
        names.sort_unstable();
        let pickle = names
            .iter()
            .find(|n| *n == "data.pkl" || n.ends_with("/data.pkl"));
        let Some(pickle) = pickle else {
            names.truncate(6);
            return Err(CheckpointError::Foreign {
                path: path.to_path_buf(),
                expected: FORMAT,
                detail: format!("a zip archive without data.pkl; it holds {names:?}"),
            });
        };
        let prefix = pickle
            .strip_suffix("data.pkl")
            .unwrap_or_default()
            .to_string();
        let mut archive = Self {
            path,
            zip,
            prefix,
            storage: None,
        };
        archive.check_byteorder()?;
        Ok(archive)
    }

    fn corrupt(&self, detail: String) -> CheckpointError {
        corrupt(self.path, detail)
    }

    fn tensor_error(&self, name: &str, detail: String) -> CheckpointError {
        self.corrupt(format!("tensor {name:?}: {detail}"))
    }

    /// Reads a whole archive member.
    fn member(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path;
        let mut file = match self.zip.by_name(name) {
            Ok(file) => file,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(corrupt(path, format!("member {name}: {e}"))),
        };
        let mut data = Vec::with_capacity(usize::try_from(file.size()).unwrap_or(0).min(1 << 30));
        file.read_to_end(&mut data)
            .map_err(|e| corrupt(path, format!("member {name}: {e}")))?;
        Ok(Some(data))
    }

    /// Rejects big-endian archives (written on big-endian machines by recent torch).
    fn check_byteorder(&mut self) -> Result<()> {
        let name = format!("{}byteorder", self.prefix);
        match self.member(&name)? {
            Some(order) if order.trim_ascii() == b"big" => {
                Err(self.corrupt("big-endian tensor data is not supported".to_string()))
            }
            _ => Ok(()),
        }
    }

    /// Parses `data.pkl` into an object tree.
    fn root_object(&mut self) -> Result<Object> {
        let name = format!("{}data.pkl", self.prefix);
        let pickle = self
            .member(&name)?
            .ok_or_else(|| self.corrupt(format!("member {name} is missing")))?;
        // candle's parser can panic on some malformed input (out-of-range integer opcodes), so a
        // panic is contained here and reported as a corrupt file.
        let parsed = std::panic::catch_unwind(|| {
            let mut stack = Stack::empty();
            stack.read_loop(&mut Cursor::new(pickle.as_slice()))?;
            stack.finalize()
        });
        match parsed {
            Ok(Ok(obj)) => Ok(obj),
            Ok(Err(e)) => Err(self.corrupt(format!(
                "cannot parse {name}: {}",
                e.to_string().lines().next().unwrap_or_default()
            ))),
            Err(_) => Err(self.corrupt(format!("cannot parse {name}: malformed pickle"))),
        }
    }

    /// Materialises one tensor on `device`.
    fn read_tensor(&mut self, name: &str, t: &TensorRef, device: &Device) -> Result<Tensor> {
        let elem = t.element.size();
        if self
            .storage
            .as_ref()
            .is_none_or(|(key, _)| *key != t.storage_key)
        {
            self.storage = None;
            let member = format!("{}data/{}", self.prefix, t.storage_key);
            let data = self.member(&member)?.ok_or_else(|| {
                self.tensor_error(name, format!("storage member {member} is missing"))
            })?;
            self.storage = Some((t.storage_key.clone(), data));
        }
        let storage = self
            .storage
            .as_ref()
            .map(|(_, data)| data.as_slice())
            .unwrap_or_default();
        let needed = t.storage_len.checked_mul(elem);
        if needed.is_none_or(|n| storage.len() < n) {
            return Err(self.tensor_error(
                name,
                format!(
                    "storage {} has {} bytes, expected {} elements of {elem} bytes",
                    t.storage_key,
                    storage.len(),
                    t.storage_len
                ),
            ));
        }
        let bytes = gather(storage, elem, t).ok_or_else(|| {
            self.tensor_error(
                name,
                format!(
                    "view (offset {}, shape {:?}, stride {:?}) exceeds its storage of {} elements",
                    t.offset, t.shape, t.stride, t.storage_len
                ),
            )
        })?;
        let (dtype, bytes) = match t.element {
            Element::Native(dtype) => (dtype, bytes),
            Element::Bool => (DType::U8, bytes.iter().map(|&b| u8::from(b != 0)).collect()),
            Element::Int8 => (
                DType::I16,
                bytes
                    .iter()
                    .flat_map(|&b| i16::from(b as i8).to_le_bytes())
                    .collect(),
            ),
        };
        Tensor::from_raw_buffer(&bytes, dtype, &t.shape, device)
            .map_err(|e| CheckpointError::candle(self.path, e))
    }
}

fn corrupt(path: &Path, detail: String) -> CheckpointError {
    CheckpointError::Corrupt {
        path: path.to_path_buf(),
        format: FORMAT,
        detail,
    }
}

/// Copies the elements of a strided view out of `storage` in row-major order.
/// Returns `None` if the view reaches past the storage.
fn gather(storage: &[u8], elem: usize, t: &TensorRef) -> Option<Vec<u8>> {
    let count = t
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))?;
    if count == 0 {
        return Some(Vec::new());
    }
    // The last element index the view touches.
    let mut last = t.offset;
    for (&dim, &stride) in t.shape.iter().zip(&t.stride) {
        last = last.checked_add((dim - 1).checked_mul(stride)?)?;
    }
    if last >= t.storage_len {
        return None;
    }
    let byte_range = |start: usize, n: usize| storage.get(start * elem..(start + n) * elem);
    if is_row_major(&t.shape, &t.stride) {
        return byte_range(t.offset, count).map(<[u8]>::to_vec);
    }
    let mut out = Vec::with_capacity(count * elem);
    let mut index = vec![0usize; t.shape.len()];
    for _ in 0..count {
        let pos = t.offset
            + index
                .iter()
                .zip(&t.stride)
                .map(|(i, s)| i * s)
                .sum::<usize>();
        out.extend_from_slice(byte_range(pos, 1)?);
        // Advance the multi-index, last dimension fastest.
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < t.shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Some(out)
}

/// Whether strides describe a contiguous row-major layout (size-1 dimensions may have any stride).
fn is_row_major(shape: &[usize], stride: &[usize]) -> bool {
    let mut expected = 1usize;
    for (&dim, &s) in shape.iter().zip(stride).rev() {
        if dim != 1 && s != expected {
            return false;
        }
        expected = expected.saturating_mul(dim);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(offset: usize, shape: &[usize], stride: &[usize], storage_len: usize) -> TensorRef {
        TensorRef {
            storage_key: "0".to_string(),
            element: Element::Native(DType::U8),
            storage_len,
            offset,
            shape: shape.to_vec(),
            stride: stride.to_vec(),
        }
    }

    #[test]
    fn gather_reads_transposed_and_offset_views() {
        let storage: Vec<u8> = (0..12).collect();
        // A 3x4 matrix viewed transposed as 4x3.
        let t = gather(&storage, 1, &view(0, &[4, 3], &[1, 4], 12)).unwrap();
        assert_eq!(t, vec![0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
        // Row 1 of the 3x4 matrix.
        let row = gather(&storage, 1, &view(4, &[4], &[1], 12)).unwrap();
        assert_eq!(row, vec![4, 5, 6, 7]);
        // Column 2.
        let col = gather(&storage, 1, &view(2, &[3], &[4], 12)).unwrap();
        assert_eq!(col, vec![2, 6, 10]);
        // A scalar and an empty tensor.
        assert_eq!(
            gather(&storage, 1, &view(7, &[], &[], 12)).unwrap(),
            vec![7]
        );
        assert!(gather(&storage, 1, &view(0, &[0, 3], &[3, 1], 12))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn gather_rejects_views_past_the_storage() {
        let storage: Vec<u8> = (0..12).collect();
        assert!(gather(&storage, 1, &view(10, &[4], &[1], 12)).is_none());
        assert!(gather(&storage, 1, &view(0, &[2, 2], &[usize::MAX, 1], 12)).is_none());
        assert!(gather(&storage, 1, &view(0, &[usize::MAX, 2], &[1, 1], 12)).is_none());
    }

    /// A stored (uncompressed) zip holding `archive/data.pkl` with the given pickle bytes.
    fn archive_with_pickle(pickle: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        writer.start_file("archive/data.pkl", options).unwrap();
        writer.write_all(pickle).unwrap();
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn malformed_pickles_are_errors() {
        let path = Path::new("crafted.pt");
        let cases: [(&[u8], &str); 4] = [
            // An integer opcode longer than 8 bytes.
            (
                &[0x80, 0x02, 0x8a, 0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9, b'.'],
                "cannot parse",
            ),
            // An opcode of a newer pickle protocol.
            (
                &[0x80, 0x04, 0x95, 0, 0, 0, 0, 0, 0, 0, 0, b'.'],
                "cannot parse",
            ),
            // Stops with an empty stack.
            (&[0x80, 0x02, b'.'], "cannot parse"),
            // A bare integer instead of a dict.
            (&[0x80, 0x02, b'K', 3, b'.'], "expected a dict"),
        ];
        for (pickle, expected) in cases {
            let bytes = archive_with_pickle(pickle);
            let err = load(path, &bytes, None, &Device::Cpu).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, CheckpointError::Corrupt { .. }), "{msg}");
            assert!(
                msg.contains("crafted.pt") && msg.contains(expected),
                "{msg}"
            );
        }
    }

    #[test]
    fn tensor_without_its_storage_member_is_an_error() {
        // {"w": _rebuild_tensor_v2(("storage", torch.FloatStorage, "0", "cpu", 2), 0, (2,), (1,))}
        let mut p: Vec<u8> = vec![0x80, 0x02, b'}', b'X', 1, 0, 0, 0, b'w'];
        p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        p.extend_from_slice(b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x02tQ");
        p.extend_from_slice(b"K\x00K\x02\x85K\x01\x85\x89tRs.");
        let bytes = archive_with_pickle(&p);
        let err = load(Path::new("w.pt"), &bytes, None, &Device::Cpu).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("tensor \"w\"") && msg.contains("archive/data/0"),
            "{msg}"
        );
    }

    #[test]
    fn non_tensors_are_not_tensor_records() {
        assert!(tensor_ref(&Object::Int(3)).is_none());
        let unsupported = Object::Reduce {
            callable: Box::new(Object::Class {
                module_name: "torch._utils".to_string(),
                class_name: "_rebuild_sparse_tensor".to_string(),
            }),
            args: Box::new(Object::Tuple(vec![])),
        };
        assert!(matches!(tensor_ref(&unsupported), Some(Err(_))));
        let short = Object::Reduce {
            callable: Box::new(Object::Class {
                module_name: "torch._utils".to_string(),
                class_name: "_rebuild_tensor_v2".to_string(),
            }),
            args: Box::new(Object::Tuple(vec![Object::Int(0)])),
        };
        assert!(matches!(tensor_ref(&short), Some(Err(_))));
    }
}
