from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError, iter_keys, load_config, parse_config, parse_rate
from migrate_cli.config_reference import reference_md, starter_yaml


def test_starter_config_parses(tmp_path: Path) -> None:
    path = tmp_path / "alveare.yaml"
    path.write_text(starter_yaml())
    config = load_config(path, environ={})
    assert config.mirror.rate == 0.1
    assert config.models["gpt-4o-mini"] == "classify"
    assert config.pricing["gpt-4o-mini"].output_per_1m == 0.60


def test_precedence_flag_over_env_over_file(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("listen: 127.0.0.1:1000\nmirror: {rate: 0.2}\n")
    env = {"ALVEARE_LISTEN": "127.0.0.1:2000", "ALVEARE_MIRROR_RATE": "50%"}
    assert load_config(path, environ={}).listen == "127.0.0.1:1000"
    assert load_config(path, environ=env).listen == "127.0.0.1:2000"
    assert load_config(path, environ=env).mirror.rate == 0.5
    assert load_config(path, {"listen": "127.0.0.1:3000"}, environ=env).listen == "127.0.0.1:3000"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"lissten": "x"}, "test: lissten: unknown key"),
        ({"incumbent": {"url": "ftp://x"}}, "test: incumbent.url: 'ftp://x' is not an http(s) URL"),
        ({"mirror": {"rate": 2000}}, "test: mirror.rate"),
        ({"store": "mysql://x/db"}, "test: store: store URL 'mysql://x/db' is not supported"),
        ({"listen": "8080"}, "test: listen: '8080' is not HOST:PORT"),
        (
            {"failover": {"circuit_failures": 0}},
            "test: failover.circuit_failures: 0 must be a whole number >= 1",
        ),
        ({"pricing": {"gpt-4o": {"input": 1}}}, "test: pricing.gpt-4o.output: required key is missing"),
        ({"candidate": {"url": "http://x", "key": "y"}}, "test: candidate.key: unknown key"),
    ],
)
def test_errors_name_the_file_key_and_fix(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, source="test")
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("text", "value"),
    [("0.1", 0.1), ("10%", 0.1), ("10", 0.1), ("1", 1.0), ("0", 0.0), ("100%", 1.0), ("0.5%", 0.005)],
)
def test_parse_rate(text: str, value: float) -> None:
    assert parse_rate(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["150%", "101", "-1", "-5%"])
def test_parse_rate_rejects_out_of_range(text: str) -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_rate(text)


def test_maps_from_env_and_their_errors() -> None:
    env = {
        "ALVEARE_MODELS": "gpt-4o-mini=classify, gpt-3.5-turbo=summarise",
        "ALVEARE_SPECIALISTS": "classify=q:c",
    }
    config = load_config(None, environ=env)
    assert config.models == {"gpt-4o-mini": "classify", "gpt-3.5-turbo": "summarise"}
    assert config.specialists == {"classify": "q:c"}
    with pytest.raises(ConfigError, match=r"\$ALVEARE_MODELS: models: 'gpt-4o' is not NAME=VALUE"):
        load_config(None, environ={"ALVEARE_MODELS": "gpt-4o"})


def test_policy_path_is_read_from_the_config_files_folder(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "alveare.yaml"
    path.parent.mkdir()
    path.write_text("policy: policies/strict.yaml\n")
    assert load_config(path, environ={}).policy_path() == tmp_path / "conf" / "policies" / "strict.yaml"
    assert load_config(None, environ={}).policy_path() is None
    absolute = load_config(None, {"policy": "/etc/p.yaml"}, environ={})
    assert absolute.policy_path() == Path("/etc/p.yaml")


def test_every_key_is_declared_once_with_help_and_an_env_variable() -> None:
    keys = list(iter_keys())
    names = [key.name for key in keys]
    assert len(names) == len(set(names))
    assert {"pricing", "candidate_cost.usd_per_gpu_hour", "evaluation.critical_fields"} <= set(names)
    for key in keys:
        assert key.help.endswith("."), key.name
        assert key.env == "ALVEARE_" + key.name.replace(".", "_").upper()


def test_config_reference_is_up_to_date() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "config.md"
    assert doc.read_text(encoding="utf-8") == reference_md(), (
        "docs/config.md is stale: run `python -m migrate_cli.config_reference > docs/config.md`"
    )


def test_starter_file_names_every_key() -> None:
    text = starter_yaml()
    for key in iter_keys():
        assert f"{key.attribute}:" in text, key.name


def test_maps_and_sections_have_env_variables_too() -> None:
    env = {
        "ALVEARE_PRICING": "gpt-4o-mini=0.15/0.60",
        "ALVEARE_CANDIDATE_COST_USD_PER_GPU_HOUR": "2.5",
        "ALVEARE_EVALUATION_CRITICAL_FIELDS": "extract=order_id|amount",
        "ALVEARE_EVALUATION_JUDGE": "url=http://127.0.0.1:9/v1,model=judge",
    }
    config = load_config(None, environ=env)
    assert config.pricing["gpt-4o-mini"].output_per_1m == 0.60
    assert config.candidate_cost.usd_per_gpu_hour == 2.5
    assert config.evaluation.critical_fields == {"extract": ("order_id", "amount")}
    assert config.evaluation.judge is not None and config.evaluation.judge.model == "judge"
    with pytest.raises(ConfigError, match=r"\$ALVEARE_PRICING: pricing: .* is not INPUT/OUTPUT"):
        load_config(None, environ={"ALVEARE_PRICING": "gpt-4o-mini=0.15"})
