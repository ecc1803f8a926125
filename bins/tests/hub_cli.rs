//! Models and data by name through the hub cache, end to end: a local server impersonates the
//! hub (`infinito_hub::testing`, fixtures from tools/refgen/hub_ref.py), each command gets its
//! own `HF_HUB_CACHE`, and offline runs point `HF_ENDPOINT` at a closed port.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use infinito_hub::testing::{fixture_repos, FakeHub, FakeRepo};
use infinito_hub::{Hub, HubId, RepoKind, Settings, ADAPTER_FILES, GPT2_FILES};

const MODEL: &str = "infinito-test/tiny-gpt2";
const ADAPTER: &str = "infinito-test/tiny-lora";
const COMMIT: &str = "1111111111111111111111111111111111111111";
const OTHER_COMMIT: &str = "4444444444444444444444444444444444444444";
const TEXT: &str = "The lobster is a species of the eastern Atlantic Ocean.";

fn model_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/infinito-model/tests/fixtures")
}

/// Where a command finds the hub: online through `server`, or offline.
enum Net<'a> {
    Online(&'a FakeHub),
    Offline,
}

/// `bin` with its own cache and home, and nothing inherited from the caller's hub settings.
fn command(bin: &str, cache: &Path, home: &Path, net: Net) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env("CANDLE_NUM_THREADS", "1")
        .env("HF_HUB_CACHE", cache)
        .env("HOME", home)
        .current_dir(home);
    for var in [
        "HF_HOME",
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HF_TOKEN_PATH",
        "HUGGINGFACE_HUB_CACHE",
        "HF_HUB_OFFLINE",
    ] {
        cmd.env_remove(var);
    }
    match net {
        Net::Online(server) => cmd.env("HF_ENDPOINT", server.endpoint()),
        Net::Offline => cmd
            .env("HF_HUB_OFFLINE", "1")
            .env("HF_ENDPOINT", "http://127.0.0.1:9"),
    };
    cmd
}

fn perplexity(cache: &Path, home: &Path, net: Net, args: &[&str]) -> Output {
    command(env!("CARGO_BIN_EXE_perplexity"), cache, home, net)
        .args(args)
        .output()
        .unwrap()
}

fn train(cache: &Path, home: &Path, net: Net, args: &[&str]) -> Output {
    command(env!("CARGO_BIN_EXE_train_base_more"), cache, home, net)
        .args([
            "--seq-len",
            "32",
            "--batch-size",
            "2",
            "--memory-slots",
            "8",
            "--max-steps",
            "2",
        ])
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Exit status 2 with a one-line message; returns the message.
fn usage_error(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "stderr: {stderr}");
    stderr
}

/// A cache holding the tiny GPT-2 at `commit`, its adapter and WikiText-2's shards, as a
/// user's would after downloading them once.
fn prepared_cache(commit: &str) -> tempfile::TempDir {
    let repos: Vec<FakeRepo> = fixture_repos()
        .into_iter()
        .map(|mut r| {
            if r.id == MODEL {
                r.commit = commit.to_string();
            }
            r
        })
        .collect();
    let server = FakeHub::start(repos);
    let cache = tempfile::tempdir().unwrap();
    let hub = Hub::new(Settings {
        cache: cache.path().to_path_buf(),
        endpoint: server.endpoint().to_string(),
        token: None,
        offline: false,
        progress: false,
    });
    hub.model(&HubId::parse(MODEL).unwrap(), &GPT2_FILES)
        .unwrap();
    hub.model(&HubId::parse(ADAPTER).unwrap(), &ADAPTER_FILES)
        .unwrap();
    let wikitext2 = |files: &[String]| -> Result<Vec<String>, String> {
        Ok(files
            .iter()
            .filter(|f| f.starts_with("wikitext-2-raw-v1/"))
            .cloned()
            .collect())
    };
    hub.fetch(
        RepoKind::Dataset,
        &HubId::parse("Salesforce/wikitext").unwrap(),
        &wikitext2,
    )
    .unwrap();
    cache
}

