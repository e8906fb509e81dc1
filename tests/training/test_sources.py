"""Pair builders: the generic parallel table (JSONL, HF Dataset) and mMARCO in its published file layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

datasets = pytest.importorskip("datasets")

from hbt_bench.training.errors import TrainingDataError  # noqa: E402
from hbt_bench.training.pairs import NEGATIVE, PAIR_COLUMNS, has_negatives, text_view  # noqa: E402
from hbt_bench.training.sources import (  # noqa: E402
    MMARCO_COLLECTION,
    MMARCO_QUERIES,
    MMARCO_TRIPLES_IDS,
    mmarco_language,
    mmarco_pairs,
    mmarco_triples_pairs,
    table_pairs,
)


def _row(gid: str, lang: str, question: str, answer: str, negative: str) -> dict[str, str]:
    return {"id": gid, "language": lang, "question": question, "answer": answer, "negative": negative}


TABLE = [
    _row("q2", "en", "Where is Paris?", "Paris is in France.", "Rome is in Italy."),
    _row("q1", "en", "Who wrote Faust?", "Goethe wrote Faust.", "Schiller wrote poems."),
    _row("q1", "de", "Wer schrieb Faust?", "Goethe schrieb Faust.", "Schiller schrieb Gedichte."),
    _row("q2", "de", "Wo liegt Paris?", "Paris liegt in Frankreich.", "Rom liegt in Italien."),
    _row("q2", "es", "¿Dónde está París?", "París está en Francia.", "Roma está en Italia."),
]


def write_jsonl(path: Path, rows: list, extra_lines: tuple[str, ...] = ()) -> Path:
    lines = [json.dumps(r, ensure_ascii=False) for r in rows] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def as_rows(ds) -> list[tuple]:
    cols = [*PAIR_COLUMNS, NEGATIVE] if has_negatives(ds) else list(PAIR_COLUMNS)
    return [tuple(r[c] for c in cols) for r in ds]


def test_table_pairs_jsonl_every_ordered_pair_with_negative_in_passage_language(tmp_path: Path) -> None:
    ds = table_pairs(write_jsonl(tmp_path / "t.jsonl", TABLE))
    assert ds.column_names == [*PAIR_COLUMNS, NEGATIVE]
    rows = as_rows(ds)
    # q1 has en/de (4 pairs), q2 has de/en/es (9 pairs); groups sorted, languages sorted
    assert len(rows) == 4 + 9
    assert [r[2] for r in rows] == ["q1"] * 4 + ["q2"] * 9
    assert rows[1] == ("Wer schrieb Faust?", "Goethe wrote Faust.", "q1", "de", "en", "Schiller wrote poems.")
    by = {(r[2], r[3], r[4]): r for r in rows}
    assert by[("q2", "es", "de")][1] == "Paris liegt in Frankreich."
    assert by[("q2", "es", "de")][5] == "Rom liegt in Italien."  # the negative follows the passage
    assert by[("q2", "en", "en")][0] == "Where is Paris?"
    assert text_view(ds).column_names == ["query", "passage", NEGATIVE]
    assert text_view(ds, negatives=False).column_names == ["query", "passage"]


def test_table_pairs_from_dataset_with_column_mapping_and_language_filter() -> None:
    renamed = [{("qid" if k == "id" else k): v for k, v in r.items() if k != NEGATIVE} for r in TABLE]
    ds = datasets.Dataset.from_list(renamed)
    pairs = table_pairs(ds, columns={"id": "qid"}, languages=["en", "es"])
    assert not has_negatives(pairs)
    assert sorted({(r[3], r[4]) for r in as_rows(pairs)}) == [
        ("en", "en"),
        ("en", "es"),
        ("es", "en"),
        ("es", "es"),
    ]
    assert len(pairs) == 1 + 4  # q1 only in en, q2 in en and es
    # integer ids are accepted and become strings
    ints = datasets.Dataset.from_list([{**r, "qid": i} for i, r in enumerate(renamed)])
    assert set(table_pairs(ints, columns={"id": "qid"})["group"]) == {str(i) for i in range(5)}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            {"id": "q9", "language": "en", "answer": "a"},
            "field question must be a non-empty string (missing)",
        ),
        (
            {"id": "q9", "language": "en", "question": "  ", "answer": "a"},
            "field question must be a non-empty string",
        ),
        (
            {"id": ["q9"], "language": "en", "question": "q", "answer": "a"},
            "field id must be a string or an integer",
        ),
        (
            {"id": "q9", "language": 3, "question": "q", "answer": "a"},
            "field language must be a non-empty string (got 3)",
        ),
        (
            {"id": "q1", "language": "en", "question": "q", "answer": "a", "negative": "n"},
            "id 'q1' already has a 'en' row",
        ),
    ],
)
def test_table_errors_name_file_line_and_field(tmp_path: Path, row: dict, message: str) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [*TABLE[:3], row])
    with pytest.raises(TrainingDataError) as info:
        table_pairs(path)
    assert f"{path}, line 4" in str(info.value) and message in str(info.value), str(info.value)


def test_table_errors_json_mixed_negatives_missing_column(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "j.jsonl", TABLE[:2], extra_lines=("", "{not json"))
    with pytest.raises(TrainingDataError, match=r"j\.jsonl, line 4: not valid JSON"):
        table_pairs(path)
    mixed = write_jsonl(
        tmp_path / "m.jsonl", [*TABLE[:2], {k: v for k, v in TABLE[2].items() if k != NEGATIVE}]
    )
    with pytest.raises(
        TrainingDataError, match=r"m\.jsonl, line 3: field negative is missing, but other rows"
    ):
        table_pairs(mixed)
    with pytest.raises(TrainingDataError, match="no column 'answer'"):
        table_pairs(datasets.Dataset.from_list([{"id": "1", "language": "en", "question": "q"}]), name="mine")
    with pytest.raises(TrainingDataError, match="table file not found"):
        table_pairs(tmp_path / "absent.jsonl")
    with pytest.raises(TrainingDataError, match="no rows in languages xx"):
        table_pairs(write_jsonl(tmp_path / "t.jsonl", TABLE), languages=["xx"])
    with pytest.raises(TrainingDataError, match="unknown name passage"):
        table_pairs(write_jsonl(tmp_path / "t.jsonl", TABLE), columns={"passage": "answer"})


# --- mMARCO, real layout ---------------------------------------------------------------------------

# MS MARCO-like ids (qids and pids are shared by every translation); several triples per query.
TRIPLES = [
    ("1185869", "0", "7067032"),
    ("1185869", "0", "7067056"),
    ("1185868", "16", "2113"),
    ("597651", "49", "8"),
]
QUERIES = {
    "english": {
        "1185869": "what was the manhattan project",
        "1185868": "_ is the ability",
        "597651": "what color is amber",
    },
    "german": {
        "1185869": "was war das manhattan projekt",
        "1185868": "_ ist die fähigkeit",
        "597651": "welche farbe hat bernstein",
    },
}
PASSAGES = {
    "english": {
        "0": "The Manhattan Project ...",
        "7067032": "Manhattan is a borough.",
        "7067056": "A project plan.",
        "16": "Ability passage.",
        "2113": "Unrelated ability text.",
        "49": "Amber is orange.",
        "8": "Colors list.",
    },
    "german": {
        "0": "Das Manhattan-Projekt ...",
        "7067032": "Manhattan ist ein Bezirk.",
        "7067056": "Ein Projektplan.",
        "16": "Fähigkeitspassage.",
        "2113": "Anderer Text.",
        "49": "Bernstein ist orange.",
        "8": "Farbenliste.",
    },
}


def write_mmarco(root: Path, *, languages=("english", "german"), drop_pid: str | None = None) -> Path:
    """The hub dataset's files, in its paths and formats (TSV, no header, ids as in MS MARCO)."""
    triples = root / MMARCO_TRIPLES_IDS
    triples.parent.mkdir(parents=True, exist_ok=True)
    triples.write_text("".join("\t".join(t) + "\n" for t in TRIPLES), encoding="utf-8")
    for name in languages:
        q = root / MMARCO_QUERIES.format(language=name)
        c = root / MMARCO_COLLECTION.format(language=name)
        q.parent.mkdir(parents=True, exist_ok=True)
        c.parent.mkdir(parents=True, exist_ok=True)
        # queries/collection in their own (id) order, not the triples' order
        q.write_text("".join(f"{k}\t{v}\n" for k, v in sorted(QUERIES[name].items())), encoding="utf-8")
        c.write_text(
            "".join(
                f"{k}\t{v}\n"
                for k, v in sorted(PASSAGES[name].items(), key=lambda kv: int(kv[0]))
                if k != drop_pid
            ),
            encoding="utf-8",
        )
    return root


