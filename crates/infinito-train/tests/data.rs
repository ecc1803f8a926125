//! Corpus resolution, text preparation, token cache, windows and batches.

use candle_core::Device;
use infinito_train::data::{
    load_split, prepare_text, read_text_column, resolve_split, tokenize_files, BatchPosition,
    Batches, CacheStatus, LmWindows, Order, Split,
};
use infinito_train::TrainError;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use tokenizers::Tokenizer;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A word-level tokenizer splitting on whitespace; unknown words map to `<unk>` (0).
fn word_tokenizer(words: &[&str]) -> Result<Tokenizer, Box<dyn std::error::Error>> {
    let vocab: serde_json::Map<String, serde_json::Value> = ["<unk>", "<eos>"]
        .iter()
        .chain(words)
        .enumerate()
        .map(|(i, w)| (w.to_string(), i.into()))
        .collect();
    let json = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [],
        "normalizer": null,
        "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"}
    });
    Tokenizer::from_str(&json.to_string()).map_err(|e| e.to_string().into())
}

fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf, std::io::Error> {
    let path = dir.join(name);
    std::fs::write(&path, text)?;
    Ok(path)
}

fn one_line(err: &TrainError) -> String {
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "multi-line message: {msg}");
    msg
}

#[test]
fn text_preparation_drops_blank_lines_and_keeps_newlines() {
    // HF rows keep their trailing newline and are joined with '\n'.
    assert_eq!(prepare_text(["a b\n \n\nc\n", "\t\nd"]), "a b\n\nc\n\nd");
    assert_eq!(prepare_text([" = T = \n"]), " = T = \n");
    assert_eq!(prepare_text(["\n  \n"]), "");
}

