"""The import rules of docs/architecture.md, checked on the source text.

Each rule is read from the files' ``import`` statements with :mod:`ast` (nothing is imported or
run), so a change that makes, say, the data layer import the model, or the sweeper plugin reach
into the training code, fails here with the file and line that broke the rule.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("emotion_lab", "hydra_plugins/emotion_lab_sweeper")
PLUGIN = "hydra_plugins.emotion_lab_sweeper"


@dataclass(frozen=True)
class Import:
    """One imported module, resolved to a file of the tree where it names one."""

    source: str  # the importing module, dotted
    target: str  # the imported module, dotted (``from pkg import mod`` gives ``pkg.mod``)
    where: str  # path:line, for the failure message
    runtime: bool  # False inside a function (lazy) or under ``if TYPE_CHECKING:``


def module_of(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted: str, root: Path) -> bool:
    base = root.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


class _Collector(ast.NodeVisitor):
    def __init__(self, path: Path, root: Path) -> None:
        self.path, self.root = path, root
        self.source = module_of(path, root)
        self.package = self.source if path.name == "__init__.py" else self.source.rpartition(".")[0]
        self.lazy = 0
        self.found: list[Import] = []

    def _add(self, target: str, node: ast.stmt) -> None:
        where = f"{self.path.relative_to(self.root)}:{node.lineno}"
        self.found.append(Import(self.source, target, where, runtime=self.lazy == 0))

    def _deferred(self, node: ast.AST) -> None:
        self.lazy += 1
        self.generic_visit(node)
        self.lazy -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = _deferred

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
        if name == "TYPE_CHECKING":
            self._deferred(node)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            up = self.package.split(".")[: len(self.package.split(".")) - node.level + 1]
            base = ".".join([*up, node.module] if node.module else up)
        else:
            base = node.module or ""
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            self._add(sub if _is_module(sub, self.root) else base, node)


def imports(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> list[Import]:
    """Every import statement of the packages' source files under ``root``."""
    out: list[Import] = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            collector = _Collector(path, root)
            collector.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
            out.extend(collector.found)
    return out


