"""Pictures and the markdown report of an evaluated run."""

from emotion_lab.viz import plots, report
from emotion_lab.viz.plots import *  # noqa: F403 -- the names of plots.__all__
from emotion_lab.viz.report import *  # noqa: F403 -- the names of report.__all__

# The package offers what its submodules declare public; each keeps its own list.
__all__ = []
__all__ += plots.__all__
__all__ += report.__all__
