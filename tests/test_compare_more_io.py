"""ComparisonReport's outputs read back: JSON (round trips of hypothesis-drawn reports, the
schema's refusals of broken documents), CSV parsed with the csv module, markdown tables parsed
cell by cell, and the files ``save`` writes."""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import re
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from almo import BoxSimplex, Simplex
from almo.comparison import FORMAT, REPORT_SCHEMA, ComparisonReport, Run, fixed_arms
from almo.exceptions import ALMOValueError
from almo.report import ObjectiveReport

VALIDATOR = jsonschema.Draft202012Validator(REPORT_SCHEMA)


# ------------------------------------------------------------------------------ reports
def build_report(
    names=("log_loss", "hinge"),
    seeds=(0, 1, 2),
    models=("linear", "mlp"),
    *,
    mixture=None,
    fixed="grid:2",
    nan_score=False,
    history=True,
    certificate=True,
    rng_seed=0,
):
    """A report built by hand: values drawn from a seeded generator, every optional part set."""
    names = list(names)
    p = len(names)
    lam = mixture or Simplex(p)
    arms = fixed_arms(names, fixed)
    rng = np.random.default_rng(rng_seed)
    runs = []
    for seed in seeds:
        scales = rng.uniform(0.5, 2.0, p)
        for model in models:
            for arm in arms:
                raw = rng.uniform(0.1, 3.0, p)
                pen = np.full(p, 0.02)
                held = ObjectiveReport.from_values(names, raw, scales, lam, counts=[40] * p)
                train = ObjectiveReport.from_values(names, raw * 0.8, scales, lam, penalty=pen)
                almo = arm.kind == "almo"
                hist = None
                if history and almo and model == "mlp":
                    hist = {
                        "epochs": [1, 2, 3],
                        "train": rng.uniform(0.5, 1.5, (3, p)).tolist(),
                        "held_out": [held.normalized.tolist()],
                        "held_out_epochs": [3],
                        "steps": [1, 5, 9, 13],
                        "weights": rng.dirichlet(np.ones(p), 4).tolist(),
                    }
                cert = None
                gap = None
                if certificate and model == "linear":
                    gap = float(rng.uniform(0, 0.1))
                    if almo:
                        cert = {"value": 0.5, "lower_bound": 0.45, "gap": 0.05}
                weights = arm.weights or tuple(np.full(p, 1.0 / p))
                score = math.nan if nan_score else float(rng.uniform(0.5, 1.0))
                runs.append(
                    Run(
                        model,
                        arm.name,
                        seed,
                        held,
                        train,
                        score,
                        weights,
                        gap,
                        cert,
                        float(rng.uniform(0, 2)),
                        int(rng.integers(1, 50)) if model == "mlp" else None,
                        hist,
                    )
                )
    config = {
        "dataset": "toy",
        "task": "classification",
        "objectives": names,
        "losses": names,
        "groups": None,
        "mixture_set": repr(lam),
        "weight_rule": "'auto'",
        "penalty": "'rademacher'",
        "normalize": True,
        "models": list(models),
        "seeds": list(seeds),
        "test_size": 0.3,
        "n_train": 105,
        "n_test": 45,
        "n_features": 4,
        "score": "accuracy",
        "fixed": "grid:2",
        "estimator_params": {"max_epochs": "2"},
        "certify": True,
    }
    return ComparisonReport(config, arms, runs, 1.25)


@pytest.fixture(scope="module")
def report():
    return build_report()


@pytest.fixture(scope="module")
def doc(report):
    data = json.loads(report.to_json())
    VALIDATOR.validate(data)
    return data


def same_number(a, b):
    return (math.isnan(a) and math.isnan(b)) if isinstance(a, float) and math.isnan(a) else a == b


