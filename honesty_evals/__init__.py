"""honesty-evals: Inspect AI evaluations of whether models know and admit what they were
trained to do."""

__version__ = "0.1.0"
