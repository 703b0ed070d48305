"""What a sweep leaves in its folder: leaderboard.csv, best.yaml and the optimisation history.

Both sweepers describe their trials as :class:`TrialRecord` rows, so the files look the same
whichever library proposed the parameters. Files are replaced atomically: other sweep workers
and people reading them never see half-written content.

A trial whose job returned a :class:`~hydra_plugins.emotion_lab_sweeper.contract.RepeatedValue`
(one configuration run over several seeds) carries its runs' values and the 95 % interval the app
computed for them; for such studies the leaderboards add the runs' mean ± that interval and n
beside the optimised value, so a difference between trials can be told from seed noise. The
plugin derives no interval of its own (which test, which quantile is the app's choice): without
one it shows the bare mean and n.
"""

from __future__ import annotations

import csv
import io
import math
import shlex
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hydra_plugins.emotion_lab_sweeper._files import atomic_path, write_text

LEADERBOARD = "leaderboard.csv"
BEST = "best.yaml"
HISTORY_PNG = "optimization_history.png"

COMPLETE, PRUNED, FAIL, RUNNING = "COMPLETE", "PRUNED", "FAIL", "RUNNING"
# Stopped by a signal (Ctrl-C, SIGTERM) or reaped after its sweep died: not a failure of its
# configuration, which a resumed sweep runs again.
INTERRUPTED = "INTERRUPTED"


@dataclass(frozen=True)
class RunsSummary:
    """A repeated trial's runs: n, mean, std (NaN for one run) and the interval bounds (NaN when
    the app gave none)."""

    n: int
    mean: float
    std: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


@dataclass
class TrialRecord:
    """One trial as reported; ``value`` is the objective in the user's direction."""

    number: int
    state: str
    params: dict[str, Any]
    value: float | None = None
    duration_s: float | None = None
    run_dir: str | None = None
    error: str | None = None
    epochs: int | None = None
    duplicate_of: int | None = None
    overrides: list[str] = field(default_factory=list)
    baseline: bool = False  # the run config's own values, enqueued as the study's first trial
    planned_epochs: int | None = None  # results the trial would have reported unpruned
    samples: Sequence[float] | None = None  # values of the runs a repeated trial aggregates
    ci95: Sequence[float] | None = None  # their 95 % interval (low, high), as the app gave it

    @property
    def runs_summary(self) -> RunsSummary | None:
        """The runs' n, mean and std with the app's interval, or None for an unrepeated trial."""
        if not self.samples:
            return None
        xs = [float(v) for v in self.samples]
        std = statistics.stdev(xs) if len(xs) > 1 else math.nan
        low, high = (math.nan, math.nan) if self.ci95 is None else map(float, self.ci95)
        return RunsSummary(len(xs), statistics.fmean(xs), std, low, high)

    @property
    def epochs_saved(self) -> int:
        """Epochs a pruned trial did not train (0 for any other trial)."""
        if self.state != PRUNED or self.planned_epochs is None or self.epochs is None:
            return 0
        return max(self.planned_epochs - self.epochs, 0)


@dataclass(frozen=True)
class PruningSavings:
    """Epochs trained against those the same trials would have trained without pruning."""

    run: int
    full: int

    @property
    def saved(self) -> int:
        return self.full - self.run

    def line(self) -> str:
        share = f" ({self.saved / self.full:.0%})" if self.full else ""
        return f"pruning saved {self.saved} of {self.full} epochs{share}: {self.run} run"


def pruning_savings(records: Sequence[TrialRecord]) -> PruningSavings:
    """Totals over the trials that trained (duplicates reuse a value and train nothing)."""
    trained = [r for r in records if r.state in (COMPLETE, PRUNED) and r.epochs is not None]
    run = sum(r.epochs or 0 for r in trained)
    return PruningSavings(run=run, full=run + sum(r.epochs_saved for r in trained))


def baseline_record(records: Sequence[TrialRecord]) -> TrialRecord | None:
    """The baseline trial; an interrupted one only until its re-run exists."""
    marked = sorted((r for r in records if r.baseline), key=lambda r: r.number)
    return next((r for r in marked if r.state != INTERRUPTED), marked[0] if marked else None)


