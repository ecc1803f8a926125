//! GPT-2 with peft-compatible LoRA adapters in candle, its tokenizer, and loaders for Hugging Face
//! model and adapter directories; and the INFINITO hybrid built on it.
//!
//! * [`Gpt2`] ([`gpt2`]): GPT-2 with Hugging Face parameter names, attention capture and a KV
//!   cache; [`lora`]: peft-compatible adapters (load, save, merge).
//! * [`Pretrained`]: a Hugging Face GPT-2 directory, optionally with a peft adapter.
//! * [`generate`], [`sampling`], [`quality`]: decoding with Hugging Face's sampling order and
//!   reports on the generated text; [`score`]: per-token log-probabilities and perplexity.
//! * [`tokenizer`]: GPT-2 tokenizers (a model directory's files, or the built-in GPT-2 one).
//! * [`hybrid`], [`memory`], [`loss`]: the INFINITO hybrid (GPT-2 + LoRA + PHI-guided memory
//!   + learned PHI head) and its loss; [`import`]: the original trainer's `.pt` checkpoints.
//!
//! # Example
//!
//! A two-layer GPT-2 with freshly initialised weights, run on four tokens:
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_nn::{VarBuilder, VarMap};
//! use infinito_model::{AttentionCapture, Gpt2, Gpt2Config, Mode};
//!
//! let config = Gpt2Config::new(100, 32, 16, 2, 2);
//! let vars = VarMap::new();
//! let gpt2 = Gpt2::load(&config, VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu), None)?;
//! let ids = Tensor::new(&[[1u32, 2, 3, 4]], &Device::Cpu)?;
//! let out = gpt2.forward(&ids, Mode::Eval, AttentionCapture::Last, None)?;
//! assert_eq!(out.hidden.dims(), &[1, 4, 16]);
//! assert_eq!(out.attentions[0].dims(), &[1, 2, 4, 4]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod config;
pub mod error;
pub mod generate;
pub mod gpt2;
pub mod hybrid;
pub mod import;
pub mod limits;
pub mod lora;
pub mod loss;
pub mod memory;
pub mod nn;
pub mod pretrained;
pub mod quality;
pub mod sampling;
pub mod score;
pub mod tokenizer;

pub use config::Gpt2Config;
pub use error::{ModelError, Result};
pub use gpt2::{AttentionCapture, Gpt2, Gpt2Output, KvCache};
pub use lora::LoraConfig;
pub use nn::Mode;
pub use pretrained::{Adapter, Pretrained};