def assert_same_runs(a, b):
    assert len(a.runs) == len(b.runs)
    for ra, rb in zip(a.runs, b.runs, strict=True):
        assert (ra.model, ra.arm, ra.seed, ra.n_iter) == (rb.model, rb.arm, rb.seed, rb.n_iter)
        for split in ("held_out", "train"):
            x, y = getattr(ra, split), getattr(rb, split)
            for key in ("raw", "scales", "penalty", "weights", "normalized"):
                np.testing.assert_array_equal(getattr(x, key), getattr(y, key))
            assert x.worst_case == y.worst_case
            assert x.penalized_worst_case == y.penalized_worst_case
            assert x.names == y.names
        assert same_number(ra.score, rb.score)
        assert tuple(ra.weights) == tuple(rb.weights)
        assert ra.gap_to_optimum == rb.gap_to_optimum
        assert ra.certificate == rb.certificate
        assert ra.history == rb.history
        assert ra.seconds == rb.seconds


# ------------------------------------------------------------------------------ JSON round trips
@st.composite
def reports(draw):
    p = draw(st.integers(2, 4))
    pool = ["log_loss", "hinge", "squared", "a,b", 'say "hi"', "λ ü", "x@group1"]
    names = draw(st.lists(st.sampled_from(pool), min_size=p, max_size=p, unique=True))
    box = draw(st.booleans())
    return build_report(
        names,
        seeds=draw(st.lists(st.integers(0, 10_000), min_size=1, max_size=3, unique=True)),
        models=draw(
            st.lists(st.sampled_from(["linear", "mlp", "mlp(8,4)"]), min_size=1, max_size=2).map(
                lambda m: list(dict.fromkeys(m))
            )
        ),
        mixture=BoxSimplex(0.1, 0.6, p=p) if box else None,
        fixed=draw(st.sampled_from(["grid:1", "grid:2", "dirichlet:2"])),
        history=draw(st.booleans()),
        certificate=draw(st.booleans()),
        rng_seed=draw(st.integers(0, 2**32 - 1)),
    )


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(reports())
def test_json_round_trip_property(rep):
    text = rep.to_json()
    data = json.loads(text)
    VALIDATOR.validate(data)
    again = ComparisonReport.from_json(text)
    assert again.to_json() == text  # a fixed point: nothing lost, nothing added
    assert_same_runs(rep, again)
    assert again.arms == rep.arms
    assert again.config == rep.config and again.seconds == rep.seconds
    assert again.table() == rep.table()
    assert again.to_csv() == rep.to_csv()
    assert again.to_markdown() == rep.to_markdown()
    # the summary stored in the document is the summary of the runs it holds
    for stored, row in zip(data["summary"], again.summary(), strict=True):
        assert stored["worst_case"]["mean"] == row["worst_case"]["mean"]
        assert stored["rank"] == row["rank"]
        assert stored["normalized"]["mean"] == row["normalized"]["mean"].tolist()


def test_json_text_with_indent_none_and_a_file(report, tmp_path):
    compact = report.to_json(indent=None)
    assert "\n" not in compact
    assert json.loads(compact) == json.loads(report.to_json())
    path = tmp_path / "r.json"
    text = report.to_json(path)
    assert path.read_text(encoding="utf-8") == text + "\n"
    for source in (path, str(path), "\n  " + text):
        assert ComparisonReport.from_json(source).to_json() == text


def test_json_document_parts(doc, report):
    assert doc["format"] == FORMAT == "almo-compare/1"
    from almo import __version__

    assert doc["almo_version"] == __version__ and doc["seconds"] == 1.25
    assert len(doc["runs"]) == len(report.runs) == 3 * 2 * len(report.arms)
    assert len(doc["summary"]) == 2 * len(report.arms)
    assert [a["kind"] for a in doc["arms"]][:4] == ["almo", "uniform", "single", "single"]
    assert doc["arms"][0]["weights"] is None
    assert doc["arms"][2]["objective"] == 0
    run = doc["runs"][0]
    assert run["held_out"]["counts"] == [40.0, 40.0]
    assert (
        run["held_out"]["normalized"]
        == (np.array(run["held_out"]["raw"]) / np.array(run["held_out"]["scales"])).tolist()
    )
    assert run["mean_objective"] == pytest.approx(np.mean(run["held_out"]["normalized"]))


