"""The command that re-runs one job on its own, without the sweep that launched it.

Extra DDP ranks and "re-run the best trial" both need it. Lightning rebuilds the command from
``sys.argv``, which inside a sweep is the whole multirun (``-m`` plus every search space), so each
rank would start a new sweep. Here the command is rebuilt from the job's own overrides instead.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from hydra_plugins.emotion_lab_sweeper._space import quote

ENTRY_ENV = "EMOTION_LAB_ENTRY"

# Hydra overrides that configure sweeping/launching: meaningless for a single run.
_SWEEP_ONLY = (
    "hydra.sweep",
    "hydra/sweeper",
    "hydra.sweeper",
    "hydra/launcher",
    "hydra.launcher",
    "hydra.run",
    "hydra.mode",
    "hydra.job.name",
    "hydra.output_subdir",
)


def entry_module() -> str:
    """The module (``-m``) or script the current program was started as."""
    env = os.environ.get(ENTRY_ENV)
    if env:
        return env
    import __main__

    spec = getattr(__main__, "__spec__", None)
    if spec is not None and spec.name:
        name = spec.name
        return name[: -len(".__main__")] if name.endswith(".__main__") else name
    return os.path.abspath(sys.argv[0])


def python_command(entry: str | None = None, python: str | None = None) -> list[str]:
    """``python -m module`` or ``python script.py`` for ``entry``."""
    entry = entry or entry_module()
    python = python or sys.executable
    if entry.endswith(".py") or os.sep in entry:
        return [python, entry]
    return [python, "-m", entry]


def config_location_args(hydra_cfg: Any, relative: bool = False) -> list[str]:
    """``--config-dir``/``--config-name`` flags needed to compose the same primary config.

    ``relative`` shortens a config dir inside the launch directory, for commands people read.
    """
    args: list[str] = []
    runtime = getattr(hydra_cfg, "runtime", None)
    for source in getattr(runtime, "config_sources", None) or []:
        if source.get("provider") == "command-line" and source.get("schema") == "file":
            path = str(source.get("path"))
            if relative:
                cwd = str(getattr(runtime, "cwd", "") or "")
                path = os.path.relpath(path, cwd) if cwd and path.startswith(cwd) else path
            args += ["--config-dir", path]
    name = getattr(getattr(hydra_cfg, "job", None), "config_name", None)
    if name:
        args += ["--config-name", str(name)]
    return args


def single_run_command(hydra_cfg: Any, run_dir: str, job_name: str) -> list[str]:
    """Command that recomposes this job's config and runs it once in ``run_dir``."""
    overrides = hydra_cfg.overrides
    hydra_keep = [o for o in overrides.hydra if not str(o).lstrip("+~").startswith(_SWEEP_ONLY)]
    return [
        *python_command(),
        *config_location_args(hydra_cfg),
        *map(str, overrides.task),
        *map(str, hydra_keep),
        f"hydra.run.dir={quote(run_dir)}",
        f"hydra.job.name={job_name}",
        "hydra.output_subdir=null",
    ]
