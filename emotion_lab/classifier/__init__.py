"""The one LightningModule, its learning-rate schedules, and a trained checkpoint rebuilt for
inference."""
