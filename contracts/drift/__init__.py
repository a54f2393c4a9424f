"""``evolink-mock drift``: probe a server (the real API, a recording, another emulator) for drift.

The emulator is the oracle: each probe is one request, answered by a fresh
in-process emulator and by the target; every difference in status, error
shape, contract schema, keys or deterministic values is reported.
Modules: ``probes`` (the catalogue), ``exchange`` (requests, answers, the
live target), ``oracle`` (the expected answers), ``compare`` (differences),
``lifecycle`` (the paid probe's create-poll-download flow), ``runner`` (budget,
guards, order), ``recording`` (record and replay), ``report`` (terminal,
Markdown, JSON; key redaction), ``cli`` (the subcommand), ``samples``
(regenerates ``fixtures/drift/``).

This package is imported only when the subcommand runs; keep it that way.
"""
