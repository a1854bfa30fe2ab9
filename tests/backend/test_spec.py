"""backend.yaml parsing: typed objects, one-line errors naming file/key/fix, and the proxy's targets."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from backend.spec import (
    BackendSpecError,
    Endpoint,
    default_tool_call_parser,
    load_spec,
    parse_spec,
    specialist_targets,
    target_for,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "backend.yaml"


def adapter_dir(base: Path, name: str) -> Path:
    folder = base / "adapters" / name
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text('{"r": 8}', encoding="utf-8")
    return folder


@pytest.fixture
def raw(tmp_path: Path) -> dict[str, Any]:
    adapter_dir(tmp_path, "classify")
    return {
        "api_key_env": "SGLANG_API_KEY",
        "servers": {
            "qwen7b": {"model": "Qwen/Qwen2.5-7B-Instruct", "port": 30000, "mem_fraction_static": 0.8},
            "llama": {"model": "meta-llama/Llama-3.1-8B-Instruct", "port": 31000, "replicas": 2},
        },
        "specialists": {
            "classify": {"server": "qwen7b", "adapter": "adapters/classify"},
            "summarise": {"server": "qwen7b", "adapter": "hf:acme/qwen-summarise"},
            "chat": {"server": "llama"},
        },
    }


def parse(raw: dict[str, Any], base: Path) -> Any:
    return parse_spec(raw, source="b.yaml", base_dir=base)


def test_example_file_loads_with_targets() -> None:
    spec = load_spec(EXAMPLE)
    assert [s.name for s in spec.servers] == ["qwen7b"]
    targets = specialist_targets(spec)
    assert targets["classify"] == Endpoint("http://127.0.0.1:30000", "qwen7b:classify", "SGLANG_API_KEY")
    assert targets["chat"].model == "qwen7b"
    assert spec.server("qwen7b").tool_call_parser == "qwen25"


def test_parses_typed_values(raw: dict[str, Any], tmp_path: Path) -> None:
    spec = parse(raw, tmp_path)
    qwen = spec.server("qwen7b")
    assert (qwen.port, qwen.tp_size, qwen.mem_fraction_static, qwen.grammar_backend) == (
        30000,
        1,
        0.8,
        "xgrammar",
    )
    classify = spec.specialists[0]
    assert classify.adapter is not None
    assert classify.adapter.path == str((tmp_path / "adapters" / "classify").resolve())
    assert not classify.adapter.remote
    summarise = spec.specialists[1]
    assert summarise.adapter is not None and summarise.adapter.remote
    assert summarise.adapter.path == "acme/qwen-summarise"
    assert [s.name for s in spec.adapters_on(qwen)] == ["classify", "summarise"]


def test_targets_name_served_colon_adapter_and_the_router(raw: dict[str, Any], tmp_path: Path) -> None:
    targets = specialist_targets(parse(raw, tmp_path))
    assert targets == {
        "classify": Endpoint("http://127.0.0.1:30000", "qwen7b:classify", "SGLANG_API_KEY"),
        "summarise": Endpoint("http://127.0.0.1:30000", "qwen7b:summarise", "SGLANG_API_KEY"),
        # replicas: the router takes the server's port, so the URL does not change when scaling out
        "chat": Endpoint("http://127.0.0.1:31000", "llama", "SGLANG_API_KEY"),
    }


def test_target_for_never_hands_out_a_bare_adapter_name(raw: dict[str, Any], tmp_path: Path) -> None:
    spec = parse(raw, tmp_path)
    assert target_for(spec, "classify").model == "qwen7b:classify"
    assert target_for(spec, "qwen7b:summarise").model == "qwen7b:summarise"
    assert target_for(spec, "qwen7b").model == "qwen7b"
    with pytest.raises(
        BackendSpecError, match=r"b.yaml: specialists: no specialist or server named 'qwen7b:nope'"
    ):
        target_for(spec, "qwen7b:nope")


def test_zero_host_is_reached_on_loopback(raw: dict[str, Any], tmp_path: Path) -> None:
    raw["host"] = "0.0.0.0"
    assert specialist_targets(parse(raw, tmp_path))["classify"].url == "http://127.0.0.1:30000"


@pytest.mark.parametrize(
    ("model", "parser"),
    [
        ("Qwen/Qwen2.5-7B-Instruct", "qwen25"),
        ("Qwen/Qwen3-8B", "qwen"),
        ("Qwen/Qwen3-Coder-30B-A3B-Instruct", "qwen3_coder"),
        ("meta-llama/Llama-3.1-8B-Instruct", "llama3"),
        ("mistralai/Mistral-7B-Instruct-v0.3", "mistral"),
        ("openai/gpt-oss-20b", "gpt-oss"),
        ("/models/my-own-model", None),
    ],
)
def test_default_tool_call_parser(model: str, parser: str | None) -> None:
    assert default_tool_call_parser(model) == parser


def test_tool_call_parser_none_turns_it_off(raw: dict[str, Any], tmp_path: Path) -> None:
    raw["servers"]["qwen7b"]["tool_call_parser"] = "none"
    assert parse(raw, tmp_path).server("qwen7b").tool_call_parser is None


def _set(raw: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(raw)
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return out


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("colour", "red", r"b.yaml: colour: unknown key; remove it"),
        ("servers.qwen7b.tp", 2, r"b.yaml: servers.qwen7b.tp: unknown key"),
        ("servers.qwen7b.model", _DELETE, r"b.yaml: servers.qwen7b.model: required key is missing; add it"),
        ("servers", _DELETE, r"b.yaml: servers: required; add at least one"),
        (
            "servers.qwen7b.model",
            "./weights/qwen",
            r"servers.qwen7b.model: model folder .*weights/qwen does not exist",
        ),
        ("servers.qwen7b.port", 0, r"servers.qwen7b.port: 0 must be a whole number >= 1"),
        ("servers.qwen7b.tp_size", "2", r"servers.qwen7b.tp_size: '2' must be a whole number"),
        (
            "servers.qwen7b.mem_fraction_static",
            1.5,
            r"mem_fraction_static: 1.5 must be a fraction between 0 and 1",
        ),
        ("servers.qwen7b.grammar_backend", "regex", r"grammar_backend: 'regex' is not one of xgrammar"),
        ("servers.qwen7b.router_policy", "sticky", r"router_policy: 'sticky' is not one of cache_aware"),
        (
            "servers.qwen7b.extra_args",
            ["--tp", "2"],
            r"extra_args: --tp is generated from the spec; set tp_size",
        ),
        (
            "servers.qwen7b.extra_args",
            ["--api-key=x"],
            r"--api-key is generated from the spec; set api_key_env",
        ),
        ("servers.qwen7b.extra_args", "--log-level info", r"extra_args: must be a list of strings"),
        ("servers.llama.port", 29999, r"servers.llama.port: port 30000 is also used by qwen7b"),
        ("api_key_env", "my key", r"b.yaml: api_key_env: 'my key' must be an environment variable name"),
        ("launcher", ["sim", "--port", "9"], r"launcher: must contain \{port\}"),
        (
            "specialists.classify.server",
            "gpt",
            r"specialists.classify.server: no server named 'gpt'; use one of",
        ),
        (
            "specialists.classify.adapter",
            "adapters/missing",
            r"adapter folder .*missing does not exist; fix the path",
        ),
        ("specialists.classify.adapter", "hf:just-a-name", r"adapter: 'hf:just-a-name' is not hf:ORG/NAME"),
        ("specialists.classify.weight", 1, r"specialists.classify.weight: unknown key"),
        ("supervision", {"grace": 1}, r"b.yaml: supervision.grace: unknown key"),
        ("supervision", {"stop_grace_s": -1}, r"supervision.stop_grace_s: -1 must be a number >= 0"),
    ],
)
def test_errors_name_file_key_and_fix(
    raw: dict[str, Any], tmp_path: Path, path: str, value: Any, message: str
) -> None:
    with pytest.raises(BackendSpecError, match=message):
        parse(_set(raw, path, value), tmp_path)


def test_served_and_specialist_names_must_not_contain_colon(raw: dict[str, Any], tmp_path: Path) -> None:
    bad_server = copy.deepcopy(raw)
    bad_server["servers"]["qwen:7b"] = bad_server["servers"].pop("qwen7b")
    with pytest.raises(BackendSpecError, match=r"servers.qwen:7b: server name 'qwen:7b' contains ':'"):
        parse(bad_server, tmp_path)
    bad_specialist = copy.deepcopy(raw)
    bad_specialist["specialists"]["qwen7b:x"] = {"server": "qwen7b"}
    with pytest.raises(BackendSpecError, match=r"specialist name 'qwen7b:x' contains ':'"):
        parse(bad_specialist, tmp_path)


def test_adapter_folder_must_be_a_peft_adapter(raw: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "adapters" / "empty").mkdir(parents=True)
    with pytest.raises(
        BackendSpecError, match=r"has no adapter_config.json; point it at a PEFT LoRA adapter"
    ):
        parse(_set(raw, "specialists.classify.adapter", "adapters/empty"), tmp_path)


def test_load_spec_file_errors(tmp_path: Path) -> None:
    with pytest.raises(BackendSpecError, match=r"nope.yaml: no such file; copy examples/backend.yaml"):
        load_spec(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("servers: [unclosed", encoding="utf-8")
    with pytest.raises(BackendSpecError, match=r"broken.yaml: not valid YAML"):
        load_spec(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n", encoding="utf-8")
    with pytest.raises(BackendSpecError, match=r"list.yaml: <top>: must be a mapping"):
        load_spec(listed)


def test_local_model_folder_is_resolved_and_repo_ids_are_kept(raw: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()
    spec = parse(_set(raw, "servers.qwen7b.model", "./weights"), tmp_path)
    assert spec.server("qwen7b").model == str((tmp_path / "weights").resolve())
    assert spec.server("llama").model == "meta-llama/Llama-3.1-8B-Instruct"


def test_relative_adapters_are_relative_to_the_file(raw: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "backend.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    spec = load_spec(path)
    assert spec.specialists[0].adapter is not None
    assert Path(spec.specialists[0].adapter.path) == (tmp_path / "adapters" / "classify").resolve()


_names = st.from_regex(r"[a-z][a-z0-9_-]{0,12}", fullmatch=True)


@given(served=_names, adapters=st.lists(_names, min_size=1, max_size=5, unique=True))
def test_lora_targets_are_always_served_colon_adapter(served: str, adapters: list[str]) -> None:
    raw = {
        "servers": {served: {"model": "m", "port": 30000}},
        "specialists": {a: {"server": served, "adapter": f"hf:org/{a}"} for a in adapters},
    }
    targets = specialist_targets(parse_spec(raw))
    for name, target in targets.items():
        assert target.model == f"{served}:{name}"
        assert target.model.count(":") == 1
