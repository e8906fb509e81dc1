"""Hybrid batch samplers: batch types, group distinctness, determinism, DDP sharding, length, trainer use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

datasets = pytest.importorskip("datasets")
pytest.importorskip("sentence_transformers")

from hbt_bench.data.lareqa import Candidate, LareqaCorpus, LareqaLanguage, Question  # noqa: E402
from hbt_bench.training.pairs import PAIR_COLUMNS, TEXT_COLUMNS, parallel_pairs  # noqa: E402
from hbt_bench.training.samplers import (  # noqa: E402
    CROSS,
    HybridBatchSampler,
    HybridSamplerFactory,
    XXMonoBatchSampler,
    XYBatchSampler,
    hybrid_batch_sampler,
)


def shard_like_accelerate(batches, world_size: int, rank: int) -> list[list[int]]:
    """The batches rank ``rank`` gets from accelerate's ``BatchSamplerShard`` (split_batches=False,
    even_batches=False, as the ST trainer sets it): rank, rank + W, ... (checked against accelerate below)."""
    return [list(b) for i, b in enumerate(batches) if i % world_size == rank]


REPO = Path(__file__).resolve().parents[2]
LANGS = ("ar", "de", "en")


def make_pairs(n_groups: int, langs: tuple[str, ...] = LANGS, drop: float = 0.0, seed: int = 0):
    """Synthetic parallel pairs; with ``drop`` > 0 each group lacks each language with that probability."""
    rng = np.random.default_rng(seed)
    cols: dict[str, list[str]] = {c: [] for c in PAIR_COLUMNS}
    for g in range(n_groups):
        have = [lang for lang in langs if rng.random() >= drop] or [langs[0]]
        for x in have:
            for y in have:
                cols["query"].append(f"q{g} {x}")
                cols["passage"].append(f"p{g} {y}")
                cols["group"].append(f"g{g:06d}")
                cols["query_lang"].append(x)
                cols["passage_lang"].append(y)
    return datasets.Dataset.from_dict(cols)


def check_batches(ds, batches: list[list[int]], types: list[str]) -> None:
    """Distinct groups per batch; rows match the batch's type."""
    group, ql, pl = ds["group"], ds["query_lang"], ds["passage_lang"]
    assert len(batches) == len(types)
    for batch, kind in zip(batches, types, strict=True):
        gs = [group[i] for i in batch]
        assert len(set(gs)) == len(gs), "two rows of one group in a batch"
        if kind == CROSS:
            assert all(ql[i] != pl[i] for i in batch)
        else:
            lang = kind.removeprefix("mono:")
            assert all(ql[i] == pl[i] == lang for i in batch)


@pytest.fixture(scope="module")
def full_ds():
    return make_pairs(2000)


@pytest.fixture(scope="module")
def partial_ds():
    return make_pairs(600, langs=("ar", "de", "en", "zh"), drop=0.3, seed=1)


def test_mono_and_cross_only(partial_ds) -> None:
    mono = XXMonoBatchSampler(partial_ds, batch_size=8, seed=3)
    assert len(mono) > 10 and all(t.startswith("mono:") for t in mono.batch_types)
    check_batches(partial_ds, mono.batches(), mono.batch_types)
    xy = XYBatchSampler(partial_ds, batch_size=8, seed=3)
    assert len(xy) > 10 and set(xy.batch_types) == {CROSS}
    check_batches(partial_ds, xy.batches(), xy.batch_types)
    assert HybridBatchSampler(partial_ds, 8, alpha=1.0, seed=3).batches() == mono.batches()
    with pytest.raises(ValueError):
        HybridBatchSampler(partial_ds, 8, alpha=1.5)


def test_cross_pairs_uniform_within_group(full_ds) -> None:
    """X-Y draws each group's (X, Y) among its 6 cross pairs uniformly."""
    s = XYBatchSampler(full_ds, batch_size=50)
    ql, pl = np.array(full_ds["query_lang"]), np.array(full_ds["passage_lang"])
    counts: Counter[tuple[str, str]] = Counter()
    for epoch in range(10):
        s.set_epoch(epoch)
        rows = np.concatenate([np.array(b) for b in s.batches()])
        counts.update(zip(ql[rows], pl[rows], strict=True))
    assert len(counts) == 6 and all(x != y for x, y in counts)
    share = np.array(list(counts.values())) / sum(counts.values())
    assert np.abs(share - 1 / 6).max() < 0.01


