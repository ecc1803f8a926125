//! GPT-2 (Hugging Face `GPT2LMHeadModel`) in candle-nn, with optional LoRA adapters, attention
//! probabilities on request and a KV cache for generation. Parameter paths equal Hugging Face's.

use candle_core::{DType, Device, Tensor, D};
use candle_nn::VarBuilder;
use infinito_kernels::{frozen_linear, WeightLayout};

use crate::config::Gpt2Config;
use crate::lora::{LoraBuilder, LoraConv1D};
use crate::nn::{dropout, softmax_last, LayerNorm, Mode};

/// Which layers' post-softmax attention probabilities a forward pass returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionCapture {
    None,
    Last,
    All,
}

/// Keys and values of every layer seen so far, for incremental decoding (evaluation only: the
/// buffers are written in place, without gradients).
#[derive(Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<LayerCache>>,
}

impl KvCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of positions already cached.
    pub fn len(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.as_ref())
            .map_or(0, |c| c.len)
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn layer(&mut self, i: usize) -> &mut Option<LayerCache> {
        if self.layers.len() <= i {
            self.layers.resize_with(i + 1, || None);
        }
        &mut self.layers[i]
    }
}

/// One layer's keys and values: buffers `(B, H, capacity, head_dim)` whose first `len`
/// positions are filled. Appending writes in place; the capacity doubles when full, so each
/// step copies only the new positions.
#[derive(Debug)]
struct LayerCache {
    k: Tensor,
    v: Tensor,
    len: usize,
}

/// Smallest number of positions a layer cache holds.
const MIN_CACHE_CAPACITY: usize = 64;

impl LayerCache {
    /// Appends `k`, `v` `(B, H, t, head_dim)` (contiguous) to `slot` and returns views of every
    /// cached key and value.
    fn append(
        slot: &mut Option<LayerCache>,
        k: &Tensor,
        v: &Tensor,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let (b, h, t, hd) = k.dims4()?;
        let len = slot.as_ref().map_or(0, |c| c.len);
        let capacity = slot.as_ref().map_or(Ok(0), |c| c.k.dim(2))?;
        if len + t > capacity {
            let capacity = (len + t).max(2 * capacity).max(MIN_CACHE_CAPACITY);
            let grow = |old: Option<&Tensor>| -> candle_core::Result<Tensor> {
                let buffer = Tensor::zeros((b, h, capacity, hd), k.dtype(), k.device())?;
                if let Some(old) = old.filter(|_| len > 0) {
                    buffer.slice_set(&old.narrow(2, 0, len)?.contiguous()?, 2, 0)?;
                }
                Ok(buffer)
            };
            let (k_old, v_old) = (slot.as_ref().map(|c| &c.k), slot.as_ref().map(|c| &c.v));
            *slot = Some(LayerCache {
                k: grow(k_old)?,
                v: grow(v_old)?,
                len,
            });
        }
        let cache = slot.as_mut().expect("the cache was just allocated");
        cache.k.slice_set(k, 2, len)?;
        cache.v.slice_set(v, 2, len)?;
        cache.len = len + t;
        Ok((
            cache.k.narrow(2, 0, cache.len)?,
            cache.v.narrow(2, 0, cache.len)?,
        ))
    }
}

/// What a forward pass through the transformer returns.
#[derive(Debug, Clone)]
pub struct Gpt2Output {
    /// Final hidden states after `ln_f`, `(B, T, D)`.
    pub hidden: Tensor,
    /// Attention probabilities `(B, H, T, T_total)` of the captured layers, in layer order
    /// (post-dropout in training mode, like Hugging Face).
    pub attentions: Vec<Tensor>,
}

#[derive(Debug, Clone)]
struct Attention {
    c_attn: LoraConv1D,
    c_proj: LoraConv1D,
    n_head: usize,
    head_dim: usize,
    attn_pdrop: f32,
    resid_pdrop: f32,
}

impl Attention {
    fn load(
        vb: &VarBuilder,
        lora: Option<&LoraBuilder>,
        prefix: &str,
        cfg: &Gpt2Config,
    ) -> candle_core::Result<Self> {
        let d = cfg.n_embd;
        Ok(Self {
            c_attn: LoraConv1D::load(vb, lora, &format!("{prefix}.c_attn"), d, 3 * d)?,
            c_proj: LoraConv1D::load(vb, lora, &format!("{prefix}.c_proj"), d, d)?,
            n_head: cfg.n_head,
            head_dim: cfg.head_dim(),
            attn_pdrop: cfg.attn_pdrop,
            resid_pdrop: cfg.resid_pdrop,
        })
    }

