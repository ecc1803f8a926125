//! A corpus written by this project and a small byte-level BPE trained on it, so that training
//! works on a fresh offline machine without third-party text.
//!
//! The corpus is this crate's user guide (`docs/training.md`) followed by sentences generated
//! from a small template grammar (statements about training runs, counting and arithmetic
//! spelled out in words), so it has learnable structure. Everything is deterministic.

use crate::data::{prepare_text, LmWindows};
use crate::error::{Result, TrainError};
use infinito_kernels::rng::splitmix64;
use std::collections::HashSet;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer, TokenizerBuilder};

/// The end-of-text token: id 0 of [`tokenizer`], used to pad the last window.
pub const EOS_TOKEN: &str = "<|endoftext|>";

/// A frozen copy of the trainer's user guide as it stood when the corpus was fixed, part of the
/// corpus. A copy, not a link: editing `docs/training.md` must not change the built-in
/// tokenizer, data and every number trained on them.
const GUIDE: &str = include_str!("../corpus/training.md");

/// Generated sentences in the training corpus.
const TRAIN_SENTENCES: usize = 6000;
/// Generated sentences in the validation corpus.
const VALID_SENTENCES: usize = 600;
/// Seeds of the two generated parts (different, so validation text is held out).
const TRAIN_SEED: u64 = 0x1f1_2024;
const VALID_SEED: u64 = 0x7a1_d2024;

/// The training corpus: the user guide, then generated sentences in paragraphs.
pub fn corpus() -> String {
    let mut text = String::from(GUIDE);
    text.push('\n');
    text.push_str(&generate(TRAIN_SEED, TRAIN_SENTENCES));
    text
}

/// Held-out generated text from the same grammar, for validation.
pub fn validation_corpus() -> String {
    generate(VALID_SEED, VALID_SENTENCES)
}

/// Trains a byte-level BPE with at most `vocab_size` tokens on [`corpus`].
///
/// Token 0 is [`EOS_TOKEN`], then the 256 byte symbols, then merges. Any text round-trips
/// through encode and decode. The result depends only on `vocab_size` (and this crate's
/// version); it reaches `vocab_size` exactly up to about 1,700 tokens, beyond which the
/// corpus runs out of merges. Fails for `vocab_size < 257`.
pub fn tokenizer(vocab_size: usize) -> Result<Tokenizer> {
    if vocab_size < 257 {
        return Err(TrainError::invalid(
            "vocab_size",
            "at least 257 (256 bytes + end of text)",
            vocab_size,
        ));
    }
    let tok_err = |op: &'static str| {
        move |e: tokenizers::Error| TrainError::Tokenizer {
            op,
            message: e.to_string(),
        }
    };
    let byte_level = ByteLevel::new(false, true, true);
    let alphabet: HashSet<char> = ByteLevel::alphabet().into_iter().collect();
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(0)
        .show_progress(false)
        .special_tokens(vec![AddedToken::from(EOS_TOKEN, true)])
        .initial_alphabet(alphabet)
        .build();
    let mut tokenizer =
        TokenizerBuilder::<BPE, NormalizerWrapper, ByteLevel, ByteLevel, ByteLevel>::new()
            .with_model(BPE::default())
            .with_normalizer(None)
            .with_pre_tokenizer(Some(byte_level))
            .with_post_processor(Some(byte_level))
            .with_decoder(Some(byte_level))
            .build()
            .map_err(tok_err("build the built-in tokenizer"))?;
    let text = corpus();
    tokenizer
        .train(&mut trainer, text.lines())
        .map_err(tok_err("train the built-in tokenizer"))?;
    Ok(Tokenizer::from(tokenizer))
}

/// Tokenizes [`corpus`] and [`validation_corpus`] (prepared like any corpus file) into
/// windows of `seq_len` tokens padded with [`EOS_TOKEN`].
pub fn datasets(tokenizer: &Tokenizer, seq_len: usize) -> Result<(LmWindows, LmWindows)> {
    let pad = tokenizer
        .token_to_id(EOS_TOKEN)
        .ok_or_else(|| TrainError::Tokenizer {
            op: "find the end-of-text token",
            message: format!("the tokenizer has no {EOS_TOKEN:?}"),
        })?;
    let encode = |text: String| -> Result<Vec<u32>> {
        let text = prepare_text([text.as_str()]);
        Ok(tokenizer
            .encode_fast(text, false)
            .map_err(|e| TrainError::Tokenizer {
                op: "encode the built-in corpus",
                message: e.to_string(),
            })?
            .get_ids()
            .to_vec())
    };
    let train = LmWindows::new(encode(corpus())?, seq_len, pad)?;
    let valid = LmWindows::new(encode(validation_corpus())?, seq_len, pad)?;
    Ok((train, valid))
}

/// A tiny deterministic generator (SplitMix64), independent of any crate's RNG.
struct Picker(u64);

