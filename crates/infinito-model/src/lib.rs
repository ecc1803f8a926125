//! GPT-2 with peft-compatible LoRA adapters in candle, its tokenizer, and loaders for Hugging Face
//! model and adapter directories.

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