#[test]
fn perplexity_by_hub_id_equals_by_directory_online_and_offline() {
    let server = FakeHub::start(fixture_repos());
    let (cache, home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let dir = model_fixtures().join("tiny-gpt2");
    let adapter = model_fixtures().join("tiny-lora");
    let by_dir = ok(&perplexity(
        cache.path(),
        home.path(),
        Net::Offline,
        &["--model", dir.to_str().unwrap(), "--text", TEXT, "--json"],
    ));
    let mut online = command(
        env!("CARGO_BIN_EXE_perplexity"),
        cache.path(),
        home.path(),
        Net::Online(&server),
    );
    online
        .env("HF_TOKEN", "hf_test_token")
        .args(["--model", MODEL, "--text", TEXT, "--json"]);
    assert_eq!(ok(&online.output().unwrap()), by_dir);
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.authorization.as_deref() == Some("Bearer hf_test_token")),
        "{requests:?}"
    );
    let offline = ok(&perplexity(
        cache.path(),
        home.path(),
        Net::Offline,
        &["--model", MODEL, "--text", TEXT, "--json"],
    ));
    assert_eq!(offline, by_dir);

    let with_adapter_dir = ok(&perplexity(
        cache.path(),
        home.path(),
        Net::Offline,
        &[
            "--model",
            dir.to_str().unwrap(),
            "--adapter",
            adapter.to_str().unwrap(),
            "--text",
            TEXT,
            "--json",
        ],
    ));
    assert_ne!(with_adapter_dir, by_dir);
    let with_adapter_id = ok(&perplexity(
        cache.path(),
        home.path(),
        Net::Online(&server),
        &[
            "--model",
            MODEL,
            "--adapter",
            ADAPTER,
            "--text",
            TEXT,
            "--json",
        ],
    ));
    assert_eq!(with_adapter_id, with_adapter_dir);
}

