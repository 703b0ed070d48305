"""Every sweep-syntax form, as read by the shared parser and mapped for Optuna and Hyperopt."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hyperopt.pyll import stochastic
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from hydra_plugins.emotion_lab_sweeper._hyperopt_sweeper import hyperopt_loss, to_hyperopt
from hydra_plugins.emotion_lab_sweeper._optuna_sweeper import to_optuna_distribution
from hydra_plugins.emotion_lab_sweeper._space import Kind, parse_search_space, quote

FORMS = {
    "simple_choice": "glorot_uniform,he_normal,lecun_normal",
    "choice": "choice(8,16,32)",
    "int_range": "range(1,10,2)",
    "float_range": "range(0.1,1.0,0.2)",
    "shuffled_range": "shuffle(range(3))",
    "shuffled_choice": "shuffle(a,b,c)",
    "interval": "interval(0,1)",
    "int_interval": "int(interval(1,10))",
    "log_interval": "tag(log,interval(1e-4,1e-1))",
    "log_int_interval": "tag(log,int(interval(1,100)))",
}


def _dim(form: str):
    space = parse_search_space({"k": FORMS[form]})
    assert space.names == ["k"]
    return space.dimension("k")


def _roundtrip(override: str):
    """What Hydra makes of an override we emit."""
    return OverridesParser.create().parse_override(override).value()


def test_parser_reads_each_form() -> None:
    d = _dim("simple_choice")
    assert d.kind is Kind.CATEGORICAL and d.choices == (
        "glorot_uniform",
        "he_normal",
        "lecun_normal",
    )
    d = _dim("choice")
    assert d.kind is Kind.CATEGORICAL and d.choices == (8, 16, 32)
    d = _dim("int_range")
    assert (d.kind, d.low, d.high, d.step, d.n_steps) == (Kind.INT, 1, 9, 2, 5)
    d = _dim("float_range")
    assert d.kind is Kind.FLOAT and (d.low, d.high, d.step) == (0.1, 0.9, 0.2)
    assert d.grid() == [0.1, 0.3, 0.5, 0.7, 0.9]  # Hydra's stop is exclusive, no 0.300..04 noise
    d = _dim("shuffled_range")
    assert d.kind is Kind.CATEGORICAL and d.choices == (0, 1, 2)
    d = _dim("shuffled_choice")
    assert d.kind is Kind.CATEGORICAL and d.choices == ("a", "b", "c")
    d = _dim("interval")
    assert (d.kind, d.low, d.high, d.step, d.log) == (Kind.FLOAT, 0.0, 1.0, None, False)
    d = _dim("int_interval")
    assert (d.kind, d.low, d.high, d.log) == (Kind.INT, 1, 10, False)
    d = _dim("log_interval")
    assert (d.kind, d.low, d.high, d.log) == (Kind.FLOAT, 1e-4, 1e-1, True)
    d = _dim("log_int_interval")
    assert (d.kind, d.low, d.high, d.log) == (Kind.INT, 1, 100, True)


def test_fixed_values_prefixes_and_precedence() -> None:
    space = parse_search_space(
        {"optimizer.lr": "interval(0,1)", "trainer.max_epochs": 5, "flag": True},
        ["optimizer.lr=choice(0.1,0.2)", "+extra=range(2)", "experiment=smoke", "init@net=a,b"],
    )
    assert space.fixed == ("trainer.max_epochs=5", "flag=true", "experiment=smoke")
    lr = space.dimension("optimizer.lr")  # the command line wins over params
    assert lr.kind is Kind.CATEGORICAL and lr.choices == (0.1, 0.2)
    assert space.dimension("extra").override(1) == "+extra=1"
    assert space.dimension("init@net").override("b") == "init@net=b"
    assert space.overrides({"optimizer.lr": 0.2, "extra": 0, "init@net": "a"}) == [
        "trainer.max_epochs=5",
        "flag=true",
        "experiment=smoke",
        "optimizer.lr=0.2",
        "+extra=0",
        "init@net=a",
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("tag(log,choice(1,2))", "applies to interval"),
        ("tag(log,interval(0,1))", "positive start"),
        ("tag(fancy,interval(1,2))", "unknown tag"),
        ("interval(1,1)", "start < end"),
        ("choice(1,1,2)", "repeats a choice"),
        ("range(5,5)", "empty"),
        ("choice(1,", "cannot parse"),
    ],
)
def test_bad_forms_name_the_key(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        parse_search_space({"model.depth": value})
    assert "hydra.sweeper.params.model.depth" in str(err.value)


def test_optuna_distributions() -> None:
    expected = {
        "simple_choice": CategoricalDistribution(["glorot_uniform", "he_normal", "lecun_normal"]),
        "choice": CategoricalDistribution([8, 16, 32]),
        "int_range": IntDistribution(1, 9, step=2),
        "float_range": FloatDistribution(0.1, 0.9, step=0.2),
        "shuffled_range": CategoricalDistribution([0, 1, 2]),
        "shuffled_choice": CategoricalDistribution(["a", "b", "c"]),
        "interval": FloatDistribution(0.0, 1.0),
        "int_interval": IntDistribution(1, 10),
        "log_interval": FloatDistribution(1e-4, 1e-1, log=True),
        "log_int_interval": IntDistribution(1, 100, log=True),
    }
    for form, dist in expected.items():
        assert to_optuna_distribution(_dim(form)) == dist, form


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_optuna_samples_are_legal_overrides(direction: str) -> None:
    dims = {form: _dim(form) for form in FORMS}
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.RandomSampler(seed=0))
    dists = {form: to_optuna_distribution(d) for form, d in dims.items()}
    seen: dict[str, set] = {form: set() for form in FORMS}
    for i in range(60):
        trial = study.ask(dists)
        for form, value in trial.params.items():
            dim = dims[form]
            assert dim.contains(value), (form, value)
            parsed = _roundtrip(dim.override(value))
            if dim.kind is Kind.CATEGORICAL:
                assert parsed == value, (form, value, parsed)
            else:
                assert parsed == pytest.approx(value, rel=1e-9), (form, value, parsed)
            seen[form].add(parsed)
        study.tell(trial, float(i))
    assert seen["float_range"] == {0.1, 0.3, 0.5, 0.7, 0.9}
    assert seen["int_range"] == {1, 3, 5, 7, 9}
    assert all(isinstance(v, int) for v in seen["int_interval"] | seen["log_int_interval"])
    best = study.best_value
    assert best == (59.0 if direction == "maximize" else 0.0)


def test_hyperopt_draws_cover_each_space() -> None:
    rng = np.random.default_rng(0)
    for form in FORMS:
        dim = _dim(form)
        node, decode = to_hyperopt(dim)
        values = [decode(stochastic.sample(node, rng=rng)) for _ in range(400)]
        assert all(dim.contains(v) for v in values), form
        for v in values[:20]:
            parsed = _roundtrip(dim.override(v))
            assert parsed == v or parsed == pytest.approx(v, rel=1e-9), form
        if dim.n_steps is not None:  # every discrete value is reachable, none favoured 3x
            counts = [values.count(x) for x in dim.grid()]
            assert min(counts) > 0 and max(counts) < 3 * min(counts), (form, counts)
    node, decode = to_hyperopt(_dim("int_interval"))
    ints = [decode(stochastic.sample(node, rng=rng)) for _ in range(400)]
    assert min(ints) == 1 and max(ints) == 10
    node, decode = to_hyperopt(_dim("log_interval"))
    logs = np.log10([decode(stochastic.sample(node, rng=rng)) for _ in range(2000)])
    assert abs(np.median(logs) - (-2.5)) < 0.15  # log-uniform: median at the geometric middle


def test_hyperopt_negates_for_maximize() -> None:
    assert hyperopt_loss(0.8, "maximize") == -0.8
    assert hyperopt_loss(0.8, "minimize") == 0.8


def test_quote_survives_hydra() -> None:
    for text in ["sqlite:////data/a b/x.db", "it's", "c:\\dir\\", "plain"]:
        assert _roundtrip(f"k={quote(text)}") == text


def test_log_int_spreads_over_decades() -> None:
    node, decode = to_hyperopt(_dim("log_int_interval"))
    rng = np.random.default_rng(1)
    values = [decode(stochastic.sample(node, rng=rng)) for _ in range(1000)]
    small = sum(v < 10 for v in values) / len(values)
    assert 0.35 < small < 0.65, small  # ~half of log-uniform mass lies in [1, 10)
    assert math.isclose(np.median(values), 10, rel_tol=0.5)
