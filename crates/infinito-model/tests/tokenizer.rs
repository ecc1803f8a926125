//! Tokenization against Hugging Face's GPT-2 tokenizer (fixture from tools/refgen/gpt2_ref.py).

use std::path::Path;

use infinito_model::tokenizer::{builtin_gpt2, decode, encode, for_model_dir, GPT2_VOCAB_SIZE};

#[derive(serde::Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
    decoded: String,
}

fn cases() -> Vec<Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer_cases.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn builtin_tokenizer_equals_hugging_face() {
    let tok = builtin_gpt2().unwrap();
    assert_eq!(tok.get_vocab_size(true), GPT2_VOCAB_SIZE);
    for case in cases() {
        assert_eq!(
            encode(&tok, &case.text).unwrap(),
            case.ids,
            "encoding {:?}",
            case.text
        );
        assert_eq!(
            decode(&tok, &case.ids).unwrap(),
            case.decoded,
            "decoding {:?}",
            case.text
        );
    }
}

#[test]
fn tokenizer_json_in_a_model_dir_is_preferred_and_equal() {
    let dir = tempfile::tempdir().unwrap();
    builtin_gpt2()
        .unwrap()
        .save(dir.path().join("tokenizer.json"), false)
        .unwrap();
    let tok = for_model_dir(dir.path(), 123).unwrap();
    for case in cases() {
        assert_eq!(
            encode(&tok, &case.text).unwrap(),
            case.ids,
            "encoding {:?}",
            case.text
        );
    }
}

#[test]
fn a_dir_without_tokenizer_files_and_a_foreign_vocabulary_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = for_model_dir(dir.path(), 1000).unwrap_err().to_string();
    assert!(err.contains("tokenizer.json"), "{err}");
}
