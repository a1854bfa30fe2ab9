"""Check planned command lines against SGLang's own argument parser, on a machine without a GPU.

SGLang's parser lives in ``sglang.srt.server_args`` (``ServerArgs.add_cli_args`` on an argparse parser, then
``ServerArgs.from_cli_args``): we run exactly that, so a flag SGLang renamed or a value it refuses fails here,
not on the GPU box. It is installed without its GPU stack (``pip install --no-deps sglang==0.5.23`` plus the
``sglang-parser`` extra); the GPU-only modules it imports at module level (``triton``) are stubbed
(``backend.sim.sglang_stubs``, shared with the SGLang stand-in), and ``sglang/__init__.py`` (which pulls
transformers and the frontend language) is skipped by registering the bare package. All of that happens in a child process (``python -m backend.parser_check``), so
the stubs never reach the caller's interpreter. Router lines are checked the same way with
``sglang_router.router_args`` when ``sglang-router`` is installed, and reported as not checked otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from backend.plan import Launch, sglang_args
from backend.sim.sglang_stubs import install_stubs, register_bare_package
from core.errors import BackendError

SGLANG_VERSION = "0.5.23"
SGLANG_ROUTER_VERSION = "0.3.2"
INSTALL_HINT = f"pip install --no-deps sglang=={SGLANG_VERSION} && pip install -e '.[sglang-parser]'"
ROUTER_INSTALL_HINT = f"pip install --no-deps sglang-router=={SGLANG_ROUTER_VERSION}"
GPU_ONLY_MODULES = ("triton",)
CHILD_TIMEOUT_S = 120.0


class ParserUnavailable(BackendError):
    """SGLang's parser cannot be imported here; the message says why and how to install it."""

    exit_code = 1  # not the user's input: something here failed


@dataclass(frozen=True)
class CheckResult:
    """One command line's verdict: ``ok`` is None when it could not be checked (router not installed)."""

    name: str
    ok: bool | None
    message: str


def check_launches(launches: Sequence[Launch], *, python: str | None = None) -> list[CheckResult]:
    """Parse every launch's SGLang command line with SGLang's parser, in one child process."""
    payload = [{"name": x.name, "role": x.role, "args": sglang_args(x)} for x in launches]
    report = _run_child(payload, python or sys.executable)
    if not report.get("available"):
        raise ParserUnavailable(
            f"sglang is not importable here ({report.get('error')}); install: {INSTALL_HINT}"
        )
    return [CheckResult(name=r["name"], ok=r["ok"], message=r["message"]) for r in report["results"]]


def _run_child(payload: list[dict[str, Any]], python: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    try:
        done = subprocess.run(
            [python, "-m", "backend.parser_check"],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_S,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ParserUnavailable(f"SGLang's parser did not answer within {CHILD_TIMEOUT_S:.0f} s") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ParserUnavailable(f"the parser check crashed ({tail}); install: {INSTALL_HINT}")
    report: dict[str, Any] = json.loads(lines[-1])
    return report


# ------------------------------------------------------------------------------------ child process


def _load_server_args() -> Any:
    install_stubs(GPU_ONLY_MODULES)
    register_bare_package("sglang")
    from sglang.srt import server_args

    return server_args


def _load_router_args() -> Any | None:
    try:
        router_args = importlib.import_module("sglang_router.router_args")
    except ImportError:
        return None
    return router_args.RouterArgs


def _parse(
    prog: str, add_args: Callable[[argparse.ArgumentParser], None], args: list[str]
) -> argparse.Namespace:
    """argparse's own verdict: its error line (``prog: error: ...``) becomes the exception message."""
    parser = argparse.ArgumentParser(prog=prog)
    add_args(parser)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return parser.parse_args(args)
    except SystemExit:
        lines = err.getvalue().strip().splitlines() or ["argparse refused the arguments"]
        raise ValueError(lines[-1]) from None


def _check_server(server_args: Any, args: list[str]) -> tuple[bool | None, str]:
    cls = server_args.ServerArgs
    try:
        parsed = _parse("sglang serve", cls.add_cli_args, args)
        cls.from_cli_args(parsed)
    except Exception as exc:
        return False, str(exc).replace("\n", " ")
    return True, f"accepted by sglang {_version('sglang')}"


def _check_router(router_cls: Any | None, args: list[str]) -> tuple[bool | None, str]:
    if router_cls is None:
        return None, f"not checked: sglang-router is not installed ({ROUTER_INSTALL_HINT})"
    try:
        parsed = _parse("sglang_router.launch_router", router_cls.add_cli_args, args)
        router_cls.from_cli_args(parsed)._validate_router_args()
    except Exception as exc:
        return False, str(exc).replace("\n", " ")
    return True, f"accepted by sglang-router {_version('sglang-router')}"


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "(unknown version)"


def child_main(stdin: io.TextIOBase | Any, stdout: io.TextIOBase | Any) -> int:
    """Read ``[{name, role, args}]`` as JSON, write one JSON line with a verdict per command."""
    payload = json.loads(stdin.read() or "[]")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            server_args = _load_server_args()
    except ImportError as exc:
        stdout.write(json.dumps({"available": False, "error": str(exc)}) + "\n")
        return 0
    router_cls = _load_router_args() if any(p["role"] == "router" for p in payload) else None
    results = []
    for item in payload:
        with contextlib.redirect_stdout(io.StringIO()):
            if item["role"] == "router":
                ok, message = _check_router(router_cls, item["args"])
            else:
                ok, message = _check_server(server_args, item["args"])
        results.append({"name": item["name"], "ok": ok, "message": message})
    stdout.write(json.dumps({"available": True, "results": results}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(child_main(sys.stdin, sys.stdout))
