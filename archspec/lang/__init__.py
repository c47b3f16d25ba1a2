"""The spec language, no torch: ``loader`` (stage 1), ``validate`` (stage 2, and the op-argument
pass after expansion), ``expand`` (stage 3), with ``expr`` (the `${...}` evaluator), ``overrides``
(`--set`), ``schema`` and ``templates``. ``expand`` hands its jobs to ``limits``, ``params``,
``binding``, ``namespace``, ``sharing``, ``interface`` and ``errorlog``."""
