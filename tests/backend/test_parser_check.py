"""Generated lines against SGLang 0.5.23's real parser (and sglang-router's), in a child process, no GPU.

Needs `pip install --no-deps sglang==0.5.23 sglang-router==0.3.2` and `pip install -e .[sglang-parser]`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from backend.parser_check import INSTALL_HINT, ParserUnavailable, check_launches
from backend.plan import SGLANG_ROUTER, Launch, build_plan
from backend.spec import BackendSpec, load_spec, parse_spec
from migrate_cli.backend import backend

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "backend.yaml"


def spec_of(servers: dict[str, Any], specialists: dict[str, Any] | None = None) -> BackendSpec:
    raw = {"api_key_env": "SGLANG_API_KEY", "servers": servers, "specialists": specialists or {}}
    return parse_spec(raw, source="b.yaml")


def test_every_generated_line_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "classify").mkdir()
    (tmp_path / "classify" / "adapter_config.json").write_text("{}", encoding="utf-8")
    spec = parse_spec(
        {
            "api_key_env": "SGLANG_API_KEY",
            "servers": {
                "qwen7b": {
                    "model": "Qwen/Qwen2.5-7B-Instruct",
                    "port": 30000,
                    "tp_size": 2,
                    "mem_fraction_static": 0.85,
                    "context_length": 32768,
                    "grammar_backend": "llguidance",
                    "max_lora_rank": 64,
                    "load_format": "dummy",
                    "extra_args": ["--chunked-prefill-size", "4096"],
                },
                "llama": {"model": "meta-llama/Llama-3.1-8B-Instruct", "port": 31000, "replicas": 2},
            },
            "specialists": {
                "classify": {"server": "qwen7b", "adapter": "classify"},
                "summarise": {"server": "qwen7b", "adapter": "hf:acme/summarise-lora"},
                "chat": {"server": "llama"},
            },
        },
        source="b.yaml",
        base_dir=tmp_path,
    )
    results = check_launches(build_plan(spec))
    assert [r.name for r in results] == ["qwen7b", "llama[0]", "llama[1]", "llama[router]"]
    assert all(r.ok is True for r in results), results
    assert results[0].message == "accepted by sglang 0.5.23"
    assert results[-1].message.startswith("accepted by sglang-router")


REJECTIONS: list[tuple[dict[str, Any], str]] = [
    ({"extra_args": ["--no-such-flag"]}, "unrecognized arguments: --no-such-flag"),
    ({"tool_call_parser": "qwen9"}, "argument --tool-call-parser: invalid choice: 'qwen9'"),
    ({"extra_args": ["--chunked-prefill-size", "big"]}, "argument --chunked-prefill-size: invalid int value"),
    ({"load_format": "zip"}, "argument --load-format: invalid choice: 'zip'"),
]


def test_parser_rejections_come_back_as_argparse_says_them() -> None:
    # One server per case, all checked in one child process (each start costs about a second).
    servers = {
        f"m{i}": {"model": "org/m", "port": 8000 + i, **server} for i, (server, _) in enumerate(REJECTIONS)
    }
    results = check_launches(build_plan(spec_of(servers)))
    assert len(results) == len(REJECTIONS)
    for result, (_, rejection) in zip(results, REJECTIONS, strict=True):
        assert result.ok is False
        assert result.message.startswith("sglang serve: error:")
        assert rejection in result.message


def test_router_rejection() -> None:
    bad = Launch(
        name="r",
        role="router",
        program=SGLANG_ROUTER,
        args=("--worker-urls", "http://127.0.0.1:1", "--policy", "sticky"),
        url="http://127.0.0.1:2",
        expect_models=(),
    )
    (result,) = check_launches([bad])
    assert result.ok is False
    assert "argument --policy: invalid choice: 'sticky'" in result.message


def test_missing_sglang_is_one_line_with_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An empty `sglang` package first on the path hides the real one from the child.
    (tmp_path / "sglang").mkdir()
    (tmp_path / "sglang" / "__init__.py").write_text("", encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with pytest.raises(ParserUnavailable) as caught:
        check_launches(build_plan(load_spec(EXAMPLE)), python=sys.executable)
    message = str(caught.value)
    assert message.startswith("sglang is not importable here (No module named 'sglang.srt')")
    assert INSTALL_HINT in message and "\n" not in message


def test_check_command(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    result = runner.invoke(backend, ["check", "--file", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "backend.yaml: valid (1 servers, 4 specialists)" in result.output
    assert "qwen7b: ok: accepted by sglang 0.5.23" in result.output


def test_check_command_fails_on_rejection(tmp_path: Path) -> None:
    path = tmp_path / "backend.yaml"
    path.write_text(
        "servers:\n  m: {model: org/m, port: 8000, extra_args: [--tp-sise, '2']}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(backend, ["check", "--file", str(path)])
    assert result.exit_code == 1
    assert "m: REJECTED: sglang serve: error: unrecognized arguments: --tp-sise 2" in result.output
    assert "SGLang's parser rejected a command line" in result.output


def test_check_command_reports_spec_errors_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "backend.yaml"
    path.write_text("servers:\n  m: {model: org/m, port: 8000, gpus: 2}\n", encoding="utf-8")
    result = CliRunner().invoke(backend, ["check", "--file", str(path), "--no-parser"])
    assert result.exit_code == 2
    assert f"{path}: servers.m.gpus: unknown key" in result.output
