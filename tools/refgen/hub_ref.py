"""Reference fixtures for the hub cache: small WikiText-style parquet shards (pyarrow), a tiny
GPT-2 with a small byte-level BPE tokenizer trained on them and GPT-2's context of 1024
(transformers), and the cache layout that the real huggingface_hub writes when it downloads them
and the tiny GPT-2 of gpt2_ref.py.

A local HTTP server impersonates the hub's file endpoints (ETag, X-Repo-Commit, Content-Length,
Range), huggingface_hub downloads through it (HF_ENDPOINT) into a fresh HF_HUB_CACHE, and the
resulting tree (directories, files, symlink targets, refs) is written to hub_layout.json. The
served repositories (commit, files, ETags: the git blob SHA-1 for small files, the SHA-256 for
LFS-style files, as the hub does) go to hub_manifest.json, and the rows pyarrow reads from each
shard to parquet_rows.json.

Usage: python tools/refgen/hub_ref.py   (writes crates/infinito-hub/tests/fixtures; needs the
tiktoken-rs sources under ~/.cargo/registry, as gpt2_ref.py does)
"""

import hashlib
import http.server
import json
import os
import shutil
import tempfile
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import torch
from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

from gpt2_ref import gpt2_bpe_files

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
OUT = os.path.join(ROOT, "crates", "infinito-hub", "tests", "fixtures")
MODEL_DIR = os.path.join(ROOT, "crates", "infinito-model", "tests", "fixtures", "tiny-gpt2")
ADAPTER_DIR = os.path.join(ROOT, "crates", "infinito-model", "tests", "fixtures", "tiny-lora")

MODEL = ("model", "infinito-test/tiny-gpt2", "1111111111111111111111111111111111111111")
ADAPTER = ("model", "infinito-test/tiny-lora", "2222222222222222222222222222222222222222")
DATASET = ("dataset", "Salesforce/wikitext", "3333333333333333333333333333333333333333")
BPE_MODEL = ("model", "infinito-test/tiny-gpt2-bpe", "5555555555555555555555555555555555555555")
LFS_SUFFIXES = (".safetensors", ".parquet", ".bin")

WORDS = ("the lobster is a species of the eastern Atlantic Ocean , and it may grow to a length "
         "of 60 cm ; its claws are blue until cooking , when they become red . mating occurs in "
         "summer and the females carry the eggs for a year before they hatch into larvae").split()


def rows(seed, n):
    """WikiText-like raw rows: headings, blank rows, sentences with a trailing newline."""
    out = []
    for i in range(n):
        k = seed * 31 + i * 7
        if i % 9 == 0:
            out.append(f" = Section {seed}.{i} = \n")
        elif i % 4 == 1:
            out.append("")
        else:
            words = [WORDS[(k + j * 5) % len(WORDS)] for j in range(12 + k % 17)]
            out.append(" " + " ".join(words) + " \n")
    return out


