"""The registry file, its mteb ModelMetas, appending rows, and the entry-point group."""

from __future__ import annotations

import sys
import textwrap

import pytest

from hbt_bench.errors import ModelSpecError
from hbt_bench.leaderboard.entry_points import GROUP, available, resolve_spec
from hbt_bench.leaderboard.registry import RegistryError, append_row, load_registry, register


def test_rows_become_mteb_model_metas(tmp_path):
    import mteb
    from mteb.models.model_implementations import MODEL_REGISTRY

    path = tmp_path / "registry.toml"
    path.write_text(
        '[[model]]\nname = "test-org/registry-row"\nn_parameters = 1234\nlicense = "mit"\n'
        'languages = ["eng-Latn"]\n'
    )
    try:
        assert register(load_registry(path)) == ["test-org/registry-row"]
        meta = mteb.get_model_meta("test-org/registry-row")
        assert (meta.n_parameters, meta.license, meta.languages) == (1234, "mit", ["eng-Latn"])
        assert register(load_registry(path)) == []  # idempotent; built-ins keep their own metas
    finally:
        MODEL_REGISTRY.pop("test-org/registry-row", None)


def test_append_keeps_the_users_text_and_refuses_duplicates(tmp_path):
    path = tmp_path / "registry.toml"
    original = '# my notes\n[[model]]\nname = "a/b"\ndescription = "hand-written"  # keep me\n'
    path.write_text(original)
    append_row(path, {"name": "c/d", "spec": "builtin:hash-ngram", "n_parameters": 0, "label": None})
    text = path.read_text()
    assert text.startswith(original)
    assert [r.name for r in load_registry(path).rows] == ["a/b", "c/d"]
    with pytest.raises(RegistryError, match="already registered"):
        append_row(path, {"name": "a/b"})
    assert path.read_text() == text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[model]]\nname = "a/b"\nparams = 3\n', "unknown field"),
        ('[[model]]\nspec = "x"\n', "missing required field 'name'"),
        ('[[model]]\nname = "a/b"\nn_parameters = "big"\n', "n_parameters"),
        ('[[model]]\nname = "a/b"\n[[model]]\nname = "a/b"\n', "listed twice"),
        ('[[model]]\nname = "a/b"\nresults = "../../etc"\n', "results"),
        (
            '[[model]]\nname = "a/b"\nis_baseline = true\n[[model]]\nname = "c/d"\nis_baseline = true\n',
            "baseline",
        ),
        ("[[model]\n", "not a readable TOML"),
    ],
)
def test_bad_rows_name_the_file_and_field(tmp_path, body, message):
    path = tmp_path / "registry.toml"
    path.write_text(body)
    with pytest.raises(RegistryError, match=message) as info:
        load_registry(path)
    assert str(path) in str(info.value)


@pytest.fixture
def fake_distribution(tmp_path, monkeypatch):
    """A distribution on sys.path declaring an ``hbt_bench.models`` entry point, as pip installs one."""
    (tmp_path / "fake_hbt_models.py").write_text(
        textwrap.dedent(
            """
            from hbt_bench.encoders import HashNgramEncoder

            def make_encoder():
                encoder = HashNgramEncoder(dim=64)
                encoder.name = "fake/entry-point-encoder"
                return encoder
            """
        )
    )
    info = tmp_path / "fake_hbt_models-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-hbt-models\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{GROUP}]\nfake-encoder = fake_hbt_models:make_encoder\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("fake_hbt_models", None)


def test_entry_points_resolve_to_factory_specs(fake_distribution, tmp_path, monkeypatch):
    from hbt_bench.encoders import load_model

    assert available()["fake-encoder"] == "fake_hbt_models:make_encoder"
    assert resolve_spec("ep:fake-encoder") == resolve_spec("fake-encoder") == "fake_hbt_models:make_encoder"
    assert resolve_spec("builtin:hash-ngram") == "builtin:hash-ngram"
    encoder = load_model(resolve_spec("ep:fake-encoder"))
    assert encoder.name == "fake/entry-point-encoder" and encoder.encode(["a b"]).shape == (1, 64)
    with pytest.raises(ModelSpecError, match=r"no 'hbt_bench\.models' entry point 'nope'"):
        resolve_spec("ep:nope")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fake-encoder").mkdir()  # a local folder of that name wins over the entry point
    assert resolve_spec("fake-encoder") == "fake-encoder"