def within(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _internal(module: str) -> bool:
    return within(module, "emotion_lab", PLUGIN)


def broken(
    found: Iterable[Import], sources: tuple[str, ...], allowed: tuple[str, ...]
) -> list[str]:
    """Imports of this tree's modules from ``sources`` that are not under ``allowed``."""
    return [
        f"{i.where} imports {i.target}"
        for i in found
        if within(i.source, *sources)
        and _internal(i.target)
        and i.target != "emotion_lab"  # the package itself: a lazy face, see emotion_lab/__init__
        and not within(i.target, *sources, *allowed)
    ]


def cycles(found: Iterable[Import], lazy_too: bool = False) -> Iterator[list[str]]:
    """Loops of imports among this tree's modules: module-level ones, or (``lazy_too``) every
    import, those inside functions included."""
    graph: dict[str, set[str]] = {}
    for i in found:
        if (i.runtime or lazy_too) and _internal(i.target) and i.target != i.source:
            graph.setdefault(i.source, set()).add(i.target)
    done: set[str] = set()

    def visit(node: str, trail: list[str]) -> Iterator[list[str]]:
        if node in trail:
            yield trail[trail.index(node) :] + [node]
            return
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            yield from visit(nxt, [*trail, node])
        done.add(node)

    for start in sorted(graph):
        yield from visit(start, [])


FOUND = imports()

LEAVES = (
    "emotion_lab.errors",
    "emotion_lab.files",
    "emotion_lab.dotted",
    "emotion_lab.entry_points",
    "emotion_lab.comparison.stats",
    "emotion_lab.viz.captions",
    "emotion_lab.viz.provenance",
)
BELOW_THE_RUN = (  # what a layer under run/ may use: the leaves and the model side
    "emotion_lab.errors",
    "emotion_lab.files",
    "emotion_lab.dotted",
)
RULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # name: (the modules it binds, what of this tree they may import besides themselves)
    "leaves import nothing of the tree": (LEAVES, ()),
    "metrics are plain computations": (("emotion_lab.metrics",), ()),
    "models know only their errors": (("emotion_lab.models",), ("emotion_lab.errors",)),
    "losses know only their errors": (("emotion_lab.losses",), ("emotion_lab.errors",)),
    "data never imports the model, the run or the pictures": (
        ("emotion_lab.data",),
        ("emotion_lab.errors", "emotion_lab.files"),
    ),
    "the app layer (entry, config, checks, console) knows no run, model or data": (
        ("emotion_lab.app",),
        (*BELOW_THE_RUN, "emotion_lab.models.checkpoint"),  # a resume file checked before a run
    ),
    "the classifier is built from models, losses, metrics and data, never from the run": (
        ("emotion_lab.classifier",),
        (
            *BELOW_THE_RUN,
            "emotion_lab.models",
            "emotion_lab.losses",
            "emotion_lab.metrics",
            "emotion_lab.data",
        ),
    ),
    "the run layer uses everything below it, never a command or a benchmark": (
        ("emotion_lab.run",),
        (
            *BELOW_THE_RUN,
            "emotion_lab.app",
            "emotion_lab.classifier",
            "emotion_lab.data",
            "emotion_lab.models",
            "emotion_lab.losses",
            "emotion_lab.metrics",
            "emotion_lab.callbacks",
            "emotion_lab.viz",
            "emotion_lab.comparison.stats",
            f"{PLUGIN}.contract",  # a seed repeat's value handed back to the sweeper
        ),
    ),
    "comparison reads run folders and draws, it never runs": (
        ("emotion_lab.comparison",),
        (*BELOW_THE_RUN, "emotion_lab.app.entry", "emotion_lab.run.records", "emotion_lab.viz"),
    ),
    "pictures need no model, data module or run": (
        ("emotion_lab.viz",),
        (
            "emotion_lab.errors",
            "emotion_lab.files",
            "emotion_lab.comparison.stats",
            "emotion_lab.dotted",  # config keys read by viz.captions
            "emotion_lab.data.balance",  # the class counts drawn by viz.class_balance
            "emotion_lab.app.entry",  # one_line_errors for viz.roc's own command line
        ),
    ),
    "callbacks never import the run layer, the module or the data": (
        ("emotion_lab.callbacks",),
        (
            "emotion_lab.errors",
            "emotion_lab.files",
            "emotion_lab.metrics",
            "emotion_lab.models.checkpoint",
            "emotion_lab.viz",
            "emotion_lab.run.wandb_run",  # run names and tags: a leaf of the run layer
        ),
    ),
    "the app's sweep side knows only the plugin's contract": (
        ("emotion_lab.sweep",),
        ("emotion_lab.errors", f"{PLUGIN}.contract"),
    ),
    # the app's statistics stay the app's: a RepeatedValue brings its interval along
    "the plugin uses nothing of the app": ((PLUGIN,), ()),
}

COMMANDS = (
    "emotion_lab.train",
    "emotion_lab.data.__main__",
    "emotion_lab.evaluate",
    "emotion_lab.predict",
    "emotion_lab.export",
    "emotion_lab.compare",
    "emotion_lab.reproduce",
    "emotion_lab.bench",
)
PLUGIN_THIRD_PARTY = {
    "hydra",
    "omegaconf",
    "optuna",
    "hyperopt",
    "cmaes",  # checked for before Optuna's CMA-ES sampler needs it
    "cloudpickle",  # jobs and results between processes, as Hydra's own launchers do
    "yaml",
    "numpy",  # lazily: the seed-repeat table
    "matplotlib",  # lazily: the sweep's figures
    "torch",  # lazily, and optional: the GPU count when CUDA_VISIBLE_DEVICES is unset
    "submitit",  # the SLURM launcher only
    "hydra_plugins.hydra_submitit_launcher",
}


def test_the_scan_reads_the_tree() -> None:
    """A parser that found nothing would pass every rule: the known spine must be there."""
    edges = {(i.source, i.target) for i in FOUND}
    assert {
        ("emotion_lab.train", "emotion_lab.run.plan"),
        ("emotion_lab.run.builders", "emotion_lab.classifier.module"),
        # ``from emotion_lab import files`` names the module, not the package
        ("emotion_lab.data.formats.cache", "emotion_lab.files"),
        (f"{PLUGIN}.contract", f"{PLUGIN}._storage"),
        ("emotion_lab.sweep.trial_link", f"{PLUGIN}.contract"),
    } <= edges
    assert len({i.source for i in FOUND}) > 100


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule(rule: str) -> None:
    sources, allowed = RULES[rule]
    # a command inside a package (python -m emotion_lab.data) sits on top like the others
    found = [i for i in FOUND if i.source not in COMMANDS]
    assert broken(found, sources, allowed) == []


