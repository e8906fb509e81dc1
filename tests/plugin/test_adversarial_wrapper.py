"""The generic ``<Task>-Adv`` wrapper (hbt_bench.plugin.adversarial_wrapper), on mteb's real XNLI task with
data in XNLI's real column layout."""

from __future__ import annotations

import mteb
import pytest
from datasets import Dataset, DatasetDict
from mteb.timing import TimingStack

from hbt_bench.adversarial.recipes import perturb
from hbt_bench.adversarial.textattack_adapter import TextAttackUnavailable, import_textattack
from hbt_bench.encoders import HashNgramEncoder
from hbt_bench.plugin.adversarial_wrapper import (
    DEFAULT_RECIPES,
    AdversarialTaskMixin,
    adversarial_task,
    language_of_subset,
)
from hbt_bench.plugin.models import to_mteb_model

try:
    import_textattack()
except TextAttackUnavailable as exc:  # the wrapper perturbs on the fly
    pytest.skip(f"TextAttack is not installed (`make attack-deps`): {exc}", allow_module_level=True)

# (premise, hypothesis, label) with XNLI's labels: 0 entailment, 1 neutral, 2 contradiction.
PAIRS = {
    "en": [
        (
            "The university was founded in 1890 by John D. Rockefeller.",
            "Rockefeller founded the university.",
            0,
        ),
        ("The river flows into the North Sea near Rotterdam.", "The river ends in the sea.", 0),
        ("Berlin had about 3.4 million inhabitants in 1990.", "Berlin was empty in 1990.", 2),
        ("The Panthers defense gave up just 308 points.", "The team has a famous coach.", 1),
        ("Photosynthesis turns light into chemical energy.", "Plants never use light.", 2),
        ("The match was played in the new stadium on Sunday.", "The game took place on Sunday.", 0),
    ],
    "bg": [
        ("Университетът е основан през 1890 година.", "Университетът е основан през 1890.", 0),
        ("Реката се влива в Северно море.", "Реката не стига до морето.", 2),
        ("Берлин имаше около 3,4 милиона жители.", "Берлин е голям град.", 0),
        ("Защитата на отбора беше силна.", "Отборът има нов треньор.", 1),
    ],
    "th": [
        ("มหาวิทยาลัยชิคาโกก่อตั้งขึ้นในปี 1890", "มหาวิทยาลัยก่อตั้งขึ้นในปี 1890", 0),
        ("แม่น้ำไหลลงสู่ทะเลเหนือ", "แม่น้ำไม่ไหลลงทะเล", 2),
        ("ในปี 1990 มีคนอาศัยอยู่ในเบอร์ลินกี่คน", "เบอร์ลินเป็นเมืองใหญ่", 1),
        ("ทีมชนะการแข่งขันเมื่อวันอาทิตย์", "ทีมชนะในวันอาทิตย์", 0),
    ],
    "zh": [
        ("芝加哥大学成立于1890年。", "芝加哥大学成立于1890年。", 0),
        ("这条河流入北海。", "这条河不流入海。", 2),
        ("1990年柏林有大约340万居民。", "柏林是一个大城市。", 0),
        ("球队的防守只丢了308分。", "球队有一位新教练。", 1),
    ],
}


def _xnli_layout(lang: str) -> DatasetDict:
    rows = PAIRS[lang]
    ds = Dataset.from_dict(
        {
            "premise": [p for p, _, _ in rows],
            "hypothesis": [h for _, h, _ in rows],
            "label": [y for *_, y in rows],
        }
    )
    return DatasetDict({"test": ds, "validation": ds})


@pytest.fixture
def offline_xnli(monkeypatch):
    """mteb's own loader, fed XNLI-layout data instead of the hub's ``mteb/xnli``."""
    calls = []

    def fake_load_dataset(*, path, name, revision, **kwargs):
        calls.append((path, name, revision))
        return _xnli_layout(name)

    monkeypatch.setattr("mteb.abstasks.abstask.load_dataset", fake_load_dataset)
    return calls


def test_xnli_adv_is_registered_with_valid_metadata():
    task = mteb.get_task("XNLI-Adv")
    task.metadata._validate_metadata()
    xnli = mteb.get_task("XNLI")
    assert task.metadata.eval_langs == xnli.metadata.eval_langs
    assert task.metadata.dataset == xnli.metadata.dataset  # loads exactly what XNLI loads
    assert language_of_subset(task.metadata, "bg") == "bg" and language_of_subset(task.metadata, "zh") == "zh"


def test_xnli_adv_scores_clean_and_each_recipe_like_the_base_task(offline_xnli):
    langs = ["en", "bg", "th", "zh"]
    model = to_mteb_model(HashNgramEncoder())
    adv = mteb.get_task("XNLI-Adv", languages=None).filter_languages(None, hf_subsets=langs)
    adv_scores = adv.evaluate(model, "test", encode_kwargs={})
    assert {name for _, name, _ in offline_xnli} == set(langs)

    base = mteb.get_task("XNLI").filter_languages(None, hf_subsets=langs)
    base_scores = base.evaluate(model, "test", encode_kwargs={})
    for lang in langs:
        s = adv_scores[lang]
        assert s["clean_max_ap"] == pytest.approx(base_scores[lang]["max_ap"])
        per = [s[f"max_ap_{r}"] for r in DEFAULT_RECIPES]
        assert s["max_ap"] == s["main_score"] == pytest.approx(sum(per) / len(per))
        assert s["max_ap_drop"] == pytest.approx(s["clean_max_ap"] - s["max_ap"])
        assert 0.0 < s["perturbed_fraction_char-noise@30pct"] <= 1.0

    # One recipe recomputed independently: perturb XNLI's columns ourselves, score with the base task.
    rid = "char-noise@30pct"
    ds = base.dataset["th"]["test"]
    ds = Dataset.from_dict(ds[0]) if isinstance(ds, list) else ds
    cols = {}
    for col in ("sentence1", "sentence2"):
        res = perturb(rid, "th", [(f"th/test/{col}/{i}", t) for i, t in enumerate(ds[col])], seed=0)
        cols[col] = [r.text for r in res]
    assert cols["sentence1"] != ds["sentence1"]
    perturbed = Dataset.from_dict({**cols, "labels": ds["labels"]})
    expected = type(base)._evaluate_subset(
        base, model, perturbed, hf_split="test", hf_subset="th", encode_kwargs={}, timer=TimingStack()
    )
    assert adv_scores["th"][f"max_ap_{rid}"] == pytest.approx(expected["max_ap"])


def test_custom_recipes_get_their_own_task_name_and_bad_tasks_are_refused():
    xnli = type(mteb.get_task("XNLI"))
    custom = adversarial_task(xnli, ["word-drop@30pct"], seed=3)
    # a named mixin over mteb's own class: mteb's machinery sees an ordinary XNLI subclass
    assert custom.__mro__[1:3] == (AdversarialTaskMixin, xnli)
    assert (custom.adv_recipes, custom.adv_seed) == (("word-drop@30pct",), 3)
    assert custom.metadata.name.startswith("XNLI-Adv-") and custom.metadata.name != "XNLI-Adv"
    with pytest.raises(TypeError, match="only retrieval and pair-classification"):
        adversarial_task("Banking77Classification")
    with pytest.raises(ValueError, match="recipes is empty"):
        adversarial_task(xnli, [])
