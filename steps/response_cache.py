"""A step's response cache: the local SQLite file, shared through the artifact store when that is remote.

On Kubernetes every step runs in a fresh pod, so a local cache file would die
with it. With `blackbox.cache_sync` `auto` (and a remote artifact store) or
`always`, a step first merges the answers other steps and runs published under
`<artifact store>/instructzero-response-cache/`, then publishes what it paid for
as one new JSONL shard. Shards are written once and never rewritten, so
concurrent runs cannot overwrite each other's answers; a machine merges each
shard once (the local cache remembers which).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from zenml.client import Client
from zenml.io import fileio

from instructzero.blackbox.cache import ResponseCache
from instructzero.blackbox.caller import BlackBoxCaller
from instructzero.config.blackbox import BlackBoxConfig

logger = logging.getLogger(__name__)

SHARED_CACHE_DIR = "instructzero-response-cache"


def shared_cache_dir(config: BlackBoxConfig) -> str | None:
    """Where shards live for this config and the active stack, or None when not sharing."""
    if config.cache_sync == "never":
        return None
    store = Client().active_stack.artifact_store
    if config.cache_sync == "auto" and store.flavor == "local":
        return None  # the local file already outlives the step
    return os.path.join(store.path, SHARED_CACHE_DIR)


def pull(cache: ResponseCache, remote: str) -> int:
    """Merge every shard not merged before; returns answers added."""
    if not fileio.exists(remote):
        return 0
    added, seen = 0, cache.merged_shards()
    for name in sorted(fileio.listdir(remote)):
        name = os.path.basename(str(name))
        if not name.endswith(".jsonl") or name in seen:
            continue
        with fileio.open(os.path.join(remote, name), "r") as f:
            rows = [tuple(json.loads(line)) for line in f.read().splitlines() if line.strip()]
        added += cache.merge(rows, shard=name)
    return added


def push(cache: ResponseCache, remote: str) -> str | None:
    """Publish the answers this cache object wrote as one new shard; returns its name."""
    rows = cache.rows(cache.written)
    if not rows:
        return None
    name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}.jsonl"
    fileio.makedirs(remote)
    body = "".join(json.dumps([key, *row]) + "\n" for key, row in rows.items())
    with fileio.open(os.path.join(remote, name), "w") as f:
        f.write(body)
    cache.merge([], shard=name)
    return name


@contextmanager
def step_response_cache(config: BlackBoxConfig) -> Iterator[ResponseCache]:
    """The cache a scoring step uses; what it paid for is published even if the step fails."""
    cache = ResponseCache(config.cache_path)
    remote = shared_cache_dir(config)
    if remote:
        logger.info("response cache: %d answers merged from %s", pull(cache, remote), remote)
    try:
        yield cache
    finally:
        if remote:
            push(cache, remote)
        cache.close()


@contextmanager
def step_caller(config: BlackBoxConfig, *, fresh_answers: bool = False) -> Iterator[BlackBoxCaller]:
    """The configured black box behind the step's response cache (an empty one with `fresh_answers`:
    every answer is asked again)."""
    with nullcontext(ResponseCache()) if fresh_answers else step_response_cache(config) as cache:
        yield BlackBoxCaller.for_config(config, cache, progress=True)
