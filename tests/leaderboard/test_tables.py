"""Tables: measured rows ranked by the group's pooled column, reported rows apart and never ranked."""

from __future__ import annotations

from hbt_bench.leaderboard.tables import group_tables, markdown


def _col(cid: str, setting: str, group: str = "clean", higher: bool = True) -> dict:
    return {"id": cid, "setting": setting, "label": cid, "group": group, "higher_is_better": higher}


def _row(rid: str, kind: str = "measured", **scores: float | None) -> dict:
    return {
        "id": rid,
        "name": rid,
        "kind": kind,
        "scores": {k.replace("_", "/"): v for k, v in scores.items()},
    }


BOARD = {
    "baseline": "base",
    "tests": "a test",
    "columns": [
        _col("T/mono", "mono"),
        _col("T/multi", "multi"),
        _col("T/rd", "language_bias", higher=False),
        _col("D/rd", "language_bias", group="adversarial", higher=False),
    ],
    "rows": [
        _row("low", T_mono=0.9, T_multi=0.1, T_rd=50.0, D_rd=30.0),
        _row("base", T_mono=0.5, T_multi=0.5, T_rd=10.0, D_rd=10.0) | {"is_baseline": True},
        _row("none", T_mono=0.7, T_multi=None),
        _row("high", T_mono=0.1, T_multi=0.8, D_rd=20.0),
        _row("paper-b", kind="reported", T_multi=0.9),
        _row("paper-a", kind="reported", T_multi=0.2),
    ],
}


def test_measured_rows_are_ranked_by_the_pooled_column_and_reported_rows_keep_their_order():
    tables = {title: [line[0] for line in body] for title, _, body in group_tables(BOARD)}
    assert tables == {
        # multi: 0.8 > 0.5 > 0.1, the row without a multi score last (not dropped: it has a mono score)
        "Clean (ranked by T/multi)": ["high", "base (baseline)", "low", "none"],
        "Clean — reported in the paper (not ranked)": ["paper-b", "paper-a"],
        # no multi column in this group: its first column, where lower is better
        "Adversarial (HBT-Adv) (ranked by D/rd)": ["base (baseline)", "high", "low"],
    }
    assert "### Clean (ranked by T/multi)" in markdown(BOARD, heading_level=3)