def test_mmarco_pairs_real_layout_groups_by_query_id(tmp_path: Path) -> None:
    root = write_mmarco(tmp_path / "mmarco")
    ds = mmarco_pairs(["english", "de"], root=root)
    assert ds.column_names == [*PAIR_COLUMNS, NEGATIVE]
    rows = as_rows(ds)
    assert len(rows) == 3 * 4  # 3 distinct query ids (first triple of each kept) x 2 x 2 language pairs
    assert [r[2] for r in rows[::4]] == ["1185869", "1185868", "597651"]  # file order of the ids triples
    by = {(r[2], r[3], r[4]): r for r in rows}
    assert by[("1185869", "en", "de")][:2] == ("what was the manhattan project", "Das Manhattan-Projekt ...")
    assert by[("1185869", "en", "de")][5] == "Manhattan ist ein Bezirk."  # first triple's negative, in German
    assert by[("597651", "de", "en")][5] == "Colors list."
    limited = mmarco_pairs(["german", "english"], root=root, limit=2, negatives=False)
    assert set(limited["group"]) == {"1185869", "1185868"} and not has_negatives(limited)


def test_mmarco_errors_name_the_file(tmp_path: Path) -> None:
    root = write_mmarco(tmp_path / "m", languages=("english",))
    with pytest.raises(TrainingDataError, match=r"missing .*german_queries\.train\.tsv"):
        mmarco_pairs(["english", "german"], root=root)
    broken = write_mmarco(tmp_path / "b", drop_pid="49")
    with pytest.raises(TrainingDataError, match=r"english_collection\.tsv: no passage with id 49"):
        mmarco_pairs(["english"], root=broken)
    (broken / MMARCO_TRIPLES_IDS).write_text("1\t2\n", encoding="utf-8")
    with pytest.raises(TrainingDataError, match=r"triples\.train\.ids\.small\.tsv, line 1: expected 3"):
        mmarco_pairs(["english"], root=broken)
    with pytest.raises(TrainingDataError, match="mMARCO has no language 'klingon'"):
        mmarco_language("klingon")
    assert mmarco_language("DE") == ("german", "de") and mmarco_language("hindi") == ("hindi", "hi")


