"""Python call sites, read with :mod:`ast`: clients built, calls made through them or through a wrapper, the
model each call names (a literal, or where a dynamic one comes from) and the features it uses.

Names are resolved through the file's imports (``from openai import OpenAI as C``) and the client variables
assigned in it (``self.client = OpenAI()``), so a ``groq`` or ``mistral`` client with the same method names is
not taken for OpenAI's.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from migrate_cli.scan import catalog
from migrate_cli.scan.model import FEATURES, NOT_GIVEN, CallSite, ClientSite, FileFindings, ModelRef, Problem

_ENV_GETTERS = frozenset({"os.getenv", "os.environ.get", "environ.get", "getenv"})


@dataclass
class _Client:
    """A name bound to a client: whether it is Azure's and which library wraps it."""

    azure: bool
    via: str = "openai"


@dataclass
class _Scope:
    """Names bound in one function (or the module): their assigned values and the parameters."""

    name: str
    values: dict[str, list[ast.expr]] = field(default_factory=dict)
    params: dict[str, ast.expr | None] = field(default_factory=dict)


def scan_source(source: bytes | str, path: str) -> FileFindings:
    """Everything OpenAI in one Python file; a file that does not parse is a problem, not an error."""
    findings = FileFindings()
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        findings.problems.append(Problem(path, f"not valid Python (line {line}): {getattr(exc, 'msg', exc)}"))
        return findings
    _Visitor(path, findings, _imports(tree)).visit(tree)
    return findings


