"""Command lines: full flag names, metrics on, LoRA flags, the API key as a placeholder, replicas + router."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backend.plan import (
    SGLANG_ROUTER,
    SGLANG_SERVE,
    EnvRef,
    PlanError,
    build_plan,
    render,
    resolve_argv,
    sglang_args,
)
from backend.spec import BackendSpec, parse_spec

SECRET = "sk-very-secret-value"


def spec_of(raw: dict[str, Any], base: Path | None = None) -> BackendSpec:
    return parse_spec(raw, source="b.yaml", base_dir=base)


@pytest.fixture
def lora_spec(tmp_path: Path) -> BackendSpec:
    for name in ("classify", "extract"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "adapter_config.json").write_text("{}", encoding="utf-8")
    return spec_of(
        {
            "api_key_env": "SGLANG_API_KEY",
            "servers": {
                "qwen7b": {
                    "model": "Qwen/Qwen2.5-7B-Instruct",
                    "port": 30000,
                    "tp_size": 2,
                    "mem_fraction_static": 0.85,
                    "context_length": 8192,
                    "extra_args": ["--chunked-prefill-size", "4096"],
                }
            },
            "specialists": {
                "classify": {"server": "qwen7b", "adapter": "classify"},
                "summarise": {"server": "qwen7b", "adapter": "hf:acme/summarise-lora"},
                "extract": {"server": "qwen7b", "adapter": "extract"},
            },
        },
        tmp_path,
    )


def flag_value(argv: tuple[Any, ...] | list[Any], flag: str) -> Any:
    return argv[list(argv).index(flag) + 1]


def test_server_line_uses_sglang_serve_and_full_flag_names(lora_spec: BackendSpec, tmp_path: Path) -> None:
    (launch,) = build_plan(lora_spec)
    argv = launch.argv
    assert argv[:2] == SGLANG_SERVE
    assert flag_value(argv, "--model-path") == "Qwen/Qwen2.5-7B-Instruct"
    assert flag_value(argv, "--served-model-name") == "qwen7b"
    assert (flag_value(argv, "--host"), flag_value(argv, "--port")) == ("127.0.0.1", "30000")
    assert flag_value(argv, "--tp-size") == "2"
    assert flag_value(argv, "--mem-fraction-static") == "0.85"
    assert flag_value(argv, "--context-length") == "8192"
    assert flag_value(argv, "--tool-call-parser") == "qwen25"
    assert flag_value(argv, "--grammar-backend") == "xgrammar"
    assert "--enable-metrics" in argv
    assert "--tp" not in argv and "--model" not in argv
    assert argv[-2:] == ("--chunked-prefill-size", "4096")
    assert launch.url == "http://127.0.0.1:30000"
    assert launch.expect_models == ("qwen7b", "classify", "summarise", "extract")


def test_lora_flags(lora_spec: BackendSpec, tmp_path: Path) -> None:
    argv = list(build_plan(lora_spec)[0].argv)
    assert "--enable-lora" in argv
    start = argv.index("--lora-paths") + 1
    assert argv[start : start + 3] == [
        f"classify={(tmp_path / 'classify').resolve()}",
        "summarise=acme/summarise-lora",
        f"extract={(tmp_path / 'extract').resolve()}",
    ]
    # three adapters plus the base model in one batch
    assert flag_value(argv, "--max-loras-per-batch") == "4"
    assert "--max-lora-rank" not in argv


def test_no_lora_flags_for_a_whole_model_server() -> None:
    spec = spec_of(
        {"servers": {"m": {"model": "org/m", "port": 8000}}, "specialists": {"chat": {"server": "m"}}}
    )
    argv = build_plan(spec)[0].argv
    assert "--enable-lora" not in argv and "--lora-paths" not in argv and "--api-key" not in argv
    assert "--tool-call-parser" not in argv  # unknown family: left unset rather than guessed


def test_api_key_is_a_placeholder_until_launch(lora_spec: BackendSpec) -> None:
    (launch,) = build_plan(lora_spec)
    assert flag_value(launch.argv, "--api-key") == EnvRef("SGLANG_API_KEY")
    line = render(launch)
    assert "--api-key $SGLANG_API_KEY" in line
    assert SECRET not in line
    real = resolve_argv(launch, {"SGLANG_API_KEY": SECRET})
    assert flag_value(real, "--api-key") == SECRET
    assert flag_value(sglang_args(launch), "--api-key") == "parser-check"
    with pytest.raises(PlanError, match=r"SGLANG_API_KEY is not set; export it"):
        resolve_argv(launch, {})


def test_render_quotes_for_a_shell(tmp_path: Path) -> None:
    (tmp_path / "my model").mkdir()
    spec = spec_of({"servers": {"m": {"model": "./my model", "port": 8000}}, "specialists": {}}, tmp_path)
    assert f"--model-path '{tmp_path.resolve() / 'my model'}'" in render(build_plan(spec)[0])


def test_replicas_get_ports_gpus_and_a_cache_aware_router() -> None:
    spec = spec_of(
        {
            "api_key_env": "K",
            "servers": {
                "llama": {
                    "model": "meta-llama/Llama-3.1-8B-Instruct",
                    "port": 31000,
                    "replicas": 2,
                    "tp_size": 2,
                }
            },
            "specialists": {"chat": {"server": "llama"}},
        }
    )
    first, second, router = build_plan(spec)
    assert [x.name for x in (first, second, router)] == ["llama[0]", "llama[1]", "llama[router]"]
    assert [flag_value(x.argv, "--port") for x in (first, second)] == ["31001", "31002"]
    assert [flag_value(x.argv, "--base-gpu-id") for x in (first, second)] == ["0", "2"]
    assert router.role == "router" and router.argv[:3] == SGLANG_ROUTER
    urls = list(router.argv)[router.argv.index("--worker-urls") + 1 : router.argv.index("--policy")]
    assert urls == ["http://127.0.0.1:31001", "http://127.0.0.1:31002"]
    assert flag_value(router.argv, "--policy") == "cache_aware"
    assert flag_value(router.argv, "--port") == "31000"
    assert flag_value(router.argv, "--prometheus-port") == "31003"
    assert flag_value(router.argv, "--api-key") == EnvRef("K")
    assert router.url == "http://127.0.0.1:31000"


def test_launcher_override_replaces_the_command_and_fills_placeholders(lora_spec: BackendSpec) -> None:
    spec = spec_of(
        {
            "launcher": [
                "sim",
                "--port",
                "{port}",
                "--host",
                "{host}",
                "--models",
                "{models}",
                "{served}",
                "{model}",
            ],
            "servers": {"qwen7b": {"model": "Qwen/Qwen2.5-7B-Instruct", "port": 30000}},
            "specialists": {"summarise": {"server": "qwen7b", "adapter": "hf:a/b"}},
        }
    )
    (launch,) = build_plan(spec)
    expected = ["sim", "--port", "30000", "--host", "127.0.0.1", "--models", "qwen7b,summarise", "qwen7b"]
    assert resolve_argv(launch, {}) == [*expected, "Qwen/Qwen2.5-7B-Instruct"]
    assert render(launch).startswith("sim --port 30000")
    assert launch.argv[:2] == SGLANG_SERVE  # what `check` validates is still SGLang's line
