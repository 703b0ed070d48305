"""One command's runs: plan (folds × seeds), fit (one fit-and-test), builders (config →
objects), end, records, summary, the W&B run and the checkpoint's run config."""
