"""The pre-release audit: a candidate model against a baseline on a suite of gated tasks.

`honesty-evals audit --model CANDIDATE --baseline BASE --suite FILE --out DIR`; see
README.md in this folder. Modules: `suite` (YAML suites), `registry` (which tasks and
metrics an audit can use), `gates` (pass/fail on summaries), `runner` (eval_set), `report`.
"""
