//! Resolution against a local server impersonating the hub (`infinito_hub::testing`), and the
//! cache layout against what huggingface_hub writes (fixtures from tools/refgen/hub_ref.py).

use infinito_hub::testing::{cache_tree, fixture_repos, FakeHub};
use infinito_hub::{HubError, HubId, RepoKind, Settings, Snapshot, ADAPTER_FILES, GPT2_FILES};
use std::path::Path;

const MODEL: &str = "infinito-test/tiny-gpt2";
const MODEL_COMMIT: &str = "1111111111111111111111111111111111111111";
const WEIGHTS_ETAG: &str = "b9dd9c27617700755e32fa11817f8c098e1bb3ba2e156d0e5201118e5870bf52";

fn settings(hub: &FakeHub, cache: &Path, offline: bool) -> Settings {
    Settings {
        cache: cache.to_path_buf(),
        endpoint: hub.endpoint().to_string(),
        token: None,
        offline,
        progress: false,
    }
}

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn model_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../infinito-model/tests/fixtures/tiny-gpt2")
}

fn wikitext2(available: &[String]) -> Result<Vec<String>, String> {
    let files: Vec<String> = available
        .iter()
        .filter(|f| f.starts_with("wikitext-2-raw-v1/"))
        .cloned()
        .collect();
    if files.len() == 3 {
        Ok(files)
    } else {
        Err(format!("{} of 3 shards", files.len()))
    }
}

fn fetch_model(settings: Settings, id: &str) -> Result<Snapshot, HubError> {
    infinito_hub::Hub::new(settings).model(&HubId::parse(id).unwrap(), &GPT2_FILES)
}

#[test]
fn downloads_into_the_layout_huggingface_hub_writes() {
    let server = FakeHub::start(fixture_repos());
    let cache = tempfile::tempdir().unwrap();
    let hub = infinito_hub::Hub::new(settings(&server, cache.path(), false));
    let model = hub
        .model(&HubId::parse(MODEL).unwrap(), &GPT2_FILES)
        .unwrap();
    assert_eq!(model.commit, MODEL_COMMIT);
    assert_eq!(model.files, ["config.json", "model.safetensors"]);
    assert_eq!(
        std::fs::read(model.path("model.safetensors")).unwrap(),
        std::fs::read(model_dir().join("model.safetensors")).unwrap()
    );
    hub.model(
        &HubId::parse("infinito-test/tiny-lora").unwrap(),
        &ADAPTER_FILES,
    )
    .unwrap();
    let bpe = hub
        .model(
            &HubId::parse("infinito-test/tiny-gpt2-bpe").unwrap(),
            &GPT2_FILES,
        )
        .unwrap();
    assert_eq!(
        bpe.files,
        ["config.json", "model.safetensors", "tokenizer.json"]
    );
    let data = hub
        .fetch(
            RepoKind::Dataset,
            &HubId::parse("Salesforce/wikitext").unwrap(),
            &wikitext2,
        )
        .unwrap();
    assert_eq!(data.files.len(), 3);

    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("hub_layout.json")).unwrap())
            .unwrap();
    let expected = reference["entries"].as_object().unwrap();
    let ours = cache_tree(cache.path());
    let keys = |m: &serde_json::Map<String, serde_json::Value>| -> Vec<String> {
        m.keys().cloned().collect()
    };
    assert_eq!(keys(&ours), keys(expected));
    for (path, entry) in expected {
        assert_eq!(&ours[path], entry, "{path}");
    }
}

#[test]
fn a_cached_snapshot_needs_no_request_online_or_offline() {
    let server = FakeHub::start(fixture_repos());
    let cache = tempfile::tempdir().unwrap();
    let first = fetch_model(settings(&server, cache.path(), false), MODEL).unwrap();
    let requests = server.requests().len();
    assert!(
        requests >= 3,
        "info, then each file: {:?}",
        server.requests()
    );
    for offline in [false, true] {
        let again = fetch_model(settings(&server, cache.path(), offline), MODEL).unwrap();
        assert_eq!(again, first);
        let by_commit = fetch_model(
            settings(&server, cache.path(), offline),
            &format!("{MODEL}@{MODEL_COMMIT}"),
        )
        .unwrap();
        assert_eq!(
            (by_commit.dir, by_commit.commit),
            (first.dir.clone(), first.commit.clone())
        );
    }
    assert_eq!(server.requests().len(), requests, "{:?}", server.requests());
    // huggingface_hub writes refs only for names, never for a commit hash.
    let refs = hub_repo(cache.path()).join("refs");
    let names: Vec<_> = std::fs::read_dir(refs)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["main"]);
}

