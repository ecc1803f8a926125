//! GPT-2 byte-level BPE tokenizers: from a model directory's `tokenizer.json`, from
//! `vocab.json` + `merges.txt`, or built in (GPT-2's vocabulary as shipped by `tiktoken-rs`).

use std::collections::HashMap;
use std::path::Path;

use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

use crate::error::{ModelError, Result};

/// GPT-2's end-of-text token and its id.
pub const END_OF_TEXT: &str = "<|endoftext|>";
pub const END_OF_TEXT_ID: u32 = 50256;
/// Size of GPT-2's vocabulary (50,000 merges, 256 bytes, end-of-text).
pub const GPT2_VOCAB_SIZE: usize = 50257;

fn tokenizer_error(e: impl std::fmt::Display) -> ModelError {
    ModelError::Tokenizer(e.to_string())
}

/// GPT-2's reversible byte -> printable character table (`bytes_to_unicode`).
fn byte_to_char() -> [char; 256] {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..=255u8 {
        table[b as usize] = if printable(b) {
            char::from(b)
        } else {
            let c = char::from_u32(next).expect("code points 256..324 are valid");
            next += 1;
            c
        };
    }
    table
}

/// Wraps a BPE model with GPT-2's byte-level pre-tokenizer, decoder and end-of-text token.
fn gpt2_pipeline(bpe: BPE) -> Result<Tokenizer> {
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer
        .with_pre_tokenizer(Some(ByteLevel::new(false, true, true)))
        .with_post_processor(Some(ByteLevel::new(true, false, true)))
        .with_decoder(Some(ByteLevel::default()));
    tokenizer
        .add_special_tokens([AddedToken::from(END_OF_TEXT, true)])
        .map_err(tokenizer_error)?;
    Ok(tokenizer)
}

/// GPT-2's tokenizer without any file: vocabulary and merges are recovered from the GPT-2 ranks
/// shipped inside `tiktoken-rs` (each merge is the BPE split of a token using only lower ranks).
pub fn builtin_gpt2() -> Result<Tokenizer> {
    let core = tiktoken_rs::r50k_base().map_err(tokenizer_error)?;
    let tokens: Vec<Vec<u8>> = (0..END_OF_TEXT_ID)
        .map(|id| core.decode_bytes(&[id]).map_err(tokenizer_error))
        .collect::<Result<_>>()?;
    let ranks: HashMap<&[u8], u32> = tokens
        .iter()
        .zip(0u32..)
        .map(|(t, id)| (t.as_slice(), id))
        .collect();
    let table = byte_to_char();
    let to_str = |bytes: &[u8]| bytes.iter().map(|&b| table[b as usize]).collect::<String>();

    let mut vocab: Vocab = tokens
        .iter()
        .zip(0u32..)
        .map(|(t, id)| (to_str(t), id))
        .collect();
    vocab.insert(END_OF_TEXT.to_string(), END_OF_TEXT_ID);
    let mut merges = Vec::with_capacity(tokens.len());
    for (token, rank) in tokens.iter().zip(0u32..).filter(|(t, _)| t.len() > 1) {
        let parts = bpe_split(token, &ranks, rank);
        match parts.as_slice() {
            [left, right] => merges.push((to_str(left), to_str(right))),
            _ => {
                return Err(tokenizer_error(format!(
                    "GPT-2 rank {rank} does not split into one merge"
                )))
            }
        }
    }
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(tokenizer_error)?;
    gpt2_pipeline(bpe)
}

/// Byte-pair encodes `token` using only merges of rank below `max_rank`.
fn bpe_split<'a>(token: &'a [u8], ranks: &HashMap<&[u8], u32>, max_rank: u32) -> Vec<&'a [u8]> {
    let mut bounds: Vec<usize> = (0..=token.len()).collect();
    loop {
        let best = (0..bounds.len().saturating_sub(2))
            .filter_map(|i| {
                let merged = &token[bounds[i]..bounds[i + 2]];
                ranks
                    .get(merged)
                    .filter(|&&r| r < max_rank)
                    .map(|&r| (r, i))
            })
            .min();
        match best {
            Some((_, i)) => {
                bounds.remove(i + 1);
            }
            None => break,
        }
    }
    bounds.windows(2).map(|w| &token[w[0]..w[1]]).collect()
}

/// GPT-2's tokenizer from `vocab.json` and `merges.txt`.
pub fn from_bpe_files(vocab: &Path, merges: &Path) -> Result<Tokenizer> {
    let as_str = |p: &Path| {
        p.to_str()
            .map(str::to_string)
            .ok_or_else(|| tokenizer_error(format!("{} is not valid UTF-8", p.display())))
    };
    let bpe = BPE::from_file(&as_str(vocab)?, &as_str(merges)?)
        .build()
        .map_err(|e| tokenizer_error(format!("{} / {}: {e}", vocab.display(), merges.display())))?;
    gpt2_pipeline(bpe)
}

/// The tokenizer of a Hugging Face model directory: `tokenizer.json` if present, else
/// `vocab.json` + `merges.txt`, else the built-in GPT-2 tokenizer when the model has GPT-2's
/// vocabulary size.
pub fn for_model_dir(dir: &Path, vocab_size: usize) -> Result<Tokenizer> {
    let json = dir.join("tokenizer.json");
    if json.is_file() {
        return Tokenizer::from_file(&json)
            .map_err(|e| tokenizer_error(format!("{}: {e}", json.display())));
    }
    let (vocab, merges) = (dir.join("vocab.json"), dir.join("merges.txt"));
    if vocab.is_file() && merges.is_file() {
        return from_bpe_files(&vocab, &merges);
    }
    if vocab_size == GPT2_VOCAB_SIZE {
        return builtin_gpt2();
    }
    Err(tokenizer_error(format!(
        "{} has no tokenizer.json or vocab.json+merges.txt, and its vocabulary ({vocab_size}) is not GPT-2's",
        dir.display()
    )))
}

/// Token ids of `text` (no special tokens added).
pub fn encode(tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>> {
    Ok(tokenizer
        .encode(text, false)
        .map_err(tokenizer_error)?
        .get_ids()
        .to_vec())
}

/// Text of `ids` (special tokens kept).
pub fn decode(tokenizer: &Tokenizer, ids: &[u32]) -> Result<String> {
    tokenizer.decode(ids, false).map_err(tokenizer_error)
}
