"""Run the command line of :mod:`emotion_lab.data.synthetic_faces.cli`."""

from emotion_lab.data.synthetic_faces.cli import main

main()
