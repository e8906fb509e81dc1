"""The domain-shift report shows mMARCOR-Adv numbers once an mMARCOR-Adv result exists (made by evaluate)."""

from __future__ import annotations

import pytest

from hbt_bench.data.mmarco import DEFAULT_LANGUAGES
from hbt_bench.plugin.mmarco import mMARCOR, mMARCORAdv
from hbt_bench.reports.domain_shift import build_report, format_report
from tests.adversarial.mmarco_set_fixture import build_with_local_set, evaluate
from tests.conftest import SHARED_DATA


def test_report_shows_mmarcor_adv(tmp_path):
    if not (SHARED_DATA / "mmarco" / "qrels.msmarco-passage.dev-subset.txt").is_file():
        pytest.skip("real MS MARCO dev-small qrels not found")
    data = build_with_local_set(tmp_path / "b", SHARED_DATA)
    cache = tmp_path / "cache"
    evaluate(mMARCOR(data_dir=data), cache)
    result = evaluate(mMARCORAdv(data_dir=data), cache)
    [adv] = result.task_results
    report = build_report([cache / "results"], [result.model_name], miracl_languages=["de"])
    [model] = report.models
    assert "mMARCOR-Adv" not in {x["task"] for x in model.missing}
    table = model.tables["adversarial"]["mMARCOR"]
    # independent of the report: the mean over languages of the stored X-X adversarial mAP
    by = {e["hf_subset"]: e for e in adv.scores["dev"]}
    expected = sum(by[f"{lang}-{lang}"]["map"] for lang in DEFAULT_LANGUAGES) / len(DEFAULT_LANGUAGES)
    assert table["mono"]["map"]["macro"] == pytest.approx(expected)
    assert table["multi"]["language_bias"]["en"] == pytest.approx(by["en-multi"]["rank_distance"])
    text = format_report(report)
    assert "[adversarial, macro]" in text and "mMARCOR" in text.split("[adversarial, macro]", 1)[1]