def test_one_seed_and_nan_scores_become_null(tmp_path):
    rep = build_report(seeds=(3,), nan_score=True, certificate=False)
    data = json.loads(rep.to_json())
    for row in data["summary"]:
        assert row["worst_case"]["se"] is None
        assert row["score"] == {"mean": None, "se": None}
        assert row["gap_to_optimum"] == {"mean": None, "se": None}
        assert row["raw"]["se"] == [None, None]
    assert all(r["score"] is None for r in data["runs"])
    again = ComparisonReport.from_json(rep.to_json())
    assert all(math.isnan(r.score) for r in again.runs)
    assert "NaN" not in rep.to_json()


def test_nan_score_document_validates():
    rep = build_report(seeds=(0, 1), nan_score=True)
    VALIDATOR.validate(json.loads(rep.to_json()))


def _walk(schema, value, path="$"):
    """Every object key of ``value`` that its schema does not describe."""
    missing = []
    if isinstance(value, dict) and "properties" in schema:
        for key, sub in value.items():
            if key not in schema["properties"]:
                missing.append(f"{path}.{key}")
            else:
                missing += _walk(schema["properties"][key], sub, f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, sub in enumerate(value[:2]):
            missing += _walk(schema["items"], sub, f"{path}[{i}]")
    return missing


def test_schema_documents_every_field_written(doc):
    jsonschema.Draft202012Validator.check_schema(REPORT_SCHEMA)
    assert _walk(REPORT_SCHEMA, doc) == []


def _required_in_properties(schema, path="$"):
    bad = [f"{path}.{k}" for k in schema.get("required", []) if k not in schema["properties"]]
    for key, sub in schema.get("properties", {}).items():
        if isinstance(sub, dict):
            bad += _required_in_properties(sub, f"{path}.{key}")
    if isinstance(schema.get("items"), dict):
        bad += _required_in_properties(schema["items"], f"{path}[]")
    return bad


def test_schema_describes_every_required_key():
    assert _required_in_properties(REPORT_SCHEMA) == []


# ------------------------------------------------------------------------------ schema refusals
def _drop(*path):
    def go(d):
        for key in path[:-1]:
            d = d[key]
        del d[path[-1]]

    return go


def _set(value, *path):
    def go(d):
        for key in path[:-1]:
            d = d[key]
        d[path[-1]] = value

    return go


TOP = REPORT_SCHEMA["required"]
CONFIG = REPORT_SCHEMA["properties"]["config"]["required"]
RUN = REPORT_SCHEMA["properties"]["runs"]["items"]["required"]
OBJ = REPORT_SCHEMA["properties"]["runs"]["items"]["properties"]["held_out"]["required"]
SUMMARY = REPORT_SCHEMA["properties"]["summary"]["items"]["required"]
HISTORY = ["epochs", "train", "held_out", "steps", "weights"]
H = 4  # runs[4]: seed 0, mlp, ALMO (after the 4 linear arms), the run with a history

BREAKS = (
    [(f"no {k}", _drop(k)) for k in TOP]
    + [(f"no config.{k}", _drop("config", k)) for k in CONFIG]
    + [(f"no runs[0].{k}", _drop("runs", 0, k)) for k in RUN]
    + [(f"no held_out.{k}", _drop("runs", 0, "held_out", k)) for k in OBJ]
    + [(f"no train.{k}", _drop("runs", 0, "train", k)) for k in OBJ]
    + [(f"no summary.{k}", _drop("summary", 0, k)) for k in SUMMARY]
    + [(f"no history.{k}", _drop("runs", H, "history", k)) for k in HISTORY]
    + [
        ("format", _set("almo-compare/2", "format")),
        ("version", _set(1, "almo_version")),
        ("task", _set("ranking", "config", "task")),
        ("score kind", _set("auc", "config", "score")),
        ("normalize", _set("yes", "config", "normalize")),
        ("seeds", _set([0.5], "config", "seeds")),
        ("n_train", _set("105", "config", "n_train")),
        ("objectives", _set([1, 2], "config", "objectives")),
        ("groups", _set("a", "config", "groups")),
        ("arm kind", _set("magic", "arms", 0, "kind")),
        ("arm weights", _set(["x"], "arms", 1, "weights")),
        ("arm name", _drop("arms", 0, "name")),
        ("arm objective", _set(0.5, "arms", 2, "objective")),
        ("seed", _set(1.5, "runs", 0, "seed")),
        ("raw", _set(["x", 1.0], "runs", 0, "held_out", "raw")),
        ("names", _set([0, 1], "runs", 0, "held_out", "names")),
        ("worst case null", _set(None, "runs", 0, "held_out", "worst_case")),
        ("weights null", _set(None, "runs", 0, "weights")),
        ("gap string", _set("0.1", "runs", 0, "gap_to_optimum")),
        ("certificate value", _set({"value": "high"}, "runs", 0, "certificate")),
        ("certificate list", _set([0.5], "runs", 0, "certificate")),
        ("n_iter", _set(2.5, "runs", 0, "n_iter")),
        ("history epochs", _set(["a"], "runs", H, "history", "epochs")),
        ("history train", _set([["x"]], "runs", H, "history", "train")),
        ("history list", _set([1], "runs", H, "history")),
        ("rank", _set("1", "summary", 0, "rank")),
        ("summary kind", _set("magic", "summary", 0, "kind")),
        ("stat extra", _set({"mean": 1.0, "se": None, "n": 3}, "summary", 0, "worst_case")),
        ("stat no se", _set({"mean": 1.0}, "summary", 0, "score")),
        ("stat string", _set({"mean": "1", "se": None}, "summary", 0, "mean_objective")),
        ("vector stat", _set({"mean": ["x"], "se": [None]}, "summary", 0, "raw")),
        ("vector stat extra", _set({"mean": [], "se": [], "k": 1}, "summary", 0, "normalized")),
        ("runs object", _set({}, "runs")),
        ("summary row", _set([1], "summary")),
    ]
)


@pytest.mark.parametrize("name,breaking", BREAKS, ids=[b[0] for b in BREAKS])
def test_schema_refuses_broken_documents(doc, name, breaking):
    assert doc["runs"][H]["history"] is not None
    broken = copy.deepcopy(doc)
    breaking(broken)
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(broken)


def test_from_dict_refuses_another_format(doc):
    for fmt in (None, "almo-compare/0", 1):
        data = dict(doc, format=fmt)
        with pytest.raises(ALMOValueError, match=r"`data` must be a comparison report"):
            ComparisonReport.from_dict(data)


def test_from_dict_names_a_missing_part(doc):
    data = {k: v for k, v in doc.items() if k != "runs"}
    with pytest.raises(ALMOValueError, match="runs"):
        ComparisonReport.from_dict(data)


# ------------------------------------------------------------------------------ CSV
def _parse_csv(text):
    return list(csv.reader(io.StringIO(text)))


def test_csv_parsed_back(report):
    rows = _parse_csv(report.to_csv())
    names = report.objectives
    head = rows[0]
    assert head[:9] == [
        "model",
        "arm",
        "kind",
        "seed",
        "worst_case",
        "train_worst_case",
        "mean_objective",
        "score",
        "gap_to_optimum",
    ]
    assert head[9:] == [
        f"{pre}:{n}" for pre in ("raw", "normalized", "lambda_star", "weights") for n in names
    ]
    assert {len(r) for r in rows} == {9 + 4 * len(names)}
    body = rows[1:]
    per_run, stats = body[: len(report.runs)], body[len(report.runs) :]
    assert len(stats) == 2 * len(report.summary())
    for row, run in zip(per_run, report.runs, strict=True):
        assert row[:4] == [run.model, run.arm, report.arm(run.arm).kind, str(run.seed)]
        assert float(row[4]) == run.held_out.worst_case  # exact: repr round-trips
        assert float(row[5]) == run.train.worst_case
        assert float(row[6]) == run.mean_objective
        assert float(row[7]) == run.score
        assert row[8] == ("" if run.gap_to_optimum is None else repr(run.gap_to_optimum))
        p = len(names)
        cols = [row[9 + i * p : 9 + (i + 1) * p] for i in range(4)]
        assert [float(v) for v in cols[0]] == run.held_out.raw.tolist()
        assert [float(v) for v in cols[1]] == run.held_out.normalized.tolist()
        assert [float(v) for v in cols[2]] == run.held_out.weights.tolist()
        assert [float(v) for v in cols[3]] == [float(w) for w in run.weights]
    for i, s in enumerate(report.summary()):
        mean, se = stats[2 * i], stats[2 * i + 1]
        assert mean[:4] == [s["model"], s["arm"], s["kind"], "mean"] and se[3] == "se"
        for col, key in zip(
            range(4, 9),
            ("worst_case", "train_worst_case", "mean_objective", "score", "gap_to_optimum"),
            strict=True,
        ):
            for row, stat in ((mean, "mean"), (se, "se")):
                v = s[key][stat]
                assert row[col] == ("" if not math.isfinite(v) else repr(float(v)))
        p = len(names)
        assert [float(v) for v in mean[9 : 9 + p]] == s["raw"]["mean"].tolist()
        assert [float(v) for v in se[9 + p : 9 + 2 * p]] == s["normalized"]["se"].tolist()
        assert mean[9 + 2 * p :] == [""] * (2 * p)  # no λ* or training λ for a mean


def test_csv_quotes_awkward_names_and_writes_the_file(tmp_path):
    rep = build_report(names=("a,b", 'say "hi"', "λ ü"), seeds=(0,), certificate=False)
    text = rep.to_csv(tmp_path / "r.csv")
    assert (tmp_path / "r.csv").read_text(encoding="utf-8") == text
    rows = _parse_csv(text)
    assert "raw:a,b" in rows[0] and 'normalized:say "hi"' in rows[0] and "weights:λ ü" in rows[0]
    assert {len(r) for r in rows} == {9 + 4 * 3}
    # one seed: every se cell is empty; no certificate: every gap cell too
    assert all(r[4:9] == [""] * 5 for r in rows[1:] if r[3] == "se")
    assert all(r[8] == "" for r in rows[1:])
    nan_rep = build_report(seeds=(0, 1), nan_score=True)
    assert all(r[7] == "" for r in _parse_csv(nan_rep.to_csv())[1:])


# ------------------------------------------------------------------------------ markdown
def _md_tables(text):
    """Each markdown table of ``text`` as a list of rows of stripped cells."""
    tables, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            assert line.endswith(" |"), line
            current.append([c.strip() for c in line[1:-1].split(" | ")])
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def _pm(cell):
    """'1.2345 ± 0.0100' → (1.2345, 0.01); '1.2345' → (1.2345, nan); '—' → (nan, nan)."""
    if cell == "—":
        return math.nan, math.nan
    mean, _, se = cell.partition(" ± ")
    return float(mean), float(se) if se else math.nan


def test_markdown_document_structure(report):
    md = report.to_markdown()
    lines = md.splitlines()
    assert lines[0] == "# ALMO against fixed-weight ensembles on toy"
    assert "- objectives (2): log_loss, hinge" in lines
    assert any(line.startswith("- models: linear, mlp; seeds: [0, 1, 2]") for line in lines)
    assert "- split: 105 training rows, 45 held-out rows (test_size 0.3), new split per seed" in md
    assert md.count("## Held-out loss of each objective") == 2
    tables = _md_tables(md)
    assert len(tables) == 3
    summary, normalized, raw = tables
    for table in tables:
        assert len({len(r) for r in table}) == 1  # every row has the header's cell count
        assert len(table) == 2 + len(report.summary())
        assert table[1][:2] == ["---", "---"] and set(table[1][2:]) == {"---:"}
    assert summary[0] == [
        "model",
        "arm",
        "held-out worst case",
        "worst objective",
        "mean objective",
        "accuracy",
        "rank",
        "gap to optimum (train)",
    ]
    assert normalized[0] == raw[0] == ["model", "arm", "log_loss", "hinge"]
    for row, s, n_row, r_row in zip(
        summary[2:], report.summary(), normalized[2:], raw[2:], strict=True
    ):
        assert row[:2] == [s["model"], s["arm"]] == n_row[:2] == r_row[:2]
        for cell, stat in (
            (row[2], s["worst_case"]),
            (row[4], s["mean_objective"]),
            (row[5], s["score"]),
        ):
            mean, se = _pm(cell)
            assert mean == pytest.approx(stat["mean"], abs=5e-5)
            assert se == pytest.approx(stat["se"], abs=5e-5)
        assert row[3] == s["worst_objective"]
        assert float(row[6]) == pytest.approx(s["rank"], abs=0.05)
        gap = _pm(row[7])[0]
        assert (math.isnan(gap) and s["model"] == "mlp") or gap == pytest.approx(
            s["gap_to_optimum"]["mean"], abs=5e-5
        )
        for k in range(2):
            assert _pm(n_row[2 + k])[0] == pytest.approx(s["normalized"]["mean"][k], abs=5e-5)
            assert _pm(r_row[2 + k])[0] == pytest.approx(s["raw"]["mean"][k], abs=5e-5)


@pytest.mark.parametrize("digits", [1, 2, 6])
def test_table_digits(report, digits):
    table = _md_tables(report.table(digits))[0]
    for row in table[2:]:
        for cell in (row[2], row[4], row[5]):
            mean, _, se = cell.partition(" ± ")
            assert re.fullmatch(rf"-?\d+\.\d{{{digits}}}", mean), cell
            assert re.fullmatch(rf"\d+\.\d{{{digits}}}", se), cell


def test_table_without_seeds_spread_gap_or_score():
    rep = build_report(seeds=(5,), nan_score=True, certificate=False)
    table = _md_tables(rep.table())[0]
    assert "gap to optimum (train)" not in table[0]
    assert len(table[0]) == 7
    for row in table[2:]:
        assert "±" not in " ".join(row)
        assert row[5] == "—"  # no score
    r2 = ComparisonReport({**rep.config, "score": "r2"}, rep.arms, rep.runs)
    assert _md_tables(r2.table())[0][0][5] == "R²"


def test_objective_table_raw_and_normalized_differ(report):
    normalized = _md_tables(report.objective_table(which="normalized"))[0]
    raw = _md_tables(report.objective_table(which="raw"))[0]
    assert normalized[:2] == raw[:2]
    assert normalized[2:] != raw[2:]  # scales are not 1


# ------------------------------------------------------------------------------ save
def _png_size(path: Path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_save_writes_every_file(report, tmp_path):
    out = tmp_path / "a" / "b"
    paths = report.save(out)
    assert set(paths) == {
        "json",
        "csv",
        "markdown",
        "weights_mlp",
        "epoch_losses_mlp",
        "objectives_by_model",
        "pareto",
    }
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["report.json", "report.csv", "report.md"]
        + [f"{k}.png" for k in paths if k not in ("json", "csv", "markdown")]
    )
    assert paths["json"].read_text(encoding="utf-8") == report.to_json() + "\n"
    assert paths["csv"].read_text(encoding="utf-8") == report.to_csv()
    assert paths["markdown"].read_text(encoding="utf-8") == report.to_markdown() + "\n"
    VALIDATOR.validate(json.loads(paths["json"].read_text(encoding="utf-8")))
    # figures at 120 dpi: the weights figure is 7 × 4 inches
    assert _png_size(paths["weights_mlp"]) == (840, 480)
    assert _png_size(paths["objectives_by_model"])[1] == 600


def test_save_without_plots_and_twice(report, tmp_path):
    paths = report.save(tmp_path, plots=False)
    assert set(paths) == {"json", "csv", "markdown"}
    assert not list(tmp_path.glob("*.png"))
    again = report.save(tmp_path, plots=False)  # an existing folder is fine
    assert again == paths
