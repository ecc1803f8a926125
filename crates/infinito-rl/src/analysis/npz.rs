//! NumPy `.npz` archives of numeric arrays (as `np.savez` writes them, e.g. stable-baselines3's
//! `evaluations.npz`): a zip of `.npy` files, each a magic string, a Python-dict header and
//! the little-endian data.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::error::{Result, RlError};

/// One array: its shape and its values as `f64` (C order).
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// The shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<f64>,
}

impl NpyArray {
    /// The rows of a two-dimensional array (a one-dimensional one is one row per value).
    pub fn rows(&self) -> Vec<Vec<f64>> {
        let width = match self.shape.as_slice() {
            [_, w] => *w,
            _ => 1,
        };
        if width == 0 {
            return vec![Vec::new(); self.shape.first().copied().unwrap_or(0)];
        }
        self.data.chunks(width).map(<[f64]>::to_vec).collect()
    }
}

/// Reads every array of an `.npz` file, keyed by name (without `.npy`).
pub fn read_npz(path: &Path) -> Result<BTreeMap<String, NpyArray>> {
    let bad = |reason: String| RlError::BadFile {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| bad(format!("not an .npz archive ({e})")))?;
    let mut arrays = BTreeMap::new();
    for i in 0..archive.len() {
        let mut member = archive
            .by_index(i)
            .map_err(|e| bad(format!("member {i}: {e}")))?;
        let name = member
            .name()
            .map_or_else(|_| format!("member {i}"), |n| n.into_owned());
        let mut bytes = Vec::new();
        member
            .read_to_end(&mut bytes)
            .map_err(|e| bad(format!("{name}: {e}")))?;
        let array = parse_npy(&bytes).map_err(|reason| bad(format!("{name}: {reason}")))?;
        let key = name.strip_suffix(".npy").unwrap_or(&name).to_string();
        arrays.insert(key, array);
    }
    Ok(arrays)
}

/// Parses one `.npy` file of little-endian integers or floats in C order.
fn parse_npy(bytes: &[u8]) -> std::result::Result<NpyArray, String> {
    let rest = bytes
        .strip_prefix(b"\x93NUMPY")
        .ok_or("not a .npy array (no magic string)")?;
    let (header_len, start) = match rest.first() {
        Some(1) if rest.len() >= 4 => (usize::from(u16::from_le_bytes([rest[2], rest[3]])), 6 + 4),
        Some(2 | 3) if rest.len() >= 6 => (
            u32::from_le_bytes([rest[2], rest[3], rest[4], rest[5]]) as usize,
            6 + 6,
        ),
        _ => return Err("unknown .npy version".into()),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or("header cut short")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    if dict_value(header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err("Fortran-order arrays are not supported".into());
    }
    let descr = dict_value(header, "descr").ok_or("header without 'descr'")?;
    let descr = descr.trim_start_matches(['\'', '"']);
    let shape_text = dict_value(header, "shape").ok_or("header without 'shape'")?;
    let shape_text = shape_text
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or("bad 'shape'")?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("bad shape entry {s:?}"))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let count = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or("shape too large")?;
    let body = &bytes[start + header_len..];
    let (kind, width) = descr.split_at(descr.len().min(2));
    let width: usize = width
        .split(['\'', '"'])
        .next()
        .and_then(|w| w.parse().ok())
        .filter(|w| matches!(w, 4 | 8))
        .ok_or_else(|| format!("unsupported dtype {descr:?}"))?;
    if body.len() / width < count {
        return Err(format!(
            "{} data bytes, expected {} for shape {shape:?}",
            body.len(),
            count.saturating_mul(width)
        ));
    }
    let decode = |chunk: &[u8]| -> Option<f64> {
        Some(match (kind, width) {
            ("<f" | "|f", 8) => f64::from_le_bytes(chunk.try_into().ok()?),
            ("<f" | "|f", 4) => f64::from(f32::from_le_bytes(chunk.try_into().ok()?)),
            ("<i" | "|i", 8) => i64::from_le_bytes(chunk.try_into().ok()?) as f64,
            ("<i" | "|i", 4) => f64::from(i32::from_le_bytes(chunk.try_into().ok()?)),
            ("<u" | "|u", 8) => u64::from_le_bytes(chunk.try_into().ok()?) as f64,
            ("<u" | "|u", 4) => f64::from(u32::from_le_bytes(chunk.try_into().ok()?)),
            _ => return None,
        })
    };
    let data = body[..count * width]
        .chunks(width)
        .map(|c| decode(c).ok_or_else(|| format!("unsupported dtype {descr:?}")))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(NpyArray { shape, data })
}

/// The text after `'key':` in a `.npy` header dict.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))?;
    let rest = &header[at + key.len() + 2..];
    Some(rest.trim_start().strip_prefix(':')?.trim_start())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, body: &[u8]) -> Vec<u8> {
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn parses_integer_and_float_arrays() {
        let ints: Vec<u8> = [5i64, -7].iter().flat_map(|v| v.to_le_bytes()).collect();
        let a = parse_npy(&npy("<i8", "(2,)", &ints)).unwrap();
        assert_eq!((a.shape, a.data), (vec![2], vec![5.0, -7.0]));
        let floats: Vec<u8> = [0.5f64, 1.5, -2.0, 4.0, 8.0, 16.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let b = parse_npy(&npy("<f8", "(2, 3)", &floats)).unwrap();
        assert_eq!(b.rows(), vec![vec![0.5, 1.5, -2.0], vec![4.0, 8.0, 16.0]]);
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        assert!(parse_npy(b"PK\x03\x04").unwrap_err().contains("magic"));
        let err = parse_npy(&npy("<f8", "(3,)", &[0; 8])).unwrap_err();
        assert!(err.contains("expected 24"), "{err}");
        let err = parse_npy(&npy("<U5", "(1,)", &[0; 20])).unwrap_err();
        assert!(err.contains("dtype"), "{err}");
    }
}
