"""The training side of a sweep: what a trial's job does for the sweeper that launched it.

The sweepers and launchers are a Hydra plugin (``hydra_plugins.emotion_lab_sweeper``); this
package holds the app's half of the contract: trial_link (the job's handle on its Optuna trial),
pruning (the Lightning callback that reports and stops pruned trials), ddp (DDP ranks that re-run
only their trial), and bench (per-trial overhead of the app's sweeps). It imports only the
plugin's ``contract`` module. See docs/sweeps.md.
"""
