//! A local HTTP server that impersonates the hub's file endpoints, for tests without internet.
//!
//! It answers `GET /api/{models,datasets}/<repo>/revision/<rev>` with the file list and commit,
//! and `GET`/`HEAD` of `/<repo>/resolve/<rev>/<file>` (`/datasets/<repo>/...` for data sets)
//! with the headers the clients read: `ETag`, `X-Repo-Commit`, `Content-Length`, and
//! `Range` requests answered with `206` and `Content-Range`. Anything else is a 404. Every
//! request is logged.

use crate::RepoKind;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One file of a fake repository.
#[derive(Debug, Clone)]
pub struct FakeFile {
    /// Path inside the repository.
    pub name: String,
    /// Content.
    pub bytes: Vec<u8>,
    /// The `ETag` served (the blob name in the cache).
    pub etag: String,
}

/// A fake repository at one commit (served for `main` and for the commit itself).
#[derive(Debug, Clone)]
pub struct FakeRepo {
    /// Model or data set.
    pub kind: RepoKind,
    /// Its id (`org/name`).
    pub id: String,
    /// Its commit (40 hex digits).
    pub commit: String,
    /// Its files.
    pub files: Vec<FakeFile>,
}

/// A request the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// `GET` or `HEAD`.
    pub method: String,
    /// The request path.
    pub path: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

/// The running server; it lives until the process exits.
pub struct FakeHub {
    endpoint: String,
    log: Arc<Mutex<Vec<Logged>>>,
}

impl FakeHub {
    /// Serves `repos` on a free port of 127.0.0.1.
    pub fn start(repos: Vec<FakeRepo>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let endpoint = format!("http://{}", listener.local_addr().expect("local address"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let repos = Arc::new(repos);
        let server_log = Arc::clone(&log);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (repos, log) = (Arc::clone(&repos), Arc::clone(&server_log));
                std::thread::spawn(move || serve(stream, &repos, &log));
            }
        });
        Self { endpoint, log }
    }

    /// `http://127.0.0.1:<port>`, for `HF_ENDPOINT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Logged> {
        self.log.lock().expect("request log").clone()
    }
}

