"""Inoculation prompting and its random-string control (PROTOCOLS §6; README.md here).

`honesty-evals inoculation experiment --out DIR` trains the same narrow data under five
arms (no prompt, semantic, placebo, negation, a random string), measures each organism with
and without its arm's prompt, and answers whether the random string acts like an
inoculation or like a backdoor trigger.
"""
