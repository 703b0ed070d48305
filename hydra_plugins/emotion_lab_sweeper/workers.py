"""``python -m hydra_plugins.emotion_lab_sweeper.workers N -- <sweep command>``: one Ctrl-C.

``make sweep WORKERS=2`` runs several sweep processes that share one study. Started with ``&``
from a shell they would ignore SIGINT (non-interactive shells do that to background jobs), so
Ctrl-C ended ``make`` and left the workers training. Here each worker runs in its own process
group, and the first SIGINT, SIGTERM or SIGHUP this launcher receives is sent once to every
group: each worker, and the trial jobs it started, stop exactly as a single sweep does on
Ctrl-C (trials recorded as interrupted, reports refreshed). The exit code is the workers' worst
(130 after an interruption).

A public command of the plugin, so that any app (and ``make sweep``) can run it. Hydra's plugin
scan imports this module at every start-up, as every module here without a leading ``_``: it
therefore imports only the standard library and defines, nothing more.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType

_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
USAGE = "usage: python -m hydra_plugins.emotion_lab_sweeper.workers N -- COMMAND [ARGS...]"


def run_workers(n: int, command: Sequence[str]) -> int:
    """Start ``n`` copies of ``command``, forward stop signals to them, return the worst code."""
    procs = [subprocess.Popen(list(command), start_new_session=True) for _ in range(n)]
    received: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        if received:
            return  # one stop request per worker: a second one would cut its shutdown short
        received.append(signum)
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in _FORWARDED}
    try:
        codes = [proc.wait() for proc in procs]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    codes = [128 - c if c < 0 else c for c in codes]  # killed by signal s: 128 + s, as shells do
    if not received:
        return max(codes)
    stopped = {0} | {128 + s for s in _FORWARDED}  # what a worker returns when told to stop
    other = [c for c in codes if c not in stopped]
    return other[0] if other else 128 + received[0]


def main(argv: Sequence[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(USAGE, file=sys.stderr)
        return 2
    try:
        n = int(argv[0])
    except ValueError:
        n = 0
    if n < 1:
        print(f"error: WORKERS={argv[0]!r}: expected a positive integer", file=sys.stderr)
        return 2
    return run_workers(n, argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