    fn split_heads(&self, x: &Tensor, b: usize, t: usize) -> candle_core::Result<Tensor> {
        x.reshape((b, t, self.n_head, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()
    }

    fn forward(
        &self,
        x: &Tensor,
        cache: Option<&mut Option<LayerCache>>,
        mode: Mode,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let (b, t, d) = x.dims3()?;
        let qkv = self.c_attn.forward(x, mode.derive("c_attn"))?;
        let q = self.split_heads(&qkv.narrow(D::Minus1, 0, d)?, b, t)?;
        let mut k = self.split_heads(&qkv.narrow(D::Minus1, d, d)?, b, t)?;
        let mut v = self.split_heads(&qkv.narrow(D::Minus1, 2 * d, d)?, b, t)?;
        let past = match cache {
            Some(slot) => {
                let past = slot.as_ref().map_or(0, |c| c.len);
                (k, v) = LayerCache::append(slot, &k, &v)?;
                past
            }
            None => 0,
        };
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let mut scores = (q.matmul(&k.t()?)? * scale)?;
        // A single new query may see every position: no mask needed.
        if t > 1 {
            scores = scores.broadcast_add(&causal_mask(t, past, x.device())?)?;
        }
        let probs = dropout(
            &softmax_last(&scores)?,
            self.attn_pdrop,
            mode.derive("attn_dropout"),
        )?;
        let y = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, t, d))?;
        let y = dropout(
            &self.c_proj.forward(&y, mode.derive("c_proj"))?,
            self.resid_pdrop,
            mode.derive("resid_dropout"),
        )?;
        Ok((y, probs))
    }
}

