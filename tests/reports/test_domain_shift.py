"""The domain-shift report on stored TaskResults with hand-chosen scores (tests/reports/results_fixture)."""

from __future__ import annotations

import pytest

from hbt_bench.reports.domain_shift import ReportInputError, build_report, format_report
from tests.reports.results_fixture import write_fixture


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = write_fixture(tmp_path_factory.mktemp("ds"))
    return build_report([root / "results"], ["org/a", "org/b"], miracl_languages=["de", "yo"])


def test_in_domain_and_ratios_by_hand(report):
    a = report.models[0]
    clean = a.tables["clean"]
    # XQuADR mono mAP: (0.8 + 0.6) / 2; cross (0.4 + 0.2) / 2; bias (100 + 300) / 2
    assert clean["XQuADR"]["mono"]["map"]["macro"] == pytest.approx(0.7)
    assert clean["XQuADR"]["cross"]["map"]["macro"] == pytest.approx(0.3)
    assert clean["XQuADR"]["multi"]["language_bias"]["macro"] == pytest.approx(200.0)
    ind = a.in_domain["clean"]
    assert ind["mono"]["map"]["macro"] == pytest.approx((0.7 + 0.4) / 2)  # XQuADR 0.7, MLQAR 0.4
    assert ind["mono"]["map"]["en"] == pytest.approx((0.8 + 0.5) / 2)
    r = a.ratios["clean"]["mMARCOR"]
    assert r["mono"]["map"]["macro"] == pytest.approx(0.33 / 0.55)
    assert r["mono"]["map"]["en"] == pytest.approx(0.44 / 0.65)
    assert r["cross"]["map"]["macro"] == pytest.approx(0.15 / 0.25)  # mMARCOR (0.1+0.2)/2; in (0.3+0.2)/2
    assert r["multi"]["language_bias"]["macro"] == pytest.approx(500.0 / 150.0)
    assert r["mono"]["ndcg_at_10"]["de"] == pytest.approx(0.32 / ((0.7 + 0.4) / 2))


def test_miracl_mono_pooled_and_crowding_out(report):
    a = report.models[0]
    miracl = a.tables["clean"]["MIRACL"]
    assert a.sources["MIRACL"] == "MIRACLRetrievalHardNegatives"
    assert miracl["mono"]["ndcg_at_10"]["macro"] == pytest.approx(0.5)
    assert miracl["mono"]["recall_at_100"]["macro"] == pytest.approx(0.8)
    assert miracl["mono"]["map"]["de"] == pytest.approx(0.5)  # map@1000
    assert miracl["multi"]["crowding_out"] == pytest.approx({"de": 0.1, "yo": 0.1, "macro": 0.1})
    assert miracl["multi"]["language_bias"] == {}  # undefined for MIRACL
    # in-domain mono nDCG@10: XQuADR (0.9+0.7)/2, MLQAR (0.6+0.4)/2; de: XQuADR 0.7, MLQAR 0.4
    ratio = a.ratios["clean"]["MIRACL"]["mono"]["ndcg_at_10"]
    assert ratio["macro"] == pytest.approx(0.5 / 0.65)
    assert ratio["de"] == pytest.approx(0.6 / 0.55)
    assert "yo" not in ratio  # no in-domain yo


def test_adversarial_side_and_missing(report):
    a, b = report.models
    adv = a.tables["adversarial"]
    assert adv["XQuADR"]["mono"]["map"]["macro"] == pytest.approx(0.35)
    assert adv["MLQAR"] is None and adv["MIRACL"] is None
    assert {x["task"] for x in a.missing} == {"MLQAR-Adv", "mMARCOR-Adv"}
    assert {x["task"] for x in b.missing} == {"MLQAR", "mMARCOR", "MIRACL", "XQuADR-Adv"}
    assert b.ratios["clean"] == {}  # nothing out of domain
    cmd = {x["task"]: x["command"] for x in b.missing}
    assert cmd["MLQAR"].startswith("hbt-bench eval --model org/b --tasks MLQAR --output-folder ")
    # mMARCOR-Adv's perturbation set is built by the user first (nothing of MS MARCO ships)
    adv_cmd = {x["task"]: x["command"] for x in a.missing}["mMARCOR-Adv"]
    assert adv_cmd.startswith("hbt-bench attack build --dataset mmarco-r && hbt-bench eval --model org/a ")
    assert cmd["MIRACL"].startswith("mteb run -t MIRACLRetrievalHardNegatives -l ")


def test_text_report_two_models(report):
    text = format_report(report)
    assert "org/a" in text and "org/b" in text
    row = next(line for line in text.splitlines() if line.startswith("mMARCOR/in mono mAP"))
    assert row.split()[-2:] == [f"{0.33 / 0.55:.2f}", "-"]
    assert "org/b: MIRACL  ->  mteb run -t MIRACLRetrievalHardNegatives" in text


def test_bad_results_folder(tmp_path):
    with pytest.raises(ReportInputError, match="--results"):
        build_report([tmp_path / "nowhere"], ["org/a"])
