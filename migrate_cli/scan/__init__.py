"""``alveare-migrate scan``: find OpenAI usage in a codebase and say which call sites the proxy can split.

Python is read with :mod:`ast`, JavaScript and TypeScript with tree-sitter's grammars; both produce the typed
findings of :mod:`migrate_cli.scan.model`, judged by :mod:`migrate_cli.scan.verdict` and shown by
:mod:`migrate_cli.scan.report`. The click command is in :mod:`migrate_cli.scan.command`.
"""
