"""`alveare-migrate sim`: flags and user errors (the running server is covered in tests/backend)."""

from __future__ import annotations

from click.testing import CliRunner

from migrate_cli.main import cli


def test_help_lists_the_flags() -> None:
    result = CliRunner().invoke(cli, ["sim", "--help"])
    assert result.exit_code == 0
    for flag in (
        "--flavor",
        "--host",
        "--port",
        "--seed",
        "--latency-ms",
        "--ttft-ms",
        "--chunks",
        "--chunk-interval-ms",
        "--disagree",
        "--require-key",
        "--models",
        "--error-rate",
        "--fault",
    ):
        assert flag in result.output


def test_bad_fault_is_a_one_line_error() -> None:
    result = CliRunner().invoke(cli, ["sim", "--port", "0", "--fault", "explode"])
    assert result.exit_code == 1
    assert "unknown fault; use one of refuse, hang, cut, malformed, error" in result.output


def test_out_of_range_values_are_usage_errors() -> None:
    assert CliRunner().invoke(cli, ["sim", "--disagree", "2"]).exit_code == 2
    assert CliRunner().invoke(cli, ["sim", "--flavor", "vllm"]).exit_code == 2


def test_sglang_real_takes_only_host_and_port() -> None:
    result = CliRunner().invoke(cli, ["sim", "--flavor", "sglang-real", "--port", "0", "--seed", "3"])
    assert result.exit_code == 2
    assert "--flavor sglang-real takes only --host and --port (drop --seed)" in result.output
