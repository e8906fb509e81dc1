"""One namespace for dataset ids and task names across the hbt-bench commands."""

from __future__ import annotations

import pytest

from hbt_bench.cli.common import check_device, dataset_of_task, resolve_name
from hbt_bench.errors import HbtBenchError

TASKS = ["XQuADR", "MLQAR", "XQuADR-Adv", "MLQAR-Adv"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("XQuADR", "XQuADR"),
        ("xquad-r", "XQuADR"),
        ("xquadr", "XQuADR"),
        ("xquad-r-adv", "XQuADR-Adv"),
        ("MLQA_R", "MLQAR"),
        ("mlqar-adv", "MLQAR-Adv"),
    ],
)
def test_task_names_accept_every_spelling(given, expected):
    assert resolve_name(given, TASKS, "--tasks") == expected


@pytest.mark.parametrize("given", ["", "xquad", "XQuADR-Advx", "STS12", "..", "/abs"])
def test_unknown_names_are_named_with_the_choices(given):
    with pytest.raises(HbtBenchError, match=r"--tasks: unknown name .* \(choose from XQuADR, MLQAR"):
        resolve_name(given, TASKS, "--tasks")


@pytest.mark.parametrize(
    ("given", "expected"),
    [("xquad-r", "xquad-r"), ("XQuADR", "xquad-r"), ("XQuADR-Adv", "xquad-r"), ("MLQAR", "mlqa-r")],
)
def test_dataset_of_task(given, expected):
    assert dataset_of_task(given) == expected


def test_dataset_of_an_unknown_name():
    with pytest.raises(HbtBenchError, match="unknown dataset 'squad'"):
        dataset_of_task("squad")


@pytest.mark.parametrize(
    ("device", "message"), [("gpu0", "not a torch device"), ("cuda", "no CUDA device"), ("cuda:7", "CUDA")]
)
def test_bad_devices_are_refused_before_anything_loads(device, message):
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(HbtBenchError, match=f"--device {device}: .*{message}"):
        check_device(device)
    check_device("cpu")  # always fine


def test_canonical_name_leaves_unknown_names_to_the_command():
    from hbt_bench.cli.common import canonical_name

    assert canonical_name("XQuADR", ["xquad-r", "mlqa-r"]) == "xquad-r"
    assert canonical_name("mlqa_r", ["xquad-r", "mlqa-r"]) == "mlqa-r"
    assert canonical_name("xquad-r", ["XQuADR", "MLQAR"]) == "XQuADR"
    assert canonical_name("XQuADR-Adv", ["XQuADR", "MLQAR"]) == "XQuADR-Adv"  # not silently the clean task
    assert canonical_name("squad", ["xquad-r"]) == "squad"