#[test]
fn windows_follow_the_original_layout() -> TestResult {
    let w = LmWindows::new((0..10).collect(), 3, 99)?;
    assert_eq!(w.len(), 3);
    let (mut inputs, mut labels) = (Vec::new(), Vec::new());
    for i in 0..3 {
        w.extend_window(i, &mut inputs, &mut labels)
            .ok_or("window")?;
    }
    assert_eq!(inputs, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(labels, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert!(w.extend_window(3, &mut inputs, &mut labels).is_none());

    // N divisible by L: the last window reads one token past the end and is padded.
    let w = LmWindows::new((0..9).collect(), 3, 99)?;
    let (mut inputs, mut labels) = (Vec::new(), Vec::new());
    w.extend_window(2, &mut inputs, &mut labels)
        .ok_or("window")?;
    assert_eq!((inputs, labels), (vec![6, 7, 8], vec![7, 8, 99]));

    assert!(LmWindows::new(vec![1, 2], 3, 0).is_err());
    assert!(LmWindows::new(vec![1, 2], 0, 0).is_err());
    Ok(())
}

#[test]
fn splits_are_chosen_by_file_name() -> TestResult {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    write(d, "train.txt", "x")?;
    write(d, "wiki.train.raw", "x")?;
    write(d, "valid.txt", "x")?;
    assert_eq!(resolve_split(d, Split::Train)?, [d.join("wiki.train.raw")]);
    assert_eq!(resolve_split(d, Split::Valid)?, [d.join("valid.txt")]);
    let err = resolve_split(d, Split::Test)
        .err()
        .ok_or("test split found")?;
    assert!(matches!(err, TrainError::MissingSplit { .. }));
    assert!(one_line(&err).contains("test.txt"));

    // A directory of text files is a train split only.
    let plain = tempfile::tempdir()?;
    let p = plain.path();
    write(p, "b.txt", "x")?;
    write(p, "a.txt", "x")?;
    write(p, "notes.md", "x")?;
    assert_eq!(
        resolve_split(p, Split::Train)?,
        [p.join("a.txt"), p.join("b.txt")]
    );
    assert!(resolve_split(p, Split::Valid).is_err());

    // A single file is the corpus whatever the split.
    let file = p.join("a.txt");
    assert_eq!(resolve_split(&file, Split::Valid)?, [file]);
    Ok(())
}

#[test]
fn bad_corpora_give_clear_errors() -> TestResult {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let tok = word_tokenizer(&["a"])?;

    let missing = d.join("nope");
    let err = resolve_split(&missing, Split::Train)
        .err()
        .ok_or("missing path accepted")?;
    assert!(matches!(err, TrainError::MissingPath { .. }));
    assert!(one_line(&err).contains("nope"));

    let err = resolve_split(d, Split::Train)
        .err()
        .ok_or("empty dir accepted")?;
    assert!(matches!(err, TrainError::EmptyCorpus { .. }), "{err}");

    let blank = write(d, "blank.txt", "\n  \n\t\n")?;
    let err = tokenize_files(&[blank], &tok, None)
        .err()
        .ok_or("blank file accepted")?;
    assert!(matches!(err, TrainError::EmptyCorpus { .. }));
    assert!(one_line(&err).contains("blank.txt"), "{err}");

    let empty = write(d, "empty.txt", "")?;
    assert!(tokenize_files(&[empty], &tok, None).is_err());

    let binary = d.join("bin.txt");
    std::fs::write(&binary, [b'a', 0xff, 0xfe, b'\n'])?;
    let err = tokenize_files(&[binary], &tok, None)
        .err()
        .ok_or("binary accepted")?;
    assert!(matches!(err, TrainError::NotUtf8 { .. }), "{err}");

    let short = write(d, "short.txt", "a a a\n")?;
    let err = load_split(&short, Split::Train, &tok, None, 8, 1)
        .err()
        .ok_or("short corpus accepted")?;
    assert!(matches!(err, TrainError::EmptyCorpus { .. }));
    let msg = one_line(&err);
    assert!(
        msg.contains("short.txt") && msg.contains("seq_len"),
        "{msg}"
    );

    let parquet = write(d, "train-00000-of-00001.parquet", "PAR1")?;
    let err = tokenize_files(&[parquet], &tok, None)
        .err()
        .ok_or("a broken parquet file accepted")?;
    assert!(matches!(err, TrainError::Parquet { .. }), "{err}");
    assert!(err.is_usage());
    assert!(
        one_line(&err).contains("train-00000-of-00001.parquet"),
        "{err}"
    );
    let err = resolve_split(d, Split::Valid)
        .err()
        .ok_or("a parquet dir without the split accepted")?;
    assert!(matches!(err, TrainError::MissingSplit { .. }), "{err}");
    assert!(one_line(&err).contains("validation-*.parquet"), "{err}");
    Ok(())
}

fn hub_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../infinito-hub/tests/fixtures")
}

#[test]
fn parquet_shards_read_as_pyarrow_reads_them() -> TestResult {
    let expected: std::collections::BTreeMap<String, Vec<String>> = serde_json::from_str(
        &std::fs::read_to_string(hub_fixtures().join("parquet_rows.json"))?,
    )?;
    for (name, rows) in &expected {
        let path = hub_fixtures().join("wikitext").join(name);
        assert_eq!(&read_text_column(&path)?, rows, "{name}");
    }
    let dir = hub_fixtures().join("wikitext/wikitext-103-raw-v1");
    assert_eq!(
        resolve_split(&dir, Split::Train)?,
        [
            dir.join("train-00000-of-00002.parquet"),
            dir.join("train-00001-of-00002.parquet")
        ]
    );
    // The rows of both shards, blank ones dropped, joined as the original joined them.
    let tok = word_tokenizer(&["lobster", "=", "the"])?;
    let files = resolve_split(&dir, Split::Train)?;
    let rows: Vec<&str> = files
        .iter()
        .map(|f| f.strip_prefix(hub_fixtures().join("wikitext")).unwrap())
        .flat_map(|name| &expected[name.to_str().unwrap()])
        .map(String::as_str)
        .collect();
    let text = rows
        .iter()
        .filter(|r| !r.trim().is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("\n");
    let ids = tokenize_files(&files, &tok, None)?.ids;
    let words: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(ids.len(), words.len());
    assert_eq!(
        ids.iter().filter(|&&id| id == 2).count(),
        words.iter().filter(|w| **w == "lobster").count()
    );
    assert_eq!(
        resolve_split(&dir, Split::Valid)?,
        [dir.join("validation-00000-of-00001.parquet")]
    );
    Ok(())
}

#[test]
fn tokenization_is_cached_by_tokenizer_and_content() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cache = dir.path().join("cache");
    let file = write(dir.path(), "corpus.txt", "the cat\n\n sat on\nthe mat\n")?;
    let tok = word_tokenizer(&["the", "cat", "sat", "on", "mat"])?;
    let files = [file.clone()];

    let first = tokenize_files(&files, &tok, Some(&cache))?;
    assert_eq!(first.ids, [2, 3, 4, 5, 2, 6]);
    let CacheStatus::Written(cache_file) = first.cache else {
        return Err(format!("expected a cache write, got {:?}", first.cache).into());
    };
    assert_eq!(std::fs::read(&cache_file)?.len(), 6 * 4);

    let second = tokenize_files(&files, &tok, Some(&cache))?;
    assert_eq!(second.cache, CacheStatus::Hit(cache_file.clone()));
    assert_eq!(second.ids, first.ids);

    // The cached ids are what is returned: overwrite them and read them back.
    std::fs::write(&cache_file, 7u32.to_le_bytes())?;
    assert_eq!(tokenize_files(&files, &tok, Some(&cache))?.ids, [7]);

    // Another tokenizer or other contents use another cache file.
    let other_tok = word_tokenizer(&["the", "cat"])?;
    let other = tokenize_files(&files, &other_tok, Some(&cache))?;
    assert!(matches!(other.cache, CacheStatus::Written(ref f) if *f != cache_file));
    assert_eq!(other.ids, [2, 3, 0, 0, 2, 0]);
    std::fs::write(&file, "the cat\n")?;
    let changed = tokenize_files(&files, &tok, Some(&cache))?;
    assert!(matches!(changed.cache, CacheStatus::Written(_)));
    assert_eq!(changed.ids, [2, 3]);

    // A cache file of the wrong length is rewritten.
    std::fs::write(&cache_file, [1u8, 2, 3])?;
    std::fs::write(&file, "the cat\n\n sat on\nthe mat\n")?;
    let healed = tokenize_files(&files, &tok, Some(&cache))?;
    assert_eq!(healed.cache, CacheStatus::Written(cache_file));
    assert_eq!(healed.ids, first.ids);

    assert_eq!(
        tokenize_files(&files, &tok, None)?.cache,
        CacheStatus::Disabled
    );
    Ok(())
}

fn batch_rows(batches: Batches<'_>) -> Result<Vec<Vec<Vec<u32>>>, Box<dyn std::error::Error>> {
    batches
        .map(|b| Ok(b?.input_ids.to_vec2::<u32>()?))
        .collect()
}

#[test]
fn batches_are_seeded_complete_and_resumable() -> TestResult {
    let windows = LmWindows::new((0..41).collect(), 4, 0)?;
    assert_eq!(windows.len(), 10);
    let dev = Device::Cpu;
    let at = |epoch, batch| BatchPosition { epoch, batch };

    let mut seq = Batches::new(&windows, 4, Order::Sequential, at(0, 0), &dev)?;
    assert_eq!(seq.num_batches(), 3);
    let first = seq.next().ok_or("no batch")??;
    assert_eq!(first.input_ids.dims(), [4, 4]);
    assert_eq!(first.input_ids.to_vec2::<u32>()?[1], [4, 5, 6, 7]);
    assert_eq!(first.labels.to_vec2::<u32>()?[1], [5, 6, 7, 8]);
    let sizes: Vec<usize> = seq
        .map(|b| Ok(b?.input_ids.dims()[0]))
        .collect::<Result<_, TrainError>>()?;
    assert_eq!(sizes, [4, 2]);

    let order = Order::Shuffled { seed: 7 };
    let epoch0 = batch_rows(Batches::new(&windows, 4, order, at(0, 0), &dev)?)?;
    assert_eq!(
        epoch0,
        batch_rows(Batches::new(&windows, 4, order, at(0, 0), &dev)?)?
    );
    let epoch1 = batch_rows(Batches::new(&windows, 4, order, at(1, 0), &dev)?)?;
    let seed8 = batch_rows(Batches::new(
        &windows,
        4,
        Order::Shuffled { seed: 8 },
        at(0, 0),
        &dev,
    )?)?;
    assert_ne!(epoch0, epoch1);
    assert_ne!(epoch0, seed8);
    let mut starts: Vec<u32> = epoch0.iter().flatten().map(|row| row[0]).collect();
    starts.sort();
    assert_eq!(starts, (0..10).map(|i| i * 4).collect::<Vec<u32>>());

    // Stop after one batch, save the position, resume with a new iterator.
    let mut run = Batches::new(&windows, 4, order, at(1, 0), &dev)?;
    run.next().ok_or("no batch")??;
    let saved: BatchPosition = serde_json::from_str(&serde_json::to_string(&run.position())?)?;
    assert_eq!(saved, at(1, 1));
    let resumed = batch_rows(Batches::new(&windows, 4, order, saved, &dev)?)?;
    assert_eq!(resumed, epoch1[1..]);
    assert!(batch_rows(Batches::new(&windows, 4, order, at(1, 3), &dev)?)?.is_empty());

    assert!(Batches::new(&windows, 4, order, at(0, 4), &dev).is_err());
    assert!(Batches::new(&windows, 0, order, at(0, 0), &dev).is_err());
    Ok(())
}

#[test]
fn wikitext2_valid_split_loads() -> TestResult {
    let Some(dir) = infinito_testutil::shared_data("wikitext-2/valid.txt") else {
        return Ok(());
    };
    let dir = dir.parent().ok_or("no parent")?;
    let tok = word_tokenizer(&["the", ",", ".", "of", "and", "in", "<unk>", "="])?;
    let cache = tempfile::tempdir()?;
    let (windows, status) = load_split(dir, Split::Valid, &tok, Some(cache.path()), 256, 1)?;
    assert!(matches!(status, CacheStatus::Written(_)));

    let text = std::fs::read_to_string(dir.join("valid.txt"))?;
    let words = prepare_text([text.as_str()]).split_whitespace().count();
    assert_eq!(windows.num_tokens(), words);
    assert_eq!(windows.len(), words / 256);
    println!(
        "valid.txt: {words} tokens, {} windows of 256",
        windows.len()
    );

    let (again, status) = load_split(dir, Split::Valid, &tok, Some(cache.path()), 256, 1)?;
    assert!(matches!(status, CacheStatus::Hit(_)));
    assert_eq!(again.num_tokens(), windows.num_tokens());
    assert!(matches!(
        resolve_split(dir, Split::Train),
        Err(TrainError::MissingSplit { .. })
    ));
    assert_eq!(resolve_split(dir, Split::Test)?, [dir.join("test.txt")]);
    Ok(())
}