fn hub_repo(cache: &Path) -> std::path::PathBuf {
    cache.join("models--infinito-test--tiny-gpt2")
}

#[test]
fn a_partial_download_is_resumed_from_where_it_stopped() {
    let server = FakeHub::start(fixture_repos());
    let cache = tempfile::tempdir().unwrap();
    let blobs = hub_repo(cache.path()).join("blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    let weights = std::fs::read(model_dir().join("model.safetensors")).unwrap();
    let kept = weights.len() / 3;
    std::fs::write(blobs.join(format!("{WEIGHTS_ETAG}.part")), &weights[..kept]).unwrap();

    let model = fetch_model(settings(&server, cache.path(), false), MODEL).unwrap();
    assert_eq!(
        std::fs::read(model.path("model.safetensors")).unwrap(),
        weights
    );
    let ranges: Vec<Option<String>> = server
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/model.safetensors"))
        .map(|r| r.range)
        .collect();
    assert_eq!(
        ranges,
        [
            Some("bytes=0-0".to_string()),
            Some(format!("bytes={kept}-"))
        ]
    );
    assert!(!blobs.join(format!("{WEIGHTS_ETAG}.part")).exists());
}

#[test]
fn unknown_ids_and_offline_misses_are_usage_errors_naming_the_id() {
    let server = FakeHub::start(fixture_repos());
    let cache = tempfile::tempdir().unwrap();
    let err = fetch_model(settings(&server, cache.path(), false), "nobody/nothing").unwrap_err();
    assert!(
        matches!(err, HubError::NotFound { status: 404, .. }),
        "{err:?}"
    );
    assert!(err.is_usage());
    let message = err.to_string();
    assert!(
        message.contains("no model nobody/nothing on http://127.0.0.1:"),
        "{message}"
    );
    assert!(!message.contains('\n'));

    let err = fetch_model(settings(&server, cache.path(), true), MODEL).unwrap_err();
    assert!(matches!(err, HubError::NotCached { .. }), "{err:?}");
    assert!(err.is_usage());
    assert!(err
        .to_string()
        .contains(&format!("model {MODEL} is not in the hub cache")));
    assert!(err.to_string().contains("HF_HUB_OFFLINE"));

    let err = infinito_hub::Hub::new(settings(&server, cache.path(), false))
        .model(
            &HubId::parse("infinito-test/tiny-lora").unwrap(),
            &GPT2_FILES,
        )
        .unwrap_err();
    assert!(matches!(err, HubError::NoSuchFiles { .. }), "{err:?}");
    assert!(err.to_string().contains("no config.json"), "{err}");

    let no_server = Settings {
        endpoint: "http://127.0.0.1:9".to_string(),
        ..settings(&server, cache.path(), false)
    };
    let err = fetch_model(no_server, MODEL).unwrap_err();
    assert!(matches!(err, HubError::Download { .. }), "{err:?}");
    assert!(!err.is_usage());
    assert_eq!(server.requests().len(), 2, "{:?}", server.requests());
}

#[test]
fn a_missing_shard_in_the_cache_is_fetched_online_and_named_offline() {
    let server = FakeHub::start(fixture_repos());
    let cache = tempfile::tempdir().unwrap();
    let id = HubId::parse("Salesforce/wikitext").unwrap();
    let hub = infinito_hub::Hub::new(settings(&server, cache.path(), false));
    let data = hub.fetch(RepoKind::Dataset, &id, &wikitext2).unwrap();
    std::fs::remove_file(data.path(&data.files[0])).unwrap();
    let offline = infinito_hub::Hub::new(settings(&server, cache.path(), true));
    let err = offline
        .fetch(RepoKind::Dataset, &id, &wikitext2)
        .unwrap_err();
    assert!(err.to_string().contains("(2 of 3 shards)"), "{err}");
    assert!(err.to_string().contains("--repo-type dataset"), "{err}");
    let again = hub.fetch(RepoKind::Dataset, &id, &wikitext2).unwrap();
    assert!(again.path(&again.files[0]).is_file());
}
