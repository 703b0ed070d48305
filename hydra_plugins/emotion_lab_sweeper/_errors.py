"""The plugin's "bad setting" error: the sweep ends with its one-line message and exit code 2.

Every message names the key to fix (``hydra.sweeper.n_trials``, a sweep override, a sweep folder).
The plugin does not depend on the app's error classes, so it works the same in any Hydra app.
"""

from __future__ import annotations


class SweepConfigError(ValueError):
    """A sweeper setting, search space or sweep folder the user has to fix."""
