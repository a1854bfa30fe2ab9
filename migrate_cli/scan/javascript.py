"""JavaScript and TypeScript call sites, read with tree-sitter's grammars: the official ``openai`` SDK
(``new OpenAI()``, ``client.chat.completions.create({...})``), the Vercel AI SDK (``openai('gpt-4o')``,
``openai.chat(...)`` inside ``generateText``/``streamText``) and langchain's ``new ChatOpenAI({...})``.

Names are resolved through the file's ``import``/``require`` statements, as in the Python scanner.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

import tree_sitter
import tree_sitter_javascript
import tree_sitter_typescript

from migrate_cli.scan import catalog
from migrate_cli.scan.model import FEATURES, NOT_GIVEN, Api, CallSite, ClientSite, FileFindings, ModelRef

Node = tree_sitter.Node
EXTENSIONS = {".js": "js", ".mjs": "js", ".cjs": "js", ".jsx": "js", ".ts": "ts", ".mts": "ts", ".cts": "ts"}
EXTENSIONS[".tsx"] = "tsx"

# The Vercel AI SDK's provider: call it (`openai('gpt-4o')`, the Responses API since AI SDK 5) or a method.
AI_SDK_PROVIDERS = frozenset({"@ai-sdk/openai.openai"})
AI_SDK_FACTORIES = frozenset({"@ai-sdk/openai.createOpenAI"})
AI_SDK_METHODS: dict[str, Api] = {
    "chat": "chat.completions",
    "responses": "responses",
    "completion": "completions",
    "embedding": "embeddings",
    "textEmbedding": "embeddings",
    "textEmbeddingModel": "embeddings",
    "image": "images",
    "imageModel": "images",
    "transcription": "audio",
    "speech": "audio",
}
# Vercel AI SDK functions whose name reveals a feature of the model call inside them.
AI_SDK_FUNCTION_FEATURES = {
    "streamText": "stream",
    "streamObject": "stream",
    "generateObject": "response_format",
}
AI_SDK_FUNCTION_FEATURES_EXTRA = {"streamObject": "response_format"}


@cache
def _parser(dialect: str) -> tree_sitter.Parser:
    grammar = {
        "js": tree_sitter_javascript.language,
        "ts": tree_sitter_typescript.language_typescript,
        "tsx": tree_sitter_typescript.language_tsx,
    }[dialect]()
    return tree_sitter.Parser(tree_sitter.Language(grammar))


def scan_source(source: bytes, path: str, dialect: str) -> FileFindings:
    """Everything OpenAI in one JS/TS file. tree-sitter recovers from syntax errors, so a broken file still
    yields what it can."""
    tree = _parser(dialect).parse(source)
    findings = FileFindings()
    _Scanner(path, findings, tree.root_node).run()
    return findings


def _text(node: Node | None) -> str:
    return node.text.decode("utf-8", "replace") if node is not None and node.text is not None else ""


def _walk(root: Node) -> Iterator[Node]:
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.named_children))


def _string(node: Node | None) -> str | None:
    """The value of a string literal (or a template without substitutions); None for anything else."""
    if node is None:
        return None
    if node.type == "string":
        return "".join(
            _text(c) for c in node.named_children if c.type in ("string_fragment", "escape_sequence")
        )
    if node.type == "template_string" and not any(
        c.type == "template_substitution" for c in node.named_children
    ):
        return _text(node)[1:-1]
    return None


def _member_chain(node: Node) -> tuple[list[str], Node]:
    """``a.b.c`` -> (["b", "c"], the node of ``a``)."""
    names: list[str] = []
    while node.type == "member_expression":
        prop = node.child_by_field_name("property")
        obj = node.child_by_field_name("object")
        if prop is None or obj is None:
            break
        names.append(_text(prop))
        node = obj
    return names[::-1], node


def _object_arg(call: Node) -> Node | None:
    args = call.child_by_field_name("arguments")
    if args is None:
        return None
    return next((a for a in args.named_children if a.type == "object"), None)


def _pairs(obj: Node | None) -> dict[str, Node]:
    """An object literal's keys -> value nodes (a shorthand ``{ model }`` maps to the identifier itself)."""
    found: dict[str, Node] = {}
    for child in obj.named_children if obj is not None else []:
        if child.type == "pair":
            key, value = child.child_by_field_name("key"), child.child_by_field_name("value")
            if key is not None and value is not None:
                found[_string(key) or _text(key)] = value
        elif child.type == "shorthand_property_identifier":
            found[_text(child)] = child
    return found


