"""Check planned command lines against SGLang's own argument parser, on a machine without a GPU.

SGLang's parser lives in ``sglang.srt.server_args`` (``ServerArgs.add_cli_args`` on an argparse parser, then
``ServerArgs.from_cli_args``): we run exactly that, so a flag SGLang renamed or a value it refuses fails here,
not on the GPU box. It is installed without its GPU stack (``pip install --no-deps sglang==0.5.23`` plus the
``sglang-parser`` extra); the GPU-only modules it imports at module level (``triton``) are stubbed in
``sys.modules``, and ``sglang/__init__.py`` (which pulls transformers and the frontend language) is skipped by
registering the bare package. All of that happens in a child process (``python -m backend.parser_check``), so
the stubs never reach the caller's interpreter. Router lines are checked the same way with
``sglang_router.router_args`` when ``sglang-router`` is installed, and reported as not checked otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import json
import os
import subprocess
import sys
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from backend.plan import Launch, sglang_args
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


class _StubModule(types.ModuleType):
    """A GPU-only module that is absent here: attributes are stubs, calling one is a no-op decorator."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__path__: list[str] = []
        self.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        value: Any = type(attr, (), {}) if attr[:1].isupper() else _stub(f"{self.__name__}.{attr}")
        setattr(self, attr, value)
        return value

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]
        return self


def _stub(name: str) -> types.ModuleType:
    module = sys.modules.get(name)
    if module is None:
        module = sys.modules[name] = _StubModule(name)
    return module


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers ``import triton.language`` and friends with stubs, only for roots that are not installed."""

    def __init__(self, roots: frozenset[str]) -> None:
        self.roots = roots

    def find_spec(
        self, fullname: str, path: Any = None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in self.roots:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return _stub(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        return None


def install_stubs(modules: Sequence[str] = GPU_ONLY_MODULES) -> list[str]:
    """Stub the GPU-only modules that are missing; a real install (on a GPU box) is left alone."""
    missing = [m for m in modules if m not in sys.modules and importlib.util.find_spec(m) is None]
    if missing:
        sys.meta_path.insert(0, _StubFinder(frozenset(missing)))
    return missing


def _register_bare_package(name: str) -> None:
    """Make ``name`` importable as a package without running its ``__init__`` (sglang's pulls the frontend)."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.submodule_search_locations is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    package = types.ModuleType(name)
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    sys.modules[name] = package


def _load_server_args() -> Any:
    install_stubs()
    _register_bare_package("sglang")
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