def best_against_baseline(records: Sequence[TrialRecord], direction: str) -> str | None:
    """One line: the best trial's value against the baseline trial's, or None without one."""
    base = baseline_record(records)
    if base is None:
        return None
    best = best_record(records, direction)
    if base.state != COMPLETE or base.value is None:
        state = base.state.lower()
        where = "" if best is None else f"; best trial {best.number}: {best.value:.6g}"
        return f"baseline (trial {base.number}, the config's own values) is {state}{where}"
    assert best is not None  # the baseline itself is complete
    gain = best.value - base.value if best.value is not None else math.nan
    if direction == "minimize":
        gain = -gain
    verdict = "the baseline itself" if best.number == base.number else f"trial {best.number}"
    return (
        f"best {best.value:.6g} ({verdict}) against the baseline's {base.value:.6g} "
        f"(trial {base.number}, the config's own values): {gain:+.4g} better"
    )


def ranked(records: Sequence[TrialRecord], direction: str) -> list[TrialRecord]:
    """Finished trials best first (complete, then pruned), then the rest by number."""
    sign = -1.0 if direction == "maximize" else 1.0

    def key(r: TrialRecord) -> tuple[int, float, int]:
        if r.value is not None and r.state in (COMPLETE, PRUNED):
            return (0 if r.state == COMPLETE else 1, sign * r.value, r.number)
        return (2, 0.0, r.number)

    return sorted(records, key=key)


def best_record(records: Sequence[TrialRecord], direction: str) -> TrialRecord | None:
    done = [r for r in records if r.state == COMPLETE and r.value is not None]
    return ranked(done, direction)[0] if done else None


def repeated(records: Sequence[TrialRecord]) -> bool:
    """Whether the study's trials are seed repeats (some trial carries its runs' values)."""
    return any(r.samples for r in records)


def _runs_cells(r: TrialRecord) -> list[str]:
    """n, mean, 95 % interval bounds of a repeated trial's runs (empty cells otherwise)."""
    iv = r.runs_summary
    if iv is None:
        return ["", "", "", ""]
    return [str(iv.n), _exact(iv.mean), _bound(iv.low), _bound(iv.high)]


def leaderboard_csv(records: Sequence[TrialRecord], direction: str) -> str:
    names = sorted({k for r in records for k in r.params})
    has_repeats = repeated(records)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["rank", "number", "state", "value"]
        + (["runs", "mean", "ci95_low", "ci95_high"] if has_repeats else [])
        + [*names, "epochs", "duration_s", "run_dir"]
        + ["duplicate_of", "error", "baseline", "epochs_saved"]
    )
    rank = 0
    for r in ranked(records, direction):
        rank_text = ""
        if r.state == COMPLETE and r.value is not None:
            rank += 1
            rank_text = str(rank)
        writer.writerow(
            [rank_text, r.number, r.state, _exact(r.value)]
            + (_runs_cells(r) if has_repeats else [])
            + [_exact(r.params.get(n)) for n in names]
            + [_cell(r.epochs), _num(r.duration_s, 1), _cell(r.run_dir)]
            + [_cell(r.duplicate_of), _cell(r.error), "yes" if r.baseline else ""]
            + [_cell(r.epochs_saved)]
        )
    return out.getvalue()


def format_leaderboard(records: Sequence[TrialRecord], direction: str, top: int = 10) -> str:
    """A short fixed-width table for the console, then epochs saved and the baseline line.

    The baseline trial is always shown (marked ``*``), also when it is not among the top.
    """
    rows = ranked(records, direction)[:top]
    base = baseline_record(records)
    if base is not None and base not in rows:
        rows.append(base)
    names = sorted({k for r in rows for k in r.params})
    has_repeats = repeated(records)
    header = ["#", "state", "value", *(["mean ± 95% CI (n)"] if has_repeats else []), *names]
    header += ["epochs", "time_s"]
    body = [
        [f"{r.number}{'*' if r.baseline else ''}", r.state, _num(r.value)]
        + ([_interval_text(r)] if has_repeats else [])
        + [_cell(r.params.get(n)) for n in names]
        + [_cell(r.epochs), _num(r.duration_s, 1)]
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=True)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))
        for row in [header, *body]
    ]
    states = (COMPLETE, PRUNED, FAIL, INTERRUPTED, RUNNING)
    counts = {s: sum(r.state == s for r in records) for s in states}
    summary = ", ".join(f"{n} {s.lower()}" for s, n in counts.items() if n)
    shown = f"top {top} of {len(records)}" if len(records) > top else "all"
    tail = [pruning_savings(records).line()]
    if base is not None:
        tail.append("* baseline: " + (best_against_baseline(records, direction) or ""))
    return "\n".join([f"{len(records)} trials ({summary}); {shown}, best first:", *lines, *tail])


