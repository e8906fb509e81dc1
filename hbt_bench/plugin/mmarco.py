"""The ``mMARCOR`` mteb task: mMARCO-R (web search) through the LAReQA machinery.

mMARCO-R is one more dataset kind for :class:`~hbt_bench.plugin.tasks.LareqaTask`: the same subsets, metrics,
encode-once scoring and language bias; only loading differs (a locally built dataset, see
:mod:`hbt_bench.data.mmarco`). Two further differences follow from the data being built by the user:

- a build with other parameters or languages than the declared ones is another task, so its tag goes into the
  dataset revision (:func:`hbt_bench.data.mmarco.build_tag`), like the other task variants;
- the descriptive statistics describe the user's build, so they are computed, never read from or written to
  ``tasks/descriptive_stats`` (nothing of MS MARCO ships).

``mMARCOR-Adv`` is the same loading with :class:`~hbt_bench.plugin.adversarial_tasks.LareqaAdvTask` scoring.
Its perturbation set is the user's own (``hbt-bench attack build --dataset mmarco-r`` writes it inside the
build, see :mod:`hbt_bench.adversarial.mmarco_sets`): it must have been built from this build (query-file
sha256s), and, because only English is pinned by the package, the dataset revision carries
``set-<digest>``, a short digest of the local set's recipe-file sha256s, so results on sets that differ never
share a revision.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hbt_bench.adversarial.local_sets import local_set_folder, local_sets_root, set_digest, verify_local_set
from hbt_bench.data.mmarco import build_tag, dataset_dir, load_mmarco_r, read_manifest
from hbt_bench.errors import HbtBenchError
from hbt_bench.evaluate import LareqaEvaluator
from hbt_bench.plugin.adversarial_tasks import LareqaAdvTask
from hbt_bench.plugin.tasks import LareqaTask, _merge_statistics, _subset_statistics, task_definition

__all__ = ["MMarcoRAdvTask", "MMarcoRTask", "mMARCOR", "mMARCORAdv"]


class MMarcoRTask(LareqaTask):
    """A LAReQA task over a built mMARCO-R dataset."""

    def __init__(self, *args: Any, candidate_mode: str = "sentence", **kwargs: Any) -> None:
        if candidate_mode != "sentence":
            raise ValueError(
                f"candidate_mode {candidate_mode!r}: {self.definition.fields.name} candidates are whole "
                "passages (their own context); only 'sentence' applies"
            )
        super().__init__(*args, candidate_mode=candidate_mode, **kwargs)

    @classmethod
    def data_available(cls) -> bool:
        """Whether a build exists where the task looks (``HBT_BENCH_DATA_DIR/mmarco-r`` or the cache)."""
        try:
            dataset_dir(None)
        except HbtBenchError:
            return False
        return True

    def _build_tag(self) -> str | None:
        """The revision tag of the dataset that would be loaded; None when none is built yet (loading then
        fails with the build command) or it is the declared build."""
        try:
            return build_tag(read_manifest(dataset_dir(self.data_dir)))
        except HbtBenchError:
            return None

    def _revision_tags(self) -> list[str]:
        tag = self._build_tag()
        return [*super()._revision_tags(), *([tag] if tag else [])]

    def _tag_revision(self) -> None:
        """Set (not append) the revision: the build may have changed since the instance was made."""
        tags = self._revision_tags()
        revision = "+".join([self.definition.fields.revision, *tags])
        if revision != self.metadata.revision:
            dataset = {**self.metadata.dataset, "revision": revision}
            self.metadata = self.metadata.model_copy(update={"dataset": dataset})

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        corpus = load_mmarco_r(list(self.corpus_languages), data_dir=self.data_dir)
        self.evaluator = LareqaEvaluator(corpus, candidate_mode=self.candidate_mode)
        self.dataset = {}
        self.data_loaded = True
        self._tag_revision()

    def calculate_descriptive_statistics(
        self, overwrite_results: bool = False, num_proc: int | None = None
    ) -> dict[str, Any]:
        """mteb's statistics of the loaded build (see the module docstring: never cached in the package)."""
        if not self.data_loaded:
            self.load_data(num_proc=num_proc)
        parts = {s.name: _subset_statistics(self._statistics_inputs(s)) for s in self._statistics_subsets()}
        overall = _merge_statistics(list(parts.values()))
        per_subset = {name: part.stats for name, part in parts.items()}
        return {
            split: {**overall, "hf_subset_descriptive_stats": per_subset}
            for split in self.metadata.eval_splits
        }

    @property
    def data_path(self) -> Path:
        """Where the built dataset is read from (raises naming the build command when there is none)."""
        return dataset_dir(self.data_dir)


class mMARCOR(MMarcoRTask):
    definition = task_definition("mmarcor")
    metadata = definition.metadata()


class MMarcoRAdvTask(LareqaAdvTask, MMarcoRTask):
    """mMARCO-R loading, adversarial scoring, with the perturbation set read from the user's build."""

    @classmethod
    def data_available(cls) -> bool:
        """Whether both the build and its local perturbation set (the declared version) exist."""
        try:
            build = dataset_dir(None)
        except HbtBenchError:
            return False
        version = cls.definition.fields.perturbations or ""
        return (local_set_folder(build, version) / "manifest.json").is_file()

    def _perturbations_root(self) -> Path:
        """``<build>/perturbations``, once the set there is known to come from this build."""
        build = dataset_dir(self.data_dir)
        verify_local_set(build, self.perturbations)
        return local_sets_root(build)

    def _revision_tags(self) -> list[str]:
        tags = super()._revision_tags()
        try:
            digest = set_digest(local_set_folder(dataset_dir(self.data_dir), self.perturbations))
        except HbtBenchError:
            digest = None  # nothing built yet: loading fails naming the commands
        return [*tags, *([f"set-{digest}"] if digest else [])]


class mMARCORAdv(MMarcoRAdvTask):
    definition = task_definition("mmarcor_adv")
    metadata = definition.metadata()
