"""`python -m honesty_evals.cli` (what `accelerate launch` and `torchrun` run)."""

import sys

from honesty_evals.cli.entry import main

sys.exit(main())
