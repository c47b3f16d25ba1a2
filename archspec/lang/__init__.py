"""The spec language, no torch: ``loader`` (stage 1), ``validate`` (stage 2), ``expand`` (stage 3),
with ``expr`` (the `${...}` evaluator), ``overrides`` (`--set`), ``schema`` and ``templates``."""
