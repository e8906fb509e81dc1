"""Tests of hbt_bench.static_ml: the tokenlearn static model rebuilt as a trainable SentenceTransformer.

The reference is the package's own Rust encoder (``static_model.get_embeddings``), an implementation
independent of ours; the file-format tests use tiny hand-made safetensors files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hbt_bench.errors import ModelSpecError
from hbt_bench.static_ml import (
    EMBED_DIM,
    N_PARAMETERS,
    VOCAB_SIZE,
    OutputExistsError,
    package_model_dir,
    save_static_ml,
    token_matrix,
)

TEXTS = [
    "Where is the Iroquois area in Canada?",
    "Die Panthers-Verteidigung gab nur 308 Punkte ab.",
    "黑豹队的防守只丢了308分。",
    "Защита Пантер пропустила всего 308 очков.",
    "ฝ่ายป้องกันของแพนเทอร์เสียเพียง 308 แต้ม",
    "पैंथर्स की रक्षा ने केवल 308 अंक दिए।",
    "Η άμυνα των Πάνθηρων δέχτηκε μόνο 308 πόντους.",
    "الدفاع سمح بـ 308 نقاط فقط.",
    "🦄 ᚠᛇᚻ \x00 unknown pieces",
]


def _write(path: Path, **arrays: np.ndarray) -> Path:
    from safetensors.numpy import save_file

    save_file(arrays, str(path))
    return path


# ---------------------------------------------------------------------------------------------------
# token_matrix on hand-made files
# ---------------------------------------------------------------------------------------------------


def test_token_matrix_folds_mapping_and_weights(tmp_path: Path) -> None:
    emb = np.array([[1, -2], [3, 4]], dtype=np.int8)
    path = _write(
        tmp_path / "m.safetensors",
        embeddings=emb,
        mapping=np.array([1, 0, 1], dtype=np.int64),
        weights=np.array([0.5, 2.0, 1.0], dtype=np.float32),
    )
    out = token_matrix(path)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[1.5, 2.0], [2.0, -4.0], [3.0, 4.0]])  # by hand


def test_token_matrix_names_bad_fields(tmp_path: Path) -> None:
    emb = np.zeros((2, 2), dtype=np.int8)
    path = _write(tmp_path / "a.safetensors", embeddings=emb, mapping=np.array([0], dtype=np.int64))
    with pytest.raises(ModelSpecError, match=r"a\.safetensors: missing field\(s\) weights"):
        token_matrix(path)
    path = _write(
        tmp_path / "b.safetensors",
        embeddings=emb,
        mapping=np.array([0, 2], dtype=np.int64),
        weights=np.ones(2, dtype=np.float32),
    )
    with pytest.raises(ModelSpecError, match=r"b\.safetensors: field mapping points outside embeddings"):
        token_matrix(path)
    (tmp_path / "c.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelSpecError, match=r"cannot read .*c\.safetensors"):
        token_matrix(tmp_path / "c.safetensors")


def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from hbt_bench.encoders import load_model

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "static_model" else real(name, *a)
    )
    with pytest.raises(
        ModelSpecError, match=r'tokenlearn-static-model.*pip install "hbt-bench\[multilingual\]"'
    ):
        load_model("builtin:static-ml")


# ---------------------------------------------------------------------------------------------------
# against the package's own encoder
# ---------------------------------------------------------------------------------------------------

static_model = pytest.importorskip("static_model", reason="tokenlearn-static-model is not installed")


@pytest.fixture(scope="module")
def st_model():
    from hbt_bench.encoders import load_model

    return load_model("builtin:static-ml", device="cpu")


def test_is_a_static_sentence_transformer(st_model) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, StaticEmbedding

    assert isinstance(st_model, SentenceTransformer)
    assert [type(m) for m in st_model] == [StaticEmbedding, Normalize]
    assert st_model.get_embedding_dimension() == EMBED_DIM
    assert st_model[0].tokenizer.get_vocab_size() == VOCAB_SIZE
    n_trainable = sum(p.numel() for p in st_model.parameters() if p.requires_grad)
    assert n_trainable == N_PARAMETERS == 276_326 * 64  # the meta's n_parameters


def test_matches_the_package_encoder(st_model) -> None:
    ours = st_model.encode(TEXTS)
    ref = np.asarray(static_model.get_embeddings(TEXTS), dtype=np.float32)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, rtol=1e-5)
    cos = (ours * ref).sum(axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() > 1 - 1e-5, cos


def test_truncates_at_512_tokens_like_the_package(st_model) -> None:
    long = " ".join(TEXTS * 40)  # > 512 tokens
    assert len(st_model[0].tokenizer.encode(long, add_special_tokens=False).ids) == 512
    ours = st_model.encode([long])[0]
    ref = np.asarray(static_model.get_embeddings([long])[0], dtype=np.float32)
    assert float(ours @ ref) / float(np.linalg.norm(ref)) > 1 - 1e-5


def test_empty_text_gives_zero_row_like_the_package(st_model) -> None:
    ours = st_model.encode(["", "a"])
    ref = np.asarray(static_model.get_embeddings([""]), dtype=np.float32)
    assert not ours[0].any() and not ref.any()


def test_save_is_an_ordinary_local_model(tmp_path: Path, st_model) -> None:
    from hbt_bench.encoders import load_model

    out = save_static_ml(tmp_path / "static")
    assert (out / "modules.json").is_file() and not list(tmp_path.glob(".static.*"))  # no staging left
    reloaded = load_model(str(out), device="cpu")
    assert reloaded.model_card_data.model_name == "local/static"  # a copy is not the built-in
    np.testing.assert_allclose(reloaded.encode(TEXTS), st_model.encode(TEXTS), rtol=0, atol=1e-6)
    with pytest.raises(OutputExistsError, match="static is not empty"):
        save_static_ml(out)
    save_static_ml(out, overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputExistsError, match="not a folder"):
        save_static_ml(tmp_path / "file")
    assert package_model_dir().name == "model"


def test_training_base_accepts_it() -> None:
    from sentence_transformers import SentenceTransformer

    from hbt_bench.training.errors import TrainingConfigError
    from hbt_bench.training.lora import load_base_model

    assert isinstance(load_base_model("builtin:static-ml"), SentenceTransformer)
    # a static model has no sequence-length setting: the config field is named, not an AttributeError
    with pytest.raises(TrainingConfigError, match=r"training\.max_seq_length.*StaticEmbedding"):
        load_base_model("builtin:static-ml", max_seq_length=128)
