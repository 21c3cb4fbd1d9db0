"""``almo collapse``: simulate iterative retraining on contaminated data, print and plot it.

Example::

    almo collapse --model categorical --vocab 1000 --zipf 1.1 --alpha 0,0.05,0.2 --n 1000 \\
        --generations 100 --replicates 200 --policy replace --out DIR

prints the final errors (with the exact recursion where it applies) and writes to DIR:
``error_vs_generation.png`` (per α, theory dashed, log scale), ``final_error_heatmap.png`` (a
grid of α and n), ``policies.png`` (replace vs accumulate), ``tail_mass.png`` (token models),
``almo_vs_pooling.png`` (with ``--almo``) and ``collapse.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Literal

import numpy as np

from almo._cli import check_flag_list, check_writable_dir
from almo._validation import check_integer, check_number, fail
from almo.exceptions import ALMOValueError
from almo.sources.categorical import CategoricalModel, zipf
from almo.sources.continuous import GaussianModel, RidgeModel
from almo.sources.ngram import NGramModel, random_markov
from almo.sources.policies import POLICIES
from almo.sources.schedules import alpha_values, n_values, power_law
from almo.sources.simulate import CollapseResult, simulate
from almo.sources.softmax import SoftmaxBigramModel
from almo.sources.theory import risk_curve, stable_level

__all__ = ["add_parser", "check_args", "run"]

MODELS = ("categorical", "ngram", "softmax", "gaussian", "ridge")
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
        default=[0.0, 0.01, 0.05, 0.2, 0.5],
        help="α values of the heatmap",
    )
    p.add_argument(
        "--grid-n",
        type=_ints,
        default=None,
        help="n values of the heatmap (default: n/10, n/3, n, 3n)",
    )
    p.add_argument(
        "--grid-replicates", type=int, default=50, help="replicates per cell of the heatmap"
    )
    p.add_argument("--no-grid", action="store_true", help="skip the α × n heatmap")
    p.add_argument(
        "--almo",
        action="store_true",
        help="also train each generation with MinimaxTrainer over {true, synthetic}",
    )
    p.add_argument("--alpha-min", type=float, default=0.5, help="Λ = {λ : λ_true ≥ alpha-min}")
    p.add_argument(
        "--almo-generations", type=int, default=20, help="generations of the --almo comparison"
    )
    p.add_argument(
        "--almo-replicates", type=int, default=2, help="replicates of the --almo comparison"
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
    check_integer("--almo-replicates", args.almo_replicates, "pass e.g. --almo-replicates 2")
    _check_schedules(args)


def _check_schedules(args: argparse.Namespace) -> None:
    """α_t in [0, 1] and n_t >= 1 at every generation once the exponents apply."""
    alphas = [*args.alpha, *([] if args.no_grid else args.grid_alpha)]
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
    return (
        args.model == "categorical"
        and policy in ("replace", "fixed")
        and args.temperature == 1.0
        and args.top_k is None
    )


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
        progress=not args.quiet,
    )
    print(
        f"almo collapse — model {args.model}, policy {args.policy}, n = {args.n}, "
        f"T = {args.generations}, R = {args.replicates}, seed {args.seed}"
    )
    results: dict[float, CollapseResult] = {}
    theory: dict[float, np.ndarray] = {}
    composition: Literal["iid", "fixed"] = "fixed" if args.policy == "fixed" else "iid"
    for i, alpha in enumerate(args.alpha):
        a, m = _schedules(args, alpha, args.n)
        results[alpha] = simulate(
            model, truth, alpha=a, n=m, policy=args.policy, seed=args.seed + i, **kw
        )
        if _has_theory(args, args.policy):
            theory[alpha] = risk_curve(truth, a, m, args.generations, composition=composition)
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
                label="α = ",
            )
        )

    mid = args.alpha[len(args.alpha) // 2]
    a, m = _schedules(args, mid, args.n)
    policies = {args.policy: results[mid]}
    policies[args.compare_policy] = simulate(
        model, truth, alpha=a, n=m, seed=args.seed, policy=args.compare_policy, **kw
    )
    figures.append(
        plots.plot_metric_curves(
            policies, out / "policies.png", metric, f"Data policies at α = {mid:g}", log=True
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
        summary["grid"] = _grid(args, model, truth, metric, out, figures, plots)
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
                if args.alpha_exponent == 0 and args.n_exponent == 0
                else float("nan")
            )
            row += f" {theory[alpha][-1]:>10.4g} {level:>10.4g}"
        if token:
            row += f" {res.mean('support')[-1]:>9.1f} {res.mean('tail_mass')[-1]:>6.2f}"
        print(row)


def _grid(
    args: argparse.Namespace,
    model: Any,
    truth: Any,
    metric: str,
    out: Path,
    figures: list[Path],
    plots: Any,
) -> dict[str, Any]:
    ns = args.grid_n or sorted({max(1, args.n // 10), max(1, args.n // 3), args.n, 3 * args.n})
    final = np.zeros((len(args.grid_alpha), len(ns)))
    for i, alpha in enumerate(args.grid_alpha):
        for j, n in enumerate(ns):
            a, m = _schedules(args, alpha, n)
            res = simulate(
                model,
                truth,
                alpha=a,
                n=m,
                generations=args.generations,
                replicates=args.grid_replicates,
                policy=args.policy,
                temperature=args.temperature,
                top_k=args.top_k,
                seed=args.seed + 1000 + i * len(ns) + j,
            )
            final[i, j] = res.mean(metric)[-1]
    figures.append(
        plots.plot_final_heatmap(
            args.grid_alpha,
            ns,
            final,
            out / "final_error_heatmap.png",
            metric,
            f"Final {metric} after {args.generations} generations ({args.policy})",
        )
    )
    print(f"\nfinal {metric} over α (rows) × n (columns {ns}):")
    for alpha, row in zip(args.grid_alpha, final, strict=True):
        print(f"{alpha:>8g} " + " ".join(f"{v:>10.4g}" for v in row))
    return {"alpha": args.grid_alpha, "n": ns, "final": final.tolist()}


def _almo(
    args: argparse.Namespace, truth: Any, out: Path, figures: list[Path], plots: Any
) -> dict[str, Any]:
    from almo.sources.minimax import simulate_minimax

    if args.model != "categorical":
        print("\n--almo runs the unigram model only; skipped for", args.model)
        return {}
    mid = args.alpha[len(args.alpha) // 2]
    arms = simulate_minimax(
        truth,
        alpha=mid,
        n=args.n,
        generations=args.almo_generations,
        replicates=args.almo_replicates,
        alpha_min=args.alpha_min,
        temperature=args.temperature,
        top_k=args.top_k,
        seed=args.seed,
        progress=not args.quiet,
    )
    named = {
        f"ALMO (λ_true ≥ {args.alpha_min:g})": arms["minimax"],
        f"pooling (fixed weights, α = {mid:g})": arms["pooled"],
    }
    figures.append(
        plots.plot_metric_curves(
            named,
            out / "almo_vs_pooling.png",
            "l2",
            "Per-generation training: minimax over {true, synthetic} vs pooling",
            log=True,
        )
    )
    lam = arms["minimax"].info["mean_weights"][-1]
    print(
        f"\nALMO vs pooling at α = {mid:g} (generation {args.almo_generations}): "
        f"minimax {arms['minimax'].mean('l2')[-1]:.4g} (λ_true = {lam[0]:.3f}), "
        f"pooled {arms['pooled'].mean('l2')[-1]:.4g}"
    )
    return {k: r.to_dict() for k, r in arms.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
