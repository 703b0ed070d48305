"""Every benchmark: the pipeline against a plain loop, data, DDP, the GPU check, the sweep
overheads and worker utilisation. ``python -m emotion_lab.bench`` runs the pipeline one."""
