"""The comparison report: ALMO against fixed-weight ensembles, per seed and summarized.

A :class:`ComparisonReport` holds what :func:`almo.comparison.compare` measured — one
:class:`Run` per (model family, arm, seed), each with its held-out and training
:class:`~almo.ObjectiveReport` — and derives everything else from it: the summary (mean ± standard
error over seeds, ranks), a plain-text table, markdown, CSV, JSON (validated by
:data:`~almo.comparison.schema.REPORT_SCHEMA`) and the figures of :mod:`almo.plots`.

Examples
--------
>>> from almo import Simplex
>>> from almo.report import ObjectiveReport
>>> rep = lambda raw: ObjectiveReport.from_values("ab", raw, [1.0, 1.0], Simplex(2))
>>> arms = [Arm("ALMO", "almo"), Arm("uniform", "uniform", (0.5, 0.5))]
>>> runs = [
...     Run("linear", "ALMO", 0, rep([0.5, 0.5]), rep([0.4, 0.4]), 0.9, (0.5, 0.5)),
...     Run("linear", "uniform", 0, rep([0.2, 0.9]), rep([0.1, 0.8]), 0.8, (0.5, 0.5)),
... ]
>>> report = ComparisonReport({"objectives": ["a", "b"], "score": "accuracy"}, arms, runs)
>>> [(row["arm"], row["worst_case"]["mean"], row["rank"]) for row in report.summary()]
[('ALMO', 0.5, 1.0), ('uniform', 0.9, 2.0)]
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from almo.comparison.schema import FORMAT
from almo.report import ObjectiveReport

__all__ = ["Arm", "ComparisonReport", "Run", "mean_se"]

KINDS = ("almo", "uniform", "single", "fixed")


def mean_se(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Mean and standard error (sample standard deviation / √n; NaN for one value).

    Examples
    --------
    >>> mean_se([1.0, 2.0, 3.0])
    (2.0, 0.5773502691896258)
    >>> mean_se([4.0])
    (4.0, nan)
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return math.nan, math.nan
    mean = float(arr.mean(axis=0)) if arr.ndim == 1 else math.nan
    se = float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else math.nan
    return mean, se


def _mean_se_vectors(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = rows.mean(axis=0)
    if len(rows) > 1:
        se = rows.std(axis=0, ddof=1) / math.sqrt(len(rows))
    else:
        se = np.full(rows.shape[1], np.nan)
    return mean, se


def _num(value: Any) -> float | None:
    """A float for JSON: None for NaN, inf or None."""
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _nums(values: Any) -> list[float | None]:
    return [_num(v) for v in np.asarray(values, dtype=np.float64).reshape(-1)]


def _flt(value: Any) -> float:
    return math.nan if value is None else float(value)


@dataclass(frozen=True)
class Arm:
    """One trained configuration of every model family.

    ``kind``: "almo" (λ moved by the weight rule against the worst case over Λ), "uniform"
    (λ = 1/p), "single" (all weight on objective ``objective``) or "fixed" (another fixed λ).
    ``weights`` is the fixed λ (None for ALMO).
    """

    name: str
    kind: str
    weights: tuple[float, ...] | None = None
    objective: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain Python, ready for JSON."""
        return {
            "name": self.name,
            "kind": self.kind,
            "weights": None if self.weights is None else [float(w) for w in self.weights],
            "objective": self.objective,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Arm:
        """Inverse of :meth:`to_dict`."""
        w = d.get("weights")
        return cls(d["name"], d["kind"], None if w is None else tuple(w), d.get("objective"))


@dataclass(frozen=True, eq=False)
class Run:
    """One model family × arm × seed: what it scored on the held-out and training splits.

    Attributes
    ----------
    model, arm : str
        Model family ("linear", "mlp", ...) and arm name.
    seed : int
        Seed of the split and of the model's initialization.
    held_out, train : ObjectiveReport
        Per-objective values on each split, normalized by the scales shared by every arm of the
        seed; worst case over the compared Λ.
    score : float
        Held-out accuracy (classification) or R² (regression).
    weights : sequence of p float
        The λ the model was trained with (for ALMO: its final λ).
    gap_to_optimum : float or None
        Linear models with a certificate: training penalized worst case minus the certified
        lower bound of the minimax optimum (≥ 0 up to solver tolerance).
    certificate : dict or None
        ``{"value", "lower_bound", "gap"}`` of the certified minimax optimum (linear ALMO).
    history : dict or None
        Training curves (``epochs``, ``train``, ``held_out``, ``steps``, ``weights``) of a model
        trained by the torch trainer.
    """

    model: str
    arm: str
    seed: int
    held_out: ObjectiveReport
    train: ObjectiveReport
    score: float
    weights: Sequence[float]
    gap_to_optimum: float | None = None
    certificate: dict[str, float] | None = None
    seconds: float = 0.0
    n_iter: int | None = None
    history: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def mean_objective(self) -> float:
        """Held-out mean of the normalized objectives (the uniform mixture's value)."""
        return float(self.held_out.normalized.mean())

    def to_dict(self) -> dict[str, Any]:
        """Plain Python, ready for JSON (NaN as None)."""

        def rep(r: ObjectiveReport) -> dict[str, Any]:
            d = r.to_dict()
            for key in ("raw", "normalized", "scales", "penalty", "weights"):
                d[key] = _nums(d[key])
            for key in ("worst_case", "penalized_worst_case"):
                d[key] = _num(d[key])
            return d

        return {
            "model": self.model,
            "arm": self.arm,
            "seed": int(self.seed),
            "held_out": rep(self.held_out),
            "train": rep(self.train),
            "mean_objective": _num(self.mean_objective),
            "score": _num(self.score),
            "weights": _nums(self.weights),
            "gap_to_optimum": _num(self.gap_to_optimum),
            "certificate": None
            if self.certificate is None
            else {k: _num(v) for k, v in self.certificate.items()},
            "n_iter": self.n_iter,
            "seconds": float(self.seconds),
            "history": self.history,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Run:
        """Inverse of :meth:`to_dict`."""

        def rep(x: dict[str, Any]) -> ObjectiveReport:
            x = dict(x)
            for key in ("raw", "scales", "penalty", "weights"):
                x[key] = [_flt(v) for v in x[key]]
            x["worst_case"] = _flt(x["worst_case"])
            x["penalized_worst_case"] = _flt(x["penalized_worst_case"])
            return ObjectiveReport.from_dict(x)

        return cls(
            d["model"],
            d["arm"],
            int(d["seed"]),
            rep(d["held_out"]),
            rep(d["train"]),
            _flt(d["score"]),
            tuple(_flt(v) for v in d["weights"]),
            d.get("gap_to_optimum"),
            d.get("certificate"),
            float(d.get("seconds", 0.0)),
            d.get("n_iter"),
            d.get("history"),
        )


@dataclass(eq=False)
class ComparisonReport:
    """ALMO and fixed-weight ensembles on the same data, split, scales and seeds.

    Attributes
    ----------
    config : dict
        What was compared (see :data:`~almo.comparison.schema.REPORT_SCHEMA`).
    arms : list of Arm
        The configurations trained for every model family.
    runs : list of Run
        One per (model family, arm, seed).
    seconds : float
        Wall-clock time of the comparison.
    """

    config: dict[str, Any]
    arms: list[Arm]
    runs: list[Run]
    seconds: float = 0.0

    # -- derived values -----------------------------------------------------------------------
    @property
    def objectives(self) -> list[str]:
        """Objective names, in the family's order."""
        return list(self.config["objectives"])

    @property
    def models(self) -> list[str]:
        """Model families, in the order they were trained."""
        return list(dict.fromkeys(r.model for r in self.runs))

    @property
    def seeds(self) -> list[int]:
        """Seeds, in the order they ran."""
        return list(dict.fromkeys(r.seed for r in self.runs))

    def arm(self, name: str) -> Arm:
        """The arm called ``name``."""
        for a in self.arms:
            if a.name == name:
                return a
        raise KeyError(name)

    def runs_of(self, model: str, arm: str) -> list[Run]:
        """The runs of one (model family, arm), in seed order."""
        return [r for r in self.runs if r.model == model and r.arm == arm]

    def _ranks(self) -> dict[tuple[str, str], float]:
        """Mean over seeds of each row's rank of the held-out worst case (1 = lowest)."""
        from scipy.stats import rankdata

        ranks: dict[tuple[str, str], list[float]] = {}
        for seed in self.seeds:
            runs = [r for r in self.runs if r.seed == seed]
            values = rankdata([r.held_out.worst_case for r in runs], method="average")
            for r, v in zip(runs, values, strict=True):
                ranks.setdefault((r.model, r.arm), []).append(float(v))
        return {k: float(np.mean(v)) for k, v in ranks.items()}

    def summary(self) -> list[dict[str, Any]]:
        """One row per (model family, arm): mean and standard error over seeds.

        Keys: ``model``, ``arm``, ``kind``, ``worst_case``, ``train_worst_case``,
        ``mean_objective``, ``score``, ``gap_to_optimum`` (each ``{"mean", "se"}``), ``rank``,
        ``worst_objective`` (of the mean held-out losses), ``raw`` and ``normalized``
        (``{"mean": [p], "se": [p]}``). NaN where a value does not exist.
        """
        ranks = self._ranks()
        rows = []
        for model in self.models:
            for a in self.arms:
                runs = self.runs_of(model, a.name)
                if not runs:
                    continue
                raw_m, raw_s = _mean_se_vectors(np.array([r.held_out.raw for r in runs]))
                nor_m, nor_s = _mean_se_vectors(np.array([r.held_out.normalized for r in runs]))
                gaps = [r.gap_to_optimum for r in runs if r.gap_to_optimum is not None]
                rows.append(
                    {
                        "model": model,
                        "arm": a.name,
                        "kind": a.kind,
                        "worst_case": _stat([r.held_out.worst_case for r in runs]),
                        "train_worst_case": _stat([r.train.worst_case for r in runs]),
                        "mean_objective": _stat([r.mean_objective for r in runs]),
                        "score": _stat([r.score for r in runs]),
                        "gap_to_optimum": _stat(gaps),
                        "rank": ranks[(model, a.name)],
                        "worst_objective": self.objectives[int(np.argmax(nor_m))],
                        "raw": {"mean": raw_m, "se": raw_s},
                        "normalized": {"mean": nor_m, "se": nor_s},
                    }
                )
        return rows

    # -- text ---------------------------------------------------------------------------------
    def table(self, digits: int = 4) -> str:
        """The summary as a markdown table (what ``almo compare`` prints).

        Columns: model family, arm, held-out worst case over Λ, the objective attaining it,
        mean objective, score (accuracy or R²), mean rank, and for linear models the gap of the
        training worst case to the certified optimum. Values are mean ± standard error over
        the seeds.
        """
        score = "accuracy" if self.config.get("score") == "accuracy" else "R²"
        rows = self.summary()
        show_gap = any(math.isfinite(r["gap_to_optimum"]["mean"]) for r in rows)
        head = ["model", "arm", "held-out worst case", "worst objective", "mean objective"]
        head += [score, "rank"] + (["gap to optimum (train)"] if show_gap else [])
        lines = [_md_row(head), _md_row(["---"] * 2 + ["---:"] * (len(head) - 2))]
        for r in rows:
            cells = [
                r["model"],
                r["arm"],
                _pm(r["worst_case"], digits),
                r["worst_objective"],
                _pm(r["mean_objective"], digits),
                _pm(r["score"], digits),
                f"{r['rank']:.1f}",
            ]
            if show_gap:
                cells.append(_pm(r["gap_to_optimum"], digits))
            lines.append(_md_row(cells))
        return "\n".join(lines)

    def objective_table(self, digits: int = 4, which: str = "normalized") -> str:
        """Markdown table of each objective's held-out value (``which``: "raw" or
        "normalized") for every (model family, arm), mean ± standard error over seeds."""
        head = ["model", "arm", *self.objectives]
        lines = [_md_row(head), _md_row(["---"] * 2 + ["---:"] * len(self.objectives))]
        for r in self.summary():
            m, s = r[which]["mean"], r[which]["se"]
            cells = [_pm({"mean": m[k], "se": s[k]}, digits) for k in range(len(m))]
            lines.append(_md_row([r["model"], r["arm"], *cells]))
        return "\n".join(lines)

    def to_markdown(self, digits: int = 4) -> str:
        """A markdown document: what was compared, the summary and the per-objective tables."""
        c = self.config
        seeds = c.get("seeds", self.seeds)
        lines = [
            f"# ALMO against fixed-weight ensembles on {c.get('dataset', 'the data')}",
            "",
            f"- objectives ({len(self.objectives)}): {', '.join(self.objectives)}",
            f"- Λ: {c.get('mixture_set', '?')}; weight rule: {c.get('weight_rule', '?')}; "
            f"penalty: {c.get('penalty', '?')}; normalized: {c.get('normalize', '?')}",
            f"- models: {', '.join(self.models)}; seeds: {list(seeds)}; fixed λ: "
            f"{c.get('fixed', '?')}",
            f"- split: {c.get('n_train', '?')} training rows, {c.get('n_test', '?')} held-out "
            f"rows (test_size {c.get('test_size', '?')}), new split per seed",
            "",
            "Held-out values, mean ± standard error over the seeds. Worst case: the maximum "
            "over Λ of the mixture of normalized losses (raw / scale; the scales are calibrated "
            "once per seed and shared by every model). Rank: mean rank of the worst case among "
            "all rows (1 = lowest).",
            "",
            self.table(digits),
            "",
            "## Held-out loss of each objective (normalized)",
            "",
            self.objective_table(digits, "normalized"),
            "",
            "## Held-out loss of each objective (raw)",
            "",
            self.objective_table(digits, "raw"),
            "",
        ]
        return "\n".join(lines)

    def to_csv(self, path: str | Path | None = None) -> str:
        """One row per (model family, arm, seed), then a ``mean`` and an ``se`` row per
        (model family, arm); per-objective columns ``raw:<name>``, ``normalized:<name>`` and
        ``lambda_star:<name>`` (held-out), and ``weights:<name>`` (the training λ).

        Returns the text; writes it to ``path`` too when given.
        """
        names = self.objectives
        head = [
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
        for prefix in ("raw", "normalized", "lambda_star", "weights"):
            head += [f"{prefix}:{n}" for n in names]
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(head)

        def cell(v: Any) -> str:
            return "" if v is None or not math.isfinite(float(v)) else repr(float(v))

        for r in self.runs:
            kind = self.arm(r.arm).kind
            row = [r.model, r.arm, kind, r.seed]
            row += [
                cell(v)
                for v in (
                    r.held_out.worst_case,
                    r.train.worst_case,
                    r.mean_objective,
                    r.score,
                    r.gap_to_optimum,
                )
            ]
            for vec in (r.held_out.raw, r.held_out.normalized, r.held_out.weights, r.weights):
                row += [cell(v) for v in vec]
            writer.writerow(row)
        for s in self.summary():
            for stat in ("mean", "se"):
                row = [s["model"], s["arm"], s["kind"], stat]
                row += [
                    cell(s[k][stat])
                    for k in (
                        "worst_case",
                        "train_worst_case",
                        "mean_objective",
                        "score",
                        "gap_to_optimum",
                    )
                ]
                row += [cell(v) for v in s["raw"][stat]] + [cell(v) for v in s["normalized"][stat]]
                row += [""] * (2 * len(names))
                writer.writerow(row)
        text = buf.getvalue()
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    # -- JSON ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain Python following :data:`~almo.comparison.schema.REPORT_SCHEMA`."""
        from almo import __version__

        summary = []
        for s in self.summary():
            row = dict(s)
            for key in ("worst_case", "train_worst_case", "mean_objective", "score"):
                row[key] = {k: _num(v) for k, v in s[key].items()}
            row["gap_to_optimum"] = {k: _num(v) for k, v in s["gap_to_optimum"].items()}
            for key in ("raw", "normalized"):
                row[key] = {k: _nums(v) for k, v in s[key].items()}
            summary.append(row)
        return {
            "format": FORMAT,
            "almo_version": __version__,
            "seconds": float(self.seconds),
            "config": self.config,
            "arms": [a.to_dict() for a in self.arms],
            "runs": [r.to_dict() for r in self.runs],
            "summary": summary,
        }

    def to_json(self, path: str | Path | None = None, indent: int | None = 2) -> str:
        """The report as JSON text (schema ``almo-compare/1``); written to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ComparisonReport:
        """Inverse of :meth:`to_dict` (the summary is recomputed from the runs)."""
        from almo._validation import fail

        if data.get("format") != FORMAT:
            raise fail(
                "data",
                f"be a comparison report of format {FORMAT!r}",
                data.get("format"),
                "pass the output of ComparisonReport.to_dict() or to_json()",
            )
        missing = [k for k in ("config", "arms", "runs") if k not in data]
        if missing:
            raise fail(
                "data",
                "hold the parts config, arms and runs",
                f"a document without {', '.join(missing)}",
                "pass the output of ComparisonReport.to_dict() or to_json()",
            )
        return cls(
            dict(data["config"]),
            [Arm.from_dict(a) for a in data["arms"]],
            [Run.from_dict(r) for r in data["runs"]],
            float(data.get("seconds", 0.0)),
        )

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> ComparisonReport:
        """Read a report written by :meth:`to_json` (JSON text or a file path)."""
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            text = Path(text_or_path).read_text(encoding="utf-8")
        return cls.from_dict(json.loads(text))

    # -- figures ------------------------------------------------------------------------------
    def figures(self) -> dict[str, Any]:
        """The report's figures by name (matplotlib Figures; see :mod:`almo.plots`).

        ``objectives_by_model`` always; ``weights_<model>`` and ``epoch_losses_<model>`` for
        each family whose ALMO model was trained by the torch trainer (first seed);
        ``pareto`` when p is 2 or 3.
        """
        from almo import plots

        names = self.objectives
        p = len(names)
        figs: dict[str, Any] = {}
        first = self.seeds[0] if self.seeds else None
        almo_arms = [a.name for a in self.arms if a.kind == "almo"]
        for model in self.models:
            for arm in almo_arms:
                runs = [r for r in self.runs_of(model, arm) if r.seed == first]
                h = runs[0].history if runs else None
                if not h or not h.get("epochs"):
                    continue
                if h.get("steps"):
                    figs[f"weights_{model}"] = plots.plot_weights(
                        h["steps"],
                        h["weights"],
                        names,
                        title=f"ALMO's mixture weights λ over training ({model}, seed {first})",
                    )
                figs[f"epoch_losses_{model}"] = plots.plot_epoch_losses(
                    h["epochs"],
                    h["train"],
                    h.get("held_out"),
                    names,
                    held_out_epochs=h.get("held_out_epochs"),
                    title=f"Per-objective loss per epoch, ALMO ({model}, seed {first})",
                )
        rows = self.summary()
        figs["objectives_by_model"] = plots.plot_objectives_by_model(
            [f"{r['model']}: {r['arm']}" for r in rows],
            np.array([r["normalized"]["mean"] for r in rows]),
            names,
            [r["worst_case"]["mean"] for r in rows],
            errors=np.array([r["normalized"]["se"] for r in rows]),
            title="Held-out loss of each objective, by model "
            f"(mean over {len(self.seeds)} seed{'s' if len(self.seeds) != 1 else ''})",
        )
        if p in (2, 3):
            sweeps: dict[str, Any] = {}
            kinds: dict[str, list[str]] = {}
            star: dict[str, Any] = {}
            for model in self.models:
                pts, ks = [], []
                for r in rows:
                    if r["model"] != model:
                        continue
                    a = self.arm(r["arm"])
                    if a.kind == "almo":
                        star[model] = r["normalized"]["mean"]
                        continue
                    pts.append(r["normalized"]["mean"])
                    ks.append(f"single:{a.objective}" if a.kind == "single" else a.kind)
                if pts:
                    sweeps[model], kinds[model] = np.array(pts), ks
            if sweeps:
                figs["pareto"] = plots.plot_pareto(names, sweeps, star, kinds=kinds)
        return figs

    def save(self, out: str | Path, plots: bool = True) -> dict[str, Path]:
        """Write ``report.json``, ``report.csv``, ``report.md`` and (``plots``) one PNG per
        figure into folder ``out`` (created); returns name → path."""
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {
            "json": folder / "report.json",
            "csv": folder / "report.csv",
            "markdown": folder / "report.md",
        }
        self.to_json(paths["json"])
        self.to_csv(paths["csv"])
        paths["markdown"].write_text(self.to_markdown() + "\n", encoding="utf-8")
        if plots:
            for name, fig in self.figures().items():
                paths[name] = folder / f"{name}.png"
                fig.savefig(paths[name], dpi=120)
        return paths

    def __repr__(self) -> str:
        return (
            f"ComparisonReport(dataset={self.config.get('dataset')!r}, p={len(self.objectives)}, "
            f"models={self.models}, arms={len(self.arms)}, seeds={len(self.seeds)})"
        )


def _stat(values: Sequence[float | None]) -> dict[str, float]:
    vals = [float(v) for v in values if v is not None]
    mean, se = mean_se(vals)
    return {"mean": mean, "se": se}


def _pm(stat: dict[str, Any], digits: int) -> str:
    mean, se = stat["mean"], stat["se"]
    if mean is None or not math.isfinite(mean):
        return "—"
    if se is None or not math.isfinite(se):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {se:.{digits}f}"


def _md_row(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"
