"""Shared pieces of the tasks: the choice solver and scorer, metrics, statistics, file helpers."""
