"""Bad input to the contaminated-sources simulator fails early and names its argument.

Every public entry point of ``almo.sources`` is given wrong values; the error must be an
:class:`~almo._validation.ALMOValueError` whose message names the argument (in backquotes),
shows what was found and suggests a fix.
"""

from __future__ import annotations

import numpy as np
import pytest

from almo._validation import ALMOValueError
from almo.sources import (
    CategoricalModel,
    CountData,
    GaussianModel,
    NGramModel,
    RidgeModel,
    SampleData,
    SoftmaxBigramModel,
    as_schedule,
    categorical_metrics,
    constant,
    geometric,
    power_law,
    random_markov,
    simulate,
    simulate_minimax,
    tempered,
    zipf,
)
from almo.sources.policies import check_policy

P = zipf(5, 1.0)
RNG = np.random.default_rng(0)
RUN = dict(alpha=0.1, n=5, generations=1)


def _gaussian_truth():
    return GaussianModel(1).truth_params((np.zeros(1), np.eye(1)))


CASES = {
    # distributions and models
    "zipf vocab": (lambda: zipf(0), "vocab"),
    "zipf vocab fraction": (lambda: zipf(2.5), "vocab"),
    "zipf exponent": (lambda: zipf(5, -1.0), "exponent"),
    "zipf exponent nan": (lambda: zipf(5, float("nan")), "exponent"),
    "categorical vocab": (lambda: CategoricalModel(0), "vocab"),
    "categorical smoothing": (lambda: CategoricalModel(3, smoothing=-0.5), "smoothing"),
    "categorical smoothing inf": (lambda: CategoricalModel(3, smoothing=np.inf), "smoothing"),
    "categorical which": (lambda: CategoricalModel(3, which=("l2", "l3")), "which"),
    "categorical truth sum": (lambda: CategoricalModel(3).truth_params([0.5, 0.6, 0.1]), "truth"),
    "categorical truth sign": (lambda: CategoricalModel(2).truth_params([1.5, -0.5]), "truth"),
    "categorical truth nan": (lambda: CategoricalModel(2).truth_params([np.nan, 1.0]), "truth"),
    "categorical truth shape": (lambda: CategoricalModel(4).truth_params(P), "truth"),
    "categorical empty data": (
        lambda: CategoricalModel(2).fit(CountData(np.array([[0, 0]]))),
        "data",
    ),
    "ngram vocab": (lambda: NGramModel(0), "vocab"),
    "ngram order": (lambda: NGramModel(3, order=1), "order"),
    "ngram order too large": (lambda: NGramModel(50, order=5), "order"),
    "ngram length": (lambda: NGramModel(3, length=0), "length"),
    "ngram smoothing": (lambda: NGramModel(3, smoothing=-1.0), "smoothing"),
    "ngram truth shape": (lambda: NGramModel(3).truth_params(random_markov(2)), "truth"),
    "ngram empty data": (
        lambda: NGramModel(2).fit(CountData(np.zeros((1, 3, 2), np.int64))),
        "data",
    ),
    "markov order": (lambda: random_markov(3, order=1), "order"),
    "markov vocab": (lambda: random_markov(0), "vocab"),
    "softmax order": (lambda: SoftmaxBigramModel(3, order=3), "order"),
    "softmax steps": (lambda: SoftmaxBigramModel(3, steps=0), "steps"),
    "softmax batch": (lambda: SoftmaxBigramModel(3, batch=2.5), "batch"),
    "softmax lr": (lambda: SoftmaxBigramModel(3, lr=0.0), "lr"),
    "softmax empty data": (
        lambda: SoftmaxBigramModel(2, steps=1).fit(CountData(np.zeros((1, 3, 2), np.int64))),
        "data",
    ),
    "gaussian dim": (lambda: GaussianModel(0), "dim"),
    "gaussian ddof": (lambda: GaussianModel(1, ddof=2), "ddof"),
    "gaussian truth": (
        lambda: GaussianModel(2).truth_params((np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]]))),
        "truth",
    ),
    "gaussian top_k": (
        lambda: GaussianModel(1).sample(_gaussian_truth(), [3], RNG, 1.0, 2),
        "top_k",
    ),
    "gaussian temperature": (
        lambda: GaussianModel(1).sample(_gaussian_truth(), [3], RNG, temperature=-1.0),
        "temperature",
    ),
    "gaussian too little data": (
        lambda: GaussianModel(1, ddof=1).fit(
            SampleData(np.zeros((1, 1, 1)), None, np.ones((1, 1), bool))
        ),
        "data",
    ),
    "ridge dim": (lambda: RidgeModel(0), "dim"),
    "ridge penalty": (lambda: RidgeModel(2, ridge=-1.0), "ridge"),
    "ridge synthetic noise": (lambda: RidgeModel(2, synthetic_noise=np.nan), "synthetic_noise"),
    "ridge noise variance": (
        lambda: RidgeModel(2).truth_params((np.ones(2), -0.1)),
        "noise variance",
    ),
    # sampling
    "tempered temperature": (lambda: tempered(P, 0.0), "temperature"),
    "tempered temperature inf": (lambda: tempered(P, np.inf), "temperature"),
    "tempered top_k": (lambda: tempered(P, 1.0, 0), "top_k"),
    "tempered top_k fraction": (lambda: tempered(P, 1.0, 1.5), "top_k"),
    # schedules
    "schedule string": (lambda: as_schedule("0.1", "alpha"), "alpha"),
    "schedule 2-D": (lambda: as_schedule([[0.1]], "n"), "n"),
    "schedule objects": (lambda: as_schedule([object()], "alpha"), "alpha"),
    "power law offset": (lambda: power_law(1.0, -0.5, offset=0.0), "offset"),
    # the simulator
    "simulate policy": (lambda: simulate(CategoricalModel(5), P, policy="keep", **RUN), "policy"),
    "simulate replicates": (
        lambda: simulate(CategoricalModel(5), P, replicates=2.5, **RUN),
        "replicates",
    ),
    "simulate method": (lambda: simulate(CategoricalModel(5), P, method="fast", **RUN), "method"),
    "simulate tokens smoothing": (
        lambda: simulate(CategoricalModel(5, smoothing=1.0), P, method="tokens", **RUN),
        "method",
    ),
    "simulate tokens policy": (
        lambda: simulate(CategoricalModel(5), P, method="tokens", policy="accumulate", **RUN),
        "method",
    ),
    "simulate alpha": (
        lambda: simulate(CategoricalModel(5), P, alpha=-0.1, n=5, generations=1),
        "alpha",
    ),
    "simulate n": (lambda: simulate(CategoricalModel(5), P, alpha=0.1, n=0, generations=1), "n"),
    "simulate generations": (
        lambda: simulate(CategoricalModel(5), P, alpha=0.1, n=5, generations=-2),
        "generations",
    ),
    "simulate temperature": (
        lambda: simulate(CategoricalModel(5), P, temperature=-1.0, **RUN),
        "temperature",
    ),
    "simulate top_k": (lambda: simulate(CategoricalModel(5), P, top_k=0, **RUN), "top_k"),
    "simulate truth": (lambda: simulate(CategoricalModel(5), P[:4], **RUN), "truth"),
    "simulate ridge top_k": (
        lambda: simulate(RidgeModel(2), (np.ones(2), 1.0), top_k=2, **RUN),
        "top_k",
    ),
    "result metric": (
        lambda: simulate(CategoricalModel(5), P, replicates=2, **RUN).stderr("w2"),
        "name",
    ),
    "policy": (lambda: check_policy("replace-all"), "policy"),
    # ALMO per generation: every check runs before any training
    "minimax truth": (lambda: simulate_minimax(np.ones(3), **RUN), "truth"),
    "minimax alpha_min": (lambda: simulate_minimax(P, alpha_min=-0.1, **RUN), "alpha_min"),
    "minimax alpha_max": (
        lambda: simulate_minimax(P, alpha_min=0.6, alpha_max=0.4, **RUN),
        "alpha_min",
    ),
    "minimax epochs": (lambda: simulate_minimax(P, epochs=0, **RUN), "epochs"),
    "minimax batch_size": (lambda: simulate_minimax(P, batch_size=0, **RUN), "batch_size"),
    "minimax replicates": (lambda: simulate_minimax(P, replicates=0, **RUN), "replicates"),
    "minimax lr": (lambda: simulate_minimax(P, lr=-1.0, **RUN), "lr"),
    "minimax lambda_lr": (lambda: simulate_minimax(P, lambda_lr=0.0, **RUN), "lambda_lr"),
    "minimax alpha": (lambda: simulate_minimax(P, alpha=2.0, n=5, generations=1), "alpha"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_names_the_argument_the_value_and_a_fix(case):
    call, argument = CASES[case]
    with pytest.raises(ALMOValueError) as info:
        call()
    message = str(info.value)
    assert f"`{argument}`" in message, message
    assert "found" in message and "Fix:" in message, message


def test_a_refused_call_leaves_no_partial_result():
    # Validation happens before any simulation: the same call with the fix applied runs.
    with pytest.raises(ALMOValueError):
        simulate(CategoricalModel(5), P, replicates=0, **RUN)
    res = simulate(CategoricalModel(5), P, replicates=1, **RUN)
    assert res.metrics["l2"].shape == (1, 2)


# --------------------------------------------------------------------------- wrong types

# Values of the wrong type or shape: once bare TypeError/ValueError from int(), float(), NumPy
# or reshape, now the same ALMOValueError naming the argument.
WRONG_TYPES = {
    "vocab=None": (lambda: CategoricalModel(None), "vocab"),
    "zipf(vocab='a')": (lambda: zipf("a"), "vocab"),
    "zipf(exponent='x')": (lambda: zipf(5, "x"), "exponent"),
    "smoothing='x'": (lambda: CategoricalModel(3, smoothing="x"), "smoothing"),
    "which='l2'": (lambda: CategoricalModel(3, which="l2"), "which"),
    "which=None": (lambda: CategoricalModel(3, which=None), "which"),
    "order=None": (lambda: NGramModel(3, order=None), "order"),
    "ngram length='x'": (lambda: NGramModel(3, length="x"), "length"),
    "dim=None": (lambda: GaussianModel(dim=None), "dim"),
    "ridge dim=2.5": (lambda: RidgeModel(dim=2.5), "dim"),
    "softmax steps=None": (lambda: SoftmaxBigramModel(3, steps=None), "steps"),
    "softmax lr='fast'": (lambda: SoftmaxBigramModel(3, lr="fast"), "lr"),
    "replicates=None": (
        lambda: simulate(CategoricalModel(5), P, replicates=None, **RUN),
        "replicates",
    ),
    "generations=None": (
        lambda: simulate(CategoricalModel(5), P, alpha=0.1, n=5, generations=None),
        "generations",
    ),
    "seed=-1": (lambda: simulate(CategoricalModel(5), P, seed=-1, **RUN), "seed"),
    "seed='a'": (lambda: simulate(CategoricalModel(5), P, seed="a", **RUN), "seed"),
    "temperature='hot'": (lambda: tempered(P, "hot"), "temperature"),
    "temperature=None": (lambda: tempered(P, None), "temperature"),
    "top_k='a'": (lambda: tempered(P, 1.0, "a"), "top_k"),
    "top_k=nan": (lambda: tempered(P, 1.0, float("nan")), "top_k"),
    "power_law(scale='a')": (lambda: power_law("a", 1.0), "scale"),
    "power_law(exponent=None)": (lambda: power_law(1.0, None), "exponent"),
    "geometric(ratio='x')": (lambda: geometric(0.5, "x"), "ratio"),
    "constant('x')": (lambda: constant("x"), "value"),
    "alpha callable returning text": (
        lambda: simulate(CategoricalModel(5), P, alpha=lambda t: "x", n=5, generations=1),
        "alpha",
    ),
    "n callable returning None": (
        lambda: simulate(CategoricalModel(5), P, alpha=0.1, n=lambda t: None, generations=1),
        "n",
    ),
    "random_markov(concentration=-1)": (
        lambda: random_markov(3, concentration=-1.0),
        "concentration",
    ),
    "random_markov(concentration='a')": (
        lambda: random_markov(3, concentration="a"),
        "concentration",
    ),
    "random_markov(seed=-1)": (lambda: random_markov(3, seed=-1), "seed"),
    "Gaussian truth of the wrong dimension": (
        lambda: GaussianModel(2).truth_params((np.zeros(3), np.eye(2))),
        "truth",
    ),
    "Gaussian truth not a pair": (lambda: GaussianModel(2).truth_params(np.zeros(2)), "truth"),
    "Gaussian truth of text": (
        lambda: GaussianModel(1).truth_params((["a"], [[1.0]])),
        "truth",
    ),
    "Ridge truth of the wrong dimension": (
        lambda: RidgeModel(2).truth_params((np.zeros(3), 1.0)),
        "truth",
    ),
    "Ridge truth not a pair": (lambda: RidgeModel(2).truth_params(np.zeros(2)), "truth"),
    "categorical truth of text": (
        lambda: CategoricalModel(2).truth_params(["a", "b"]),
        "truth",
    ),
}


@pytest.mark.parametrize("case", list(WRONG_TYPES))
def test_wrong_types_and_shapes_name_the_argument(case):
    call, argument = WRONG_TYPES[case]
    with pytest.raises(ALMOValueError) as info:
        call()
    message = str(info.value)
    assert message.startswith(f"`{argument}` must"), message
    assert "found" in message and "Fix:" in message, message


@pytest.mark.parametrize(
    "make",
    [
        lambda eps: CategoricalModel(5, kl_smoothing=eps),
        lambda eps: NGramModel(3, kl_smoothing=eps),
        lambda eps: SoftmaxBigramModel(3, kl_smoothing=eps),
        lambda eps: categorical_metrics(P[None], P, ["kl"], kl_smoothing=eps),
    ],
)
@pytest.mark.parametrize("eps", [-0.01, 0.0, float("nan"), float("inf"), "small"])
def test_a_kl_smoothing_that_is_not_positive_is_refused(make, eps):
    # ε <= 0 made the KL of a lost token -inf or NaN (log of 0 or of a negative number).
    with pytest.raises(ALMOValueError, match="`kl_smoothing` must"):
        make(eps)


def test_a_valid_kl_smoothing_gives_the_closed_form():
    # The check must not change valid runs: KL(P* ‖ P̂_ε) of a model that lost token 0.
    fitted = np.array([[0.0, 0.5, 0.5]])
    truth = np.array([0.2, 0.4, 0.4])
    eps = 1e-3
    model = CategoricalModel(3, kl_smoothing=eps)
    kl = model.metrics(fitted, truth[None])["kl"][0]
    smoothed = (fitted[0] + eps) / (1 + 3 * eps)
    assert kl == pytest.approx(truth @ np.log(truth / smoothed), rel=1e-12)


def test_top_k_names_the_vocabulary_of_the_model():
    # The fix suggests keeping the model's own vocabulary, not a placeholder size.
    with pytest.raises(ALMOValueError) as info:
        simulate(CategoricalModel(40), zipf(40), top_k=0, **RUN)
    assert "all 40 tokens" in str(info.value) and "top_k=20" in str(info.value)
