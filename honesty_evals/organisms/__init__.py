"""Model organisms: training data generators, leakage check and the recipes the trainer uses."""
