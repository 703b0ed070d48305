"""Child side of :class:`~emotion_lab.sweep.process_launcher.ProcessLauncher`: run one job.

Reads the pickled job from stdin, runs it exactly like Hydra's own launchers do (``run_job``:
output folder, logging, saved config) and writes the ``JobReturn`` to the path given as the only
argument. It also exits if the sweep process disappears, so a killed sweep leaves no job behind.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import cloudpickle

_PARENT_POLL_S = 2.0


def _exit_when_orphaned(parent_pid: int) -> None:
    def watch() -> None:
        while True:
            time.sleep(_PARENT_POLL_S)
            if os.getppid() != parent_pid:
                sys.stderr.write("sweep process is gone: stopping this job\n")
                sys.stderr.flush()
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(result_path: str) -> int:
    from hydra.core.singleton import Singleton
    from hydra.core.utils import run_job, setup_globals

    from emotion_lab.sweep.process_launcher import make_job_return_portable

    job = cloudpickle.load(sys.stdin.buffer)
    _exit_when_orphaned(job["parent_pid"])
    Singleton.set_state(job["singletons"])
    setup_globals()
    ret = run_job(
        hydra_context=job["hydra_context"],
        task_function=job["task_function"],
        config=job["config"],
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )
    ret = make_job_return_portable(ret)
    target = Path(result_path)
    tmp = target.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        cloudpickle.dump(ret, fh)
    os.replace(tmp, target)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m emotion_lab.sweep.job_process RESULT_PATH  (job on stdin)")
    sys.exit(main(sys.argv[1]))
