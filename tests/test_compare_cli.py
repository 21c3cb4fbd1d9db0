"""`almo compare`: flags, CSV data, --config, and one-line errors naming the flag.

The runs use the stand-in estimator of test_compare.py (instant and exact) so that the tests
check the command line itself; the real estimators run in test_compare_estimators.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import numpy as np
import pytest

from almo import compare_cli
from almo.cli import main
from almo.comparison import REPORT_SCHEMA
from almo.comparison import run as run_mod
from test_compare import FakeEstimator


@pytest.fixture
def fake(monkeypatch):
    FakeEstimator.fits = []
    monkeypatch.setattr(run_mod, "_estimator", lambda task, params: FakeEstimator(**params))
    # progress is a tqdm bar in a notebook kernel: another test may have imported ipykernel
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    return FakeEstimator


def _run(argv, capsys):
    status = main(["compare", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def _error(argv, capsys):
    status, out, err = _run(argv, capsys)
    assert status == 2, (status, out, err)
    assert len(err.splitlines()) == 1, err
    assert err.startswith("almo compare: error: "), err
    assert "Traceback" not in err
    return err


def _csv(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _good_csv(tmp_path, n=40, name="good.csv"):
    rng = np.random.default_rng(0)
    lines = ["a,b,site,label"]
    for i in range(n):
        label = "yes" if i % 2 else "no"
        lines.append(f"{rng.normal():.4f},{rng.normal() + (i % 2):.4f},s{i % 3},{label}")
    return _csv(tmp_path, "\n".join(lines) + "\n", name)


# -- a run, with the stand-in estimator ------------------------------------------------------
def test_default_dataset_prints_the_table_and_writes_the_report(fake, tmp_path, capsys):
    out_dir = tmp_path / "rep"
    status, out, err = _run(
        ["--dataset", "iris", "--seeds", "2", "--out", str(out_dir), "--quiet"], capsys
    )
    assert status == 0, err
    assert "| model | arm | held-out worst case" in out
    assert "| linear | ALMO |" in out and "| mlp | uniform |" in out
    assert f"report: {out_dir / 'report.json'}" in out
    assert "plots: " in out and "objectives_by_model.png" in out
    data = json.loads((out_dir / "report.json").read_text())
    jsonschema.validate(data, REPORT_SCHEMA)
    assert data["config"]["losses"] == ["log_loss", "hinge", "squared"]
    assert data["config"]["models"] == ["linear", "mlp"]
    assert data["config"]["seeds"] == [0, 1]
    assert (out_dir / "pareto.png").is_file()
    assert err == ""  # --quiet
    # defaults reach every estimator
    assert {f["max_epochs"] for f in fake.fits} == {compare_cli.DEFAULTS["epochs"]}


def test_progress_is_one_line_per_fit_in_a_log(fake, tmp_path, capsys):
    status, _, err = _run(
        [
            "--dataset",
            "iris",
            "--seeds",
            "1",
            "--model",
            "linear",
            "--out",
            str(tmp_path),
            "--no-plots",
        ],
        capsys,
    )
    assert status == 0
    lines = err.splitlines()
    n_fits = sum(f.get("method") != "exact" for f in fake.fits)
    assert n_fits == len(fake.fits) - 1  # one exact fit certifies the linear optimum
    assert len(lines) == n_fits
    assert lines[0].startswith(f"compare [1/{n_fits}] seed 0 · linear · ALMO: held-out worst case")
    assert not list(tmp_path.glob("*.png"))


def test_csv_with_groups_and_config(fake, tmp_path, capsys):
    data = _good_csv(tmp_path)
    cfg = _csv(
        tmp_path,
        'losses = ["log_loss", "squared"]\nmodel = "linear"\nseeds = 1\nfixed = "grid:2"\n'
        "test-size = 0.25\n",
        "run.toml",
    )
    status, _, err = _run(
        [
            "--data",
            str(data),
            "--target",
            "label",
            "--groups",
            "site",
            "--config",
            str(cfg),
            "--seeds",
            "2",
            "--out",
            str(tmp_path / "o"),
            "--quiet",
        ],
        capsys,
    )
    assert status == 0, err
    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    assert rep["config"]["dataset"] == "good.csv"
    assert rep["config"]["objectives"][:3] == [
        "log_loss@group0",
        "log_loss@group1",
        "log_loss@group2",
    ]
    assert rep["config"]["seeds"] == [0, 1]  # the flag beats the file
    assert rep["config"]["test_size"] == 0.25  # the file beats the default
    assert rep["config"]["models"] == ["linear"]
    # features: a and b only (target and groups columns left out), standardized
    assert fake.fits[0]["X"].shape[1] == 2


def test_dropna_drops_incomplete_rows(fake, tmp_path, capsys):
    text = _good_csv(tmp_path).read_text().splitlines()
    text[3] = ",".join(["", *text[3].split(",")[1:]])
    text[5] = text[5].rsplit(",", 1)[0] + ",NA"
    path = _csv(tmp_path, "\n".join(text) + "\n")
    err = _error(["--data", str(path), "--target", "label", "--groups", "site"], capsys)
    assert "2 of 40 rows with missing values" in err and "--dropna" in err
    status, _, err = _run(
        [
            "--data",
            str(path),
            "--target",
            "label",
            "--groups",
            "site",
            "--dropna",
            "--model",
            "linear",
            "--seeds",
            "1",
            "--out",
            str(tmp_path / "o"),
            "--quiet",
            "--no-plots",
        ],
        capsys,
    )
    assert status == 0, err
    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    assert rep["config"]["n_train"] + rep["config"]["n_test"] == 38


def test_read_csv_returns_numbers_labels_groups(tmp_path):
    X, y, g, names = compare_cli.read_csv(_good_csv(tmp_path), "label", "site", False)
    assert X.shape == (40, 2) and names == ["a", "b"]
    assert set(y.tolist()) == {"yes", "no"} and set(g.tolist()) == {"s0", "s1", "s2"}
    with pytest.raises(ValueError, match="column 'label' holds 'no'"):
        compare_cli.read_csv(_good_csv(tmp_path), "a", "site", False)


# -- one-line errors ---------------------------------------------------------------------------
def test_missing_file(tmp_path, capsys):
    err = _error(["--data", str(tmp_path / "nope.csv"), "--target", "y"], capsys)
    assert "`--data` must name an existing CSV file" in err and "no such file" in err


def test_missing_target_flag_and_column(tmp_path, capsys):
    path = _good_csv(tmp_path)
    err = _error(["--data", str(path)], capsys)
    assert "`--target`" in err and "columns: a, b, site, label" in err
    err = _error(["--data", str(path), "--target", "price"], capsys)
    assert "`--target` must name a column" in err and "'price'" in err and "--target" in err
    err = _error(["--data", str(path), "--target", "label", "--groups", "city"], capsys)
    assert "`--groups` must name a column" in err and "'city'" in err


def test_non_numeric_feature_names_the_column(tmp_path, capsys):
    path = _csv(tmp_path, "a,color,label\n1,red,0\n2,blue,1\n3,red,0\n4,blue,1\n5,red,1\n")
    err = _error(["--data", str(path), "--target", "label"], capsys)
    assert "column 'color' holds 'red'" in err and "--target color" in err


def test_single_class_target(tmp_path, capsys):
    path = _csv(tmp_path, "a,b,label\n1,2,x\n2,3,x\n3,4,x\n4,5,x\n5,6,x\n")
    err = _error(["--data", str(path), "--target", "label"], capsys)
    assert "`--target` must hold at least 2 classes" in err and "'x'" in err


def test_nan_in_features_counts_rows(tmp_path, capsys):
    path = _csv(tmp_path, "a,b,label\n1,nan,0\n2,3,1\n,4,0\n4,5,1\n5,6,0\n6,7,1\n")
    err = _error(["--data", str(path), "--target", "label"], capsys)
    assert "2 of 6 rows with missing values (in a, b)" in err and "pass --dropna" in err


def test_unknown_loss(capsys):
    err = _error(["--dataset", "iris", "--losses", "log_loss,cross_entropy"], capsys)
    assert "`--losses` must be names among" in err and "'cross_entropy'" in err
    assert "--losses log_loss,hinge" in err


def test_loss_for_the_wrong_task(capsys):
    err = _error(["--dataset", "diabetes", "--losses", "squared,hinge"], capsys)
    assert "`--losses`" in err and "hinge" in err


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--seeds", "0"], "--seeds"),
        (["--epochs", "0"], "--epochs"),
        (["--test-size", "0.99"], "--test-size"),
        (["--model", "tree"], "--model"),
        (["--model", "mlp:0x3"], "--model"),
        (["--mixture", "0.7,0.2"], "--mixture"),
        (["--mixture", "box"], "--mixture"),
        (["--rule", "newton"], "--rule"),
        (["--rule", "projected:-1"], "--rule"),
        (["--penalty", "-1"], "--penalty"),
        (["--alpha", "-1"], "--alpha"),
        (["--groups", "site"], "--groups"),
        (["--target", "label"], "--target"),
        (["--fixed", "mesh"], "--fixed"),
        (["--config", "missing.toml"], "--config"),
    ],
)
def test_bad_flags(argv, flag, capsys, tmp_path, fake):
    err = _error(["--dataset", "iris", "--out", str(tmp_path), *argv], capsys)
    assert f"`{flag}`" in err, err


def test_bad_config_files(tmp_path, capsys):
    bad = _csv(tmp_path, "losses = [\n", "bad.toml")
    assert "be valid TOML" in _error(["--config", str(bad)], capsys)
    unknown = _csv(tmp_path, "learning_rate = 3\n", "unknown.toml")
    err = _error(["--config", str(unknown)], capsys)
    assert "'learning_rate'" in err and "--config" in err


def test_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    err = _error(["--dataset", "iris", "--out", str(blocker)], capsys)
    assert "`--out`" in err


def test_through_python_dash_m(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "almo",
            "compare",
            "--data",
            str(tmp_path / "x.csv"),
            "--target",
            "y",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("almo compare: error: `--data`")
    assert len(proc.stderr.splitlines()) == 1
