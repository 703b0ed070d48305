"""Hyper-parameter sweeps: Optuna and Hyperopt sweepers for Hydra sharing one search-space parser.

space (sweep syntax) → optuna_sweeper / hyperopt_sweeper (Hydra ``Sweeper``s, registered through
``hydra_plugins.emotion_lab_sweep``) → jobs (launching, objective) → report (leaderboard, best,
history). A running job reaches its Optuna trial through trial_link / pruning; process_launcher
runs trials side by side; ddp makes DDP trials safe; bench measures per-trial overhead.
See docs/sweeps.md.
"""
