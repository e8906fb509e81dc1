"""``hbt-bench scale encode | search | recall``: sharded resumable embeddings and FAISS search for corpora
too large for one process (MIRACL's and mMARCO's full collections)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any


def _say(args: argparse.Namespace) -> Callable[[str], None]:
    return (lambda _msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return n


def cmd_encode(args: argparse.Namespace) -> int:
    from hbt_bench.scale.backends import LocalEncoder, PoolEncoder, RayEncoder, load_handle
    from hbt_bench.scale.corpus import Corpus
    from hbt_bench.scale.shards import encode_corpus

    corpus = Corpus(args.corpus)
    if args.ray_address:
        encoder = RayEncoder(
            args.model,
            address=args.ray_address,
            concurrency=args.ray_concurrency,
            num_gpus=args.ray_gpus,
            batch_size=args.batch_size,
            device=args.device,
        )
    else:
        handle = load_handle(args.model, device=args.device)
        devices = (
            args.devices.split(",")
            if args.devices
            else (["cpu"] * args.processes if args.processes else None)
        )
        encoder = (
            PoolEncoder(handle, devices, batch_size=args.batch_size)
            if devices
            else LocalEncoder(handle, batch_size=args.batch_size)
        )
    try:
        report = encode_corpus(
            corpus,
            args.out,
            encoder,
            shard_size=args.shard_size,
            normalize=not args.no_normalize,
            progress=_say(args),
        )
    finally:
        encoder.close()
    print(
        f"{report.store}: {report.n_passages} passages in {report.n_shards} shards, dim {report.dim}; "
        f"encoded {len(report.encoded)}, reused {len(report.skipped)}, repaired {len(report.repaired)} "
        f"({report.seconds:.1f} s)"
    )
    return 0


def _index_spec(args: argparse.Namespace) -> Any:  # an IndexSpec, imported lazily
    from hbt_bench.scale.index import IndexSpec

    return IndexSpec(
        kind=args.index,
        nlist=args.nlist,
        nprobe=args.nprobe,
        train_size=args.train_size,
        m=args.hnsw_m,
        ef_construction=args.ef_construction,
        ef_search=args.ef_search,
        seed=args.seed,
    )


def _queries(args: argparse.Namespace) -> tuple[Any, list[str], Any]:
    from hbt_bench.scale.corpus import Corpus
    from hbt_bench.scale.queries import encode_queries
    from hbt_bench.scale.shards import Store

    store = Store(args.store)
    store.require_complete()
    ids, emb = encode_queries(store, Corpus(args.queries), spec=args.model, device=args.device)
    return store, ids, emb


def cmd_search(args: argparse.Namespace) -> int:
    from hbt_bench.scale.index import build_index, search, to_run
    from hbt_bench.scale.trec import write_trec_run

    spec = _index_spec(args)
    spec.check()
    store, ids, emb = _queries(args)
    result = search(build_index(store, spec), emb, args.k)
    path = write_trec_run(to_run(store, ids, result), args.run, tag=args.tag)
    print(f"{path}: top-{args.k} of {len(ids)} queries over {store.n_passages} passages ({spec.describe()})")
    if spec.kind != "flat":
        print("approximate search: 'hbt-bench scale recall' measures its recall against exact search")
    return 0


def cmd_recall(args: argparse.Namespace) -> int:
    from hbt_bench.scale.index import IndexSpec, ann_recall, build_index, search

    spec = _index_spec(args)
    spec.check()
    store, _, emb = _queries(args)
    exact = search(build_index(store, IndexSpec()), emb, args.k)
    approx = search(build_index(store, spec), emb, args.k)
    report = ann_recall(exact, approx, args.k)
    out = {**spec.describe(), "k": args.k, "queries": int(emb.shape[0]), f"recall@{args.k}": report.mean}
    print(
        json.dumps(out)
        if args.json
        else f"recall@{args.k} of {spec.describe()} against exact: {report.mean:.4f}"
    )
    return 0


def _add_search_args(p: argparse.ArgumentParser, *, default_index: str, choices: list[str]) -> None:
    p.add_argument("--store", required=True, help="a folder written by 'hbt-bench scale encode'")
    p.add_argument("--queries", required=True, help='JSONL of {"id", "text"} queries')
    p.add_argument("--model", help="the model spec for the queries (default: the one the store recorded)")
    p.add_argument("--device", help="where the query model runs (cpu, cuda, ...)")
    p.add_argument("--index", choices=choices, default=default_index, help=f"default: {default_index}")
    p.add_argument("--nlist", type=_positive, help="ivf: inverted lists (default 4 * sqrt(N))")
    p.add_argument("--nprobe", type=_positive, default=8, help="ivf: lists probed per query (default 8)")
    p.add_argument("--train-size", type=_positive, help="ivf: training sample (default min(N, 64 * nlist))")
    p.add_argument("--hnsw-m", type=_positive, default=32, help="hnsw: links per node (default 32)")
    p.add_argument("--ef-construction", type=_positive, default=200, help="hnsw: build beam (default 200)")
    p.add_argument("--ef-search", type=_positive, default=128, help="hnsw: search beam (default 128)")
    p.add_argument("--seed", type=int, default=0, help="ivf: training sample and k-means seed (default 0)")


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``scale encode``, ``scale search`` and ``scale recall``."""
    from hbt_bench.cli.common import add_model

    scale = sub.add_parser("scale", help="sharded resumable embeddings and FAISS search for large corpora")
    scale_sub = scale.add_subparsers(dest="scale_command", required=True)

    enc = scale_sub.add_parser(
        "encode", help="encode a corpus into a resumable folder of embedding shards (a re-run resumes)"
    )
    add_model(enc)
    enc.add_argument("--corpus", required=True, help='JSONL of {"id", "text"} passages (unique ids)')
    enc.add_argument("--out", required=True, help="the store folder (created; a re-run resumes it)")
    enc.add_argument(
        "--shard-size", type=_positive, default=100_000, help="passages per shard (default 100000)"
    )
    enc.add_argument("--batch-size", type=_positive, default=64, help="texts per model batch (default 64)")
    enc.add_argument("--no-normalize", action="store_true", help="store raw vectors (default: L2-normalised)")
    enc.add_argument("--device", help="where the model runs in this process (cpu, cuda, ...)")
    spread = enc.add_mutually_exclusive_group()
    spread.add_argument(
        "--processes",
        type=_positive,
        help="N CPU worker processes (sentence-transformers' multi-process pool)",
    )
    spread.add_argument(
        "--devices", help="comma-separated devices for the multi-process pool, e.g. cuda:0,cuda:1"
    )
    spread.add_argument(
        "--ray-address", help="encode on a Ray cluster with Ray Data actors ('auto', 'ray://host:10001')"
    )
    enc.add_argument("--ray-concurrency", type=_positive, default=1, help="Ray actors (default 1)")
    enc.add_argument("--ray-gpus", type=float, default=0.0, help="GPUs per Ray actor (default 0)")
    enc.add_argument("--quiet", action="store_true", help="no per-shard progress lines")
    enc.set_defaults(func=cmd_encode)

    se = scale_sub.add_parser("search", help="top-k of queries over a store (FAISS), written as a TREC run")
    _add_search_args(se, default_index="flat", choices=["flat", "ivf", "hnsw"])
    se.add_argument("--k", type=_positive, default=100, help="hits per query (default 100)")
    se.add_argument("--run", required=True, help="output TREC run file (written atomically)")
    se.add_argument("--tag", default="hbt-bench", help="the run's tag column (default hbt-bench)")
    se.set_defaults(func=cmd_search)

    rc = scale_sub.add_parser("recall", help="recall@k of an ANN index (ivf, hnsw) against exact search")
    _add_search_args(rc, default_index="ivf", choices=["ivf", "hnsw"])
    rc.add_argument("--k", type=_positive, default=10, help="depth (default 10)")
    rc.add_argument("--json", action="store_true", help="print JSON")
    rc.set_defaults(func=cmd_recall)