def _imports(tree: ast.Module) -> dict[str, str]:
    """Local name -> qualified origin (``C`` -> ``openai.OpenAI``, ``oa`` -> ``openai``)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(expr: ast.expr) -> list[str] | None:
    """``a.b.c`` -> ``["a", "b", "c"]``; None when the chain does not start at a plain name."""
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name):
        return None
    parts.append(expr.id)
    return parts[::-1]


def _attr_chain(expr: ast.expr) -> tuple[list[str], ast.expr]:
    """The attribute names of ``x.a.b`` and the expression ``x`` they hang on."""
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    return parts[::-1], expr


def _keywords(call: ast.Call) -> dict[str, ast.expr]:
    return {k.arg: k.value for k in call.keywords if k.arg is not None}


def _has_star_kwargs(call: ast.Call) -> bool:
    return any(k.arg is None for k in call.keywords)


class _Visitor(ast.NodeVisitor):
    def __init__(self, path: str, findings: FileFindings, imports: dict[str, str]) -> None:
        self.path = path
        self.findings = findings
        self.imports = imports
        self.uses_openai = any(v.split(".")[0] in ("openai", "instructor") for v in imports.values())
        self.clients: dict[str, _Client] = {}
        self.scopes: list[_Scope] = []

    # --- scopes ---------------------------------------------------------------------------------------

    def visit_Module(self, node: ast.Module) -> None:
        self._enter(_Scope("<module>"), node.body)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        scope = _Scope(node.name)
        args = node.args
        positional = [*args.posonlyargs, *args.args]
        defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(
            args.defaults
        )
        for arg, default in zip(positional, defaults, strict=True):
            scope.params[arg.arg] = default
        for arg, kw_default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
            scope.params[arg.arg] = kw_default
        self._enter(scope, node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def _enter(self, scope: _Scope, body: list[ast.stmt]) -> None:
        for node in _local_nodes(body):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    self._bind(scope, target, node.value)
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                self._bind(scope, node.target, node.value)
        self.scopes.append(scope)
        for stmt in body:
            self.visit(stmt)
        self.scopes.pop()

    def _bind(self, scope: _Scope, target: ast.expr, value: ast.expr) -> None:
        parts = _dotted(target)
        if parts is not None:
            scope.values.setdefault(".".join(parts), []).append(value)

    # --- statements that bind clients -----------------------------------------------------------------

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._note_binding(target, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._note_binding(node.target, node.value)
        self.generic_visit(node)

    def visit_withitem(self, node: ast.withitem) -> None:
        if node.optional_vars is not None:
            self._note_binding(node.optional_vars, node.context_expr)
        self.generic_visit(node)

    def _note_binding(self, target: ast.expr, value: ast.expr) -> None:
        parts = _dotted(target)
        if parts is None:
            return
        name = ".".join(parts)
        if parts[0] in self.imports and self.imports[parts[0]] == "openai" and len(parts) == 2:
            self._module_setting(target, parts[1], value)
        if not isinstance(value, ast.Call):
            return
        client = self._client_of(value)
        if client is not None:
            self.clients[name] = client

    def _module_setting(self, target: ast.expr, attr: str, value: ast.expr) -> None:
        """``openai.base_url = ...`` (or ``api_base`` before 1.0): the module-level client's address."""
        if attr in ("base_url", "api_base"):
            self.findings.clients.append(
                ClientSite(
                    self.path, target.lineno, "openai module", self._value_text(value), self._env_vars(value)
                )
            )

    def _client_of(self, call: ast.Call) -> _Client | None:
        qualified = self._qualified(call.func)
        if qualified in catalog.CONSTRUCTORS:
            return _Client(catalog.CONSTRUCTORS[qualified][1])
        if qualified in catalog.INSTRUCTOR_WRAPS and call.args and isinstance(call.args[0], ast.Call):
            inner = self._client_of(call.args[0])
            return _Client(inner.azure if inner else False, "instructor")
        return None

    # --- calls ----------------------------------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> None:
        self._constructor(node) or self._litellm(node) or self._wrapper_call(node) or self._method(node)
        self.generic_visit(node)

    def _constructor(self, node: ast.Call) -> bool:
        qualified = self._qualified(node.func)
        if qualified not in catalog.CONSTRUCTORS:
            return False
        kwargs = _keywords(node)
        base = next((kwargs[k] for k in catalog.BASE_URL_KEYS if k in kwargs), None)
        site = ClientSite(
            self.path, node.lineno, catalog.CONSTRUCTORS[qualified][0], env_vars=self._env_vars(node)
        )
        if base is not None:
            site = ClientSite(site.file, site.line, site.kind, self._value_text(base), site.env_vars)
        self.findings.clients.append(site)
        return True

    def _wrapper_site(self, node: ast.Call) -> CallSite | None:
        qualified = self._qualified(node.func)
        if qualified not in catalog.WRAPPER_CLASSES:
            return None
        api, via, azure = catalog.WRAPPER_CLASSES[qualified]
        kwargs = _keywords(node)
        model_expr = next((kwargs[k] for k in catalog.WRAPPER_MODEL_KEYS if k in kwargs), None)
        if model_expr is None:
            model = ModelRef(None, f"{qualified.rsplit('.', 1)[1]}'s default")
        else:
            model = self._model(model_expr)
        if kwargs.get("use_responses_api") is not None and _literal(kwargs["use_responses_api"]) is True:
            api = "responses"
        return CallSite(self.path, node.lineno, api, model, self._features(node, ""), via, azure)

    def _wrapper_call(self, node: ast.Call) -> bool:
        site = self._wrapper_site(node)
        if site is not None:
            self.findings.calls.append(site)
        return site is not None

    def _litellm(self, node: ast.Call) -> bool:
        qualified = self._qualified(node.func)
        module, _, name = (qualified or "").rpartition(".")
        if module != "litellm" or name not in catalog.LITELLM_FUNCTIONS:
            return False
        model_expr = _keywords(node).get("model") or (node.args[0] if node.args else None)
        model = self._model(model_expr) if model_expr is not None else ModelRef(None, NOT_GIVEN)
        azure = False
        if model.literal is not None:
            target = catalog.litellm_target(model.literal)
            if target is None:
                return True  # another provider's model: not OpenAI traffic
            model, azure = ModelRef(target[0]), target[1]
        api = catalog.LITELLM_FUNCTIONS[name]
        self.findings.calls.append(
            CallSite(self.path, node.lineno, api, model, self._features(node, ""), "litellm", azure)
        )
        return True

    def _method(self, node: ast.Call) -> bool:
        chain, base = _attr_chain(node.func)
        found = catalog.api_of_chain(chain)
        if found is None:
            return False
        api, method_len = found
        client = self._receiver(chain[:-method_len], base)
        if client is None:
            return False
        kwargs = _keywords(node)
        if "model" in kwargs:
            model = self._model(kwargs["model"])
        else:
            model = ModelRef(None, "**kwargs" if _has_star_kwargs(node) else NOT_GIVEN)
        features = self._features(node, chain[-1])
        self.findings.calls.append(
            CallSite(self.path, node.lineno, api, model, features, client.via, client.azure)
        )
        return True

    def _receiver(self, attrs: list[str], base: ast.expr) -> _Client | None:
        """The client a method is called on, or None when it is not an OpenAI one."""
        if isinstance(base, ast.Call):
            return self._client_of(base) or (_Client(False) if self.uses_openai else None)
        if not isinstance(base, ast.Name):
            return _Client(False) if self.uses_openai else None
        name = ".".join([base.id, *attrs])
        if name in self.clients:
            return self.clients[name]
        if not attrs and self.imports.get(base.id) == "openai":
            return _Client(False)  # the module-level client: openai.chat.completions.create
        return _Client(False) if self.uses_openai else None

    # --- values ---------------------------------------------------------------------------------------

    def _qualified(self, expr: ast.expr) -> str | None:
        parts = _dotted(expr)
        if parts is None or parts[0] not in self.imports:
            return None
        return ".".join([self.imports[parts[0]], *parts[1:]])

    def _features(self, node: ast.Call, method: str) -> tuple[str, ...]:
        kwargs = _keywords(node)
        found = set()
        for feature, keys in catalog.FEATURE_KEYS.items():
            for key in keys:
                if key in kwargs and _literal(kwargs[key]) not in catalog.OFF_VALUES.get(feature, (None,)):
                    found.add(feature)
        if method in catalog.STREAM_METHODS:
            found.add("stream")
        if method in catalog.PARSE_METHODS:
            found.add("response_format")
        return tuple(f for f in FEATURES if f in found)

    def _model(self, expr: ast.expr, depth: int = 0) -> ModelRef:
        """A literal model, or where a dynamic one comes from (followed through local names a few steps)."""
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return ModelRef(expr.value)
        env = self._env_read(expr)
        if env is not None:
            return ModelRef(None, env)
        if isinstance(expr, ast.Name) and depth < 4:
            return self._name_model(expr.id, depth)
        if isinstance(expr, ast.JoinedStr):
            return ModelRef(None, f"f-string {ast.unparse(expr)[:40]}")
        return ModelRef(None, f"`{ast.unparse(expr)[:40]}`")

    def _name_model(self, name: str, depth: int) -> ModelRef:
        for scope in reversed(self.scopes):
            values = scope.values.get(name, [])
            if len(values) == 1:
                found = self._model(values[0], depth + 1)
                if found.literal is not None:
                    return found
                return ModelRef(None, f"`{name}` = {found.origin}")
            if values:
                return ModelRef(None, f"`{name}`, assigned {len(values)} times in {scope.name}")
            if name in scope.params:
                default = scope.params[name]
                suffix = f", default {ast.unparse(default)[:30]}" if default is not None else ""
                return ModelRef(None, f"parameter `{name}` of {scope.name}(){suffix}")
        return ModelRef(None, f"`{name}`")

    def _env_read(self, expr: ast.expr) -> str | None:
        """``os.getenv("X", d)``, ``os.environ.get("X")``, ``os.environ["X"]`` -> ``env X (default d)``."""
        if isinstance(expr, ast.Call) and ".".join(_dotted(expr.func) or []) in _ENV_GETTERS and expr.args:
            name = _literal(expr.args[0])
            default = f", default {ast.unparse(expr.args[1])[:30]}" if len(expr.args) > 1 else ""
            return f"env {name}{default}" if isinstance(name, str) else None
        if isinstance(expr, ast.Subscript) and ".".join(_dotted(expr.value) or []) in (
            "os.environ",
            "environ",
        ):
            name = _literal(expr.slice)
            return f"env {name}" if isinstance(name, str) else None
        return None

    def _value_text(self, expr: ast.expr) -> str:
        literal = _literal(expr)
        if isinstance(literal, str):
            return literal
        return self._env_read(expr) or self._model(expr).show()

    def _env_vars(self, node: ast.expr) -> tuple[str, ...]:
        names = []
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call | ast.Subscript):
                env = self._env_read(sub)
                if env is not None:
                    names.append(env.split()[1].rstrip(","))
        return tuple(dict.fromkeys(names))


def _local_nodes(body: list[ast.stmt]) -> list[ast.AST]:
    """The nodes of a function body (or module), without descending into the functions defined in it."""
    found: list[ast.AST] = []
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        found.append(node)
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))
    return found


def _literal(expr: ast.expr) -> object:
    """The value of a constant expression; a sentinel object when it is not constant."""
    return expr.value if isinstance(expr, ast.Constant) else _NOT_CONSTANT


_NOT_CONSTANT = object()