def write_reports(
    sweep_dir: Path,
    records: Sequence[TrialRecord],
    *,
    direction: str,
    study_name: str,
    sweeper: str,
    rerun_command: Sequence[str],
    plot: bool = False,
) -> None:
    """Refresh leaderboard.csv and best.yaml (and the history PNG when ``plot``)."""
    sweep_dir = Path(sweep_dir)
    write_text(sweep_dir / LEADERBOARD, leaderboard_csv(records, direction))
    best = best_record(records, direction)
    if best is not None:
        doc = {
            "study_name": study_name,
            "sweeper": sweeper,
            "direction": direction,
            "trial": best.number,
            "value": best.value,
            **({"runs": _runs_doc(best)} if best.samples else {}),
            "params": best.params,
            "run_dir": best.run_dir,
            "overrides": list(best.overrides),
            "command": shlex.join([*rerun_command, *best.overrides]),
        }
        write_text(sweep_dir / BEST, yaml.safe_dump(doc, sort_keys=False))
    if plot:
        plot_history(sweep_dir / HISTORY_PNG, records, direction, title=study_name)


def plot_history(path: Path, records: Sequence[TrialRecord], direction: str, title: str) -> None:
    """Objective per trial, coloured by state, with the best-so-far line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    colors = {COMPLETE: "tab:blue", PRUNED: "tab:orange"}
    for state, color in colors.items():
        pts = [(r.number, r.value) for r in records if r.state == state and r.value is not None]
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.scatter(xs, ys, s=18, color=color, label=state.lower(), zorder=3)
    done = sorted(
        (r.number, r.value) for r in records if r.state == COMPLETE and r.value is not None
    )
    if done:
        pick = max if direction == "maximize" else min
        best, xs, ys = None, [], []
        for number, value in done:
            best = value if best is None else pick(best, value)
            xs.append(number)
            ys.append(best)
        ax.step(xs, ys, where="post", color="tab:red", label="best so far", zorder=2)
    failed = [r.number for r in records if r.state == FAIL]
    for number in failed:
        ax.axvline(number, color="0.85", lw=0.8, zorder=1)
    ax.set_xlabel("trial")
    ax.set_ylabel(f"objective ({direction})")
    failed_note = f", {len(failed)} failed (grey lines)" if failed else ""
    ax.set_title(f"{title}: {len(records)} trials{failed_note}")
    if done or any(r.state == PRUNED for r in records):
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:  # workers plot concurrently
        fig.savefig(tmp, format="png")
    plt.close(fig)


def _runs_doc(r: TrialRecord) -> dict[str, Any]:
    iv = r.runs_summary
    return {"n": iv.n, "mean": iv.mean, "std": iv.std, "ci95": [iv.low, iv.high]}


def _interval_text(r: TrialRecord) -> str:
    """``0.612 ± 0.031 (n=3)``; the bare mean when one run cannot give an interval."""
    iv = r.runs_summary
    if iv is None:
        return ""
    if not math.isfinite(iv.half_width):
        return f"{iv.mean:.4g} (n={iv.n})"
    return f"{iv.mean:.4g} ± {iv.half_width:.2g} (n={iv.n})"


def _num(value: float | None, digits: int = 6) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{digits}g}" if digits != 1 else f"{value:.1f}"


def _bound(value: float) -> str:
    """An interval bound, empty when there is none."""
    return _exact(value) if math.isfinite(value) else ""


def _exact(value: Any) -> str:
    """Full precision for machine-read columns."""
    return repr(value) if isinstance(value, float) else _cell(value)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value).replace("\n", " ")
