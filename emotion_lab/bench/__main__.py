"""``python -m emotion_lab.bench``: the pipeline benchmark (``emotion_lab.bench.pipeline``)."""

from emotion_lab.bench.pipeline import main

if __name__ == "__main__":
    main()