@pytest.mark.parametrize("alpha", [0.5, 0.25])
def test_hybrid_share_and_language_uniformity(full_ds, alpha: float) -> None:
    s = HybridBatchSampler(full_ds, batch_size=4, alpha=alpha, seed=7)
    types: list[str] = []
    epoch = 0
    while len(types) < 20_000:
        s.set_epoch(epoch)
        types += s.batch_types
        epoch += 1
    share = sum(t != CROSS for t in types) / len(types)
    assert abs(share - alpha) < 0.015, share
    langs = Counter(t for t in types if t != CROSS)
    n_mono = sum(langs.values())
    assert set(langs) == {f"mono:{lang}" for lang in LANGS}
    assert all(abs(c / n_mono - 1 / 3) < 0.03 for c in langs.values()), langs


@pytest.mark.parametrize("drop_last", [False, True])
def test_groups_once_per_epoch_and_valid_rows(partial_ds, drop_last: bool) -> None:
    s = HybridBatchSampler(partial_ds, batch_size=7, drop_last=drop_last, seed=11)
    for epoch in range(3):
        s.set_epoch(epoch)
        batches, types = s.batches(), s.batch_types
        check_batches(partial_ds, batches, types)
        all_groups = [partial_ds["group"][i] for b in batches for i in b]
        assert len(all_groups) == len(set(all_groups)), "a group used twice in one epoch"
        assert all(len(b) == 7 for b in batches[:-1])


def test_full_parallel_epoch_uses_nearly_all_groups(full_ds) -> None:
    s = HybridBatchSampler(full_ds, batch_size=16, drop_last=False, seed=0)
    used = {full_ds["group"][i] for b in s for i in b}
    assert len(used) > 2000 - 16


@pytest.mark.parametrize("drop_last", [False, True])
def test_len_matches_iteration(partial_ds, drop_last: bool) -> None:
    for world_size in (1, 3):
        s = HybridBatchSampler(partial_ds, batch_size=9, drop_last=drop_last, world_size=world_size)
        for epoch in range(4):
            s.set_epoch(epoch)
            batches = list(iter(s))
            assert len(s) == len(batches) > 0
            assert len(s.batch_types) == len(batches)
            sizes = {len(b) for b in batches}
            if drop_last:
                assert sizes == {9}
                assert len(batches) % world_size == 0


def test_short_last_batch_kept_without_drop_last() -> None:
    ds = make_pairs(10)
    kept = XYBatchSampler(ds, batch_size=4, drop_last=False)
    dropped = XYBatchSampler(ds, batch_size=4, drop_last=True)
    assert [len(b) for b in kept] == [4, 4, 2]
    assert [len(b) for b in dropped] == [4, 4]


def test_deterministic_per_seed_and_epoch(partial_ds) -> None:
    a = HybridBatchSampler(partial_ds, batch_size=8, seed=5)
    b = HybridBatchSampler(partial_ds, batch_size=8, seed=5)
    assert a.batches() == b.batches() and a.batch_types == b.batch_types
    first = a.batches()
    a.set_epoch(1)
    assert a.batches() != first
    a.set_epoch(0)
    assert a.batches() == first
    assert HybridBatchSampler(partial_ds, batch_size=8, seed=6).batches() != first


_CHILD = """
import json, sys
sys.path.insert(0, {repo!r})
from tests.training.test_samplers import make_pairs
from hbt_bench.training.samplers import HybridBatchSampler
ds = make_pairs(300, langs=("ar", "de", "en", "zh"), drop=0.3, seed=1)
s = HybridBatchSampler(ds, batch_size=8, seed=5)
s.set_epoch(2)
print(json.dumps([s.batches(), s.batch_types]))
"""


def test_deterministic_across_processes_and_hash_seeds() -> None:
    here = HybridBatchSampler(make_pairs(300, langs=("ar", "de", "en", "zh"), drop=0.3, seed=1), 8, seed=5)
    here.set_epoch(2)
    expected = [here.batches(), here.batch_types]
    code = _CHILD.format(repo=str(REPO))
    for hash_seed in ("12345",):  # one child: the import of sentence-transformers costs seconds
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True
        )
        assert json.loads(out.stdout.strip().splitlines()[-1]) == expected


@pytest.mark.parametrize("world_size", [1, 2, 4])
@pytest.mark.parametrize("drop_last", [False, True])
def test_ddp_simulation(partial_ds, world_size: int, drop_last: bool) -> None:
    s = HybridBatchSampler(partial_ds, batch_size=6, drop_last=drop_last, world_size=world_size, seed=2)
    group = partial_ds["group"]
    for epoch in range(3):
        s.set_epoch(epoch)
        batches, types = s.batches(), s.batch_types
        check_batches(partial_ds, batches, types)
        shards = [shard_like_accelerate(batches, world_size, r) for r in range(world_size)]
        rank_types = [[t for i, t in enumerate(types) if i % world_size == r] for r in range(world_size)]
        n_steps = max(len(sh) for sh in shards)
        assert n_steps > 3
        for step in range(n_steps):
            step_batches = [sh[step] for sh in shards if step < len(sh)]
            step_types = {rt[step] for rt in rank_types if step < len(rt)}
            assert len(step_types) == 1, f"ranks disagree on the batch type at step {step}"
            step_groups = [group[i] for b in step_batches for i in b]
            assert len(step_groups) == len(set(step_groups)), "a group on two ranks in one step"
        rows = [i for sh in shards for b in sh for i in b]
        assert len(rows) == len(set(rows)) == sum(len(b) for b in batches), "ranks overlap"


