"""This release's version, as installed (the heartbeat rows and ``status`` show which version each replica runs)."""

from __future__ import annotations


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("alveare-migrate")
    except PackageNotFoundError:  # run from a checkout without installing it
        return "0+unknown"
