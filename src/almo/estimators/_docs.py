"""The parameter and attribute documentation both estimators share (one text, two classes)."""

PARAMETERS = """
    losses : str, Loss, or sequence of them, default {losses}
        The per-sample losses (names from :data:`almo.LOSSES`, :func:`almo.make_loss`
        objects, or ``Loss(name, fn)``). With ``groups`` in ``fit`` each loss gives one
        objective per group: p = losses × groups, named ``"<loss>@<group>"``.
    mixture_set : "simplex", MixtureSet, or (lower, upper), default "simplex"
        Λ, the mixtures the adversary may pick: the whole simplex, any
        :class:`almo.MixtureSet` over the p objectives, or box bounds ``lower ≤ λ ≤ upper``
        (scalars or one per objective; :class:`almo.BoxSimplex`).
    weight_rule : "auto" or WeightRule, default "auto"
        How λ is found. ``"auto"``: the optimal λ (the exact path solves for it; the trainer
        uses its default projected ascent). ``FixedWeights(λ)`` trains the fixed-weight
        ensemble Σ_k λ_k ℓ_k on either path (the exact path solves it with Λ = {{λ}}); the
        worst case and the reports still run over ``mixture_set``. Other rules
        (``ExponentiatedAscent``...) drive the trainer; the exact path computes the saddle
        point they converge to.
    model : "linear", "mlp", or tuple of int, default "linear"
        A linear model; ``"mlp"`` is a ReLU network with hidden sizes {hidden}; a tuple gives
        the hidden sizes. Networks always train with the trainer.
    penalty : "rademacher", "none" or RademacherPenalty, default "rademacher"
        The λ-dependent complexity penalty r_k = β μ_k sqrt(Σ_{{i∈S_k}} ‖x_i‖²)/m_k · Ĉ(θ)
        (:class:`almo.RademacherPenalty`): objectives with few rows or steep losses pay more
        for the model's norm, so the adversary cannot chase noise in a small group. Ĉ is
        ‖W‖_F for a linear model, the Golowich–Rakhlin–Shamir product for a network.
    beta : float or "bound", default {beta}
        β of ``penalty="rademacher"`` (``"bound"``: the generalization bound's own constant,
        usually far too strong; 0: no penalty). Tune it like ``alpha``. The regressor's default
        is smaller: squared errors have no global Lipschitz constant, so theirs is taken on
        the targets' range, which heavy tails make large.
    alpha : float, default 1e-3
        Ridge: ``alpha ‖W‖²_F`` added to every normalized objective (weights of every layer,
        not the intercepts). A positive alpha keeps the exact solver on its fast path.
    normalize : bool or array of shape (p,), default True
        True: divide each objective by its value for the model whose scores are all 0 (the
        same scales on both paths, for every model and seed, so models compare); False: raw
        losses; an array: these scales.
    max_epochs : int, default 100
        Trainer path: epochs over the data.
    batch_size : int or "auto", default "auto"
        Trainer path: rows per step. ``"auto"``: n / 16 clipped to [16, 128], so that small
        data sets still take 16 steps per epoch (the step-size decay and the averaging count in
        steps: with 128 rows per step breast cancer takes 5 steps an epoch and ended 6–11%
        above the certified optimum after 40 epochs, with ``"auto"`` 1–2%).
    learning_rate : float, default 1e-2
        Trainer path: Adam's step size, decayed as (1 + t/T)^(-3/4) with T three epochs.
    center : bool, default True
        Trainer path: centre the inputs on the training means before the first layer. A
        reparametrization: the model, its penalty and the optimum are unchanged (``coef_`` and
        ``intercept_`` are in the units of X), only the optimizer's path is — the intercept no
        longer fights the weights when features have large means. The exact path does not
        need it.
    method : {{"auto", "exact", "trainer"}}, default "auto"
        ``"exact"``: the certified solver :func:`almo.solve_linear` (a linear model with
        losses convex for linear models); ``"trainer"``: :class:`almo.MinimaxTrainer` (any
        model and loss); ``"auto"``: exact when it applies, else the trainer.
    random_state : int, RandomState or None, default None
        Seeds the trainer (initial network, batch order); the exact path is deterministic.
        The program's global generators are left as they were.
    verbose : bool, default False
        The trainer's progress bar.
    device : str or torch.device, optional
        The trainer's device (default: CUDA when available, else CPU).
"""

ATTRIBUTES = """
    weights_ : ndarray of shape (p,)
        λ: the optimal mixture (exact), the averaged λ of the run (trainer), or the fixed λ.
    objective_names_ : tuple of str
        The p objectives, loss-major (``"log_loss@group0"``...).
    scales_ : ndarray of shape (p,)
        What each objective is divided by.
    penalty_ : ndarray of shape (p,)
        r_k of the fitted model: Rademacher term plus ridge.
    penalty_coefficients_ : ndarray of shape (p,)
        c_k of the Rademacher term r_k = c_k Ĉ(θ) (zeros without it).
    mixture_set_ : MixtureSet
        Λ over the p objectives.
    groups_ : ndarray or None
        The group labels seen in ``fit`` (sorted), or None.
    method_ : {{"exact", "trainer"}}
        The path that ran.
    certificate_ : Certificate or None
        Exact path: ``value`` (penalized worst case on the training data, an upper bound on the
        optimum), ``lower_bound``, ``gap``, ``status``, ``method``; None for the trainer.
    solution_ : LinearSolution or None
        Exact path: the solver's full result.
    history_ : FitHistory or None
        Trainer path: λ and the objectives per step and per epoch: ``epochs[i].averaged`` on
        the training data, ``held_out[i]`` on ``fit``'s ``eval_set`` (empty without one);
        ``train_curve()`` and ``held_out_curve()`` give them as (epochs, p) arrays.
    n_iter_ : int
        Solver iterations (exact) or epochs (trainer).
    coef_, intercept_ : ndarray
        Linear models: {coef}
    module_ : torch.nn.Module or None
        Networks: the averaged network (CPU, float64); None for linear models.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        When X is a DataFrame with string column names.
"""