def _has_spread(obj: Node | None) -> bool:
    return obj is not None and any(c.type == "spread_element" for c in obj.named_children)


class _Scanner:
    def __init__(self, path: str, findings: FileFindings, root: Node) -> None:
        self.path = path
        self.findings = findings
        self.root = root
        self.imports: dict[str, str] = {}
        self.clients: dict[str, bool] = {}  # bound name -> is Azure
        self.providers: set[str] = set()  # names bound to an AI SDK provider (`openai`, `createOpenAI()`)
        self.declared: dict[str, list[Node]] = {}

    def run(self) -> None:
        nodes = list(_walk(self.root))
        for node in nodes:
            self._collect(node)
        self.uses_openai = any(v.split(".")[0] in ("openai", "@ai-sdk/openai") for v in self.imports.values())
        for node in nodes:
            if node.type == "new_expression":
                self._new(node)
            elif node.type == "call_expression":
                self._call(node)

    # --- imports and bindings -------------------------------------------------------------------------

    def _collect(self, node: Node) -> None:
        if node.type == "import_statement":
            self._import(node)
        elif node.type == "variable_declarator":
            name, value = node.child_by_field_name("name"), node.child_by_field_name("value")
            if name is not None and value is not None:
                self._bind(name, value)
        elif node.type == "assignment_expression":
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            if left is not None and right is not None and left.type in ("identifier", "member_expression"):
                self._bind(left, right)

    def _import(self, node: Node) -> None:
        source = _string(node.child_by_field_name("source"))
        if source is None:
            return
        for sub in _walk(node):
            if sub.type == "import_specifier":
                name, alias = sub.child_by_field_name("name"), sub.child_by_field_name("alias")
                self.imports[_text(alias or name)] = f"{source}.{_text(name)}"
            elif sub.type == "import_clause":
                default = next((c for c in sub.named_children if c.type == "identifier"), None)
                if default is not None:  # `import OpenAI from 'openai'`: the default export is the class
                    self.imports[_text(default)] = (
                        f"{source}.{_text(default) if source != 'openai' else 'OpenAI'}"
                    )
            elif sub.type == "namespace_import":
                ident = next((c for c in sub.named_children if c.type == "identifier"), None)
                if ident is not None:
                    self.imports[_text(ident)] = source

    def _bind(self, name: Node, value: Node) -> None:
        required = self._required_module(value)
        if required is not None and name.type == "identifier":
            self.imports[_text(name)] = f"{required}.OpenAI" if required == "openai" else required
        elif required is not None and name.type == "object_pattern":
            for sub in name.named_children:
                if sub.type == "shorthand_property_identifier_pattern":
                    self.imports[_text(sub)] = f"{required}.{_text(sub)}"
        key = _text(name)
        self.declared.setdefault(key, []).append(value)
        if value.type == "await_expression" and value.named_children:
            value = value.named_children[0]
        if value.type == "new_expression":
            qualified = self._qualified(value.child_by_field_name("constructor"))
            if qualified in catalog.CONSTRUCTORS:
                self.clients[key] = catalog.CONSTRUCTORS[qualified][1]
        elif (
            value.type == "call_expression"
            and self._qualified(value.child_by_field_name("function")) in AI_SDK_FACTORIES
        ):
            self.providers.add(key)

    def _required_module(self, value: Node) -> str | None:
        if value.type != "call_expression" or _text(value.child_by_field_name("function")) != "require":
            return None
        args = value.child_by_field_name("arguments")
        return _string(args.named_children[0]) if args is not None and args.named_children else None

    def _qualified(self, node: Node | None) -> str | None:
        if node is None:
            return None
        names, base = _member_chain(node)
        if base.type != "identifier" or _text(base) not in self.imports:
            return None
        return ".".join([self.imports[_text(base)], *names])

    # --- constructors and calls -----------------------------------------------------------------------

    def _new(self, node: Node) -> None:
        qualified = self._qualified(node.child_by_field_name("constructor"))
        if qualified in catalog.CONSTRUCTORS:
            pairs = _pairs(_object_arg(node))
            base = next((pairs[k] for k in catalog.BASE_URL_KEYS if k in pairs), None)
            kind = catalog.CONSTRUCTORS[qualified][0]
            base_text = ClientSite.base_url if base is None else self._value(base).show()
            envs = tuple(self._env_names(node))
            self.findings.clients.append(ClientSite(self.path, self._line(node), kind, base_text, envs))
        elif qualified in catalog.WRAPPER_CLASSES:
            api, via, azure = catalog.WRAPPER_CLASSES[qualified]
            obj = _object_arg(node)
            pairs = _pairs(obj)
            model_node = next((pairs[k] for k in catalog.WRAPPER_MODEL_KEYS if k in pairs), None)
            default = ModelRef(None, f"{qualified.rsplit('.', 1)[1]}'s default")
            model = default if model_node is None else self._value(model_node)
            site = CallSite(self.path, self._line(node), api, model, self._features(pairs), via, azure)
            self.findings.calls.append(site)

    def _call(self, node: Node) -> None:
        function = node.child_by_field_name("function")
        if function is None:
            return
        qualified = self._qualified(function)
        if qualified in AI_SDK_FACTORIES:
            self._client_site(node, "createOpenAI (AI SDK)")
        elif qualified in AI_SDK_PROVIDERS or (
            function.type == "identifier" and _text(function) in self.providers
        ):
            self._ai_sdk(node, "responses", "`openai(model)` uses the Responses API since AI SDK 5")
        elif function.type == "member_expression":
            self._member_call(node, function)

    def _member_call(self, node: Node, function: Node) -> None:
        names, base = _member_chain(function)
        base_name = _text(base)
        is_provider = base.type == "identifier" and (
            base_name in self.providers or self.imports.get(base_name) in AI_SDK_PROVIDERS
        )
        if is_provider and len(names) == 1 and names[0] in AI_SDK_METHODS:
            self._ai_sdk(node, AI_SDK_METHODS[names[0]], "")
            return
        found = catalog.api_of_chain(names)
        if found is None:
            return
        api, method_len = found
        azure = self._receiver(base, names[:-method_len])
        if azure is None:
            return
        obj = _object_arg(node)
        pairs = _pairs(obj)
        if "model" in pairs:
            model = self._value(pairs["model"])
        else:
            model = ModelRef(None, "spread arguments" if _has_spread(obj) else NOT_GIVEN)
        features = self._features(pairs, names[-1])
        self.findings.calls.append(
            CallSite(self.path, self._line(node), api, model, features, "openai", azure)
        )

    def _receiver(self, base: Node, attrs: list[str]) -> bool | None:
        """Whether the client the method is called on is Azure's; None when it is not an OpenAI client."""
        text = ".".join([_text(base), *attrs])
        if text in self.clients:
            return self.clients[text]
        if base.type == "new_expression":
            qualified = self._qualified(base.child_by_field_name("constructor"))
            if qualified in catalog.CONSTRUCTORS:
                return catalog.CONSTRUCTORS[qualified][1]
        return False if self.uses_openai else None

    def _ai_sdk(self, node: Node, api: Api, note: str) -> None:
        args = node.child_by_field_name("arguments")
        first = args.named_children[0] if args is not None and args.named_children else None
        model = self._value(first) if first is not None else ModelRef(None, NOT_GIVEN)
        features = self._enclosing_features(node)
        site = CallSite(self.path, self._line(node), api, model, features, "ai-sdk", note=note)
        self.findings.calls.append(site)

    def _client_site(self, node: Node, kind: str) -> None:
        pairs = _pairs(_object_arg(node))
        base = pairs.get("baseURL")
        base_text = ClientSite.base_url if base is None else self._value(base).show()
        site = ClientSite(self.path, self._line(node), kind, base_text, tuple(self._env_names(node)))
        self.findings.clients.append(site)

    # --- features and values --------------------------------------------------------------------------

    def _features(self, pairs: dict[str, Node], method: str = "") -> tuple[str, ...]:
        found = set()
        for feature, keys in catalog.FEATURE_KEYS.items():
            off = catalog.OFF_VALUES.get(feature, (None,))
            for key in keys:
                if key in pairs and _js_literal(pairs[key]) not in off:
                    found.add(feature)
        if method in catalog.STREAM_METHODS:
            found.add("stream")
        if method in catalog.PARSE_METHODS:
            found.add("response_format")
        return tuple(f for f in FEATURES if f in found)

    def _enclosing_features(self, node: Node) -> tuple[str, ...]:
        """For an AI SDK model inside ``streamText({model: openai(...), tools})``: the features of that call."""
        pair, obj = node.parent, node.parent.parent if node.parent is not None else None
        call = obj.parent.parent if obj is not None and obj.parent is not None else None
        if (
            pair is None
            or pair.type != "pair"
            or obj is None
            or call is None
            or call.type != "call_expression"
        ):
            return ()
        name = _text(call.child_by_field_name("function"))
        extra = {AI_SDK_FUNCTION_FEATURES.get(name), AI_SDK_FUNCTION_FEATURES_EXTRA.get(name)} - {None}
        own = set(self._features(_pairs(obj)))
        return tuple(f for f in FEATURES if f in own or f in extra)

    def _value(self, node: Node, depth: int = 0) -> ModelRef:
        """A literal string, or where a dynamic value comes from: env var, parameter, declared constant."""
        literal = _string(node)
        if literal is not None:
            return ModelRef(literal)
        env = self._env(node)
        if env is not None:
            return ModelRef(None, env)
        if node.type in ("identifier", "shorthand_property_identifier") and depth < 4:
            return self._identifier(node, depth)
        if node.type == "binary_expression" and node.child_by_field_name("operator") is not None:
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            if (
                left is not None
                and right is not None
                and _text(node.child_by_field_name("operator")) in ("??", "||")
            ):
                first = self._value(left, depth + 1)
                return ModelRef(None, f"{first.origin or first.literal}, default {_text(right)[:30]}")
        return ModelRef(None, f"`{_text(node)[:40]}`")

    def _identifier(self, node: Node, depth: int) -> ModelRef:
        name = _text(node)
        parameter = self._parameter_of(node, name)
        if parameter is not None:
            return ModelRef(None, parameter)
        values = self.declared.get(name, [])
        if len(values) == 1:
            found = self._value(values[0], depth + 1)
            return found if found.literal is not None else ModelRef(None, f"`{name}` = {found.origin}")
        if values:
            return ModelRef(None, f"`{name}`, assigned {len(values)} times")
        return ModelRef(None, f"`{name}`")

    def _parameter_of(self, node: Node, name: str) -> str | None:
        """``parameter `model` of summarise()`` when ``name`` is a parameter of a function enclosing ``node``."""
        scope = node.parent
        while scope is not None:
            params = scope.child_by_field_name("parameters")
            if params is not None and any(_text(n) == name for n in _walk(params) if "identifier" in n.type):
                owner = scope.child_by_field_name("name")
                return f"parameter `{name}` of {_text(owner) or 'an anonymous function'}()"
            scope = scope.parent
        return None

    def _env(self, node: Node) -> str | None:
        """``process.env.X`` or ``process.env['X']`` -> ``env X``."""
        if node.type == "member_expression":
            obj = node.child_by_field_name("object")
            if _text(obj) == "process.env":
                return f"env {_text(node.child_by_field_name('property'))}"
        if node.type == "subscript_expression" and _text(node.child_by_field_name("object")) == "process.env":
            return f"env {_string(node.child_by_field_name('index'))}"
        return None

    def _env_names(self, node: Node) -> Iterator[str]:
        for sub in _walk(node):
            env = self._env(sub)
            if env is not None:
                yield env.split()[1]

    @staticmethod
    def _line(node: Node) -> int:
        return node.start_point[0] + 1


def _js_literal(node: Node) -> object:
    """``true``/``false``/``null``/numbers as Python values; a sentinel for anything else."""
    if node.type in ("true", "false"):
        return node.type == "true"
    if node.type in ("null", "undefined"):
        return None
    if node.type == "number" and _text(node).isdigit():
        return int(_text(node))
    return _NOT_CONSTANT


_NOT_CONSTANT = object()
