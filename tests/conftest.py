"""Shared fixtures: the shared benchmark data, a tiny random-weight model, isolated caches."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
#: The instruction-induction tasks live beside the clone, shared by developers and CI.
II_DIR = REPO.parent / "shared" / "data" / "instruction_induction"


@pytest.fixture(scope="session")
def ii_dir() -> Path:
    if not (II_DIR / "induce").is_dir():
        pytest.fail(f"{II_DIR} not found: the tests read the shared instruction-induction data beside the clone")
    return II_DIR


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory) -> Path:
    """A 2-layer random-weight Llama with SmolLM2's tokenizer, saved like any local HF model."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from instructzero.models import _converted_gguf, smollm2_location

    tokenizer = AutoTokenizer.from_pretrained(_converted_gguf(*smollm2_location()))
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
        initializer_range=0.5,  # peaked random logits, so soft prompts visibly change the text
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    path = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
