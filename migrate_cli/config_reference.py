"""The two texts made from the declared config keys (:mod:`core.config`): the commented ``alveare.yaml`` that
``alveare-migrate init`` writes, and ``docs/config.md``.

Regenerate the doc with ``python -m migrate_cli.config_reference > docs/config.md``; a test compares them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import yaml

from core.config import Key, Settings, iter_keys

HEADER = """\
# alveare.yaml: where the proxy listens, who the incumbent and the candidate are, and what may move.
# Every key can also be set by an ALVEARE_* env variable (dotted path upper-cased: incumbent.url ->
# ALVEARE_INCUMBENT_URL), and some by a flag of `alveare-migrate proxy`. Reference: docs/config.md.
"""


def _value(value: Any) -> str:
    return (
        yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1000)
        .strip()
        .removesuffix("...")
        .strip()
    )


def _key_lines(key: Key, indent: str) -> list[str]:
    value = key.example if key.example is not None else key.default
    name = key.attribute
    if value is None or value == {}:
        return [f"{indent}# {name}:  # {key.help}"]
    if isinstance(value, dict):
        lines = [f"{indent}{name}:  # {key.help}"]
        return lines + [f"{indent}  {item}: {_value(sub)}" for item, sub in value.items()]
    return [f"{indent}{name}: {_value(value)}  # {key.help}"]


def starter_yaml() -> str:
    """Every key in declaration order, set to its example (else its default), each with its help."""
    lines = [HEADER]
    keys = list(iter_keys())
    for item in dataclasses.fields(Settings):
        if "section" in item.metadata:
            lines.append(f"{item.name}:  # {item.metadata['help']}")
            lines += [
                line for key in keys if key.name.startswith(item.name + ".") for line in _key_lines(key, "  ")
            ]
        elif "read" in item.metadata:
            (key,) = (k for k in keys if k.name == item.name)
            lines += _key_lines(key, "")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    return "" if value is None or value == {} else f"`{_value(value)}`"


def reference_md() -> str:
    rows = [
        "# Configuration reference",
        "",
        "Generated from the key declarations in `core/config.py` (`python -m migrate_cli.config_reference`);",
        "a test keeps it in step. Precedence: flag > env variable > `alveare.yaml` > default.",
        "`alveare-migrate init` writes a commented file with every key.",
        "",
        "| key | default | env variable | flag | what it sets |",
        "| --- | --- | --- | --- | --- |",
    ]
    for key in iter_keys():
        flag = f"`{key.flag}`" if key.flag else ""
        rows.append(f"| `{key.name}` | {_cell(key.default)} | `{key.env}` | {flag} | {key.help} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(reference_md(), end="")
