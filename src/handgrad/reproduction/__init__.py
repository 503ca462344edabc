"""The generic machinery of ``handgrad reproduce``: what an experiment is (:mod:`.spec`), how it is
judged (:mod:`.verdicts`), read back (:mod:`.runstate`), budgeted (:mod:`.quick`), planned and
fingerprinted (:mod:`.plan`), run (:mod:`.runners`), and the machine it ran on (:mod:`.environment`).
None of it knows a family by name: the families (:mod:`handgrad.families`) declare the experiments."""
