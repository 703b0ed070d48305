"""The shipped configs: sweeper/launcher YAMLs instantiate, named sweeps compose and parse."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from hydra_plugins.emotion_lab_sweeper._base import seed_for
from hydra_plugins.emotion_lab_sweeper._hyperopt_sweeper import HyperoptSweeperImpl
from hydra_plugins.emotion_lab_sweeper._optuna_algos import FloorPruner, MedianPruner, build_pruner
from hydra_plugins.emotion_lab_sweeper._optuna_sweeper import OptunaSweeperImpl
from hydra_plugins.emotion_lab_sweeper._space import Kind, parse_search_space

REPO = Path(__file__).resolve().parents[2]
SWEEPS = REPO / "sweeps"
CONF = REPO / "conf"


def _compose(name: str, overrides: tuple[str, ...] = (), config_dir: Path = SWEEPS):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        return compose(
            config_name=name,
            overrides=[f"hydra.searchpath=[file://{CONF}]", *overrides],
            return_hydra_config=True,
        )


def _named(cfg):
    """``cfg`` with the study named as the sweeper's ``setup`` names it."""
    kind = cfg.hydra.runtime.choices["hydra/sweeper"]
    sweeper = {"optuna": OptunaSweeperImpl, "hyperopt": HyperoptSweeperImpl}[kind](
        **_sweeper_kwargs(cfg)
    )
    sweeper.name_study(cfg)
    return cfg


@pytest.mark.parametrize("sweeper", ["optuna", "hyperopt"])
def test_ad_hoc_sweep_folder_is_the_study_folder_so_a_rerun_resumes(sweeper: str) -> None:
    overrides = (f"hydra/sweeper={sweeper}", "loss.beta=0.3")
    cfg = _named(_compose("train", overrides, config_dir=CONF))
    study = cfg.hydra.sweeper.study_name
    assert cfg.hydra.sweep.dir == f"outputs/sweeps/{study}/{sweeper}"
    again = _named(_compose("train", overrides, config_dir=CONF))
    assert again.hydra.sweeper.study_name == study


def test_plain_multirun_keeps_timestamped_folders() -> None:
    cfg = _compose("train", (), config_dir=CONF)
    assert cfg.hydra.sweep.dir.startswith("outputs/train/multiruns/")
    assert cfg.hydra.run.dir.startswith("outputs/train/runs/")


def _sweeper_kwargs(cfg) -> dict:
    node = OmegaConf.to_container(cfg.hydra.sweeper, resolve=True)
    node.pop("_target_")
    node.pop("_recursive_")
    return node


@pytest.mark.parametrize("name", sorted(p.stem for p in SWEEPS.glob("*.yaml")))
def test_named_sweep_composes(name: str) -> None:
    cfg = _compose(name)
    kind = cfg.hydra.runtime.choices["hydra/sweeper"]
    sweeper_cls = {"optuna": OptunaSweeperImpl, "hyperopt": HyperoptSweeperImpl}[kind]
    sweeper = sweeper_cls(**_sweeper_kwargs(cfg))  # every key is one the sweeper accepts
    assert sweeper.study_name == name
    space = parse_search_space(sweeper.params)
    assert space.dimensions
    sweep_dir = OmegaConf.select(cfg, "hydra.sweep.dir")
    assert sweep_dir == f"outputs/sweeps/{name}/{kind}"
    if sweeper.sampler == "grid":
        assert isinstance(sweeper, OptunaSweeperImpl) and sweeper.grid_search
        assert space.grid_size() <= sweeper.n_trials


@pytest.mark.parametrize("name", sorted(p.stem for p in SWEEPS.glob("*.yaml")))
@pytest.mark.parametrize("kind", ["optuna", "hyperopt"])
def test_named_sweep_runs_with_either_sweeper(name: str, kind: str) -> None:
    """``make sweep SWEEP=<name> SWEEPER=<kind>``: the study's settings suit both sweepers."""
    cfg = _compose(name, (f"hydra/sweeper={kind}",))
    sweeper_cls = {"optuna": OptunaSweeperImpl, "hyperopt": HyperoptSweeperImpl}[kind]
    if kind == "hyperopt" and cfg.hydra.sweeper.sampler == "grid":  # a grid is Optuna's alone
        with pytest.raises(ValueError, match="hydra.sweeper.sampler: 'grid' is not one of"):
            sweeper_cls(**_sweeper_kwargs(cfg))
        return
    sweeper = sweeper_cls(**_sweeper_kwargs(cfg))
    assert parse_search_space(sweeper.params).dimensions
    assert OmegaConf.select(cfg, "hydra.sweep.dir") == f"outputs/sweeps/{name}/{kind}"


