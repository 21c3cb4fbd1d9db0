"""`almo compare`, flag by flag: each flag's checks (one line, exit status 2, the flag named, the
value found, a fix), what each flag hands the estimators, --config and its precedence, the
folder --out, progress without a terminal, CSV files of every awkward kind, and one end-to-end
run of the real estimators in a subprocess.

Runs use the stand-in estimator of test_compare_more_stats.py (instant, closed-form values).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from almo import compare_cli
from almo.cli import main
from almo.comparison import ComparisonReport
from almo.comparison import run as run_mod
from almo.weights import ExponentiatedAscent, FixedWeights, ProjectedAscent
from test_compare_more_stats import Stub, greedy_box_max


@pytest.fixture
def stub(monkeypatch):
    Stub.fits, Stub.history, Stub.certificate = [], 0, None
    monkeypatch.setattr(run_mod, "_estimator", lambda task, params: Stub(task, **params))
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    return Stub


def cli(argv, capsys):
    try:
        status = main(["compare", *argv])
    except SystemExit as stop:  # argparse's own errors (bad int, unknown choice) exit
        status = stop.code
    out, err = capsys.readouterr()
    return status, out, err


def error_of(argv, capsys):
    status, out, err = cli(argv, capsys)
    assert status == 2, (status, out, err)
    assert out == ""
    assert err.endswith("\n") and len(err.splitlines()) == 1, err
    assert err.startswith("almo compare: error: "), err
    assert "Traceback" not in err
    return err.strip()


def quick(tmp_path, *extra):
    """Flags of a small, quiet run on iris into tmp_path/out."""
    return [
        "--dataset",
        "iris",
        "--seeds",
        "1",
        "--model",
        "linear",
        "--out",
        str(tmp_path / "out"),
        "--quiet",
        "--no-plots",
        *extra,
    ]


def almo_fits():
    return [
        f
        for f in Stub.fits
        if not isinstance(f["weight_rule"], FixedWeights) and f.get("method") != "exact"
    ]


def written(tmp_path):
    return json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------ each flag's checks
BAD = [
    (["--seeds", "-1"], "--seeds", "-1"),
    (["--seeds", "abc"], "--seeds", "'abc'"),
    (["--epochs", "-3"], "--epochs", "-3"),
    (["--epochs", "2.5"], "--epochs", "'2.5'"),
    (["--test-size", "0.01"], "--test-size", "0.01"),
    (["--test-size", "0.95"], "--test-size", "0.95"),
    (["--test-size", "nan"], "--test-size", "nan"),
    (["--alpha", "nan"], "--alpha", "nan"),
    (["--alpha", "-0.5"], "--alpha", "-0.5"),
    (["--model", ""], "--model", "''"),
    (["--model", ",,"], "--model", "',,'"),
    (["--model", "mlp:"], "--model", "'mlp:'"),
    (["--model", "mlp:8x"], "--model", "'mlp:8x'"),
    (["--model", "mlp:axb"], "--model", "'mlp:axb'"),
    (["--model", "linear,tree"], "--model", "'tree'"),
    (["--mixture", "0.5"], "--mixture", "'0.5'"),
    (["--mixture", "0.1,0.2,0.3"], "--mixture", "'0.1,0.2,0.3'"),
    (["--mixture=-0.1,0.5"], "--mixture", "'-0.1,0.5'"),
    (["--mixture", "0.2,1.5"], "--mixture", "'0.2,1.5'"),
    (["--mixture", "nan,0.5"], "--mixture", "'nan,0.5'"),
    (["--rule", "mirror"], "--rule", "'mirror'"),
    (["--rule", "projected:abc"], "--rule", "'projected:abc'"),
    (["--rule", "exponentiated:0"], "--rule", "'exponentiated:0'"),
    (["--rule", "projected:inf"], "--rule", "'projected:inf'"),
    (["--rule", "auto:0.1"], "--rule", "'auto:0.1'"),
    (["--penalty", "nan"], "--penalty", "'nan'"),
    (["--penalty", "inf"], "--penalty", "'inf'"),
    (["--penalty", "rad"], "--penalty", "'rad'"),
    (["--penalty", "-0.1"], "--penalty", "'-0.1'"),
    (["--losses", ""], "--losses", "''"),
    (["--losses", " , "], "--losses", "' , '"),
    (["--losses", "log_loss,log_loss"], "--losses", "'log_loss,log_loss'"),
    (["--losses", "absolute"], "--losses", "absolute (a regression loss)"),
    (["--fixed", "grid:0"], "--fixed", "'grid:0'"),
    (["--fixed", "dirichlet:x"], "--fixed", "'dirichlet:x'"),
    (["--fixed", "grid:100"], "--fixed", "5151 points"),
    (["--dataset", "mnist"], "--dataset", "'mnist'"),
    (["--task", "ranking"], "--task", "'ranking'"),
    (["--method", "fast"], "--method", "'fast'"),
    (["--groups", "site"], "--groups", "'site'"),
    (["--target", "label"], "--target", "'label'"),
    (["--task", "regression"], "--losses", "log_loss (a classification loss)"),
    (["--unknown-flag"], "--unknown-flag", "--unknown-flag"),
]


@pytest.mark.parametrize(("argv", "flag", "found"), BAD, ids=[" ".join(b[0]) for b in BAD])
def test_each_flag_is_checked(stub, tmp_path, capsys, argv, flag, found):
    err = error_of(["--dataset", "iris", "--out", str(tmp_path / "o"), *argv], capsys)
    assert flag in err, err
    assert found in err, err
    if "Fix:" in err:  # our own checks (argparse's own say what was expected)
        assert f"`{flag}`" in err
        fix = err.split("Fix:", 1)[1]
        assert ("=" not in fix and "(" not in fix) or flag == "--fixed", err  # no Python call
        assert flag in fix or "--" in fix or flag in ("--losses", "--fixed"), err
    assert not (tmp_path / "o" / "report.json").exists()


@pytest.mark.parametrize("argv", [["--seeds", "0"], ["--model", "tree"], ["--rule", "x"]])
def test_flag_errors_come_before_any_work(stub, tmp_path, capsys, argv):
    error_of(["--dataset", "iris", "--out", str(tmp_path / "o"), *argv], capsys)
    assert Stub.fits == []
    assert not (tmp_path / "o").exists()  # --out is made only once the flags are good


def test_fixed_typo_fails_before_training(stub, tmp_path, capsys):
    error_of(quick(tmp_path, "--fixed", "mesh"), capsys)
    assert Stub.fits == []


def test_fixed_fix_names_the_flag(stub, tmp_path, capsys):
    err = error_of(quick(tmp_path, "--fixed", "mesh"), capsys)
    assert "--fixed grid:3" in err.split("Fix:", 1)[1]


def test_infeasible_box_names_mixture(stub, tmp_path, capsys):
    err = error_of(quick(tmp_path, "--mixture", "0,0.2"), capsys)  # 3 objectives: 3 · 0.2 < 1
    assert "`--mixture`" in err


def test_diabetes_needs_regression_losses(stub, tmp_path, capsys):
    err = error_of(["--dataset", "diabetes", "--out", str(tmp_path)], capsys)
    assert "`--losses` must be regression losses for this target" in err
    assert "--losses squared,absolute" in err


# ------------------------------------------------------------------------------ what flags hand on
def test_penalty_flag_values(stub, tmp_path, capsys):
    for value, penalty, beta in [
        ("rademacher", "rademacher", None),
        ("none", "none", None),
        ("0", "none", None),
        ("0.25", "rademacher", 0.25),
    ]:
        Stub.fits = []
        status, _, err = cli(quick(tmp_path, "--penalty", value), capsys)
        assert status == 0, err
        assert {f["penalty"] for f in Stub.fits} == {penalty}
        assert {f.get("beta") for f in Stub.fits} == {beta}


def test_rule_flag_reaches_only_almo(stub, tmp_path, capsys):
    for value, cls, lr in [
        ("exponentiated:0.5", ExponentiatedAscent, 0.5),
        ("projected", ProjectedAscent, 0.1),
    ]:
        Stub.fits = []
        assert cli(quick(tmp_path, "--rule", value, "--no-certify"), capsys)[0] == 0
        (almo,) = almo_fits()
        assert isinstance(almo["weight_rule"], cls) and almo["weight_rule"].lr == lr
        others = [f for f in Stub.fits if f is not almo]
        assert others and all(isinstance(f["weight_rule"], FixedWeights) for f in others)
    Stub.fits = []
    cli(quick(tmp_path), capsys)
    assert almo_fits()[0]["weight_rule"] == "auto"


def test_mixture_flag_is_the_compared_set(stub, tmp_path, capsys):
    status, _, err = cli(quick(tmp_path, "--mixture", "0.1,0.6"), capsys)
    assert status == 0, err
    assert almo_fits()[0]["mixture_set"] == (0.1, 0.6)
    doc = written(tmp_path)
    assert "BoxSimplex" in doc["config"]["mixture_set"]
    for run in doc["runs"]:
        ell = np.array(run["held_out"]["normalized"])
        lower, upper = np.full(3, 0.1), np.full(3, 0.6)
        assert run["held_out"]["worst_case"] == pytest.approx(greedy_box_max(lower, upper, ell))
        assert all(0.1 - 1e-12 <= w <= 0.6 + 1e-12 for w in run["held_out"]["weights"])


def test_training_flags_reach_every_fit(stub, tmp_path, capsys):
    argv = quick(
        tmp_path,
        "--epochs",
        "2",
        "--alpha",
        "0.5",
        "--method",
        "exact",
        "--no-normalize",
        "--test-size",
        "0.2",
        "--model",
        "linear,mlp:16x8",
        "--seeds",
        "2",
    )
    status, _, err = cli(argv, capsys)
    assert status == 0, err
    assert Stub.fits
    for f in Stub.fits:
        assert f["max_epochs"] == 2 and f["alpha"] == 0.5 and f["method"] == "exact"
        assert f["normalize"] is False and f["model"] in ("linear", (16, 8))
    doc = written(tmp_path)
    assert doc["config"]["models"] == ["linear", "mlp(16,8)"]
    assert doc["config"]["seeds"] == [0, 1]
    assert doc["config"]["n_test"] == 30 and doc["config"]["normalize"] is False
    assert doc["config"]["estimator_params"]["alpha"] == "0.5"


def test_certify_flag(stub, tmp_path, capsys):
    Stub.certificate = {"value": 0.4, "lower_bound": 0.3}
    cli(quick(tmp_path, "--seeds", "2"), capsys)
    exact = [f for f in Stub.fits if f.get("method") == "exact"]
    assert [f["random_state"] for f in exact] == [0, 1]  # one per seed, linear only
    assert "gap to optimum (train)" in (tmp_path / "out" / "report.md").read_text()
    Stub.fits = []
    cli(quick(tmp_path, "--no-certify"), capsys)
    assert not [f for f in Stub.fits if f.get("method") == "exact"]
    assert written(tmp_path)["config"]["certify"] is False


def test_groups_classes_gives_objectives_per_class(stub, tmp_path, capsys):
    status, _, _ = cli(quick(tmp_path, "--groups", "classes", "--losses", "log_loss"), capsys)
    assert status == 0
    doc = written(tmp_path)
    assert doc["config"]["objectives"] == [f"log_loss@group{k}" for k in range(3)]
    assert doc["config"]["groups"] == ["0", "1", "2"]
    fit = Stub.fits[0]
    np.testing.assert_array_equal(fit["groups"], fit["y"])  # the group of a row is its class


def test_regression_dataset(stub, tmp_path, capsys):
    argv = quick(tmp_path, "--losses", "squared,absolute")
    argv[1] = "diabetes"
    status, out, err = cli(argv, capsys)
    assert status == 0, err
    assert "| R² |" in out
    assert {f["task"] for f in Stub.fits} == {"regression"}
    assert written(tmp_path)["config"]["score"] == "r2"


# ------------------------------------------------------------------------------ --config
def toml(tmp_path, text, name="run.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_config_sets_every_kind_of_option(stub, tmp_path, capsys):
    cfg = toml(
        tmp_path,
        f"""
