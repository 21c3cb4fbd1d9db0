"""`almo bound`: a certificate for a bundled data set, printed, saved, reloaded and recomputed."""

import json
import subprocess
import sys

import numpy as np
import pytest

from almo.cli import main
from almo.complexity import BoundReport


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("bound") / "iris.json"
    assert main(["bound", "--dataset", "iris", "--beta", "0.5", "--save", str(path)]) == 0
    return path, json.loads(path.read_text())


def test_prints_the_table_and_the_held_out_check(saved, capsys):
    _, data = saved
    assert main(["bound", "--dataset", "iris", "--beta", "0.5"]) == 0
    out = capsys.readouterr().out
    rep = BoundReport.from_dict(data["bound"])
    assert "| term | formula | value |" in out
    assert f"**{rep.value:.4f}**" in out
    for name in ("log_loss@group0", "log_loss@group1", "log_loss@group2"):
        assert f"| {name} |" in out
    assert "vector contraction" in out
    held = data["held_out_worst_case"]
    assert f"held-out worst case ({data['n_test']} rows): {held:.4f}" in out
    # the certificate holds on the held-out split here (it is far from tight)
    assert held <= rep.value
    assert "below the certificate" in out


def test_saved_file_holds_a_usable_model(saved):
    _, data = saved
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    Xs = (X - np.array(data["scaler_mean"])) / np.array(data["scaler_scale"])
    scores = Xs @ np.array(data["coef"]).T + np.array(data["intercept"])
    assert np.mean(np.argmax(scores, axis=1) == y) > 0.8
    assert data["beta"] == 0.5 and data["n_train"] + data["n_test"] == 150
    assert data["report"]["names"] == ["log_loss@group0", "log_loss@group1", "log_loss@group2"]
    assert data["solver"]["status"] == "optimal"


def test_load_recomputes_for_a_new_delta(saved, capsys):
    path, data = saved
    assert main(["bound", "--load", str(path), "--json"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["value"] == data["bound"]["value"]
    assert main(["bound", "--load", str(path), "--json", "--delta", "0.001"]) == 0
    strict = json.loads(capsys.readouterr().out)
    assert strict["value"] > data["bound"]["value"]
    assert strict["delta"] == 0.001
    # only the concentration term depends on δ (ε may move with it)
    before = {t["name"]: t["value"] for t in data["bound"]["terms"]}
    after = {t["name"]: t["value"] for t in strict["terms"]}
    assert after["complexity"] == before["complexity"]
    assert after["empirical worst case"] == before["empirical worst case"]
    assert after["concentration"] > before["concentration"]
    # the same number as the library's own assembly from the saved statistics
    from almo.complexity.bound import assemble
    from almo.mixtures import Simplex

    rep = BoundReport.from_dict(data["bound"])
    ref = assemble(
        rep.names,
        rep.empirical,
        rep.term("empirical worst case"),
        rep.complexity,
        rep.loss_bound,
        rep.counts,
        Simplex(3),
        0.001,
        None,
        constant=3.0,
        log_weight=rep.parameters["log_weight"],
    )
    assert strict["value"] == pytest.approx(ref.value, rel=1e-12)


def test_beta_zero_and_feature_groups(capsys):
    args = ["bound", "--dataset", "breast_cancer", "--groups", "feature:0", "--beta", "0"]
    assert main([*args, "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["names"] == ["log_loss@group0", "log_loss@group1"]
    assert main(args) == 0
    assert "β = none" in capsys.readouterr().out


def test_no_groups_with_two_losses(capsys):
    args = ["bound", "--dataset", "wine", "--groups", "none", "--losses", "log_loss,hinge"]
    assert main([*args, "--beta", "bound", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["names"] == ["log_loss", "hinge"]
    assert rep["counts"][0] == rep["counts"][1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "iris", "--beta", "-1"], "--beta"),
        (["--dataset", "iris", "--beta", "lots"], "--beta"),
        (["--dataset", "iris", "--groups", "rows"], "--groups"),
        (["--dataset", "iris", "--groups", "feature:9"], "feature index"),
        (["--dataset", "iris", "--test-size", "1.5"], "--test-size"),
        (["--dataset", "iris", "--delta", "2"], "--delta"),
        (["--dataset", "iris", "--losses", "zero_one"], "zero_one"),
        (["--load", "/nonexistent/file.json"], "--load"),
    ],
)
def test_bad_input_ends_in_one_line(args, message, capsys):
    assert main(["bound", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("almo bound: error: ")
    assert message in err[0]


def test_load_refuses_other_json(tmp_path, capsys):
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "something"}))
    assert main(["bound", "--load", str(other)]) == 2
    assert "written by almo bound --save" in capsys.readouterr().err


def test_parser_requires_a_source(capsys):
    with pytest.raises(SystemExit) as info:
        main(["bound"])
    assert info.value.code == 2
    assert "--dataset" in capsys.readouterr().err


def test_module_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "almo", "bound", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    assert "--load" in proc.stdout and "--beta" in proc.stdout