def test_default_sweep_is_the_four_knobs() -> None:
    cfg = _compose("default")
    space = parse_search_space(cfg.hydra.sweeper.params)
    beta, margin, lr, init = (
        space.dimension(k) for k in ("loss.beta", "loss.margin", "optimizer.lr", "init")
    )
    assert (beta.kind, beta.log, margin.kind, lr.log) == (Kind.FLOAT, False, Kind.FLOAT, True)
    assert init.choices == ("glorot_uniform", "he_normal", "lecun_normal")
    recipe = _compose("train", config_dir=CONF)  # what `make train` runs
    for dim, value in (
        (beta, recipe.loss.beta),
        (margin, recipe.loss.margin),
        (lr, recipe.optimizer.lr),
        (init, recipe.hydra.runtime.choices["init"]),
    ):
        assert dim.contains(value), (dim.name, value)  # the baseline trial is a point of it
    assert cfg.hydra.sweeper.baseline is True
    for choice in init.choices:
        assert (CONF / "init" / f"{choice}.yaml").is_file()
    hyperopt = _compose("default", ("hydra/sweeper=hyperopt",))
    assert hyperopt.hydra.runtime.choices["hydra/sweeper"] == "hyperopt"
    HyperoptSweeperImpl(**_sweeper_kwargs(hyperopt))  # SWEEPER=hyperopt takes the same study file


def test_vire_space_is_table_3() -> None:
    raw = OmegaConf.load(SWEEPS / "vire_hyperopt.yaml").hydra.sweeper.params
    space = parse_search_space(raw)
    lr = space.dimension("optimizer.lr")  # continuous: Tables 4 and 7 pick e.g. 0.000141436
    assert (lr.kind, lr.low, lr.high, lr.log, lr.step) == (Kind.FLOAT, 1e-4, 1e-2, True, None)
    assert space.dimension("data.batch_size").choices == (8, 16, 32, 64, 128)
    assert space.dimension("trainer.max_epochs").choices == (25, 50, 100, 150)
    assert space.dimension("init").choices == ("glorot_uniform", "he_normal", "lecun_normal")


def test_s000_grid_is_the_papers() -> None:
    raw = OmegaConf.load(SWEEPS / "s000_beta_margin.yaml").hydra.sweeper.params
    space = parse_search_space(raw)
    assert space.dimension("loss.beta").grid() == [0, 0.1, 0.3, 0.4, 0.5, 0.8, 1]
    assert space.dimension("loss.margin").grid() == [1, 1.5, 3, 5, 10]


def test_default_study_name_follows_the_command() -> None:
    a = _compose("default", ("experiment=smoke",))
    assert a.hydra.sweeper.study_name == "default"  # named sweeps name themselves
    GlobalHydra.instance().clear()
    app_conf = REPO / "tests" / "fixtures_sweep" / "conf"
    names = []
    for overrides in (["x=1"], ["x=1", "hydra.sweeper.n_trials=99"], ["x=2"]):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(app_conf), version_base="1.3"):
            cfg = compose(
                "app", overrides=["hydra/sweeper=optuna", *overrides], return_hydra_config=True
            )
            names.append(_named(cfg).hydra.sweeper.study_name)
    assert names[0] == names[1] != names[2]  # budget is not identity; the overrides are
    assert names[0].startswith("app-")


def test_sampler_seed_is_per_trial() -> None:
    assert seed_for(None, 3) is None
    seeds = [seed_for(42, n) for n in range(50)]
    assert len(set(seeds)) == 50 and seeds == [seed_for(42, n) for n in range(50)]


def test_bad_sweeper_settings_are_named() -> None:
    with pytest.raises(ValueError, match="hydra.sweeper.n_trials"):
        OptunaSweeperImpl(n_trials=0)
    with pytest.raises(ValueError, match="hydra.sweeper.direction"):
        OptunaSweeperImpl(direction="up")
    with pytest.raises(ValueError, match="hydra.sweeper.sampler"):
        HyperoptSweeperImpl(sampler="grid")
    with pytest.raises(ValueError, match="MongoDB"):
        HyperoptSweeperImpl(storage="sqlite:///x.db")
    with pytest.raises(ValueError, match="max_failure_rate"):
        OptunaSweeperImpl(max_failure_rate=1.5)


