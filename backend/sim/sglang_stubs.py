"""Make SGLang 0.5.23's OpenAI serving layer importable on a CPU-only machine, for ``backend.sim.sglang_real``.

SGLang is installed with ``--no-deps`` (scripts/setup.sh): ``serving_chat`` reaches, at import time, modules that
only a GPU install has (``triton``, ``torchvision``) or that only quantized models need (``sentencepiece``,
``compressed_tensors``, ``gguf``). They are answered with permissive stubs, and only when they are absent: a real
install is left alone. Two libraries probe for those modules and would believe the stubs, so their verdicts are
taken first, while the modules are still missing: ``transformers`` (``is_torchvision_available``, cached) and
``torch._inductor`` (``has_triton``, read once at import). ``sglang/__init__.py`` (the frontend language) is skipped
by registering the bare package. Call :func:`prepare` once, first thing, in a process of its own: the stubs are
process-wide, which is why the sim runs SGLang in a child process and never in a test's interpreter.

``backend.parser_check`` uses :func:`install_stubs` and :func:`register_bare_package` too, in its own child.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Sequence
from typing import Any

ABSENT_HERE = ("triton", "torchvision", "sentencepiece", "compressed_tensors", "gguf")


def _stub_attribute(owner: Any, attr: str) -> Any:
    """A stub class for ``owner.attr``, kept on ``owner`` (dunder names stay absent)."""
    if attr.startswith("__"):
        raise AttributeError(attr)
    value = _StubMeta(attr, (), {})
    setattr(owner, attr, value)
    return value


class _StubMeta(type):
    """A stub class: any attribute is another stub class, calling it returns itself (or the decorated function)."""

    def __getattr__(cls, attr: str) -> Any:
        return _stub_attribute(cls, attr)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]
        return cls

    def __getitem__(cls, item: Any) -> Any:
        return cls

    def __or__(cls, other: Any) -> Any:
        return cls

    def __ror__(cls, other: Any) -> Any:
        return cls


class _StubModule(types.ModuleType):
    """A module that is absent here: every public attribute is a stub class."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__path__: list[str] = []
        self.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)

    def __getattr__(self, attr: str) -> Any:
        return _stub_attribute(self, attr)


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers ``import triton.language`` and friends with stubs, only for the given roots."""

    def __init__(self, roots: frozenset[str]) -> None:
        self.roots = roots

    def find_spec(
        self, fullname: str, path: Any = None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in self.roots:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return _StubModule(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        return None


def _settle_probes() -> None:
    """Let transformers and torch record that torchvision and triton are missing before the stubs exist."""
    from transformers.utils import import_utils

    import_utils.is_torchvision_available()
    import_utils.is_torchvision_v2_available()
    importlib.import_module("torch._inductor.compile_fx")


def install_stubs(modules: Sequence[str] = ABSENT_HERE) -> list[str]:
    """Stub those of ``modules`` that are not installed (a real install is left alone); returns their names."""
    missing = [m for m in modules if m not in sys.modules and importlib.util.find_spec(m) is None]
    if missing:
        sys.meta_path.insert(0, _StubFinder(frozenset(missing)))
    return missing


def register_bare_package(name: str) -> None:
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


def prepare() -> list[str]:
    """Stub what is absent, skip ``sglang/__init__``; returns the stubbed module names."""
    _settle_probes()
    missing = install_stubs(ABSENT_HERE)
    register_bare_package("sglang")
    return missing
