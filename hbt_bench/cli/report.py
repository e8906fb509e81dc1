"""``hbt-bench report domain-shift``: in-domain vs out-of-domain scores of stored results, side by side."""

from __future__ import annotations

import argparse

DEFAULT_RESULTS = "leaderboard/results"


def cmd_domain_shift(args: argparse.Namespace) -> int:
    from hbt_bench.reports.domain_shift import build_report, format_report, to_json_text

    report = build_report(args.results or [DEFAULT_RESULTS], args.model)
    print(to_json_text(report) if args.json else format_report(report))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``report domain-shift``."""
    report = sub.add_parser("report", help="reports over stored results")
    report_sub = report.add_subparsers(dest="report_command", required=True)
    ds = report_sub.add_parser(
        "domain-shift",
        help="in domain (XQuADR, MLQAR) vs out of domain (mMARCOR, MIRACL): mono / cross / multi mAP, "
        "nDCG@10, language bias and the out/in ratios, per language and macro, clean and adversarial",
    )
    ds.add_argument(
        "--model",
        action="append",
        required=True,
        help="a stored model name (org/name), a builtin: spec or a local model directory; repeatable",
    )
    ds.add_argument(
        "--results",
        action="append",
        metavar="DIR",
        help=f"a results/ folder in mteb's ResultCache layout, or the folder holding it (default: "
        f"{DEFAULT_RESULTS}; training sweeps: leaderboard/training/<sweep>/results); repeatable, first wins",
    )
    ds.add_argument("--json", action="store_true", help="print the same numbers as JSON")
    ds.set_defaults(func=cmd_domain_shift)