#[test]
fn unknown_ids_and_offline_misses_fail_in_one_line_with_status_2() {
    let server = FakeHub::start(fixture_repos());
    let (cache, home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let err = usage_error(&perplexity(
        cache.path(),
        home.path(),
        Net::Online(&server),
        &["--model", "nobody/nothing", "--text", TEXT],
    ));
    assert!(
        err.contains("no model nobody/nothing on http://127.0.0.1:"),
        "{err}"
    );
    let err = usage_error(&perplexity(
        cache.path(),
        home.path(),
        Net::Offline,
        &["--model", MODEL, "--text", TEXT],
    ));
    assert!(
        err.contains(&format!("model {MODEL} is not in the hub cache")),
        "{err}"
    );

    let prepared = prepared_cache(COMMIT);
    let dir = model_fixtures().join("tiny-gpt2");
    let err = usage_error(&train(
        prepared.path(),
        home.path(),
        Net::Offline,
        &[
            "--model",
            dir.to_str().unwrap(),
            "--data",
            "wikitext-103-raw-v1",
        ],
    ));
    assert!(
        err.contains("dataset Salesforce/wikitext is not in the hub cache"),
        "{err}"
    );
    let err = usage_error(&train(
        prepared.path(),
        home.path(),
        Net::Offline,
        &["--model", dir.to_str().unwrap(), "--data", "wikitext-2"],
    ));
    assert!(
        err.contains("--data wikitext-2: must be an existing file or directory, wikitext-2-raw-v1"),
        "{err}"
    );
}

/// The run's `last` checkpoint and the base model its configuration records.
fn recorded_base(run: &Path) -> (PathBuf, serde_json::Value) {
    let last = run.join("checkpoints/last.safetensors");
    let meta = infinito_checkpoint::read_metadata(&last).unwrap().unwrap();
    (last, meta["config"]["base_model"].clone())
}

#[test]
fn trains_offline_by_name_and_checkpoints_find_their_model_again() {
    let prepared = prepared_cache(COMMIT);
    let home = tempfile::tempdir().unwrap();
    let run = home.path().join("run");
    let out = train(
        prepared.path(),
        home.path(),
        Net::Offline,
        &[
            "--model",
            MODEL,
            "--data",
            "wikitext-2-raw-v1",
            "--output",
            run.to_str().unwrap(),
        ],
    );
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("finished (MaxSteps) after 2 steps"),
        "{stderr}"
    );
    let (last, base) = recorded_base(&run);
    assert_eq!(
        base,
        serde_json::json!({"source": "hub", "id": MODEL, "revision": "main", "commit": COMMIT})
    );

    // Moved to another place, the checkpoint finds its model through the cache.
    let moved = tempfile::tempdir().unwrap();
    let copy = moved.path().join("moved.safetensors");
    std::fs::copy(&last, &copy).unwrap();
    let scored = perplexity(
        prepared.path(),
        moved.path(),
        Net::Offline,
        &["--model", copy.to_str().unwrap(), "--text", TEXT, "--json"],
    );
    assert!(ok(&scored).contains("\"phi\""));

    // A cache whose tiny-gpt2 is another commit: same name, different model, refused.
    let other = prepared_cache(OTHER_COMMIT);
    let err = usage_error(&perplexity(
        other.path(),
        moved.path(),
        Net::Offline,
        &["--model", copy.to_str().unwrap(), "--text", TEXT],
    ));
    assert!(
        err.contains(&format!(
            "trained on {MODEL} at commit {COMMIT}, not on {MODEL} at commit {OTHER_COMMIT}"
        )),
        "{err}"
    );
    let err = usage_error(&train(
        other.path(),
        home.path(),
        Net::Offline,
        &[
            "--model",
            MODEL,
            "--data",
            "wikitext-2-raw-v1",
            "--output",
            run.to_str().unwrap(),
            "--checkpoint",
            last.to_str().unwrap(),
            "--max-steps",
            "3",
        ],
    ));
    assert!(
        err.contains(&format!(
            "pass the --model it was trained on ({MODEL}@{COMMIT})"
        )),
        "{err}"
    );
}

#[test]
fn a_relative_model_directory_survives_a_change_of_directory_but_not_of_content() {
    let cache = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let model = home.path().join("tiny");
    std::fs::create_dir(&model).unwrap();
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(
            model_fixtures().join("tiny-gpt2").join(file),
            model.join(file),
        )
        .unwrap();
    }
    let data = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/infinito-hub/tests/fixtures/wikitext/wikitext-2-raw-v1");
    ok(&train(
        cache.path(),
        home.path(),
        Net::Offline,
        &[
            "--model",
            "tiny",
            "--data",
            data.to_str().unwrap(),
            "--output",
            "run",
        ],
    ));
    let (last, base) = recorded_base(&home.path().join("run"));
    assert_eq!(base["source"], "directory");
    assert_eq!(
        base["path"],
        std::fs::canonicalize(&model).unwrap().to_str().unwrap()
    );

    let elsewhere = tempfile::tempdir().unwrap();
    let args = ["--model", last.to_str().unwrap(), "--text", TEXT, "--json"];
    ok(&perplexity(
        cache.path(),
        elsewhere.path(),
        Net::Offline,
        &args,
    ));

    let mut config = std::fs::read_to_string(model.join("config.json")).unwrap();
    config = config.replace("\"n_positions\": 64", "\"n_positions\": 48");
    std::fs::write(model.join("config.json"), config).unwrap();
    let err = usage_error(&perplexity(
        cache.path(),
        elsewhere.path(),
        Net::Offline,
        &args,
    ));
    assert!(err.contains("not on"), "{err}");
    assert!(err.contains("content sha256"), "{err}");
}
