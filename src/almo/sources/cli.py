"""``almo collapse``: simulate iterative retraining on contaminated data, print and plot it.

Example::

    almo collapse --model categorical --vocab 1000 --zipf 1.1 --alpha 0,0.05,0.2 --n 1000 \\
        --generations 100 --replicates 200 --policy replace --out DIR

prints the final errors (with the exact recursion where it applies) and writes to DIR:
``error_vs_generation.png`` (per α, theory dashed, log scale), ``final_error_heatmap.png`` (the
α of ``--alpha`` × a few n; its column n = ``--n`` is the runs of the table, so the heatmap and
the printed tables are one computation), ``policies.png`` (replace vs accumulate),
``tail_mass.png`` (token models), and with the optional studies:

- ``--regimes``: ``regime_map.png``, log(R_T/R_0) over α_t = α_0 (t+1)^(−a) and
  n_t = n_0 (t+1)^b, exact and simulated side by side, the theory's boundaries drawn;
- ``--estimators``: ``estimators.png``, the contamination-agnostic estimator against weighting
  the real samples (a given w and the optimal w_t) and real-data filtration with and without
  aggregation, at the same real-data budget, each with its exact curve;
- ``--almo``: ``almo_vs_pooling.png``, minimax over {true, synthetic} with and without the
  Rademacher penalty, fixed-weight pooling and the best fixed weight in hindsight;

and ``collapse.json`` with every number printed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm.auto import tqdm

from almo._cli import check_flag_list, check_writable_dir
from almo._validation import check_integer, check_number, fail
from almo.exceptions import ALMOValueError
from almo.sources.categorical import CategoricalModel, zipf
from almo.sources.continuous import GaussianModel, RidgeModel
from almo.sources.estimators import (
    ESTIMATORS,
    estimator_curve,
    filtration_curve,
    optimal_weight,
    real_counts,
    simulate_estimators,
)
from almo.sources.ngram import NGramModel, random_markov
from almo.sources.policies import POLICIES
from almo.sources.schedules import alpha_values, n_values, power_law
from almo.sources.simulate import CollapseResult, simulate
from almo.sources.softmax import SoftmaxBigramModel
from almo.sources.theory import collision_gap, risk_curve, stable_level

__all__ = ["add_parser", "check_args", "run"]

MODELS = ("categorical", "ngram", "softmax", "gaussian", "ridge")
#: Why the unpenalized minimax arm loses to pooling, printed with its result.
ALMO_EXPLANATION = (
    "Why: without the penalty the adversary puts λ_true at its upper bound because the true "
    "samples' log loss is the larger one (the model is fitted mostly to its own synthetic "
    "samples), so each generation is fitted almost only to the k = αn true samples, whose "
    "error ≈ c/k exceeds pooling's ≈ c/(nα(2−α)): minimax chases the small true sample."
)
#: How to read the penalized arm's result, printed with it.
PENALTY_NOTE = (
    "The penalized arm measures ‖w − w_{t−1}‖ from the warm start, so each generation stays "
    "near the previous model: a final / gen. 0 ratio near 1 means it kept generation 0's "
    "estimate rather than learned from the new samples."
)
REGIME_EXPONENTS = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5]

MAIN_METRIC = {
    "categorical": "l2",
    "ngram": "l2",
    "softmax": "l2",
    "gaussian": "w2",
    "ridge": "test_mse",
}


def _floats(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        msg = f"expected comma-separated numbers, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one number, got {text!r}")
    return values


def _ints(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        msg = f"expected comma-separated integers, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one integer, got {text!r}")
    return values


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``collapse`` and its arguments on ``subparsers``; returns the parser.

    Examples
    --------
    >>> import argparse
    >>> sub = argparse.ArgumentParser().add_subparsers()
    >>> add_parser(sub).parse_args(["--alpha", "0,0.1"]).alpha
    [0.0, 0.1]
    """
    p = subparsers.add_parser(
        "collapse",
        help="simulate iterative retraining on data contaminated by model samples",
        description="Generation t trains on n_t samples from α_t·P* + (1−α_t)·P̂_{t−1} and refits; "
        "prints final errors and writes plots.",
    )
    p.add_argument(
        "--model", choices=MODELS, default="categorical", help="the generative model retrained"
    )
    p.add_argument("--vocab", type=int, default=1000, help="vocabulary size (token models)")
    p.add_argument("--zipf", type=float, default=1.1, help="Zipf exponent of P* (categorical)")
    p.add_argument("--order", type=int, default=2, help="n-gram order (ngram), >= 2")
    p.add_argument("--length", type=int, default=20, help="tokens per sequence (ngram, softmax)")
    p.add_argument("--dim", type=int, default=1, help="dimension (gaussian, ridge)")
    p.add_argument(
        "--alpha",
        type=_floats,
        default=[0.0, 0.05, 0.2],
        help="comma-separated true fractions α in [0, 1], one curve each",
    )
    p.add_argument(
        "--alpha-exponent", type=float, default=0.0, help="α_t = α·(t+1)^exponent (0: constant)"
    )
    p.add_argument("--n", type=int, default=1000, help="samples per generation n_0")
    p.add_argument(
        "--n-exponent", type=float, default=0.0, help="n_t = n·(t+1)^exponent (0: constant)"
    )
    p.add_argument(
        "--generations", type=int, default=100, help="retraining generations T after generation 0"
    )
    p.add_argument(
        "--replicates", type=int, default=200, help="independent runs averaged per curve"
    )
    p.add_argument(
        "--policy", choices=POLICIES, default="replace", help="how each generation's data is kept"
    )
    p.add_argument(
        "--compare-policy",
        choices=POLICIES,
        default="accumulate",
        help="policy drawn against --policy in policies.png",
    )
    p.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help="sampling temperature of the synthetic data (> 0; < 1 sharpens)",
    )
    p.add_argument(
        "--top-k",
        type=int,
        default=None,
        help="sample synthetic tokens from the k most likely only (token models; "
        "default: all tokens)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the run (an integer >= 0)")
    p.add_argument(
        "--grid-alpha",
        type=_floats,
        default=None,
        help="α values of the heatmap (default: those of --alpha)",
    )
    p.add_argument(
        "--grid-n",
        type=_ints,
        default=None,
        help="n values of the heatmap (default: n/10, n/3, n, 3n)",
    )
    p.add_argument(
        "--grid-replicates",
        type=int,
        default=None,
        help="replicates per heatmap cell off the --n column (default: --replicates; the "
        "--n column is the runs of the table)",
    )
    p.add_argument("--no-grid", action="store_true", help="skip the α × n heatmap")
    p.add_argument(
        "--almo",
        action="store_true",
        help="also train each generation with MinimaxTrainer over {true, synthetic}; slow: "
        "about replicates × generations × (4 + hindsight points) small trainings, minutes at "
        "the defaults",
    )
    p.add_argument("--alpha-min", type=float, default=0.5, help="Λ = {λ : λ_true ≥ alpha-min}")
    p.add_argument(
        "--almo-generations", type=int, default=20, help="generations of the --almo comparison"
    )
    p.add_argument(
        "--almo-replicates", type=int, default=20, help="replicates of the --almo comparison"
    )
    p.add_argument(
        "--almo-penalty",
        choices=("rademacher", "none"),
        default="rademacher",
        help="also run minimax with the Rademacher penalty around the previous generation's "
        "logits (β = 2); none: skip that arm",
    )
    p.add_argument(
        "--almo-hindsight",
        type=int,
        default=6,
        help="grid points of the best fixed real-data weight in hindsight (0: skip that arm)",
    )
    p.add_argument(
        "--regimes",
        action="store_true",
        help="the regime map over α_t = α_0 (t+1)^(−a), n_t = n_0 (t+1)^b (categorical)",
    )
    p.add_argument(
        "--regime-a",
        type=_floats,
        default=REGIME_EXPONENTS,
        help="decay exponents a >= 0 of α_t on the map",
    )
    p.add_argument(
        "--regime-b",
        type=_floats,
        default=REGIME_EXPONENTS,
        help="growth exponents b >= 0 of n_t on the map",
    )
    p.add_argument("--regime-alpha0", type=float, default=0.5, help="α_0 of the map, in [0, 1]")
    p.add_argument("--regime-n0", type=int, default=100, help="n_0 of the map")
    p.add_argument("--regime-generations", type=int, default=30, help="generations T of the map")
    p.add_argument(
        "--regime-replicates",
        type=int,
        default=50,
        help="replicates per cell of the simulated map (0: exact map only)",
    )
    p.add_argument(
        "--estimators",
        action="store_true",
        help="weighted and filtration estimators against the contamination-agnostic one "
        "(categorical), at the middle --alpha",
    )
    p.add_argument(
        "--weight",
        type=float,
        default=None,
        help="weight w on the real samples of the weighted estimator (default: the constant "
        "w of least final error by the exact recursion)",
    )
    p.add_argument("--out", type=Path, default=Path("collapse_out"), help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    # Library arguments whose flag has another name, for errors that reach almo.cli.main.
    p.set_defaults(func=run, flag_aliases={"exponent": "--zipf"})
    return p


def check_args(args: argparse.Namespace) -> None:
    """Check every flag of ``almo collapse`` before any work; errors name the flag.

    Examples
    --------
    >>> import argparse
    >>> sub = argparse.ArgumentParser().add_subparsers()
    >>> check_args(add_parser(sub).parse_args(["--zipf", "nan"]))
    Traceback (most recent call last):
    ...
    almo.exceptions.ALMOValueError: `--zipf` must be a finite number >= 0; found nan. Fix: ...
    """
    token = args.model in ("categorical", "ngram", "softmax")
    check_integer("--vocab", args.vocab, "pass e.g. --vocab 1000")
    check_number("--zipf", args.zipf, "pass e.g. --zipf 1.1 (0 is uniform)", low=0.0)
    check_integer("--order", args.order, "pass --order 2 (a bigram) or more", low=2)
    if args.model == "softmax" and args.order != 2:
        raise fail("--order", "be 2 with --model softmax", args.order, "drop --order")
    if args.model == "ngram" and (args.vocab + 1) ** (args.order - 1) * args.vocab > 5_000_000:
        raise fail(
            "--vocab" if args.order == 2 else "--order",
            "keep the n-gram table (vocab + 1)^(order − 1) × vocab below 5 million cells",
            f"--vocab {args.vocab} --order {args.order}",
            "lower --order or --vocab",
        )
    check_integer("--length", args.length, "pass e.g. --length 20")
    check_integer("--dim", args.dim, "pass e.g. --dim 1")
    fractions = "pass fractions in [0, 1], e.g. {} 0,0.05,0.2"
    check_flag_list("--alpha", args.alpha, fractions.format("--alpha"), low=0.0, high=1.0)
    if args.grid_alpha is not None:
        check_flag_list(
            "--grid-alpha", args.grid_alpha, fractions.format("--grid-alpha"), low=0.0, high=1.0
        )
    check_number("--alpha-exponent", args.alpha_exponent, "pass e.g. --alpha-exponent -0.5")
    check_integer("--n", args.n, "pass e.g. --n 1000")
    check_number("--n-exponent", args.n_exponent, "pass e.g. --n-exponent 1")
    if args.grid_n is not None:
        check_flag_list(
            "--grid-n", args.grid_n, "pass sizes >= 1, e.g. --grid-n 100,1000", low=1, integer=True
        )
    check_integer("--generations", args.generations, "pass e.g. --generations 100", low=0)
    check_integer("--replicates", args.replicates, "pass e.g. --replicates 200")
    if args.grid_replicates is not None:
        check_integer("--grid-replicates", args.grid_replicates, "pass e.g. --grid-replicates 50")
    check_number(
        "--temperature",
        args.temperature,
        "pass 1 for plain sampling, < 1 to sharpen, > 1 to flatten",
        low=0.0,
        low_open=True,
    )
    if args.top_k is not None:
        if not token:
            raise fail(
                "--top-k",
                f"be omitted with --model {args.model} (top-k applies to token models)",
                args.top_k,
                "drop --top-k; --temperature rescales the variance of continuous models",
            )
        check_integer(
            "--top-k",
            args.top_k,
            f"omit --top-k to keep all {args.vocab} tokens, or pass e.g. "
            f"--top-k {max(1, args.vocab // 2)}",
        )
    check_integer("--seed", args.seed, "pass e.g. --seed 0", low=0)
    check_number("--alpha-min", args.alpha_min, "pass e.g. --alpha-min 0.5", low=0, high=1)
    check_integer("--almo-generations", args.almo_generations, "pass e.g. --almo-generations 20")
    check_integer("--almo-replicates", args.almo_replicates, "pass e.g. --almo-replicates 20")
    check_integer("--almo-hindsight", args.almo_hindsight, "pass e.g. --almo-hindsight 6", low=0)
    if args.almo_hindsight == 1:
        raise fail(
            "--almo-hindsight",
            "be 0 (skip) or >= 2 grid points",
            1,
            "pass e.g. --almo-hindsight 6",
        )
    _check_studies(args)
    _check_schedules(args)


def _check_studies(args: argparse.Namespace) -> None:
    """Flags of --regimes and --estimators."""
    for flag, on in (("--regimes", args.regimes), ("--estimators", args.estimators)):
        if on and args.model != "categorical":
            raise fail(
                flag,
                "be used with --model categorical (its exact recursion is the reference)",
                f"--model {args.model}",
                f"drop {flag}, or pass --model categorical",
            )
    exps = "pass exponents >= 0, e.g. {} 0,0.5,1,1.5"
    check_flag_list("--regime-a", args.regime_a, exps.format("--regime-a"), low=0.0)
    check_flag_list("--regime-b", args.regime_b, exps.format("--regime-b"), low=0.0)
    check_number(
        "--regime-alpha0", args.regime_alpha0, "pass e.g. --regime-alpha0 0.5", low=0, high=1
    )
    check_integer("--regime-n0", args.regime_n0, "pass e.g. --regime-n0 100")
    check_integer(
        "--regime-generations", args.regime_generations, "pass e.g. --regime-generations 30"
    )
    check_integer(
        "--regime-replicates",
        args.regime_replicates,
        "pass e.g. --regime-replicates 50 (0: exact map only)",
        low=0,
    )
    if args.regimes:
        growth = max(args.regime_b) * np.log(args.regime_generations + 1)
        if args.regime_n0 * np.exp(growth) * max(args.regime_replicates, 1) > 5e9:
            raise fail(
                "--regime-b",
                "keep n_T = n_0 (T+1)^b small enough to simulate (n_T × replicates <= 5e9)",
                f"b = {max(args.regime_b):g}, --regime-n0 {args.regime_n0}, "
                f"--regime-generations {args.regime_generations}",
                "lower the largest --regime-b, --regime-n0 or --regime-generations",
            )
    if args.weight is not None:
        check_number(
            "--weight",
            args.weight,
            "pass a weight in [0, 1], e.g. --weight 0.618",
            low=0.0,
            high=1.0,
        )
    if args.almo and args.almo_penalty == "rademacher" and args.model == "categorical":
        mid = _mid(args)
        a, m = _schedules(args, mid, args.n)
        try:
            k = real_counts(a, m, args.almo_generations)[1:]
            ns = n_values(m, args.almo_generations)[1:]
        except ALMOValueError:
            return  # reported by _check_schedules, naming the exponent flag
        if np.any(k < 1) or np.any(k > ns - 1):
            raise fail(
                "--almo-penalty",
                "have both sources non-empty: 1 <= round(α n) <= n − 1 at the middle --alpha",
                f"round(α n) = {int(k.min())} with α = {mid:g}, n = {args.n}",
                "pass a middle --alpha with α·n >= 1, or --almo-penalty none",
            )


def _mid(args: argparse.Namespace) -> float:
    """The α of the policy, estimator and ALMO comparisons: the middle of --alpha."""
    return float(args.alpha[len(args.alpha) // 2])


def _check_schedules(args: argparse.Namespace) -> None:
    """α_t in [0, 1] and n_t >= 1 at every generation once the exponents apply."""
    alphas = [*args.alpha, *([] if args.no_grid else _grid_alphas(args))]
    ns = [args.n, *([] if args.no_grid or args.grid_n is None else args.grid_n)]
    for alpha in alphas:
        a, _ = _schedules(args, alpha, 1)
        try:
            alpha_values(a, args.generations)
        except ALMOValueError:
            raise fail(
                "--alpha-exponent",
                "keep α·(t+1)^exponent within [0, 1] up to the last generation",
                f"{args.alpha_exponent} with α = {alpha:g} and --generations {args.generations}",
                "pass an exponent <= 0 (a decaying share of true data), or a smaller --alpha",
            ) from None
    for n in ns:
        _, m = _schedules(args, 0.0, n)
        try:
            n_values(m, args.generations)
        except ALMOValueError:
            raise fail(
                "--n-exponent",
                "keep n·(t+1)^exponent >= 1 (after rounding) up to the last generation",
                f"{args.n_exponent} with n = {n} and --generations {args.generations}",
                "pass a larger --n or an exponent closer to 0",
            ) from None


def _setup(args: argparse.Namespace) -> tuple[Any, Any]:
    if args.model == "categorical":
        return CategoricalModel(args.vocab), zipf(args.vocab, args.zipf)
    if args.model == "ngram":
        return (
            NGramModel(args.vocab, args.order, args.length),
            random_markov(args.vocab, args.order, seed=args.seed),
        )
    if args.model == "softmax":
        return SoftmaxBigramModel(args.vocab, length=args.length), random_markov(
            args.vocab, 2, seed=args.seed
        )
    if args.model == "gaussian":
        return GaussianModel(args.dim), (np.zeros(args.dim), np.eye(args.dim))
    return RidgeModel(args.dim), (np.ones(args.dim) / np.sqrt(args.dim), 1.0)


def _schedules(args: argparse.Namespace, alpha: float, n: int) -> tuple[Any, Any]:
    a = alpha if args.alpha_exponent == 0 else power_law(alpha, args.alpha_exponent)
    m = n if args.n_exponent == 0 else power_law(n, args.n_exponent)
    return a, m


def _has_theory(args: argparse.Namespace, policy: str) -> bool:
    if args.model != "categorical":
        return False
    if policy in ("real-only", "real-aggregate"):
        return True  # no synthetic samples: temperature and top-k do not matter
    return policy in ("replace", "fixed") and args.temperature == 1.0 and args.top_k is None


def _theory_curve(args: argparse.Namespace, truth: Any, policy: str, a: Any, m: Any) -> np.ndarray:
    """The exact curve of a policy that has one (see :func:`_has_theory`)."""
    if policy in ("real-only", "real-aggregate"):
        return filtration_curve(
            truth, a, m, args.generations, aggregate=policy == "real-aggregate", composition="iid"
        )
    composition: Literal["iid", "fixed"] = "fixed" if policy == "fixed" else "iid"
    return risk_curve(truth, a, m, args.generations, composition=composition)


def run(args: argparse.Namespace) -> int:
    """Run ``almo collapse``: simulate, print the final errors, write plots and JSON.

    Examples
    --------
    >>> import argparse, tempfile
    >>> sub = argparse.ArgumentParser().add_subparsers()
    >>> args = add_parser(sub).parse_args(
    ...     [
    ...         "--vocab",
    ...         "20",
    ...         "--alpha",
    ...         "0.1",
    ...         "--n",
    ...         "50",
    ...         "--generations",
    ...         "3",
    ...         "--replicates",
    ...         "5",
    ...         "--no-grid",
    ...         "--quiet",
    ...         "--out",
    ...         tempfile.mkdtemp(),
    ...     ]
    ... )
    >>> run(args)  # doctest: +ELLIPSIS
    almo collapse ...
    0
    """
    from almo.sources import plots

    check_args(args)
    out: Path = check_writable_dir("--out", args.out)
    model, truth = _setup(args)
    metric = MAIN_METRIC[args.model]
    kw = dict(
        generations=args.generations,
        replicates=args.replicates,
        temperature=args.temperature,
        top_k=args.top_k,
    )
    print(
        f"almo collapse — model {args.model}, policy {args.policy}, n = {args.n}, "
        f"T = {args.generations}, R = {args.replicates}, seed {args.seed}"
    )
    results: dict[float, CollapseResult] = {}
    theory: dict[float, np.ndarray] = {}
    for i, alpha in enumerate(args.alpha):
        a, m = _schedules(args, alpha, args.n)
        results[alpha] = simulate(
            model,
            truth,
            alpha=a,
            n=m,
            policy=args.policy,
            seed=args.seed + i,
            progress=not args.quiet,
            **kw,
        )
        if _has_theory(args, args.policy):
            theory[alpha] = _theory_curve(args, truth, args.policy, a, m)
    _print_finals(results, theory, metric, args)

    figures = [
        plots.plot_error_curves(
            results,
            out / "error_vs_generation.png",
            theory=theory or None,
            metric=metric,
            title=f"{args.model}: error across generations ({args.policy})",
        )
    ]
    token_model = args.model in ("categorical", "ngram", "softmax")
    if token_model:
        figures.append(
            plots.plot_metric_curves(
                results,
                out / "tail_mass.png",
                "tail_mass",
                "Share of P*'s rarest decile still covered",
                label="α",
            )
        )

    mid = _mid(args)
    a, m = _schedules(args, mid, args.n)
    policies = {args.policy: results[mid]}
    if args.compare_policy != args.policy:
        policies[args.compare_policy] = simulate(
            model,
            truth,
            alpha=a,
            n=m,
            seed=args.seed,
            policy=args.compare_policy,
            progress=not args.quiet,
            **kw,
        )
    policy_theory = {
        k: _theory_curve(args, truth, k, a, m) for k in policies if _has_theory(args, k)
    }
    figures.append(
        plots.plot_metric_curves(
            policies,
            out / "policies.png",
            metric,
            f"Data policies at α = {mid:g}",
            log=True,
            theory=policy_theory or None,
        )
    )
    print(
        f"\npolicies at α = {mid:g}: "
        + ", ".join(f"{k} {r.mean(metric)[-1]:.4g}" for k, r in policies.items())
    )

    summary: dict[str, Any] = {
        "args": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k not in ("func", "flag_aliases")
        },
        "runs": {str(k): r.to_dict() for k, r in results.items()},
        "policies": {k: r.to_dict() for k, r in policies.items()},
    }
    if not args.no_grid:
        summary["grid"] = _grid(args, model, truth, metric, results, out, figures, plots)
    if args.regimes:
        summary["regimes"] = _regimes(args, truth, out, figures, plots)
    if args.estimators:
        summary["estimators"] = _estimators(args, truth, out, figures, plots)
    if args.almo:
        summary["almo"] = _almo(args, truth, out, figures, plots)
    (out / "collapse.json").write_text(json.dumps(summary, indent=1, default=_jsonable))
    print("\nwrote " + ", ".join(str(f) for f in [*figures, out / "collapse.json"]))
    return 0


def _print_finals(
    results: dict[float, CollapseResult],
    theory: dict[float, np.ndarray],
    metric: str,
    args: argparse.Namespace,
) -> None:
    token = args.model in ("categorical", "ngram", "softmax")
    head = f"\n{'α':>8} {'gen 0':>10} {'final ' + metric:>14} {'± 2 s.e.':>10}"
    if theory:
        head += f" {'theory':>10} {'stable':>10}"
    if token:
        head += f" {'support':>9} {'tail':>6}"
    print(head)
    for alpha, res in results.items():
        mean, se = res.mean(metric), res.stderr(metric)
        row = f"{alpha:>8g} {mean[0]:>10.4g} {mean[-1]:>14.4g} {2 * se[-1]:>10.2g}"
        if theory:
            level = (
                stable_level(
                    zipf(args.vocab, args.zipf),
                    alpha,
                    args.n,
                    "fixed" if args.policy == "fixed" else "iid",
                )
                if args.alpha_exponent == 0
                and args.n_exponent == 0
                and args.policy in ("replace", "fixed")
                else float("nan")
            )
            row += f" {theory[alpha][-1]:>10.4g} {level:>10.4g}"
        if token:
            row += f" {res.mean('support')[-1]:>9.1f} {res.mean('tail_mass')[-1]:>6.2f}"
        print(row)
    print(f"(± 2 s.e.: two standard errors of the mean over {args.replicates} replicates)")


def _grid_alphas(args: argparse.Namespace) -> list[float]:
    """The heatmap's α: --grid-alpha when given, else --alpha (the α asked for)."""
    return list(args.alpha if args.grid_alpha is None else args.grid_alpha)


def _grid(
    args: argparse.Namespace,
    model: Any,
    truth: Any,
    metric: str,
    results: dict[float, CollapseResult],
    out: Path,
    figures: list[Path],
    plots: Any,
) -> dict[str, Any]:
    """Final error over α × n: one array, drawn as the heatmap and printed as the table.

    Cells at n = --n whose α was run for the main table reuse those runs, so the table above,
    the heatmap and the grid table print the same numbers.
    """
    alphas = _grid_alphas(args)
    ns = args.grid_n or sorted({max(1, args.n // 10), max(1, args.n // 3), args.n, 3 * args.n})
    reps = args.replicates if args.grid_replicates is None else args.grid_replicates
    final = np.zeros((len(alphas), len(ns)))
    stderr = np.zeros_like(final)
    used = np.zeros(final.shape, dtype=np.int64)
    bar = tqdm(total=final.size, disable=args.quiet, desc="α × n grid", unit="cell")
    for i, alpha in enumerate(alphas):
        for j, n in enumerate(ns):
            if n == args.n and alpha in results:
                res = results[alpha]
            else:
                a, m = _schedules(args, alpha, n)
                res = simulate(
                    model,
                    truth,
                    alpha=a,
                    n=m,
                    generations=args.generations,
                    replicates=reps,
                    policy=args.policy,
                    temperature=args.temperature,
                    top_k=args.top_k,
                    seed=args.seed + 1000 + i * len(ns) + j,
                )
            final[i, j] = res.mean(metric)[-1]
            stderr[i, j] = res.stderr(metric)[-1]
            used[i, j] = res.replicates
            bar.update(1)
    bar.close()
    from almo.sources.plots import metric_label

    label = metric_label(metric)
    figures.append(
        plots.plot_final_heatmap(
            alphas,
            ns,
            final,
            out / "final_error_heatmap.png",
            metric,
            f"Final {label} after {args.generations} generations ({args.policy})",
        )
    )
    print(f"\nfinal {label} over α (rows) × n (columns), the heatmap's numbers:")
    print(f"{'α / n':>8} " + " ".join(f"{n:>10d}" for n in ns))
    for alpha, row in zip(alphas, final, strict=True):
        print(f"{alpha:>8g} " + " ".join(f"{v:>10.4g}" for v in row))
    return {
        "alpha": alphas,
        "n": ns,
        "final": final.tolist(),
        "stderr": stderr.tolist(),
        "replicates": used.tolist(),
    }


def _regimes(
    args: argparse.Namespace, truth: Any, out: Path, figures: list[Path], plots: Any
) -> dict[str, Any]:
    from almo.sources.regimes import regime_map

    m = regime_map(
        truth,
        args.regime_a,
        args.regime_b,
        alpha0=args.regime_alpha0,
        n0=args.regime_n0,
        generations=args.regime_generations,
        replicates=args.regime_replicates,
        seed=args.seed,
        progress=not args.quiet,
    )
    figures.append(plots.plot_regime_map(m, out / "regime_map.png"))
    print(
        f"\nregime map: log(R_T/R_0), α_t = {args.regime_alpha0:g}·(t+1)^(−a), "
        f"n_t = {args.regime_n0}·(t+1)^b, T = {args.regime_generations} "
        "(exact | simulated ± 2 s.e. | regime)"
    )
    print(f"{'b':>6} {'a':>6} {'exact':>8} {'simulated':>10} {'± 2 s.e.':>9}  regime")
    for i, b in enumerate(m.b):
        for j, a in enumerate(m.a):
            sim = "" if m.simulated is None else f"{m.simulated[i, j]:>10.3f}"
            se = "" if m.stderr is None else f"{2 * m.stderr[i, j]:>9.2g}"
            print(f"{b:>6g} {a:>6g} {m.exact[i, j]:>8.3f} {sim:>10} {se:>9}  {m.regimes[i][j]}")
    return m.to_dict()


def _estimators(
    args: argparse.Namespace, truth: Any, out: Path, figures: list[Path], plots: Any
) -> dict[str, Any]:
    mid = _mid(args)
    a, m = _schedules(args, mid, args.n)
    weight = args.weight
    if weight is None:
        weight = optimal_weight(truth, a, m, args.generations) if args.generations > 0 else 1.0
    runs = simulate_estimators(
        truth,
        alpha=a,
        n=m,
        generations=args.generations,
        replicates=args.replicates,
        weight=weight,
        seed=args.seed,
        progress=not args.quiet,
    )
    exact = {e: estimator_curve(e, truth, a, m, args.generations, weight) for e in ESTIMATORS}
    named = {_estimator_label(e, weight): r for e, r in runs.items()}
    figures.append(
        plots.plot_metric_curves(
            named,
            out / "estimators.png",
            "l2",
            f"Agnostic vs weighting vs filtration, α = {mid:g} (same real samples)",
            log=True,
            theory={_estimator_label(e, weight): c for e, c in exact.items()},
        )
    )
    c = collision_gap(truth)
    k = real_counts(a, m, args.generations)
    ns = n_values(m, args.generations)
    print(
        f"\nestimators at α = {mid:g} (fixed composition: k_t = round(α n_t) real samples, "
        f"the same for all), generation {args.generations}; weight w = {weight:.4f}"
        f"{' (optimal constant w, exact recursion)' if args.weight is None else ''}"
    )
    print(f"{'estimator':>18} {'final l2':>10} {'± 2 s.e.':>9} {'exact':>10}")
    for e, r in runs.items():
        print(
            f"{e:>18} {r.mean('l2')[-1]:>10.4g} {2 * r.stderr('l2')[-1]:>9.2g} "
            f"{exact[e][-1]:>10.4g}"
        )
    if mid > 0 and args.generations > 0:
        print(
            f"approximations: agnostic ≈ c/(nα(2−α)) = {c / (args.n * mid * (2 - mid)):.4g}, "
            f"filter ≈ c/(nα) = {c / (args.n * mid):.4g}, "
            f"filter-aggregate ≈ c/Σ α_s n_s = {c / float(np.sum(k)):.4g}"
        )
    return {
        "alpha": mid,
        "weight": weight,
        "real_counts": k.tolist(),
        "n": ns.tolist(),
        "runs": {e: r.to_dict() for e, r in runs.items()},
        "exact": {e: v.tolist() for e, v in exact.items()},
    }


def _estimator_label(name: str, weight: float) -> str:
    return f"weighted (w = {weight:.3f})" if name == "weighted" else name


def _almo(
    args: argparse.Namespace, truth: Any, out: Path, figures: list[Path], plots: Any
) -> dict[str, Any]:
    from almo.sources.minimax import simulate_minimax

    if args.model != "categorical":
        print("\n--almo runs the unigram model only; skipped for", args.model)
        return {}
    mid = _mid(args)
    a, m = _schedules(args, mid, args.n)
    common = dict(
        alpha=a,
        n=m,
        generations=args.almo_generations,
        replicates=args.almo_replicates,
        alpha_min=args.alpha_min,
        temperature=args.temperature,
        top_k=args.top_k,
        seed=args.seed,
        progress=not args.quiet,
    )
    arms = simulate_minimax(
        truth, hindsight=args.almo_hindsight if args.almo_hindsight >= 2 else None, **common
    )
    named = {
        f"pooled (fixed weights k/n, α = {mid:g})": arms["pooled"],
        f"minimax (λ_true ≥ {args.alpha_min:g})": arms["minimax"],
    }
    penalized = None
    if args.almo_penalty == "rademacher":
        # Same seed: the same true samples and generation-0 model as the arms above.
        penalized = simulate_minimax(
            truth, penalty="rademacher", penalty_center="previous", **common
        )["minimax"]
        named["minimax + penalty (Rademacher, β = 2, around w_{t−1})"] = penalized
    if "hindsight" in arms:
        best = arms["hindsight"].info["best_weight"]
        named[f"hindsight (best fixed w = {best:.2g}, an oracle)"] = arms["hindsight"]
    figures.append(
        plots.plot_metric_curves(
            named,
            out / "almo_vs_pooling.png",
            "l2",
            f"Per-generation training over {{true, synthetic}}, α = {mid:g} "
            f"(R = {args.almo_replicates})",
            log=True,
        )
    )
    lam = arms["minimax"].info["mean_weights"][-1]
    print(
        f"\nALMO vs pooling at α = {mid:g} (generation {args.almo_generations}, "
        f"{args.almo_replicates} replicates; final l2 ± 2 s.e.):"
    )
    print(f"  {'arm':<58} {'final l2':>10}   ± 2 s.e.  final / gen. 0")
    for label, res in named.items():
        mean = res.mean("l2")
        print(
            f"  {label:<58} {mean[-1]:>10.4g} ± {2 * res.stderr('l2')[-1]:<8.2g} "
            f"{mean[-1] / mean[0]:>8.3g}"
        )
    print(f"  minimax's final λ_true = {lam[0]:.3f}")
    print(ALMO_EXPLANATION)
    if penalized is not None:
        print(PENALTY_NOTE)
    out_dict: dict[str, Any] = {k: r.to_dict() for k, r in arms.items()}
    if penalized is not None:
        out_dict["minimax + penalty"] = penalized.to_dict()
    out_dict["explanation"] = ALMO_EXPLANATION
    if penalized is not None:
        out_dict["penalty_note"] = PENALTY_NOTE
    return out_dict


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
