"""The problems a user can fix, as one exception tree; every message is one line: where, what, and the fix.

The command line turns an :class:`AlveareError` into its message and ``exit_code`` in one place
(``migrate_cli.main``); nothing else catches these to re-word them. The tree::

    AlveareError                      exit 2: input the user can correct
    ├── ConfigError                   alveare.yaml, a flag or an ALVEARE_* variable
    ├── StoreError                    the store URL, or a store file that cannot be opened
    ├── PolicyError                   a rollout policy file
    ├── UnknownKey                    an app key id that the store does not hold
    ├── EvaluationError               a report that cannot be computed (no pairs, no gates)
    ├── EmbeddingUnavailable          sentence-transformers or its model is missing
    ├── BackendError
    │   ├── BackendSpecError          backend.yaml
    │   ├── PlanError                 a launch plan SGLang would refuse
    │   ├── ParserUnavailable         SGLang's own argument parser cannot be imported
    │   └── SupervisorError           exit 1: a server that would not start or stay up
    └── DemoError                     exit 1: the demo could not run
"""

from __future__ import annotations


class AlveareError(Exception):
    """Base of every error alveare-migrate reports to a user; ``exit_code`` is what the command exits with."""

    exit_code = 2


class ConfigError(AlveareError):
    """A configuration problem: the file, the key, and the fix."""


class BackendError(AlveareError):
    """Launching or checking the SGLang servers."""
