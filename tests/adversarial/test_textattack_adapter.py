"""The NLTK data the TextAttack adapter writes (stopwords, WordNet corpus): complete or absent, never half.

No TextAttack import: these are the adapter's file writers, run against a temporary NLTK dir and a fake
Debian WordNet.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
import stopwordsiso

from hbt_bench.adversarial import textattack_adapter as ta

_FILES = ("data.noun", "index.noun", "data.verb", "index.verb", "data.adj", "data.adv")


@pytest.fixture
def nltk_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "nltk_data"
    monkeypatch.setattr(ta, "nltk_data_dir", lambda: folder)
    return folder


def _fake_debian(tmp_path: Path) -> tuple[Path, Path]:
    """A WordNet folder and a lexnames(5WN) man page with the 45 lexicographer files."""
    source = tmp_path / "wordnet"
    source.mkdir()
    for name in _FILES:
        (source / name).write_text(f"content of {name}\n", encoding="utf-8")
    rows = (
        [("adj", k) for k in range(4)] + [("noun", k) for k in range(26)] + [("verb", k) for k in range(15)]
    )
    page = tmp_path / "lexnames.5WN.gz"
    body = "".join(f"{n:02d}\t{pos}.f{k}\tdescription\n" for n, (pos, k) in enumerate(rows))
    with gzip.open(page, "wt", encoding="utf-8") as f:
        f.write(".TH LEXNAMES 5WN\n" + body)
    return source, page


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_wordnet_built_from_debian_files(nltk_dir: Path, tmp_path: Path) -> None:
    source, page = _fake_debian(tmp_path)
    assert ta.ensure_wordnet(source, page)
    corpus = nltk_dir / "corpora" / "wordnet"
    assert (corpus / "data.noun").read_text(encoding="utf-8") == "content of data.noun\n"
    lexnames = (corpus / "lexnames").read_text(encoding="utf-8").splitlines()
    # NLTK's format: number, name, syntactic category (adj 3, noun 1, verb 2), written out by hand.
    assert lexnames[:2] == ["00\tadj.f0\t3", "01\tadj.f1\t3"]
    assert lexnames[4] == "04\tnoun.f0\t1" and lexnames[44] == "44\tverb.f14\t2" and len(lexnames) == 45
    assert _leftovers(corpus.parent) == []


def test_incomplete_wordnet_is_replaced(nltk_dir: Path, tmp_path: Path) -> None:
    corpus = nltk_dir / "corpora" / "wordnet"
    corpus.mkdir(parents=True)
    (corpus / "data.noun").write_text("truncated", encoding="utf-8")
    source, page = _fake_debian(tmp_path)
    assert ta.ensure_wordnet(source, page)
    assert (corpus / "data.noun").read_text(encoding="utf-8") == "content of data.noun\n"
    assert (corpus / "lexnames").is_file() and _leftovers(corpus.parent) == []


def test_failed_wordnet_copy_leaves_nothing(
    nltk_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, page = _fake_debian(tmp_path)
    real, calls = shutil.copyfile, {"n": 0}

    def copy_then_fail(src: object, dst: object) -> object:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(src, dst)

    monkeypatch.setattr(shutil, "copyfile", copy_then_fail)
    with pytest.raises(OSError, match="disk full"):
        ta.ensure_wordnet(source, page)
    assert sorted((nltk_dir / "corpora").iterdir()) == []  # no corpus, no half-copied folder
    monkeypatch.setattr(shutil, "copyfile", real)
    assert ta.ensure_wordnet(source, page)  # the next run builds it


def test_missing_debian_files_is_false(nltk_dir: Path, tmp_path: Path) -> None:
    assert not ta.ensure_wordnet(tmp_path / "absent", tmp_path / "absent.gz")
    assert not (nltk_dir / "corpora" / "wordnet").exists()


def test_english_stopwords_written_whole(tmp_path: Path) -> None:
    ta._ensure_stopwords(tmp_path)
    target = tmp_path / "corpora" / "stopwords" / "english"
    assert target.read_text(encoding="utf-8") == "\n".join(sorted(stopwordsiso.stopwords("en"))) + "\n"
    assert _leftovers(target.parent) == [] and (target.stat().st_mode & 0o777) == 0o644
