"""Stored TaskResults with hand-chosen scores in mteb's ResultCache layout (for the domain-shift report)."""

from __future__ import annotations

from pathlib import Path

from mteb.results import TaskResult


def _lareqa(values: dict[str, tuple[float, float | None]]) -> list[dict]:
    """Subset entries: mAP given, nDCG@10 = mAP + 0.1, rank distance on pooled subsets."""
    out = []
    for name, (m, rd) in values.items():
        entry = {
            "hf_subset": name,
            "languages": ["eng-Latn"],
            "main_score": m,
            "map": m,
            "ndcg_at_10": m + 0.1,
        }
        if rd is not None:
            entry["rank_distance"] = rd
        out.append(entry)
    return out


def _write(root: Path, model: str, task: str, split: str, scores: list[dict]) -> None:
    tr = TaskResult(
        dataset_revision="fixture",
        task_name=task,
        mteb_version="2.26.24",
        scores={split: scores},
        evaluation_time=1.0,
        kg_co2_emissions=None,
    )
    folder = root / "results" / model.replace("/", "__") / "rev1"  # no model_meta.json: named by the path
    folder.mkdir(parents=True, exist_ok=True)
    tr.to_disk(folder / f"{task}.json")


XQUADR_A = {"en-en": (0.8, None), "en-de": (0.4, None), "en-multi": (0.3, 100.0),
            "de-de": (0.6, None), "de-en": (0.2, None), "de-multi": (0.1, 300.0)}  # fmt: skip
MLQAR_A = {"en-en": (0.5, None), "en-de": (0.1, None), "en-multi": (0.2, 50.0),
           "de-de": (0.3, None), "de-en": (0.3, None), "de-multi": (0.2, 150.0)}  # fmt: skip
MMARCOR_A = {"en-en": (0.44, None), "en-de": (0.1, None), "en-multi": (0.1, 400.0),
             "de-de": (0.22, None), "de-en": (0.2, None), "de-multi": (0.1, 600.0)}  # fmt: skip
MIRACL_A = {"de": (0.6, 0.9, 0.5), "yo": (0.4, 0.7, 0.3)}  # nDCG@10, R@100, map@1000
POOLED_A = {"de": 0.5, "yo": 0.3}  # pooled nDCG@10


def write_fixture(root: Path) -> Path:
    """Model org/a: every task; model org/b: XQuADR only (the rest is missing)."""
    _write(root, "org/a", "XQuADR", "test", _lareqa(XQUADR_A))
    _write(root, "org/a", "MLQAR", "test", _lareqa(MLQAR_A))
    _write(root, "org/a", "mMARCOR", "test", _lareqa(MMARCOR_A))
    adv = _lareqa({k: (v[0] / 2, v[1]) for k, v in XQUADR_A.items()})
    _write(root, "org/a", "XQuADR-Adv", "test", adv)
    miracl = [
        {"hf_subset": lang, "languages": ["deu-Latn"], "main_score": n, "ndcg_at_10": n, "recall_at_100": r,
         "map_at_1000": m}
        for lang, (n, r, m) in MIRACL_A.items()
    ]  # fmt: skip
    _write(root, "org/a", "MIRACLRetrievalHardNegatives", "dev", miracl)
    pooled = {"hf_subset": "multi", "languages": ["deu-Latn"], "main_score": 0.4}
    pooled |= {f"ndcg_at_10_{lang}": v for lang, v in POOLED_A.items()}
    _write(root, "org/a", "MIRACLHardNegativesPooled", "dev", [pooled])
    _write(root, "org/b", "XQuADR", "test", _lareqa(XQUADR_A))
    return root
