//! The PHI-guided external memory (`IITGuidedMemory`), with the original's defects fixed: writes
//! carry each sample's real PHI, priorities are compared with a threshold on the same scale, each
//! row picks its own victim slot, empty slots are never read, and the read-out is weighted by the
//! retrieval weights.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::{Linear, Module, VarBuilder};

use crate::error::{ModelError, Result};

/// Weight of PHI in a write priority (the rest goes to the attention score when given).
const PHI_PRIORITY: f64 = 0.8;
/// Weight of similarity (vs stored PHI) in the retrieval score.
const SIMILARITY_WEIGHT: f64 = 0.7;

/// Key/value memory of `slots` rows of width `dim`.
pub struct PhiMemory {
    query_proj: Linear,
    slots: usize,
    dim: usize,
    keys: Vec<f32>,
    values: Vec<f32>,
    phi_scores: Vec<f32>,
    priorities: Vec<f32>,
    access_count: Vec<i64>,
    timestamps: Vec<i64>,
    threshold_logit: f32,
    global_time: i64,
    write_count: i64,
}

/// What a read returns: the weighted read-out `(B, D)` and the number of slots it used.
pub struct MemoryRead {
    pub readout: Tensor,
    pub used: usize,
}

impl PhiMemory {
    /// Creates an empty memory; `query_proj` is a trainable `Linear(D, D)` created through `vb`.
    /// The PHI threshold starts at 3.0 like the original's.
    pub fn new(slots: usize, dim: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            query_proj: candle_nn::linear(dim, dim, vb.pp("query_proj"))?,
            slots,
            dim,
            keys: vec![0.0; slots * dim],
            values: vec![0.0; slots * dim],
            phi_scores: vec![0.0; slots],
            priorities: vec![0.0; slots],
            access_count: vec![0; slots],
            timestamps: vec![0; slots],
            threshold_logit: 3.0f32.ln(),
            global_time: 0,
            write_count: 0,
        })
    }

    /// Number of slots holding an entry.
    pub fn filled(&self) -> usize {
        (self.write_count.max(0) as usize).min(self.slots)
    }

    /// Fraction of slots in use.
    pub fn utilization(&self) -> f64 {
        self.filled() as f64 / self.slots as f64
    }

    /// Mean PHI of the stored entries (0 when empty).
    pub fn mean_phi(&self) -> f64 {
        let n = self.filled();
        if n == 0 {
            return 0.0;
        }
        self.phi_scores[..n].iter().map(|&p| p as f64).sum::<f64>() / n as f64
    }

    /// Retrieves the `top_k` best slots for each query `(B, D)`: score = 0.7·(q·k/√D) +
    /// 0.3·(φ/max φ) over filled slots only; read-out = softmax(scores)-weighted mean of the values.
    /// An empty memory reads as zeros. Gradients reach `query_proj` through the weights.
    pub fn read(&mut self, query: &Tensor, top_k: usize) -> Result<MemoryRead> {
        let (b, d) = query.dims2()?;
        let n = self.filled();
        let k = top_k.min(n);
        if k == 0 {
            return Ok(MemoryRead {
                readout: Tensor::zeros((b, d), DType::F32, query.device())?,
                used: 0,
            });
        }
        let device = query.device();
        let qp = self.query_proj.forward(query)?;
        let keys = Tensor::from_slice(&self.keys[..n * d], (n, d), device)?;
        let values = Tensor::from_slice(&self.values[..n * d], (n, d), device)?;
        let max_phi = self.phi_scores[..n]
            .iter()
            .cloned()
            .fold(f32::MIN, f32::max) as f64;
        let phi_term = Tensor::from_slice(&self.phi_scores[..n], n, device)?;
        let phi_term = (phi_term / (max_phi + 1e-8))?;
        let sim = (qp.matmul(&keys.t()?)? / (d as f64).sqrt())?;
        let scores = ((sim * SIMILARITY_WEIGHT)?
            .broadcast_add(&(phi_term * (1.0 - SIMILARITY_WEIGHT))?.unsqueeze(0)?))?;
        let host: Vec<Vec<f32>> = scores.to_vec2()?;
        let mut idx = Vec::with_capacity(b * k);
        for row in &host {
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&i, &j| row[j].total_cmp(&row[i]).then(i.cmp(&j)));
            idx.extend(order[..k].iter().map(|&i| i as u32));
        }
        for &i in &idx {
            self.access_count[i as usize] += 1;
        }
        let idx = Tensor::from_vec(idx, (b, k), device)?;
        let weights = candle_nn::ops::softmax(&scores.gather(&idx, 1)?, D::Minus1)?;
        let picked = values
            .index_select(&idx.flatten_all()?, 0)?
            .reshape((b, k, d))?;
        let readout = picked.broadcast_mul(&weights.unsqueeze(2)?)?.sum(1)?;
        Ok(MemoryRead { readout, used: k })
    }

    /// The PHI threshold expressed on the priority scale.
    fn threshold_priority(&self) -> f32 {
        (PHI_PRIORITY * (self.threshold_logit.exp() as f64 / 10.0).clamp(0.0, 1.0)) as f32
    }

    /// Writes one entry per row whose priority beats the threshold: a free slot while any is left,
    /// otherwise the lowest-priority slot if the new entry's priority is higher. `query`, `content`
    /// `(B, D)` and `phi` `(B,)` are detached. Returns the number of rows written.
    pub fn write(&mut self, query: &Tensor, content: &Tensor, phi: &Tensor) -> Result<usize> {
        let (b, d) = query.dims2()?;
        let keys: Vec<Vec<f32>> = self.query_proj.forward(&query.detach())?.to_vec2()?;
        let content: Vec<Vec<f32>> = content.detach().to_vec2()?;
        let phi: Vec<f32> = phi.detach().to_vec1()?;
        // Recency boost in (0, 0.1]: the original's exp(-(time - writes)/100) grows without bound
        // once several rows are written per call, so the lag is floored at zero.
        let lag = (self.global_time - self.write_count).max(0) as f64;
        let recency = 0.1 * (-lag / 100.0).exp();
        let threshold = self.threshold_priority();
        let mut written = 0;
        for i in 0..b {
            let priority = (PHI_PRIORITY * (phi[i] as f64 / 10.0).clamp(0.0, 1.0) + recency) as f32;
            if priority <= threshold {
                continue;
            }
            let slot = if self.filled() < self.slots {
                self.filled()
            } else {
                let (victim, lowest) = self
                    .priorities
                    .iter()
                    .enumerate()
                    .min_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(j, &p)| (j, p))
                    .expect("memory has at least one slot");
                if priority <= lowest {
                    continue;
                }
                victim
            };
            self.keys[slot * d..(slot + 1) * d].copy_from_slice(&keys[i]);
            self.values[slot * d..(slot + 1) * d].copy_from_slice(&content[i]);
            self.phi_scores[slot] = phi[i];
            self.priorities[slot] = priority;
            self.access_count[slot] = 0;
            self.timestamps[slot] = self.global_time;
            self.write_count += 1;
            written += 1;
        }
        self.global_time += 1;
        Ok(written)
    }

    /// The trainable projection's weight and bias (state-dict names `query_proj.weight`, `.bias`).
    pub fn query_proj(&self) -> &Linear {
        &self.query_proj
    }

    /// The buffers under their state-dict names (relative to `memory.`).
    pub fn buffers(&self, device: &Device) -> Result<HashMap<String, Tensor>> {
        let (s, d) = (self.slots, self.dim);
        let mut out = HashMap::new();
        out.insert(
            "memory_keys".into(),
            Tensor::from_slice(&self.keys, (s, d), device)?,
        );
        out.insert(
            "memory_values".into(),
            Tensor::from_slice(&self.values, (s, d), device)?,
        );
        out.insert(
            "phi_scores".into(),
            Tensor::from_slice(&self.phi_scores, s, device)?,
        );
        out.insert(
            "priorities".into(),
            Tensor::from_slice(&self.priorities, s, device)?,
        );
        out.insert(
            "access_count".into(),
            Tensor::from_slice(&self.access_count, s, device)?,
        );
        out.insert(
            "timestamps".into(),
            Tensor::from_slice(&self.timestamps, s, device)?,
        );
        out.insert(
            "threshold_logit".into(),
            Tensor::new(self.threshold_logit, device)?,
        );
        out.insert("global_time".into(), Tensor::new(self.global_time, device)?);
        out.insert("write_count".into(), Tensor::new(self.write_count, device)?);
        Ok(out)
    }

    /// Restores buffers saved by [`Self::buffers`] (or an original checkpoint's, where
    /// `priorities` is absent and is recomputed from the stored PHI).
    pub fn load_buffers(&mut self, tensors: &HashMap<String, Tensor>, prefix: &str) -> Result<()> {
        let (s, d) = (self.slots, self.dim);
        let fetch = |name: &str, dims: &[usize], required: bool| -> Result<Option<Tensor>> {
            let key = format!("{prefix}{name}");
            match tensors.get(&key) {
                Some(t) if t.dims() == dims => Ok(Some(t.clone())),
                Some(t) => Err(ModelError::Input(format!(
                    "memory buffer {key} has shape {:?}, expected {dims:?}",
                    t.dims()
                ))),
                None if required => {
                    Err(ModelError::Input(format!("memory buffer {key} is missing")))
                }
                None => Ok(None),
            }
        };
        let f32s = |t: Tensor| -> Result<Vec<f32>> {
            Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?)
        };
        let i64s = |t: Tensor| -> Result<Vec<i64>> {
            Ok(t.to_dtype(DType::I64)?.flatten_all()?.to_vec1()?)
        };
        let scalar = |name: &str| -> Result<Tensor> {
            let key = format!("{prefix}{name}");
            let t = tensors
                .get(&key)
                .ok_or_else(|| ModelError::Input(format!("memory buffer {key} is missing")))?;
            if t.elem_count() != 1 {
                return Err(ModelError::Input(format!(
                    "memory buffer {key} has shape {:?}, expected a scalar",
                    t.dims()
                )));
            }
            Ok(t.flatten_all()?)
        };
        if let Some(t) = fetch("memory_keys", &[s, d], true)? {
            self.keys = f32s(t)?;
        }
        if let Some(t) = fetch("memory_values", &[s, d], true)? {
            self.values = f32s(t)?;
        }
        if let Some(t) = fetch("phi_scores", &[s], true)? {
            self.phi_scores = f32s(t)?;
        }
        if let Some(t) = fetch("access_count", &[s], false)? {
            self.access_count = i64s(t)?;
        }
        if let Some(t) = fetch("timestamps", &[s], false)? {
            self.timestamps = i64s(t)?;
        }
        self.write_count = i64s(scalar("write_count")?)?[0];
        self.global_time = i64s(scalar("global_time")?)?[0];
        self.threshold_logit = f32s(scalar("threshold_logit")?)?[0];
        self.priorities = match fetch("priorities", &[s], false)? {
            Some(t) => f32s(t)?,
            None => self
                .phi_scores
                .iter()
                .map(|&p| (PHI_PRIORITY * (p as f64 / 10.0).clamp(0.0, 1.0)) as f32)
                .collect(),
        };
        Ok(())
    }
}
