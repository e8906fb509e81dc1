"""Registration with mteb in fresh processes: the .pth hook, the CLI, local model dirs, the benchmark."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mteb

import hbt_bench.plugin


def _run(args: list[str], env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout
    )


def test_register_is_idempotent_and_complete():
    import hbt_bench

    hbt_bench.register()
    hbt_bench.register()
    gt = __import__("importlib").import_module("mteb.get_tasks")
    assert [c.metadata.name for c in gt.TASK_LIST].count("XQuADR") == 1
    assert mteb.get_task("MLQAR").metadata.name == "MLQAR"
    assert "XQuADR" in gt._SIMILAR_TASKS["XQuADRetrieval"]
    bench = mteb.get_benchmark("HBT")
    assert [t.metadata.name for t in bench.tasks] == ["XQuADR", "MLQAR"]
    assert [t.metadata.name for t in mteb.get_benchmark("HBT-Adv").tasks] == ["XQuADR-Adv", "MLQAR-Adv"]
    assert mteb.get_task("XNLI-Adv").metadata.name == "XNLI-Adv"
    assert mteb.get_model_meta("hbt-bench/hash-ngram").name == "hbt-bench/hash-ngram"


def test_autoload_hook_registers_in_a_fresh_process_and_can_be_switched_off():
    code = "import mteb; print(mteb.get_task('XQuADR').metadata.name, len(mteb.get_tasks(tasks=['MLQAR'])))"
    on = _run([sys.executable, "-c", code])
    assert on.returncode == 0, on.stderr
    assert on.stdout.split() == ["XQuADR", "1"]
    off = _run([sys.executable, "-c", code], env={"HBT_BENCH_NO_AUTOLOAD": "1"})
    assert off.returncode != 0 and "XQuADR" in off.stderr


def test_autoload_hook_costs_no_imports_at_interpreter_start():
    """The hook runs in every Python process: it may load only what ``site`` has loaded anyway (it once
    pulled in importlib.abc, ~60 modules, ~28 ms per start), and nothing at all when switched off."""
    baseline = _run([sys.executable, "-S", "-c", "import sys; print(' '.join(sorted(sys.modules)))"])
    code = "import sys; print(' '.join(sorted(sys.modules)))"
    on = _run([sys.executable, "-c", code])
    off = _run([sys.executable, "-c", code], env={"HBT_BENCH_NO_AUTOLOAD": "1"})
    assert baseline.returncode == on.returncode == off.returncode == 0, on.stderr + off.stderr
    with_hook, without_hook = set(on.stdout.split()), set(off.stdout.split())
    assert "_hbt_bench_mteb_hook" in with_hook and "_hbt_bench_mteb_hook" not in without_hook
    # what the hook adds beyond the switched-off start is the hook module itself, nothing else
    assert with_hook - without_hook == {"_hbt_bench_mteb_hook"}
    assert "importlib.abc" not in with_hook - set(baseline.stdout.split())


#: What a fresh process imports first; whichever it is, registration must end up complete.
FIRST_IMPORTS = (
    "import hbt_bench.plugin.tasks",
    "import hbt_bench.plugin.models",
    "import hbt_bench.plugin.benchmark",
    "import hbt_bench.plugin.adversarial_tasks",
    "import mteb",
    "from hbt_bench.plugin.result_cache import GuardedResultCache",
)
_CHECK = (
    "import mteb\n"
    "from mteb.cache import ResultCache\n"
    "print(mteb.get_task('XQuADR').metadata.name, mteb.get_task('XQuADR-Adv').metadata.name, "
    "mteb.get_task('XNLI-Adv').metadata.name, mteb.get_benchmark('HBT').name, "
    "mteb.get_benchmark('HBT-Adv').name, "
    "mteb.get_model_meta('hbt-bench/hash-ngram').name, 'XQuADR' in ResultCache._hbt_bench_guarded)\n"
)
_EXPECTED = ["XQuADR", "XQuADR-Adv", "XNLI-Adv", "HBT", "HBT-Adv", "hbt-bench/hash-ngram", "True"]


def test_every_import_order_registers_completely():
    """Each first import, in a fresh process, with the hook on and with it off plus an explicit
    ``hbt_bench.register()``. A plugin module imported before mteb imports mteb (and so fires the hook)
    from ``plugin/__init__`` before its own body runs: the hook never meets a half-executed module of
    ours. The processes run side by side (each spends seconds importing mteb)."""
    # With the hook off nothing registers during an import, so the order cannot matter there: two cases
    # (a plugin module first, mteb first) stand for the rest and save four interpreter starts.
    cases = [(first, True) for first in FIRST_IMPORTS]
    cases += [(first, False) for first in (FIRST_IMPORTS[0], "import mteb")]

    def check(case: tuple[str, bool]) -> str | None:
        first, autoload = case
        code = f"{first}\n" + ("" if autoload else "import hbt_bench\nhbt_bench.register()\n") + _CHECK
        out = _run([sys.executable, "-c", code], env={} if autoload else {"HBT_BENCH_NO_AUTOLOAD": "1"})
        if out.returncode != 0 or "could not register" in out.stderr or out.stdout.split() != _EXPECTED:
            return f"{first!r} (hook {'on' if autoload else 'off'}): {out.stdout!r} {out.stderr[-2000:]}"
        return None

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        failures = [f for f in pool.map(check, cases) if f is not None]
    assert not failures, "\n".join(failures)


def test_plugin_modules_know_nothing_about_registration():
    """Only register.py registers: no other plugin module imports it or probes import state."""
    plugin = Path(hbt_bench.plugin.__file__).parent
    for path in plugin.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert not names & {"_initializing", "register_if_pending"}, path.name
        if path.name != "register.py":
            assert "hbt_bench.plugin.register" not in imported, path.name


def test_import_hbt_bench_stays_light():
    heavy = "('mteb', 'torch', 'sentence_transformers')"
    code = f"import sys, hbt_bench; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = _run([sys.executable, "-c", code], env={"HBT_BENCH_NO_AUTOLOAD": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_task_modules_load_no_set_building_code():
    """Building mteb's tasks (each -Adv task tags its revision at construction) reads sets, never builds
    them: the builders (and their generator bookkeeping) stay off mteb's import path."""
    builders = "('hbt_bench.adversarial.build', 'hbt_bench.adversarial.mmarco_sets', 'textattack')"
    code = (
        "import sys, hbt_bench.plugin.mmarco, hbt_bench.plugin.adversarial_tasks; "
        f"print(sorted(m for m in {builders} if m in sys.modules))"
    )
    out = _run([sys.executable, "-c", code], env={"HBT_BENCH_NO_AUTOLOAD": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
