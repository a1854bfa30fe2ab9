"""Copy ``CreateChatCompletionRequest`` and every schema it references out of OpenAI's OpenAPI description.

Run from the repository root: ``python scripts/extract_chat_request_schema.py`` (reads tests/data/openai/openapi.yaml,
writes proxy/data/create_chat_completion_request.json). The proxy validates split requests against it.
Rewrites 3.0's ``nullable: true`` as ``anyOf [..., null]``; drops documentation-only keys to keep it small.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "tests" / "data" / "openai" / "openapi.yaml"
OUT = ROOT / "proxy" / "data" / "create_chat_completion_request.json"
TOP = "CreateChatCompletionRequest"
DOC_KEYS = {
    "description",
    "example",
    "examples",
    "title",
    "x-oaiMeta",
    "x-oaiExpandable",
    "x-oaiTypeLabel",
    "deprecated",
    "x-stainless-const",
    "discriminator",
    "x-oaiSupportedOn",
}
SOURCE = (
    "OpenAI API OpenAPI description (openapi.yaml, info.version 2.3.0), public repository "
    "openai/openai-openapi, commit f85dbe223d40e1a31cba812ab2d755c7e98a92a3: components.schemas."
    "CreateChatCompletionRequest and the schemas it references, with documentation keys removed and "
    "`nullable: true` rewritten as anyOf [..., null] (scripts/extract_chat_request_schema.py)."
)
LICENSE = "MIT License, Copyright (c) 2023 OpenAI (as the source repository states)."


def _clean(node: Any) -> Any:
    if isinstance(node, list):
        return [_clean(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _clean(v) for k, v in node.items() if k not in DOC_KEYS and k != "nullable"}
    if isinstance(node.get("properties"), dict):  # property names are data, not documentation keys
        out["properties"] = {name: _clean(schema) for name, schema in node["properties"].items()}
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


def _refs(node: Any) -> set[str]:
    return set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(node)))


def main() -> None:
    schemas = yaml.load(
        SPEC.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    )["components"]["schemas"]
    wanted, todo = {}, [TOP]
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted[name] = _clean(schemas[name])
        todo += sorted(_refs(wanted[name]) - set(wanted))
    document = {
        "x-source": SOURCE,
        "x-license": LICENSE,
        "$ref": f"#/components/schemas/{TOP}",
        "components": {"schemas": dict(sorted(wanted.items()))},
    }
    OUT.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"{OUT.relative_to(ROOT)}: {len(wanted)} schemas, {OUT.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
