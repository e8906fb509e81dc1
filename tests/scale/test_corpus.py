from __future__ import annotations

import hashlib
import json

import pytest

from hbt_bench.scale.corpus import Corpus
from hbt_bench.scale.errors import CorpusError
from tests.scale.helpers import passages, write_corpus


def test_scan_counts_and_fingerprints_independently_of_json_layout(tmp_path):
    records = passages(5)
    a = write_corpus(tmp_path / "a.jsonl", records)
    b = tmp_path / "b.jsonl"  # same records, other spacing, extra field, blank line
    b.write_text(
        "\n".join(json.dumps({**r, "title": "x"}, indent=None, separators=(",", ":")) for r in records)
        + "\n\n",
        encoding="utf-8",
    )
    expected = hashlib.sha256()
    for r in records:  # the documented canonical form, computed here by hand
        i, t = r["id"].encode(), r["text"].encode()
        expected.update(f"{len(i)}:".encode() + i + f"{len(t)}:".encode() + t)
    info_a, info_b = Corpus(a).scan(), Corpus(b).scan()
    assert info_a.n_passages == 5
    assert info_a.fingerprint == info_b.fingerprint == f"sha256-{expected.hexdigest()}"
    assert Corpus(records).scan() == info_a


def test_shards_are_consecutive_blocks(tmp_path):
    blocks = list(Corpus(passages(7)).shards(3))
    assert [(k, ids) for k, ids, _ in blocks] == [
        (0, ["p0", "p1", "p2"]),
        (1, ["p3", "p4", "p5"]),
        (2, ["p6"]),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "holds no passages"),
        (
            '{"id": "a", "text": "x"}\n{"id": "b", "text": "y"}\n{"id": "a", "text": "z"}\n',
            "'a' appears twice",
        ),
        ('{"id": "", "text": "x"}\n', "field 'id'"),
        ('{"id": 3, "text": "x"}\n', "field 'id'"),
        ('{"id": "a"}\n', "field 'text'"),
        ('["a", "x"]\n', "expected an object"),
        ("{not json\n", "line 1: not valid JSON"),
    ],
)
def test_bad_corpus_is_refused_by_name(tmp_path, content, message):
    path = tmp_path / "c.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusError, match=message):
        Corpus(path).scan()


def test_duplicate_message_names_both_records():
    with pytest.raises(CorpusError, match=r"records 1 and 3"):
        Corpus([{"id": "a", "text": "x"}, {"id": "b", "text": "y"}, {"id": "a", "text": "z"}]).scan()


def test_missing_file_and_one_shot_iterator(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        Corpus(tmp_path / "nope.jsonl")
    with pytest.raises(CorpusError, match="one-shot iterator"):
        Corpus(iter(passages(2)))
