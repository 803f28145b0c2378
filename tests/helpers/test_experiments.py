"""run_or_load: results are saved, reused while the code is unchanged, never recomputed by the grader."""

import json

import pytest

from helpers.experiments import MissingResults, fingerprint, run_or_load


def layer_v1(x):
    return x + 1


def layer_v2(x):
    return x + 2


class Model:
    def loss(self):
        return 0


def test_saves_then_reuses_until_the_code_changes(tmp_path, monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    calls = []

    def run():
        calls.append(1)
        return {"acc": [0.1, 0.2]}

    assert run_or_load("exp", run, depends_on=(layer_v1,), folder=tmp_path) == {"acc": [0.1, 0.2]}
    saved = json.loads((tmp_path / "exp.json").read_text())
    assert saved["results"] == {"acc": [0.1, 0.2]} and saved["fingerprint"]
    run_or_load("exp", run, depends_on=(layer_v1,), folder=tmp_path)
    assert len(calls) == 1  # reused
    run_or_load("exp", run, depends_on=(layer_v2,), folder=tmp_path)
    assert len(calls) == 2  # the code changed
    run_or_load("exp", run, depends_on=(layer_v2,), settings={"lr": 1}, folder=tmp_path)
    assert len(calls) == 3  # the settings changed
    run_or_load("exp", run, depends_on=(layer_v2,), settings={"lr": 1}, folder=tmp_path, rerun=True)
    assert len(calls) == 4


def test_autograding_never_runs_the_experiment(tmp_path, monkeypatch):
    (tmp_path / "exp.json").write_text(json.dumps({"fingerprint": "stale", "results": {"acc": [0.5]}}))
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")

    def run():
        raise AssertionError("the grader must not retrain")

    assert run_or_load("exp", run, depends_on=(layer_v1,), folder=tmp_path, rerun=True) == {"acc": [0.5]}
    with pytest.raises(MissingResults, match="does not retrain"):
        run_or_load("other", run, folder=tmp_path)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(MissingResults):
        run_or_load("broken", run, folder=tmp_path)


def test_fingerprint_covers_classes_and_settings():
    assert fingerprint((Model,)) == fingerprint((Model,))
    assert fingerprint((Model,)) != fingerprint((Model, layer_v1))
    assert fingerprint((), {"a": 1}) != fingerprint((), {"a": 2})