def write_shards(tmp):
    """Parquet shards laid out as Salesforce/wikitext's: <config>/<split>-NNNNN-of-NNNNN.parquet."""
    shards = {
        "wikitext-2-raw-v1/train-00000-of-00001.parquet": rows(1, 120),
        "wikitext-2-raw-v1/validation-00000-of-00001.parquet": rows(2, 50),
        "wikitext-2-raw-v1/test-00000-of-00001.parquet": rows(3, 50),
        "wikitext-103-raw-v1/train-00000-of-00002.parquet": rows(4, 60),
        "wikitext-103-raw-v1/train-00001-of-00002.parquet": rows(5, 60),
        "wikitext-103-raw-v1/validation-00000-of-00001.parquet": rows(6, 40),
    }
    for name, texts in shards.items():
        path = os.path.join(tmp, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # Two row groups, snappy (pyarrow's default, as in the hub's shards).
        pq.write_table(pa.table({"text": texts}), path, row_group_size=max(1, len(texts) // 2),
                       compression="snappy")
    return {name: pq.read_table(os.path.join(tmp, name)).column("text").to_pylist() for name in shards}


def write_bpe_model(path, shard_rows):
    """A random GPT-2 (2 layers, 32 wide, 1024 positions) with a 400-token byte-level BPE trained
    on the shards' text: small files that still run every guide command."""
    vocab_file, merges_file = gpt2_bpe_files()
    with open(vocab_file, encoding="utf-8") as f:
        vocab = json.load(f)
    with open(merges_file, encoding="utf-8") as f:
        merges = [tuple(line.split()) for line in f.read().split("\n")[1:] if line.strip()]
    base = GPT2TokenizerFast(vocab=vocab, merges=merges)
    texts = [t for rows_ in shard_rows.values() for t in rows_ if t.strip()]
    tok = base.train_new_from_iterator(texts, vocab_size=400)
    torch.manual_seed(5)
    config = GPT2Config(n_layer=2, n_embd=32, n_head=4, n_positions=1024, vocab_size=len(tok),
                        bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id)
    shutil.rmtree(path, ignore_errors=True)
    GPT2LMHeadModel(config).save_pretrained(path)
    tok.save_pretrained(path)
    for extra in ("tokenizer_config.json", "special_tokens_map.json", "generation_config.json"):
        if os.path.exists(os.path.join(path, extra)):
            os.remove(os.path.join(path, extra))


def etag(name, data):
    if name.endswith(LFS_SUFFIXES):
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def repo_files(directory, names):
    return {n: open(os.path.join(directory, n), "rb").read() for n in names}


class Hub(http.server.BaseHTTPRequestHandler):
    repos = {}

    def log_message(self, *args):
        pass

    def find(self):
        path = self.path
        prefix, rest = ("dataset", path[len("/datasets/"):]) if path.startswith("/datasets/") else ("model", path[1:])
        for (kind, repo_id), (commit, files) in self.repos.items():
            head = f"{repo_id}/resolve/"
            if kind == prefix and rest.startswith(head):
                revision, _, name = rest[len(head):].partition("/")
                if revision in ("main", commit) and name in files:
                    return commit, name, files[name]
        return None

    def do_HEAD(self):
        self.answer(body=False)

    def do_GET(self):
        self.answer(body=True)

    def answer(self, body):
        hit = self.find()
        if hit is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        commit, name, data = hit
        start, end = 0, len(data) - 1
        status = 200
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            a, _, b = rng[6:].partition("-")
            start, end, status = int(a), int(b) if b else len(data) - 1, 206
        self.send_response(status)
        self.send_header("ETag", f'"{etag(name, data)}"')
        self.send_header("X-Repo-Commit", commit)
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        if body:
            self.wfile.write(data[start:end + 1])


def tree(cache):
    """Every entry under the cache's repository folders: dirs, files (size), symlinks (target),
    refs (content). Lock and temporary files are left out (tools differ there)."""
    out = {}
    for top in sorted(os.listdir(cache)):
        if not top.startswith(("models--", "datasets--")):
            continue
        for dirpath, dirnames, filenames in os.walk(os.path.join(cache, top)):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, cache)
            for d in dirnames:
                out[os.path.join(rel_dir, d)] = {"type": "dir"}
            for f in sorted(filenames):
                full = os.path.join(dirpath, f)
                rel = os.path.join(rel_dir, f)
                if os.path.islink(full):
                    out[rel] = {"type": "symlink", "target": os.readlink(full)}
                elif "/refs/" in "/" + rel + "/" or rel.split(os.sep)[1] == "refs":
                    out[rel] = {"type": "ref", "content": open(full).read()}
                else:
                    out[rel] = {"type": "file", "size": os.path.getsize(full)}
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    tmp = tempfile.mkdtemp()
    shard_rows = write_shards(tmp)
    shard_dir = os.path.join(OUT, "wikitext")
    shutil.rmtree(shard_dir, ignore_errors=True)
    for name in shard_rows:
        os.makedirs(os.path.dirname(os.path.join(shard_dir, name)), exist_ok=True)
        shutil.copy(os.path.join(tmp, name), os.path.join(shard_dir, name))
    with open(os.path.join(OUT, "parquet_rows.json"), "w") as f:
        json.dump(shard_rows, f, indent=1)

    bpe_dir = os.path.join(OUT, "tiny-gpt2-bpe")
    write_bpe_model(bpe_dir, shard_rows)

    served = {
        BPE_MODEL: (bpe_dir, repo_files(bpe_dir, sorted(os.listdir(bpe_dir)))),
        MODEL: (MODEL_DIR, repo_files(MODEL_DIR, ["config.json", "model.safetensors"])),
        ADAPTER: (ADAPTER_DIR, repo_files(ADAPTER_DIR, ["adapter_config.json", "adapter_model.safetensors"])),
        DATASET: (shard_dir, repo_files(shard_dir, list(shard_rows))),
    }
    Hub.repos = {(kind, repo_id): (commit, files) for (kind, repo_id, commit), (_, files) in served.items()}
    manifest = [
        {"kind": kind, "id": repo_id, "commit": commit,
         "dir": os.path.relpath(os.path.abspath(d), os.path.abspath(ROOT)),
         "files": [{"name": n, "etag": etag(n, data), "size": len(data)} for n, data in sorted(files.items())]}
        for (kind, repo_id, commit), (d, files) in served.items()
    ]
    with open(os.path.join(OUT, "hub_manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cache = os.path.join(tmp, "hub")
    # transformers has imported huggingface_hub already: the endpoint goes as an argument.
    endpoint = f"http://127.0.0.1:{server.server_port}"
    os.environ.update({"HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1"})
    import huggingface_hub
    from huggingface_hub import hf_hub_download
    for (kind, repo_id, _), (_, files) in served.items():
        for name in sorted(files):
            if kind == "dataset" and not name.startswith("wikitext-2-raw-v1/"):
                continue
            hf_hub_download(repo_id, name, repo_type=kind, cache_dir=cache, endpoint=endpoint)
    layout = {"huggingface_hub": huggingface_hub.__version__, "entries": tree(cache)}
    with open(os.path.join(OUT, "hub_layout.json"), "w") as f:
        json.dump(layout, f, indent=1, sort_keys=True)
    server.shutdown()
    shutil.rmtree(tmp)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