dataset = "wine"
losses = ["log_loss", "squared"]
model = "linear"
mixture = [0.2, 0.8]
rule = "exponentiated:0.3"
penalty = "0.2"
alpha = 0.5
epochs = 2
seeds = 2
fixed = "grid:2"
test_size = 0.25
normalize = false
certify = false
plots = false
quiet = true
out = "{(tmp_path / "from-config").as_posix()}"
""",
    )
    status, out, err = cli(["--config", str(cfg)], capsys)
    assert status == 0, err
    assert err == ""  # quiet = true
    folder = tmp_path / "from-config"
    assert sorted(p.name for p in folder.iterdir()) == ["report.csv", "report.json", "report.md"]
    doc = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    c = doc["config"]
    assert c["dataset"] == "wine" and c["losses"] == ["log_loss", "squared"]
    assert c["models"] == ["linear"] and c["seeds"] == [0, 1] and c["test_size"] == 0.25
    assert c["normalize"] is False and c["certify"] is False
    assert "BoxSimplex" in c["mixture_set"]
    (almo,) = [f for f in almo_fits() if f["random_state"] == 0]
    assert isinstance(almo["weight_rule"], ExponentiatedAscent) and almo["weight_rule"].lr == 0.3
    assert almo["mixture_set"] == (0.2, 0.8)
    assert all(f["beta"] == 0.2 and f["alpha"] == 0.5 and f["max_epochs"] == 2 for f in Stub.fits)
    assert f"report: {folder / 'report.json'}" in out


def test_config_keys_with_dashes_and_flags_win(stub, tmp_path, capsys):
    cfg = toml(tmp_path, 'test-size = 0.2\nseeds = 2\nmodel = "mlp"\n')
    status, _, _ = cli(quick(tmp_path, "--config", str(cfg), "--seeds", "1"), capsys)
    assert status == 0
    c = written(tmp_path)["config"]
    assert c["test_size"] == 0.2  # from the file
    assert c["seeds"] == [0]  # the flag wins
    assert c["models"] == ["linear"]  # the flag wins


def test_config_loses_to_a_flag_equal_to_the_default(stub, tmp_path, capsys):
    cfg = toml(tmp_path, "seeds = 2\n")
    cli(quick(tmp_path, "--config", str(cfg), "--seeds", "3"), capsys)
    assert written(tmp_path)["config"]["seeds"] == [0, 1, 2]


@pytest.mark.parametrize(
    ("text", "flag", "found"),
    [
        ('seeds = "many"\n', "--seeds", "'many'"),
        ("epochs = 1.5\n", "--epochs", "1.5"),
        ("test-size = 2\n", "--test-size", "2"),
        ('model = "tree"\n', "--model", "'tree'"),
        ("learning-rate = 3\n", "--config", "'learning-rate'"),
        ("config = 'other.toml'\n", "--config", "'config'"),
        ("seeds = \n", "--config", "be valid TOML"),
    ],
)
def test_config_values_are_checked_like_flags(stub, tmp_path, capsys, text, flag, found):
    cfg = toml(tmp_path, text)
    err = error_of(["--dataset", "iris", "--config", str(cfg), "--out", str(tmp_path)], capsys)
    assert f"`{flag}`" in err and found in err, err
    assert Stub.fits == []


def test_config_must_be_a_file(tmp_path, capsys):
    for path in (tmp_path, tmp_path / "missing.toml"):
        err = error_of(["--config", str(path)], capsys)
        assert "`--config` must name an existing TOML file" in err and str(path) in err


def test_load_config_turns_lists_into_flag_text(tmp_path):
    cfg = toml(tmp_path, 'losses = ["log_loss", "hinge"]\nmixture = [0.1, 0.5]\nplots = false\n')
    assert compare_cli.load_config(cfg) == {
        "losses": "log_loss,hinge",
        "mixture": "0.1,0.5",
        "plots": False,
    }


# ------------------------------------------------------------------------------ output
def test_out_folder_contents_and_printed_table(stub, tmp_path, capsys):
    out_dir = tmp_path / "deep" / "er"
    argv = ["--dataset", "iris", "--seeds", "2", "--model", "linear,mlp", "--out", str(out_dir)]
    status, out, err = cli([*argv, "--quiet"], capsys)
    assert status == 0, err
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == sorted(
        ["report.json", "report.csv", "report.md", "objectives_by_model.png", "pareto.png"]
    )
    lines = out.splitlines()
    assert lines[0].startswith("almo compare — iris: 3 objectives, 2 seeds, 105 training / 45 ")
    rep = ComparisonReport.from_json(out_dir / "report.json")
    table = rep.table()
    assert table in out  # what is printed is the saved report's table
    assert (
        f"report: {out_dir / 'report.json'}, {out_dir / 'report.csv'}, {out_dir / 'report.md'}"
        in lines
    )
    plots_line = next(line for line in lines if line.startswith("plots: "))
    assert sorted(plots_line[len("plots: ") :].split(", ")) == sorted(
        str(out_dir / n) for n in ("objectives_by_model.png", "pareto.png")
    )


def test_four_objectives_have_no_pareto_plot(stub, tmp_path, capsys):
    argv = quick(tmp_path, "--losses", "log_loss,hinge,squared,brier", "--plots")
    assert cli(argv, capsys)[0] == 0
    pngs = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert pngs == ["objectives_by_model.png"]
    assert written(tmp_path)["config"]["fixed"].endswith("4 Dirichlet(1) draws (seed 20240601)")


def test_help_shows_every_default(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["compare", "--help"])
    assert stop.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for key, value in compare_cli.DEFAULTS.items():
        if value is None:
            continue
        flag = "--" + key.replace("_", "-")
        assert flag in text, flag
    for shown in (
        "(default: 3)",
        "(default: 8)",
        "(default: 0.3)",
        "(default: digits)",
        "(default: log_loss,hinge,squared)",
        "(default: linear,mlp)",
        "(default: simplex)",
        "(default: almo-compare)",
        "(default: auto)",
    ):
        assert shown in text, shown


# ------------------------------------------------------------------------------ progress
def test_progress_lines_in_a_log(stub, tmp_path, capsys):
    argv = quick(tmp_path, "--seeds", "2")
    argv.remove("--quiet")
    status, out, err = cli(argv, capsys)
    assert status == 0
    lines = err.splitlines()
    fits = [f for f in Stub.fits if f.get("method") != "exact"]
    assert len(lines) == len(fits) == len(written(tmp_path)["runs"])
    pattern = re.compile(
        r"compare \[(\d+)/(\d+)\] seed (\d) · linear · (.+): held-out worst case "
        r"[0-9.e+-]+ \(\d+\.\d s\)"
    )
    for i, line in enumerate(lines, start=1):
        m = pattern.fullmatch(line)
        assert m, line
        assert int(m.group(1)) == i and int(m.group(2)) == len(lines)
    assert "compare [" not in out  # progress goes to stderr, the table to stdout


# ------------------------------------------------------------------------------ CSV files
def csv_file(tmp_path, text, name="d.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def rows(n, fmt, seed=0):
    rng = np.random.default_rng(seed)
    return "".join(fmt(i, rng) for i in range(n))


@pytest.mark.parametrize(
    ("content", "extra", "pieces"),
    [
        ("", [], ["hold a header row and data rows", "0 non-empty lines"]),
        ("a,b,label\n", [], ["1 non-empty lines"]),
        ("a,b,label\n1,2,0\n3,4\n5,6,1\n", [], ["have 3 cells on every row", "first: line 3"]),
        ("label\n0\n1\n0\n1\n", [], ["hold at least one feature column"]),
        ("a,b,label\n1,inf,0\n2,3,1\n4,5,0\n6,7,1\n", [], ["have finite features", "1 rows"]),
        (
            "a,b,label\n1,NA,0\n2,?,1\n3,3,0\n4,4,1\n5,5,0\n",
            ["--dropna"],
            ["keep at least 4 complete rows", "3 rows after --dropna"],
        ),
        (
            "a,site,label\n1,,0\n2,s1,1\n3,s2,0\n4,s1,1\n5,s2,0\n",
            ["--groups", "site"],
            ["1 of 5 rows with missing values (in site)", "--dropna"],
        ),
        (
            "a,b,label\n1,2,yes\n2,3,no\n3,4,yes\n4,5,no\n",
            ["--task", "regression", "--losses", "squared"],
            ["`--task` must be classification for a non-numeric target"],
        ),
    ],
)
def test_bad_csv_files(stub, tmp_path, capsys, content, extra, pieces):
    path = csv_file(tmp_path, content)
    err = error_of(
        ["--data", str(path), "--target", "label", "--out", str(tmp_path), *extra], capsys
    )
    for piece in pieces:
        assert piece in err, err
    assert Stub.fits == []


def test_csv_that_is_a_folder_or_not_utf8(tmp_path, capsys):
    err = error_of(["--data", str(tmp_path), "--target", "y"], capsys)
    assert "(a folder)" in err
    path = csv_file(tmp_path, "a,label\n\xe9,1\n".encode("latin-1"))
    err = error_of(["--data", str(path), "--target", "label"], capsys)
    assert "`--data` must be a UTF-8 CSV file" in err


def test_csv_with_bom_quotes_and_blank_lines(stub, tmp_path, capsys):
    body = rows(
        30,
        lambda i, rng: (
            f'{rng.normal():.3f},{rng.normal() + i % 2:.3f},"s,{i % 2}",'
            f"{'yes' if i % 2 else 'no'}\n\n"
        ),
    )
    path = csv_file(tmp_path, "\ufeffa, b ,site,label\n" + body)
    X, y, g, names = compare_cli.read_csv(path, "label", "site", False)
    assert names == ["a", "b"] and X.shape == (30, 2)
    assert set(g.tolist()) == {"s,0", "s,1"} and set(y.tolist()) == {"yes", "no"}
    argv = ["--data", str(path), "--target", "label", "--groups", "site", "--model", "linear"]
    status, _, err = cli([*argv, "--seeds", "1", "--out", str(tmp_path / "out"), "--quiet"], capsys)
    assert status == 0, err
    doc = written(tmp_path)
    assert doc["config"]["groups"] == ["s,0", "s,1"] and doc["config"]["dataset"] == "d.csv"
    assert doc["config"]["n_features"] == 2


def test_csv_regression_target(stub, tmp_path, capsys):
    body = rows(60, lambda i, rng: f"{rng.normal():.4f},{rng.normal():.4f},{rng.normal():.5f}\n")
    path = csv_file(tmp_path, "x1,x2,price\n" + body)
    base = ["--data", str(path), "--target", "price", "--model", "linear", "--seeds", "1"]
    err = error_of([*base, "--out", str(tmp_path)], capsys)  # default losses: classification
    assert "`--losses` must be regression losses" in err
    status, out, err = cli(
        [*base, "--losses", "squared,absolute", "--out", str(tmp_path / "out"), "--quiet"], capsys
    )
    assert status == 0, err
    assert "| R² |" in out and {f["task"] for f in Stub.fits} == {"regression"}


def test_csv_groups_none_and_classes(stub, tmp_path, capsys):
    body = rows(40, lambda i, rng: f"{rng.normal():.3f},{i % 3}\n")
    path = csv_file(tmp_path, "a,label\n" + body)
    for groups, n_obj in (("none", 1), ("classes", 3)):
        argv = ["--data", str(path), "--target", "label", "--groups", groups, "--losses"]
        status, _, err = cli(
            [
                *argv,
                "log_loss",
                "--model",
                "linear",
                "--seeds",
                "1",
                "--out",
                str(tmp_path / "out"),
                "--quiet",
                "--no-plots",
            ],
            capsys,
        )
        assert status == 0, err
        assert len(written(tmp_path)["config"]["objectives"]) == n_obj


# ------------------------------------------------------------------------------ end to end
def test_real_run_in_a_subprocess_without_a_terminal(tmp_path):
    out_dir = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "almo",
            "compare",
            "--dataset",
            "iris",
            "--losses",
            "log_loss,squared",
            "--model",
            "linear",
            "--method",
            "exact",
            "--seeds",
            "2",
            "--fixed",
            "grid:2",
            "--out",
            str(out_dir),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    n_runs = len(doc["runs"])
    assert n_runs == 2 * 4  # ALMO, uniform, each loss alone; 2 seeds
    progress = [line for line in proc.stderr.splitlines() if line.startswith("compare [")]
    assert len(progress) == n_runs  # one line per fit: no terminal, no bar
    assert "\r" not in proc.stderr
    assert progress[-1].startswith(f"compare [{n_runs}/{n_runs}] seed 1 · linear · only squared")
    rep = ComparisonReport.from_json(out_dir / "report.json")
    assert rep.table() in proc.stdout
    # exact linear models: every linear gap to the certified optimum is >= 0, ALMO's the least
    gaps = {r.arm: r.gap_to_optimum for r in rep.runs if r.seed == 0}
    assert all(g >= -1e-6 for g in gaps.values()), gaps
    assert gaps["ALMO"] <= min(gaps.values()) + 1e-6
    assert sorted(p.name for p in out_dir.glob("*.png")) == [
        "objectives_by_model.png",
        "pareto.png",
    ]


# ------------------------------------------------------------------------------ checks before work
def test_repeated_loss_fix_names_the_flag(stub, tmp_path, capsys):
    err = error_of(quick(tmp_path, "--losses", "log_loss,hinge,log_loss"), capsys)
    assert err.split("Fix:", 1)[1].strip() == "pass each loss once: --losses log_loss,hinge"


def test_lattice_too_large_fix_names_the_flag(stub, tmp_path, capsys):
    err = error_of(quick(tmp_path, "--fixed", "grid:100"), capsys)
    assert "--fixed dirichlet:8" in err.split("Fix:", 1)[1]
    assert Stub.fits == []


@pytest.mark.parametrize(
    ("bounds", "ok"),
    [("0,0.2", False), ("0.4,1", False), ("0,0.34", True), ("0.33,0.5", True), ("0.2,0.3", False)],
)
def test_box_bounds_rule_with_three_objectives(stub, tmp_path, capsys, bounds, ok):
    """L·p ≤ 1 ≤ U·p with p = 3: the boundary cases on each side."""
    argv = quick(tmp_path, "--mixture", bounds)
    if ok:
        assert cli(argv, capsys)[0] == 0
        return
    err = error_of(argv, capsys)
    assert "`--mixture` must hold a mixture of the 3 objectives: L·p ≤ 1 ≤ U·p" in err
    fix = err.split("Fix:", 1)[1]
    lo, hi = (float(v) for v in re.search(r"--mixture ([\d.]+),([\d.]+)", fix).groups())
    assert lo * 3 <= 1 <= hi * 3  # the suggested bounds hold a mixture
    assert Stub.fits == []
    assert not (tmp_path / "out").exists()


def test_box_bounds_count_the_groups(stub, tmp_path, capsys):
    # 1 loss × 3 classes = 3 objectives: U = 0.4 is enough; U = 0.3 is not
    base = ("--losses", "log_loss", "--groups", "classes")
    assert cli(quick(tmp_path, *base, "--mixture", "0,0.4"), capsys)[0] == 0
    err = error_of(quick(tmp_path, *base, "--mixture", "0,0.3"), capsys)
    assert "of the 3 objectives" in err


def test_compare_checks_fixed_and_box_before_training(stub):
    from almo.comparison import compare
    from almo.exceptions import ALMOValueError

    X = np.random.default_rng(0).normal(size=(40, 3))
    y = np.arange(40) % 2
    with pytest.raises(ALMOValueError, match=r"`fixed` must be 'auto'.*found 'mesh'"):
        compare(X, y, losses=["log_loss", "hinge"], models=["linear"], seeds=1, fixed="mesh")
    with pytest.raises(ALMOValueError, match=r"`fixed` must give at most 200 lattice points"):
        compare(X, y, groups=y, losses=["log_loss", "hinge"], models=["linear"], fixed="grid:60")
    with pytest.raises(ALMOValueError, match=r"`mixture_set` must hold a mixture of the p = 4"):
        compare(
            X, y, groups=y, losses=["log_loss", "hinge"], models=["linear"], mixture_set=(0, 0.2)
        )
    assert Stub.fits == []
    # p = 4 objectives (2 losses × 2 groups): U = 0.25 is exactly enough
    rep = compare(
        X, y, groups=y, losses=["log_loss", "hinge"], models=["linear"], seeds=1,
        mixture_set=(0, 0.25), fixed="grid:1",
    )  # fmt: skip
    assert len(rep.objectives) == 4 and len(Stub.fits) > 0


# ------------------------------------------------------------------------------ --config precedence
@pytest.mark.parametrize(
    ("file_text", "flags", "key", "expected"),
    [
        ("seeds = 2\n", ["--seeds", "1"], "seeds", [0]),  # given flag wins
        ("normalize = false\n", ["--normalize"], "normalize", True),  # a default-valued bool
        ("normalize = false\n", [], "normalize", False),  # absent flag: the file fills it
        ('fixed = "grid:2"\n', ["--fixed", "auto"], "fixed", "simplex lattice with step 1/3"),
        ('fixed = "grid:2"\n', [], "fixed", "simplex lattice with step 1/2"),
    ],
)
def test_config_fills_only_absent_flags(stub, tmp_path, capsys, file_text, flags, key, expected):
    cfg = toml(tmp_path, file_text)
    assert cli(quick(tmp_path, "--config", str(cfg), *flags), capsys)[0] == 0
    value = written(tmp_path)["config"][key]
    if isinstance(expected, str):
        assert value.endswith(expected), value
    else:
        assert value == expected


def test_config_on_a_hand_built_namespace_fills_defaults(tmp_path):
    """Without the parser's record of given flags, a value at its default counts as absent."""
    import argparse
    from pathlib import Path

    cfg = toml(tmp_path, 'seeds = 2\nmodel = "mlp"\nout = "elsewhere"\n')
    args = argparse.Namespace(**{**compare_cli.DEFAULTS, "config": cfg, "model": "linear"})
    args.out = Path(compare_cli.DEFAULTS["out"])
    compare_cli._merge_config(args)
    assert args.seeds == 2 and args.model == "linear" and args.out == Path("elsewhere")


def test_given_flags_are_recorded_by_the_parser():
    import argparse

    sub = argparse.ArgumentParser().add_subparsers()
    parser = compare_cli.add_parser(sub)
    args = parser.parse_args(["--seeds", "3", "--no-plots", "--quiet", "--out", "x"])
    assert set(args.given_flags) == {"seeds", "plots", "quiet", "out"}
    assert parser.parse_args([]).given_flags == ()