def test_no_module_imports_a_command() -> None:
    """Commands sit on top: library code never imports one (the benchmarks share ``bench``)."""
    assert [
        f"{i.where} imports {i.target}"
        for i in FOUND
        if within(i.target, *COMMANDS) and not within(i.source, *COMMANDS)
    ] == []


def test_the_top_of_the_package_holds_only_commands_and_leaves() -> None:
    """A newcomer sees the layers: every other module lives in a package named for its layer."""
    top = {p.stem for p in (ROOT / "emotion_lab").glob("*.py")} - {"__init__"}
    commands = {c.rpartition(".")[2] for c in COMMANDS if c.count(".") == 1}
    leaves = {m.rpartition(".")[2] for m in LEAVES if m.count(".") == 1}
    assert top <= commands | leaves, sorted(top - commands - leaves)
    assert len(top) <= 12


def test_the_app_reaches_the_plugin_only_through_its_contract() -> None:
    """The plugin's ``_`` modules are its own; the app's sweep side imports ``contract`` alone."""
    assert [
        f"{i.where} imports {i.target}"
        for i in FOUND
        if within(i.source, "emotion_lab")
        and within(i.target, PLUGIN)
        and i.target != f"{PLUGIN}.contract"
    ] == []


def test_optuna_and_hyperopt_stay_in_the_sweep_side() -> None:
    """A plain training run imports neither: outside ``emotion_lab.sweep`` the app names them not."""
    assert [
        f"{i.where} imports {i.target}"
        for i in FOUND
        if within(i.target, "optuna", "hyperopt")
        and within(i.source, "emotion_lab")
        and not within(i.source, "emotion_lab.sweep", "emotion_lab.bench")
    ] == []


def test_the_plugin_imports_only_its_named_dependencies() -> None:
    """Any Hydra app can load the plugin: no Lightning, no training stack, nothing unlisted."""
    stdlib = set(sys.stdlib_module_names) | {"__main__"}
    outside = [
        f"{i.where} imports {i.target}"
        for i in FOUND
        if within(i.source, PLUGIN)
        and not _internal(i.target)
        and i.target.split(".")[0] not in stdlib
        and not within(i.target, *PLUGIN_THIRD_PARTY)
    ]
    assert outside == []


def test_pictures_are_drawn_without_torch_or_lightning() -> None:
    """``viz`` draws from numpy arrays handed to it; tensors and the Trainer stay in callbacks."""
    assert [
        f"{i.where} imports {i.target}"
        for i in FOUND
        if within(i.source, "emotion_lab.viz") and within(i.target, "torch", "lightning")
    ] == []


def test_the_plugin_imports_no_statistics_not_even_lazily() -> None:
    """Intervals come from the task function; the plugin has stdlib mean and stdev, no scipy."""
    assert [
        f"{i.where} imports {i.target}"
        for i in FOUND
        if within(i.source, PLUGIN) and within(i.target, "emotion_lab.comparison.stats", "scipy")
    ] == []


def test_the_atomic_writer_needs_only_the_standard_library() -> None:
    """Every file of the app is written through it: it must not pull the training stack in."""
    used = {i.target.split(".")[0] for i in FOUND if i.source == "emotion_lab.files"}
    assert used <= set(sys.stdlib_module_names)


def test_imports_form_no_loop_not_even_inside_functions() -> None:
    """Arrows point one way: a lazy import inside a function is a loop all the same."""
    assert list(cycles(FOUND, lazy_too=True)) == []


def test_the_checks_catch_a_broken_rule(tmp_path: Path) -> None:
    """The same scan over a small tree that breaks the rules reports each break."""
    data = tmp_path / "emotion_lab" / "data"
    data.mkdir(parents=True)
    (tmp_path / "emotion_lab" / "__init__.py").write_text("")
    (tmp_path / "emotion_lab" / "module.py").write_text("from emotion_lab.data import source\n")
    (data / "__init__.py").write_text("")
    (data / "source.py").write_text(
        "from ..module import Classifier\n\ndef later():\n    from emotion_lab import files\n"
    )
    found = imports(tmp_path, ["emotion_lab"])
    assert broken(found, ("emotion_lab.data",), ("emotion_lab.files",)) == [
        "emotion_lab/data/source.py:1 imports emotion_lab.module"
    ]
    assert list(cycles(found)) == [
        ["emotion_lab.data.source", "emotion_lab.module", "emotion_lab.data.source"]
    ]
