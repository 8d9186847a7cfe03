"""The `honesty-evals` command line: one module per command, above every library package.

`main` builds the parser (`entry.build_parser`) and runs the command inside the error
boundary. Library packages never import this package (`lint-imports` checks it). Building
the parser imports no torch, transformers, numpy or scikit-learn: a command module imports
what its command needs inside the command function.
"""

from honesty_evals.cli.entry import main

__all__ = ["main"]