def test_launcher_configs_compose() -> None:
    app_conf = REPO / "tests" / "fixtures_sweep" / "conf"
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(app_conf), version_base="1.3"):
        slurm = compose(
            "app",
            overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu"],
            return_hydra_config=True,
        ).hydra.launcher
        process = compose("app", overrides=["hydra/launcher=process"], return_hydra_config=True)
    assert slurm._target_ == "hydra_plugins.emotion_lab_sweeper.SlurmLauncher"
    assert (slurm.partition, slurm.gpus_per_node, slurm.tasks_per_node) == ("gpu", 1, 1)
    assert slurm.timeout_min == 120
    from hydra_plugins.emotion_lab_sweeper._process_launcher import ProcessLauncherImpl, cpu_share

    node = OmegaConf.to_container(process.hydra.launcher, resolve=True)
    assert node.pop("_target_") == "hydra_plugins.emotion_lab_sweeper.ProcessLauncher"
    launcher = ProcessLauncherImpl(**node)
    # no sweeper n_jobs here: one job in flight gets every core
    assert (launcher.gpus, launcher.gpus_per_job, launcher.cpus_per_job) == (
        "auto",
        1,
        cpu_share(1),
    )


def test_pruning_callback_is_added_by_the_optuna_sweep_only() -> None:
    """A plain run builds no pruning callback; each Optuna trial's job adds it through the
    sweeper's ``job_overrides``, with its trial node; Hyperopt, which cannot prune, adds none."""
    assert "pruning" not in _compose("train", (), config_dir=CONF).callbacks
    cfg = _named(_compose("train", ("hydra/sweeper=optuna", "loss.beta=0.3"), config_dir=CONF))
    sweeper = OptunaSweeperImpl(**_sweeper_kwargs(cfg))
    sweeper.config = cfg
    space = parse_search_space(cfg.hydra.sweeper.params, ["loss.beta=interval(0,1)"])
    job = sweeper.trial_overrides(space, {"loss.beta": 0.25}, 7, "sqlite:///x.db")
    assert job[-1] == "+sweep_trial=optuna"
    trial_cfg = _compose("train", ("hydra/sweeper=optuna", *job), config_dir=CONF)
    pruning = OmegaConf.to_container(trial_cfg.callbacks.pruning, resolve=True)
    assert pruning == {
        "_target_": "emotion_lab.sweep.pruning.OptunaPruningCallback",
        "storage": "sqlite:///x.db",
        "study_name": cfg.hydra.sweeper.study_name,
        "trial_number": 7,
        "monitor": "val/acc",
    }
    hyperopt = _compose("train", ("hydra/sweeper=hyperopt",), config_dir=CONF)
    assert list(hyperopt.hydra.sweeper.job_overrides) == []


def test_job_overrides_must_be_a_list_of_overrides() -> None:
    cfg = _compose("train", ("hydra/sweeper=optuna",), config_dir=CONF)
    kwargs = {**_sweeper_kwargs(cfg), "job_overrides": "+sweep_trial=optuna"}
    with pytest.raises(ValueError, match="hydra.sweeper.job_overrides: expected a list"):
        OptunaSweeperImpl(**kwargs)


@pytest.mark.parametrize("pruner", ["median", "asha", "hyperband", "none"])
def test_the_default_study_composes_with_every_pruner(pruner: str) -> None:
    """``make sweep ARGS=hydra.sweeper.pruner=<name>``: one override, the rest of the file fits."""
    cfg = _compose("default", (f"hydra.sweeper.pruner={pruner}",))
    sweeper = OptunaSweeperImpl(**_sweeper_kwargs(cfg))
    built = build_pruner(sweeper.pruner_node, sweeper.floor, sweeper.floor_grace)
    if pruner == "none":
        assert isinstance(built, optuna.pruners.NopPruner)
        return
    assert isinstance(built, FloorPruner) and built.floor == pytest.approx(0.26)
    inner = {
        "median": MedianPruner,
        "asha": optuna.pruners.SuccessiveHalvingPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
    }[pruner]
    assert isinstance(built.inner, inner)


def test_the_launcher_config_divides_by_the_sweepers_n_jobs() -> None:
    from emotion_lab.app.config import CONFIG_DIR, register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            "train",
            ["hydra/sweeper=optuna", "hydra/launcher=process", "hydra.sweeper.n_jobs=3"],
            return_hydra_config=True,
        )
    assert OmegaConf.select(cfg, "hydra.launcher.jobs_in_flight") == 3
    assert cfg.hydra.launcher.cpus_per_job == "auto"