def test_shard_helper_matches_accelerate(partial_ds) -> None:
    """Our simulation of rank r's batches equals accelerate's BatchSamplerShard as ST configures it."""
    data_loader = pytest.importorskip("accelerate.data_loader")
    for drop_last in (False, True):
        s = HybridBatchSampler(partial_ds, batch_size=6, drop_last=drop_last, world_size=4, seed=2)
        for rank in range(4):
            shard = data_loader.BatchSamplerShard(
                s, num_processes=4, process_index=rank, split_batches=False, even_batches=False
            )
            got = [list(b) for b in shard]
            assert got == shard_like_accelerate(s.batches(), 4, rank)
            assert len(shard) == len(got)


def with_sources(sizes: dict[str, int], seed: int = 3):
    """Several sources (a ``source`` column, group ids prefixed as build_pairs does) of the given sizes."""
    parts = []
    for i, (name, n) in enumerate(sizes.items()):
        ds = make_pairs(n, langs=("ar", "de", "en", "zh"), drop=0.2, seed=seed + i)
        ds = ds.map(
            lambda b, name=name: {
                "group": [f"{name}:{g}" for g in b["group"]],
                "source": [name] * len(b["group"]),
            },
            batched=True,
        )
        parts.append(ds)
    return datasets.concatenate_datasets(parts)