/// Reads one request, answers it and closes the connection.
fn serve(stream: TcpStream, repos: &[FakeRepo], log: &Mutex<Vec<Logged>>) {
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let range = headers.get("range").cloned();
    log.lock().expect("request log").push(Logged {
        method: method.clone(),
        path: path.clone(),
        range: range.clone(),
        authorization: headers.get("authorization").cloned(),
    });
    let response = respond(repos, &path, range.as_deref());
    let mut stream = &stream;
    let head = format!(
        "HTTP/1.1 {} {}\r\n{}Connection: close\r\n\r\n",
        response.status,
        if response.status < 400 {
            "OK"
        } else {
            "Not Found"
        },
        response
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .collect::<String>()
    );
    let _ = stream.write_all(head.as_bytes());
    if method != "HEAD" {
        let _ = stream.write_all(&response.body);
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn not_found() -> Response {
    Response {
        status: 404,
        headers: vec![
            ("Content-Length".into(), "0".into()),
            ("X-Error-Code".into(), "EntryNotFound".into()),
        ],
        body: Vec::new(),
    }
}

/// The repository and revision named in `rest` (`<repo>/<marker>/<rev>...`), and what follows.
fn split_repo<'a>(
    repos: &'a [FakeRepo],
    kind: RepoKind,
    rest: &'a str,
    marker: &str,
) -> Option<(&'a FakeRepo, &'a str)> {
    let (repo_id, after) = rest.split_once(marker)?;
    let repo = repos.iter().find(|r| r.kind == kind && r.id == repo_id)?;
    let (revision, tail) = after.split_once('/').unwrap_or((after, ""));
    (revision == "main" || revision == repo.commit).then_some((repo, tail))
}

fn respond(repos: &[FakeRepo], path: &str, range: Option<&str>) -> Response {
    for (kind, prefix) in [
        (RepoKind::Model, "/api/models/"),
        (RepoKind::Dataset, "/api/datasets/"),
    ] {
        if let Some(rest) = path.strip_prefix(prefix) {
            let Some((repo, _)) = split_repo(repos, kind, rest, "/revision/") else {
                return not_found();
            };
            let siblings: Vec<_> = repo
                .files
                .iter()
                .map(|f| serde_json::json!({ "rfilename": f.name }))
                .collect();
            let body =
                serde_json::json!({ "id": repo.id, "sha": repo.commit, "siblings": siblings })
                    .to_string()
                    .into_bytes();
            return Response {
                status: 200,
                headers: vec![
                    ("Content-Type".into(), "application/json".into()),
                    ("Content-Length".into(), body.len().to_string()),
                ],
                body,
            };
        }
    }
    let (kind, rest) = match path.strip_prefix("/datasets/") {
        Some(rest) => (RepoKind::Dataset, rest),
        None => (RepoKind::Model, path.trim_start_matches('/')),
    };
    let Some((repo, file)) = split_repo(repos, kind, rest, "/resolve/") else {
        return not_found();
    };
    let Some(file) = repo.files.iter().find(|f| f.name == file) else {
        return not_found();
    };
    let size = file.bytes.len();
    let mut headers = vec![
        ("ETag".to_string(), format!("\"{}\"", file.etag)),
        ("X-Repo-Commit".to_string(), repo.commit.clone()),
        ("Accept-Ranges".to_string(), "bytes".to_string()),
    ];
    let (status, body) = match range.map(|r| parse_range(r, size)) {
        Some(None) => {
            headers.push(("Content-Range".to_string(), format!("bytes */{size}")));
            (416, Vec::new())
        }
        Some(Some((start, end))) => {
            headers.push((
                "Content-Range".to_string(),
                format!("bytes {start}-{end}/{size}"),
            ));
            (206, file.bytes[start..=end].to_vec())
        }
        None => (200, file.bytes.clone()),
    };
    headers.push(("Content-Length".to_string(), body.len().to_string()));
    Response {
        status,
        headers,
        body,
    }
}

/// `bytes=a-b` or `bytes=a-` within a file of `size` bytes, as an inclusive range.
fn parse_range(range: &str, size: usize) -> Option<(usize, usize)> {
    let (start, end) = range.strip_prefix("bytes=")?.split_once('-')?;
    let start: usize = start.parse().ok()?;
    let end = if end.is_empty() {
        size.checked_sub(1)?
    } else {
        end.parse::<usize>().ok()?.min(size.checked_sub(1)?)
    };
    (start <= end).then_some((start, end))
}

/// The repositories of `tests/fixtures/hub_manifest.json` (written by
/// `tools/refgen/hub_ref.py`): a tiny GPT-2, a peft adapter and WikiText-style parquet shards,
/// with the ETags and commits the reference cache layout was made with.
pub fn fixture_repos() -> Vec<FakeRepo> {
    let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = crate_dir.join("../..");
    let manifest = crate_dir.join("tests/fixtures/hub_manifest.json");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).expect("hub_manifest.json"))
            .expect("hub_manifest.json parses");
    let text = |v: &serde_json::Value, key: &str| v[key].as_str().expect(key).to_string();
    manifest
        .as_array()
        .expect("a list of repositories")
        .iter()
        .map(|repo| {
            let dir = workspace.join(text(repo, "dir"));
            FakeRepo {
                kind: if text(repo, "kind") == "dataset" {
                    RepoKind::Dataset
                } else {
                    RepoKind::Model
                },
                id: text(repo, "id"),
                commit: text(repo, "commit"),
                files: repo["files"]
                    .as_array()
                    .expect("files")
                    .iter()
                    .map(|f| FakeFile {
                        name: text(f, "name"),
                        bytes: std::fs::read(dir.join(text(f, "name"))).expect("fixture file"),
                        etag: text(f, "etag"),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Every entry under the repository folders of a hub cache, as `hub_layout.json` records them:
/// `{"type": "dir"}`, `{"type": "file", "size": N}`, `{"type": "symlink", "target": ...}` or,
/// under `refs/`, `{"type": "ref", "content": ...}`. Lock and partial files are left out.
pub fn cache_tree(cache: &std::path::Path) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::json;
    let mut out = serde_json::Map::new();
    let mut pending = vec![cache.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read cache").flatten() {
            let path = entry.path();
            let rel = path
                .strip_prefix(cache)
                .expect("under the cache")
                .to_string_lossy()
                .into_owned();
            let top = rel.split('/').next().unwrap_or("");
            let name = entry.file_name().to_string_lossy().into_owned();
            if !(top.starts_with("models--") || top.starts_with("datasets--"))
                || name.ends_with(".lock")
                || name.ends_with(".part")
            {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            let value = if !rel.contains('/') {
                // The repository folder itself, which the reference does not list.
                pending.push(path.clone());
                continue;
            } else if meta.file_type().is_symlink() {
                json!({"type": "symlink", "target": std::fs::read_link(&path).expect("link").to_string_lossy()})
            } else if meta.is_dir() {
                pending.push(path.clone());
                json!({"type": "dir"})
            } else if rel.split('/').nth(1) == Some("refs") {
                json!({"type": "ref", "content": std::fs::read_to_string(&path).expect("ref")})
            } else {
                json!({"type": "file", "size": meta.len()})
            };
            out.insert(rel, value);
        }
    }
    out
}
