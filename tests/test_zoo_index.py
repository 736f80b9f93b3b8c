"""The zoo's static index (models/zoo_index.json) that lets `snnexport models` run without torch:
it must say what the real models say, and a stale one must never be used."""

import json

import pytest

from snnexport import zoo_index


@pytest.fixture(scope="module")
def live():
    return zoo_index.live_rows()  # imports every zoo model and loads every checkpoint


def test_the_stored_index_agrees_with_the_real_models(live):
    stored = zoo_index.read_index()
    assert stored is not None, f"{zoo_index.index_path()} is missing; run {zoo_index.REGENERATE}"
    assert stored == zoo_index.build_index(live), f"the zoo index is stale: run {zoo_index.REGENERATE}"
    assert zoo_index.stale_reason(stored) is None
    assert all(isinstance(m["parameters"], int) and m["parameters"] > 0 for m in stored["models"] if m["sha256"])


def test_models_rows_from_the_index_equal_the_rows_built_from_the_models(live, monkeypatch):
    def no_live():
        raise AssertionError("the index was current, yet the models were imported")

    monkeypatch.setattr(zoo_index, "live_rows", no_live)
    assert zoo_index.catalog_rows() == live


def _stored_copy(tmp_path, monkeypatch, edit):
    index = json.loads(zoo_index.index_path().read_text(encoding="utf8"))
    edit(index)
    path = tmp_path / zoo_index.INDEX_FILE
    path.write_text(json.dumps(index), encoding="utf8")
    monkeypatch.setattr(zoo_index, "index_path", lambda: path)
    monkeypatch.setattr(zoo_index, "live_rows", lambda: ["built live"])


def _retrained(index):
    index["models"][0]["sha256"] = "0" * 64


def _model_added(index):
    index["zoo_modules"] = index["zoo_modules"][:-1]


def _old_format(index):
    index["format"] = zoo_index.INDEX_FORMAT + 1


@pytest.mark.parametrize("edit", [_retrained, _model_added, _old_format])
def test_a_stale_index_is_not_used(tmp_path, monkeypatch, edit):
    _stored_copy(tmp_path, monkeypatch, edit)
    assert zoo_index.stale_reason(zoo_index.read_index()) is not None
    assert zoo_index.catalog_rows() == ["built live"]


def test_a_current_copy_of_the_index_is_used(tmp_path, monkeypatch):
    # the fallback test above must be able to fail: an unedited copy is read, not rebuilt
    _stored_copy(tmp_path, monkeypatch, lambda index: None)
    rows = zoo_index.catalog_rows()
    assert rows != ["built live"] and {r["name"] for r in rows} >= {"shd", "mnist-custom"}