def test_mmarco_text_triples_zipped_by_line(tmp_path: Path) -> None:
    """The per-language ``<language>`` configs (query/positive/negative texts), read back with datasets."""
    streams = {}
    for name, code in (("english", "en"), ("german", "de")):
        rows = [
            {"query": QUERIES[name][q], "positive": PASSAGES[name][p], "negative": PASSAGES[name][n]}
            for q, p, n in TRIPLES
        ]
        path = write_jsonl(tmp_path / f"{name}.jsonl", rows)
        streams[code] = datasets.load_dataset("json", data_files=str(path), split="train", streaming=True)
    ds = mmarco_triples_pairs(streams, limit=3)
    assert set(ds["group"]) == {"line-0", "line-1", "line-2"} and len(ds) == 3 * 4
    row = next(
        r for r in ds if r["group"] == "line-1" and r["query_lang"] == "de" and r["passage_lang"] == "en"
    )
    assert (row["query"], row["passage"], row[NEGATIVE]) == (
        "was war das manhattan projekt",
        "The Manhattan Project ...",
        "A project plan.",
    )


def test_sampler_metadata_respects_select(tmp_path: Path) -> None:
    """A ``select``ed dataset keeps the whole Arrow table plus an indices mapping; samplers apply it."""
    pytest.importorskip("torch")
    from hbt_bench.training.samplers import HybridBatchSampler

    ds = table_pairs(write_jsonl(tmp_path / "t.jsonl", TABLE))
    sub = ds.select(range(4, len(ds)))  # q2 only
    sampler = HybridBatchSampler(text_view(sub), batch_size=1, metadata=sub, seed=0)
    assert list(sampler.group_ids) == ["q2"]
