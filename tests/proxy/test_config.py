from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError, load_config, parse_config, parse_rate


def test_starter_config_parses() -> None:
    config = load_config(Path("migrate_cli/starter.yaml"), environ={})
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
        ({"store": "postgres://x"}, "test: store: store URL 'postgres://x' is not supported"),
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
