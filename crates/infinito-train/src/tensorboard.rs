//! TensorBoard event files: scalar summaries in TFRecord framing (`u64` length, masked CRC32C
//! of the length, the `Event` protobuf, masked CRC32C of the payload), as TensorBoard and
//! stable-baselines3's `tensorboard_log` write them.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Result, TrainError};

/// The directory of a run's event files.
pub const TENSORBOARD_DIR: &str = "tensorboard";

/// `tensorflow.Event`, reduced to the fields scalar logging uses.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    /// Seconds since the Unix epoch.
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    /// The global step of the values.
    #[prost(int64, tag = "2")]
    pub step: i64,
    /// The first record of a file: `brain.Event:2`.
    #[prost(string, optional, tag = "3")]
    pub file_version: Option<String>,
    /// The values.
    #[prost(message, optional, tag = "5")]
    pub summary: Option<Summary>,
}

/// `tensorflow.Summary`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    /// One value per tag.
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<SummaryValue>,
}

/// `tensorflow.Summary.Value` with a scalar.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryValue {
    /// The series name, e.g. `train/loss`.
    #[prost(string, tag = "1")]
    pub tag: String,
    /// The value.
    #[prost(float, optional, tag = "2")]
    pub simple_value: Option<f32>,
}

/// Writes scalars to one `events.out.tfevents.*` file.
#[derive(Debug)]
pub struct EventWriter {
    path: PathBuf,
    file: BufWriter<File>,
}

impl EventWriter {
    /// Creates `dir` if needed and a new event file in it (a resumed run adds a file beside
    /// the earlier ones; TensorBoard reads them as one run).
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, "create", e))?;
        let now = unix_now();
        let path = (0u32..)
            .map(|n| {
                dir.join(format!(
                    "events.out.tfevents.{}.{}.{}.{n}",
                    now as u64,
                    hostname(),
                    std::process::id()
                ))
            })
            .find(|p| !p.exists())
            .expect("an unused file name");
        let file = File::create(&path).map_err(|e| TrainError::io(&path, "create", e))?;
        let mut writer = Self {
            path,
            file: BufWriter::new(file),
        };
        writer.write(&Event {
            wall_time: now,
            step: 0,
            file_version: Some("brain.Event:2".into()),
            summary: None,
        })?;
        writer.flush()?;
        Ok(writer)
    }

    /// The event file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds scalars at `step`; non-finite values are left out.
    pub fn scalars<'a>(
        &mut self,
        step: u64,
        values: impl IntoIterator<Item = (&'a str, f64)>,
    ) -> Result<()> {
        let value: Vec<SummaryValue> = values
            .into_iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(tag, v)| SummaryValue {
                tag: tag.to_string(),
                simple_value: Some(v as f32),
            })
            .collect();
        if value.is_empty() {
            return Ok(());
        }
        self.write(&Event {
            wall_time: unix_now(),
            step: step as i64,
            file_version: None,
            summary: Some(Summary { value }),
        })
    }

    /// Writes buffered events to the file, so a running TensorBoard sees them.
    pub fn flush(&mut self) -> Result<()> {
        self.file
            .flush()
            .map_err(|e| TrainError::io(&self.path, "write", e))
    }

    fn write(&mut self, event: &Event) -> Result<()> {
        let record = frame(&prost::Message::encode_to_vec(event));
        self.file
            .write_all(&record)
            .map_err(|e| TrainError::io(&self.path, "write", e))
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        let _ = self.file.flush();
    }
}

/// Reads the events of a file written by [`EventWriter`] (or TensorBoard), checking every
/// length and checksum.
pub fn read_events(path: &Path) -> Result<Vec<Event>> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| TrainError::io(path, "read", e))?;
    let bad = |offset: usize, what: &str| TrainError::BadEventFile {
        path: path.to_path_buf(),
        reason: format!("record at byte {offset}: {what}"),
    };
    let mut events = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let header = bytes.get(at..at + 12).ok_or_else(|| bad(at, "cut short"))?;
        if masked_crc(&header[..8]).to_le_bytes() != header[8..12] {
            return Err(bad(at, "length checksum mismatch"));
        }
        let len = u64::from_le_bytes(header[..8].try_into().expect("8 bytes")) as usize;
        let payload = at
            .checked_add(12 + len)
            .and_then(|end| bytes.get(at + 12..end))
            .ok_or_else(|| bad(at, "cut short"))?;
        let crc = bytes
            .get(at + 12 + len..at + 16 + len)
            .ok_or_else(|| bad(at, "cut short"))?;
        if masked_crc(payload).to_le_bytes() != crc {
            return Err(bad(at, "payload checksum mismatch"));
        }
        let event: Event =
            prost::Message::decode(payload).map_err(|e| bad(at, &format!("not an Event ({e})")))?;
        events.push(event);
        at += 16 + len;
    }
    Ok(events)
}

/// One TFRecord: length, its masked CRC32C, the payload, its masked CRC32C.
fn frame(payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u64).to_le_bytes();
    let mut record = Vec::with_capacity(payload.len() + 16);
    record.extend_from_slice(&len);
    record.extend_from_slice(&masked_crc(&len).to_le_bytes());
    record.extend_from_slice(payload);
    record.extend_from_slice(&masked_crc(payload).to_le_bytes());
    record
}

/// TFRecord's masked CRC32C.
fn masked_crc(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
        .rotate_right(15)
        .wrapping_add(0xa282_ead8)
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The host name for the file name (as TensorBoard's writers name files), `localhost` if
/// unknown.
fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().replace(['/', '\\'], "_"))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_crc_matches_tensorflow() {
        // CRC32C("123456789") = 0xe3069283 (RFC 3720); masking as in TensorFlow's crc32c.h.
        let crc = 0xe306_9283u32;
        let masked = crc.rotate_right(15).wrapping_add(0xa282_ead8);
        assert_eq!(masked_crc(b"123456789"), masked);
    }

    #[test]
    fn a_corrupted_record_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = EventWriter::create(dir.path()).unwrap();
        writer.scalars(3, [("train/loss", 1.5)]).unwrap();
        writer.flush().unwrap();
        let path = writer.path().to_path_buf();
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 6;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = read_events(&path).unwrap_err().to_string();
        assert!(err.contains("checksum"), "{err}");
    }
}