impl Picker {
    fn below(&mut self, n: usize) -> usize {
        self.0 = splitmix64(self.0);
        (self.0 % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const SUBJECTS: &[&str] = &[
    "the model",
    "the trainer",
    "a small network",
    "the optimizer",
    "the researcher",
    "the student",
    "the memory",
    "the scheduler",
    "our agent",
    "the language model",
    "the old checkpoint",
    "every layer",
    "the validation set",
    "the tokenizer",
    "the team",
    "a patient engineer",
    "the first epoch",
    "the learning rate",
    "the gradient",
    "the batch",
];
const VERBS: &[&str] = &[
    "reads",
    "writes",
    "predicts",
    "measures",
    "stores",
    "forgets",
    "compares",
    "improves",
    "follows",
    "counts",
    "saves",
    "loads",
    "tracks",
    "explains",
    "repeats",
    "checks",
    "shuffles",
    "averages",
    "clips",
    "schedules",
];
const OBJECTS: &[&str] = &[
    "the next token",
    "a long sentence",
    "the loss",
    "every window",
    "the weights",
    "a short summary",
    "the perplexity",
    "the integration score",
    "a checkpoint",
    "the history",
    "the metrics file",
    "a new batch",
    "the attention pattern",
    "the best result",
    "the random seed",
    "each step",
    "the plain text",
    "the moments",
    "a progress bar",
    "the training log",
];
const ADJECTIVES: &[&str] = &[
    "careful", "quiet", "steady", "bright", "slow", "quick", "clever", "simple", "curious",
    "stable", "noisy", "large", "tiny", "patient", "exact", "gentle",
];
const ADVERBS: &[&str] = &[
    "slowly",
    "carefully",
    "again",
    "every morning",
    "without errors",
    "step by step",
    "in order",
    "twice",
    "at night",
    "with care",
    "before the test",
    "after each epoch",
];
const PLACES: &[&str] = &[
    "in the garden",
    "on the hill",
    "near the river",
    "in the old library",
    "at the station",
    "under the bridge",
    "in a small room",
    "by the window",
    "on the long road",
    "in the city",
];
const THINGS: &[&str] = &[
    "apples", "books", "birds", "stones", "lamps", "boats", "trees", "letters", "chairs", "clocks",
];
const PEOPLE: &[&str] = &[
    "Ada", "Ben", "Clara", "Dev", "Elena", "Femi", "Gus", "Hana", "Ivo", "Juno",
];
const NUMBERS: &[&str] = &[
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
];
const DAYS: &[&str] = &[
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// `count` generated sentences from `seed`, grouped into paragraphs of up to eight.
fn generate(seed: u64, count: usize) -> String {
    let mut p = Picker(seed);
    let mut text = String::new();
    let mut in_paragraph = 0;
    for _ in 0..count {
        let sentence = sentence(&mut p);
        if in_paragraph > 0 {
            text.push(' ');
        }
        text.push_str(&sentence);
        in_paragraph += 1;
        if in_paragraph >= 4 + p.below(5) {
            text.push_str("\n\n");
            in_paragraph = 0;
        }
    }
    text.push('\n');
    text
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn sentence(p: &mut Picker) -> String {
    match p.below(9) {
        0 => format!(
            "{} {} {} {}.",
            capitalize(p.pick(SUBJECTS)),
            p.pick(VERBS),
            p.pick(OBJECTS),
            p.pick(ADVERBS)
        ),
        1 => format!(
            "The {} {} {} {} {}.",
            p.pick(ADJECTIVES),
            p.pick(SUBJECTS)
                .trim_start_matches("the ")
                .trim_start_matches("a "),
            p.pick(VERBS),
            p.pick(OBJECTS),
            p.pick(PLACES)
        ),
        2 => {
            let a = p.below(11);
            let b = p.below(10);
            format!(
                "{} plus {} is {}.",
                capitalize(NUMBERS[a]),
                NUMBERS[b],
                NUMBERS[a + b]
            )
        }
        3 => {
            let a = p.below(20);
            let b = p.below(a + 1);
            format!(
                "{} minus {} is {}.",
                capitalize(NUMBERS[a]),
                NUMBERS[b],
                NUMBERS[a - b]
            )
        }
        4 => {
            let start = p.below(15);
            let words: Vec<&str> = NUMBERS[start..start + 6].to_vec();
            format!("{} counts {}.", p.pick(PEOPLE), words.join(", "))
        }
        5 => {
            let n = 2 + p.below(12);
            format!(
                "On {} {} saw {} {} {}.",
                p.pick(DAYS),
                p.pick(PEOPLE),
                NUMBERS[n],
                p.pick(THINGS),
                p.pick(PLACES)
            )
        }
        6 => {
            let day = p.below(DAYS.len());
            format!(
                "After {} comes {}, and after {} comes {}.",
                DAYS[day],
                DAYS[(day + 1) % DAYS.len()],
                DAYS[(day + 1) % DAYS.len()],
                DAYS[(day + 2) % DAYS.len()]
            )
        }
        7 => format!(
            "If {} {} {}, then {} {} {}.",
            p.pick(SUBJECTS),
            p.pick(VERBS),
            p.pick(OBJECTS),
            p.pick(SUBJECTS),
            p.pick(VERBS),
            p.pick(OBJECTS)
        ),
        _ => format!(
            "{} is {} and {}, {} said {}.",
            capitalize(p.pick(SUBJECTS)),
            p.pick(ADJECTIVES),
            p.pick(ADJECTIVES),
            p.pick(PEOPLE),
            p.pick(ADVERBS)
        ),
    }
}