/// Additive mask `(T, past+T)`: 0 where query `i` may see key `j` (j <= past+i), -inf elsewhere.
fn causal_mask(t: usize, past: usize, device: &Device) -> candle_core::Result<Tensor> {
    let total = past + t;
    let mask: Vec<f32> = (0..t)
        .flat_map(|i| {
            (0..total).map(move |j| {
                if j <= past + i {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
        })
        .collect();
    Tensor::from_vec(mask, (t, total), device)
}

#[derive(Debug, Clone)]
struct Mlp {
    c_fc: LoraConv1D,
    c_proj: LoraConv1D,
    resid_pdrop: f32,
}

impl Mlp {
    fn load(
        vb: &VarBuilder,
        lora: Option<&LoraBuilder>,
        prefix: &str,
        cfg: &Gpt2Config,
    ) -> candle_core::Result<Self> {
        let (d, inner) = (cfg.n_embd, cfg.inner_dim());
        Ok(Self {
            c_fc: LoraConv1D::load(vb, lora, &format!("{prefix}.c_fc"), d, inner)?,
            c_proj: LoraConv1D::load(vb, lora, &format!("{prefix}.c_proj"), inner, d)?,
            resid_pdrop: cfg.resid_pdrop,
        })
    }

    fn forward(&self, x: &Tensor, mode: Mode) -> candle_core::Result<Tensor> {
        let h = infinito_kernels::gelu_new(&self.c_fc.forward(x, mode.derive("c_fc"))?)?;
        dropout(
            &self.c_proj.forward(&h, mode.derive("c_proj"))?,
            self.resid_pdrop,
            mode.derive("dropout"),
        )
    }
}

#[derive(Debug, Clone)]
struct Block {
    ln_1: LayerNorm,
    attn: Attention,
    ln_2: LayerNorm,
    mlp: Mlp,
}

impl Block {
    fn load(
        vb: &VarBuilder,
        lora: Option<&LoraBuilder>,
        i: usize,
        cfg: &Gpt2Config,
    ) -> candle_core::Result<Self> {
        let prefix = format!("transformer.h.{i}");
        let eps = cfg.layer_norm_epsilon;
        Ok(Self {
            ln_1: LayerNorm::load(vb.pp(format!("{prefix}.ln_1")), cfg.n_embd, eps)?,
            attn: Attention::load(vb, lora, &format!("{prefix}.attn"), cfg)?,
            ln_2: LayerNorm::load(vb.pp(format!("{prefix}.ln_2")), cfg.n_embd, eps)?,
            mlp: Mlp::load(vb, lora, &format!("{prefix}.mlp"), cfg)?,
        })
    }

    fn forward(
        &self,
        x: &Tensor,
        cache: Option<&mut Option<LayerCache>>,
        mode: Mode,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let (a, probs) = self
            .attn
            .forward(&self.ln_1.forward(x)?, cache, mode.derive("attn"))?;
        let x = (x + a)?;
        let m = self
            .mlp
            .forward(&self.ln_2.forward(&x)?, mode.derive("mlp"))?;
        Ok(((x + m)?, probs))
    }
}

/// GPT-2 with a tied language-model head.
#[derive(Debug, Clone)]
pub struct Gpt2 {
    wte: Tensor,
    wpe: Tensor,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    config: Gpt2Config,
}

impl Gpt2 {
    /// Loads GPT-2 from `vb` (Hugging Face names, rooted so that `transformer.wte.weight` resolves)
    /// and, with `lora`, creates the adapters of every targeted `Conv1D` in the LoRA `VarMap`.
    pub fn load(
        cfg: &Gpt2Config,
        vb: VarBuilder,
        lora: Option<&LoraBuilder>,
    ) -> candle_core::Result<Self> {
        let blocks = (0..cfg.n_layer)
            .map(|i| Block::load(&vb, lora, i, cfg))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            wte: vb.get((cfg.vocab_size, cfg.n_embd), "transformer.wte.weight")?,
            wpe: vb.get((cfg.n_positions, cfg.n_embd), "transformer.wpe.weight")?,
            blocks,
            ln_f: LayerNorm::load(
                vb.pp("transformer.ln_f"),
                cfg.n_embd,
                cfg.layer_norm_epsilon,
            )?,
            config: cfg.clone(),
        })
    }

    /// The model's configuration.
    pub fn config(&self) -> &Gpt2Config {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        self.wte.device()
    }

    /// Runs the transformer on `input_ids` `(B, T)` (u32). With a cache, positions continue after
    /// the cached ones and the cache is extended.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        mode: Mode,
        capture: AttentionCapture,
        mut cache: Option<&mut KvCache>,
    ) -> candle_core::Result<Gpt2Output> {
        let (b, t) = input_ids.dims2()?;
        let past = cache.as_ref().map_or(0, |c| c.len());
        if past + t > self.config.n_positions {
            candle_core::bail!(
                "sequence of {} positions exceeds n_positions {}",
                past + t,
                self.config.n_positions
            );
        }
        let ids = input_ids.to_dtype(DType::U32)?.flatten_all()?;
        let tok = self
            .wte
            .index_select(&ids, 0)?
            .reshape((b, t, self.config.n_embd))?;
        let pos = Tensor::arange(past as u32, (past + t) as u32, self.device())?;
        let pos = self.wpe.index_select(&pos, 0)?;
        let mut x = dropout(
            &tok.broadcast_add(&pos)?,
            self.config.embd_pdrop,
            mode.derive("drop"),
        )?;
        let last = self.blocks.len() - 1;
        let mut attentions = Vec::new();
        for (i, block) in self.blocks.iter().enumerate() {
            let slot = cache.as_deref_mut().map(|c| c.layer(i));
            let (y, probs) = block.forward(&x, slot, mode.derive("h").derive_index(i))?;
            x = y;
            if capture == AttentionCapture::All || (capture == AttentionCapture::Last && i == last)
            {
                attentions.push(probs);
            }
        }
        Ok(Gpt2Output {
            hidden: self.ln_f.forward(&x)?,
            attentions,
        })
    }

    /// Projects hidden states `(B, T, D)` to vocabulary logits `(B, T, V)` with the tied embedding.
    pub fn lm_head(&self, hidden: &Tensor) -> candle_core::Result<Tensor> {
        tied_head(hidden, &self.wte)
    }

    /// The tied embedding `(V, D)` that the LM head multiplies by.
    pub fn head_weight(&self) -> &Tensor {
        &self.wte
    }

    /// Mean cross-entropy of `labels` `(B, T)` under `lm_head(hidden)`, computed in row chunks
    /// without the full logits; the embedding gets a gradient only when it trains.
    pub fn lm_loss(&self, hidden: &Tensor, labels: &Tensor) -> candle_core::Result<Tensor> {
        infinito_kernels::linear_cross_entropy(hidden, &self.wte, labels)
    }

    /// Logits of `input_ids` in evaluation mode, without cache.
    pub fn logits(&self, input_ids: &Tensor) -> candle_core::Result<Tensor> {
        let out = self.forward(input_ids, Mode::Eval, AttentionCapture::None, None)?;
        self.lm_head(&out.hidden)
    }

    /// The same model with every LoRA adapter merged into its base weight.
    pub fn merged(&self) -> candle_core::Result<Self> {
        let mut model = self.clone();
        for block in &mut model.blocks {
            block.attn.c_attn = block.attn.c_attn.merged()?;
            block.attn.c_proj = block.attn.c_proj.merged()?;
            block.mlp.c_fc = block.mlp.c_fc.merged()?;
            block.mlp.c_proj = block.mlp.c_proj.merged()?;
        }
        Ok(model)
    }
}

/// `hidden · wteᵀ` over the last dimension; a frozen embedding gets no gradient.
pub(crate) fn tied_head(hidden: &Tensor, wte: &Tensor) -> candle_core::Result<Tensor> {
    if wte.is_variable() {
        let (b, t, d) = hidden.dims3()?;
        hidden
            .reshape((b * t, d))?
            .matmul(&wte.t()?)?
            .reshape((b, t, wte.dim(0)?))
    } else {
        frozen_linear(hidden, wte, None, WeightLayout::OutIn)
    }
}
