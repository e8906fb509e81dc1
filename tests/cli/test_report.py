"""``hbt-bench report domain-shift`` for two models, text and --json (hand-chosen stored scores)."""

from __future__ import annotations

import json

import pytest

from hbt_bench.cli import main
from tests.reports.results_fixture import write_fixture


def test_report_prints_two_models(tmp_path, capsys):
    root = write_fixture(tmp_path)
    args = ["report", "domain-shift", "--model", "org/a", "--model", "org/b", "--results", str(root)]
    assert main(args) == 0
    text = capsys.readouterr().out
    header = next(line for line in text.splitlines() if "org/a" in line and "org/b" in line)
    assert header.split() == ["org/a", "org/b"]
    assert "missing results" in text
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    a, b = data["models"]
    assert (a["model"], b["model"]) == ("org/a", "org/b")
    assert a["ratios_out_over_in"]["clean"]["mMARCOR"]["mono"]["map"]["macro"] == pytest.approx(0.33 / 0.55)
    assert b["tasks"]["clean"]["MLQAR"] is None
    # the paper's 15 MIRACL languages by default: de / yo of the fixture are not among them
    assert a["tasks"]["clean"]["MIRACL"]["mono"]["ndcg_at_10"] == {"macro": None}


def test_report_unknown_folder(tmp_path, capsys):
    assert main(["report", "domain-shift", "--model", "x/y", "--results", str(tmp_path / "no")]) == 2
    assert "--results" in capsys.readouterr().err