@pytest.mark.parametrize("world_size", [1, 2])
def test_each_batch_from_one_source_in_proportion_to_size(world_size: int) -> None:
    """Paper: batches are "sampled based on dataset size": one source per block (all ranks of a step),
    picked in proportion to its unused groups, so each source's batches follow its size."""
    sizes = {"big": 900, "mid": 300, "small": 100}
    ds = with_sources(sizes)
    source, group = ds["source"], ds["group"]
    s = HybridBatchSampler(ds, batch_size=10, world_size=world_size, seed=4, drop_last=True)
    counts: Counter = Counter()
    for epoch in range(3):
        s.set_epoch(epoch)
        batches, types, srcs = s.batches(), s.batch_types, s.batch_sources
        check_batches(ds, batches, types)
        assert len(srcs) == len(batches)
        for i, (batch, name) in enumerate(zip(batches, srcs, strict=True)):
            assert {source[r] for r in batch} == {name}, "a batch mixes sources"
            assert {group[r].split(":")[0] for r in batch} == {name}
            if i % world_size == 0:  # the ranks of a step share the source
                assert len(set(srcs[i : i + world_size])) == 1
        counts.update(srcs)
        used = [group[r] for b in batches for r in b]
        assert len(used) == len(set(used)), "a group twice in an epoch"
    total = sum(counts.values())
    for name, n in sizes.items():
        share = counts[name] / total
        # every source is used up to its last unfillable block, so the shares track the sizes closely
        assert share == pytest.approx(n / sum(sizes.values()), abs=0.05), (name, share)
    # the order interleaves sources: the first tenth of the epoch's batches is not all from one source
    assert len(set(srcs[: max(4, len(srcs) // 10)])) > 1


def test_single_source_column_changes_nothing(partial_ds) -> None:
    """A constant source column (one dataset) gives exactly the plan of data without one."""
    tagged = partial_ds.add_column("source", ["only"] * len(partial_ds))
    for drop_last in (False, True):
        a = HybridBatchSampler(partial_ds, batch_size=8, seed=9, drop_last=drop_last)
        b = HybridBatchSampler(tagged, batch_size=8, seed=9, drop_last=drop_last)
        assert a.batches() == b.batches() and a.batch_types == b.batch_types
        assert set(b.batch_sources) == {"only"} and set(a.batch_sources) == {""}
    mixed = HybridBatchSampler(tagged, batch_size=8, seed=9, source_column=None)
    assert mixed.batches() == HybridBatchSampler(partial_ds, batch_size=8, seed=9).batches()


def test_group_in_two_sources_is_an_error(partial_ds) -> None:
    names = ["a" if i % 2 else "b" for i in range(len(partial_ds))]
    with pytest.raises(ValueError, match="a group has rows of several sources in column 'source'"):
        HybridBatchSampler(partial_ds.add_column("source", names), batch_size=8)


def test_metadata_separate_from_text_columns(partial_ds) -> None:
    text_only = partial_ds.select_columns(list(TEXT_COLUMNS))
    a = HybridBatchSampler(text_only, batch_size=8, seed=1, metadata=partial_ds)
    b = HybridBatchSampler(partial_ds, batch_size=8, seed=1)
    assert a.batches() == b.batches()
    with pytest.raises(ValueError, match="rows"):
        HybridBatchSampler(text_only.select(range(10)), batch_size=8, metadata=partial_ds)


def test_factory_signature_as_st_calls_it(partial_ds) -> None:
    factory = hybrid_batch_sampler(0.25, metadata=partial_ds)
    assert isinstance(factory, HybridSamplerFactory)
    text_only = partial_ds.select_columns(list(TEXT_COLUMNS))
    s = factory(
        text_only, batch_size=8, drop_last=True, valid_label_columns=["label"], generator=None, seed=4
    )
    assert s.alpha == 0.25 and s.seed == 4 and factory.samplers == [s]
    mono = HybridSamplerFactory(cls=XXMonoBatchSampler, metadata=partial_ds)(
        text_only, batch_size=8, drop_last=False, valid_label_columns=None, generator=None, seed=0
    )
    assert all(t.startswith("mono:") for t in mono.batch_types)


def _tiny_corpus() -> LareqaCorpus:
    langs = {}
    for lang in ("en", "de", "es"):
        qids = ["q1", "q2"] if lang != "es" else ["q2"]
        cands = tuple(Candidate(f"{lang}_0_{i}", lang, f"{lang} answer {i}", "ctx") for i in range(3))
        qs = tuple(Question(q, lang, f"{lang} question {q}", f"{lang}_0_{int(q[1])}") for q in qids)
        langs[lang] = LareqaLanguage(lang=lang, source="mem", questions=qs, candidates=cands)
    return LareqaCorpus(name="tiny", languages=langs)


def test_parallel_pairs_tiny_corpus() -> None:
    ds = parallel_pairs(_tiny_corpus())
    assert ds.column_names == list(PAIR_COLUMNS)
    rows = list(zip(ds["group"], ds["query_lang"], ds["passage_lang"], strict=True))
    assert rows == [
        ("q1", "de", "de"),
        ("q1", "de", "en"),
        ("q1", "en", "de"),
        ("q1", "en", "en"),
        *[("q2", x, y) for x in ("de", "en", "es") for y in ("de", "en", "es")],
    ]
    i = rows.index(("q2", "es", "de"))
    assert ds[i]["query"] == "es question q2" and ds[i]["passage"] == "de answer 2"


def test_parallel_pairs_mlqa_r(shared_data: Path) -> None:
    from hbt_bench.data.lareqa import load_lareqa

    corpus = load_lareqa("mlqa-r", languages=["de", "en", "zh"], data_dir=shared_data)
    ds = parallel_pairs(corpus)
    answers = corpus.answers_by_qid()
    assert len(ds) == sum(len(by_lang) ** 2 for by_lang in answers.values())
    s = HybridBatchSampler(ds, batch_size=32, seed=0)
    check_batches(ds, s.batches()[:50], s.batch_types[:50])


def test_trains_with_st_trainer(tmp_path: Path, partial_ds) -> None:
    """2-3 optimizer steps of SentenceTransformerTrainer + MNRL with the hybrid sampler as batch_sampler."""
    pytest.importorskip("accelerate")
    import torch
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from tests.helpers import build_tiny_st_model

    model = SentenceTransformer(str(build_tiny_st_model(tmp_path / "model")), device="cpu")
    before = [p.detach().clone() for p in model.parameters()]
    pairs = make_pairs(12, langs=("de", "en", "es"))
    factory = hybrid_batch_sampler(0.5, metadata=pairs)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        num_train_epochs=1,
        max_steps=3,
        learning_rate=1e-2,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        seed=3,
        batch_sampler=factory,
        dataloader_drop_last=True,
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=pairs.select_columns(list(TEXT_COLUMNS)),  # the loss gets (query, passage) only
        loss=MultipleNegativesRankingLoss(model),
    )
    trainer.train()
    assert factory.samplers, "the trainer did not build our sampler"
    sampler = factory.samplers[-1]
    assert sampler.batch_size == 4 and sampler.seed == 3 and len(sampler.batch_types) >= 3
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert losses and all(np.isfinite(losses))
    assert trainer.state.global_step == 3
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters(), strict=True))


def test_samplers_are_discoverable_through_entry_points():
    from importlib.metadata import entry_points

    from hbt_bench.training import samplers

    found = {e.name: e.load() for e in entry_points(group="sentence_transformers.batch_samplers")}
    assert found == {
        "hybrid": samplers.HybridBatchSampler,
        "xx-mono": samplers.XXMonoBatchSampler,
        "xy": samplers.XYBatchSampler,
    }
