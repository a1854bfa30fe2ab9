"""`alveare-migrate scan` on the example corpus (tests/migrate_cli/scan/corpus: small Python and TS apps, one per API and
wrapper) gives the expected table; missing and unreadable paths are reported with exit 0; bad flags exit 2."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from migrate_cli.main import cli
from migrate_cli.scan.report import rows, share, suggested_models
from migrate_cli.scan.walk import scan_tree

CORPUS = Path(__file__).parent / "corpus"
S, P, X = "split", "pass-through", "not supported"

# location, API, via, model, features, verdict: what a reader of the corpus would write down by hand.
EXPECTED = [
    ("js_langchain/chain.js:4", "chat.completions", "langchain", "gpt-4o-mini", "stream", S),
    ("js_langchain/chain.js:8", "assistants", "openai", "gpt-4o", "-", P),
    ("js_langchain/chain.js:12", "images", "openai", "dall-e-3", "-", P),
    ("js_langchain/chain.js:16", "audio", "openai", "whisper-1", "-", P),
    ("py_assistants/azure_app.py:11", "chat.completions", "openai", "gpt-4o-deployment", "-", X),
    ("py_assistants/bot.py:9", "assistants", "openai", "gpt-4o", "-", P),
    ("py_assistants/bot.py:13", "assistants", "openai", "-", "-", P),
    ("py_assistants/bot.py:17", "images", "openai", "dall-e-3", "-", P),
    ("py_assistants/bot.py:22", "audio", "openai", "whisper-1", "-", P),
    ("py_assistants/bot.py:26", "audio", "openai", "tts-1", "-", P),
    ("py_async/service.py:19", "chat.completions", "openai", "gpt-4o-2024-08-06", "response_format", S),
    ("py_async/service.py:25", "responses", "openai", "gpt-4.1", "-", P),
    ("py_async/service.py:29", "embeddings", "openai", "text-embedding-3-small", "-", P),
    ("py_chat/app.py:12", "chat.completions", "openai", "gpt-4o-mini", "tools,seed", S),
    (
        "py_chat/app.py:22",
        "chat.completions",
        "openai",
        "dynamic (parameter `model` of summarise(), default 'gpt-4o')",
        "stream",
        S,
    ),
    (
        "py_chat/app.py:27",
        "chat.completions",
        "openai",
        "dynamic (env DRAFT_MODEL, default 'gpt-4o-mini')",
        "n,logprobs",
        S,
    ),
    ("py_chat/app.py:35", "chat.completions", "openai", "ft:gpt-4o-mini-2024-07-18:acme::9abc", "-", P),
    ("py_chat/legacy.py:9", "chat.completions", "openai", "gpt-3.5-turbo", "-", S),
    ("py_wrappers/wrappers.py:11", "chat.completions", "langchain", "gpt-4o-mini", "stream", S),
    ("py_wrappers/wrappers.py:12", "embeddings", "langchain", "text-embedding-3-large", "-", P),
    ("py_wrappers/wrappers.py:13", "chat.completions", "llama-index", "gpt-4o", "-", S),
    ("py_wrappers/wrappers.py:22", "chat.completions", "instructor", "gpt-4o-mini", "response_format", S),
    ("py_wrappers/wrappers.py:28", "chat.completions", "litellm", "gpt-4o-mini", "seed", S),
    ("ts_ai_sdk/route.ts:7", "responses", "ai-sdk", "gpt-4o", "stream,tools", P),
    ("ts_ai_sdk/route.ts:14", "chat.completions", "ai-sdk", "gpt-4o-mini", "response_format", S),
    ("ts_ai_sdk/route.ts:18", "embeddings", "ai-sdk", "text-embedding-3-small", "-", P),
    ("ts_chat/index.ts:7", "chat.completions", "openai", "gpt-4o-mini", "tools,seed", S),
    (
        "ts_chat/index.ts:17",
        "chat.completions",
        "openai",
        "dynamic (parameter `model` of summarise())",
        "stream",
        S,
    ),
    (
        "ts_chat/index.ts:24",
        "chat.completions",
        "openai",
        'dynamic (env VARIANT_MODEL, default "gpt-4o")',
        "response_format,n,logprobs",
        S,
    ),
    ("ts_chat/index.ts:34", "responses", "openai", "gpt-4.1-mini", "-", P),
    ("ts_chat/index.ts:39", "embeddings", "openai", "text-embedding-3-small", "-", P),
]


def test_the_corpus_gives_the_expected_table() -> None:
    result = scan_tree(CORPUS)
    assert [row[:6] for row in rows(result)] == EXPECTED
    assert [(p.path, p.message) for p in result.problems] == [
        ("py_other/broken.py", "not valid Python (line 2): invalid syntax")
    ]


def test_the_suggested_map_and_the_share_count_literal_chat_models_only() -> None:
    calls = scan_tree(CORPUS).calls
    assert suggested_models(calls) == {
        "gpt-4o-mini": 7,
        "gpt-3.5-turbo": 1,
        "gpt-4o": 1,
        "gpt-4o-2024-08-06": 1,
    }
    assert share(calls) == {"servable": 10, "dynamic": 4, "total": 31, "percent": 32.3}


def test_responses_calls_say_they_pass_through_and_why() -> None:
    by_place = {row[0]: row for row in rows(scan_tree(CORPUS))}
    assert "/v1/responses is passed through to OpenAI unsplit" in by_place["py_async/service.py:25"][6]
    assert "Responses API since AI SDK 5" in by_place["ts_ai_sdk/route.ts:7"][6]
    assert "Azure OpenAI" in by_place["py_assistants/azure_app.py:11"][6]


def test_clients_name_their_base_url_and_env_vars() -> None:
    clients = {f"{c.file}:{c.line}": c for c in scan_tree(CORPUS).clients}
    assert clients["py_async/service.py:16"].base_url == "env OPENAI_BASE_URL"
    assert clients["py_chat/app.py:8"].env_vars == ("OPENAI_API_KEY",)
    assert clients["ts_chat/index.ts:3"].env_vars == ("OPENAI_BASE_URL", "OPENAI_API_KEY")
    assert clients["py_assistants/azure_app.py:7"].kind == "AzureOpenAI"
    assert clients["py_chat/legacy.py:5"].base_url == "https://api.openai.com/v1"


def test_text_output_has_the_table_the_models_map_and_the_share() -> None:
    result = CliRunner().invoke(cli, ["scan", str(CORPUS)])
    assert result.exit_code == 0, result.output
    assert "py_chat/app.py:12" in result.output and "VERDICT" in result.output
    assert "models:\n  gpt-4o-mini:" in result.output
    assert "The candidate can serve 10 of 31 call sites (32.3%)" in result.output
    assert "py_other/broken.py: not valid Python" in result.output


def test_json_output_is_one_document() -> None:
    result = CliRunner().invoke(cli, ["scan", str(CORPUS), "--json"])
    assert result.exit_code == 0
    document = json.loads(result.output)
    first = document["calls"][0]
    assert first["file"] == "js_langchain/chain.js" and first["verdict"] == "split"
    assert document["suggested_models"]["gpt-4o-mini"] == "<specialist>"
    assert document["share"]["total"] == len(EXPECTED)


def test_vendored_code_and_look_alike_clients_are_not_reported(tmp_path: Path) -> None:
    (tmp_path / "node_modules" / "openai").mkdir(parents=True)
    (tmp_path / "node_modules" / "openai" / "index.js").write_text(
        'client.chat.completions.create({model: "x"})'
    )
    (tmp_path / "groq_app.py").write_text((CORPUS / "py_other" / "groq_app.py").read_text())
    result = scan_tree(tmp_path)
    assert result.calls == [] and result.files_scanned == 1


def test_a_missing_path_is_reported_with_exit_0(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["scan", str(tmp_path / "nowhere")])
    assert result.exit_code == 0
    assert "nowhere: no such file or folder" in result.output


def test_unreadable_and_undecodable_files_are_reported_and_the_rest_scanned(tmp_path: Path) -> None:
    (tmp_path / "ghost.py").symlink_to(tmp_path / "missing.py")
    (tmp_path / "latin.py").write_bytes(b"import openai\nx = 'caf\xe9'\n")
    (tmp_path / "cookie.py").write_bytes(
        b"# -*- coding: latin-1 -*-\nimport openai\nx = 'caf\xe9'\n" + legacy_call()
    )
    (tmp_path / "ok.py").write_text((CORPUS / "py_chat" / "legacy.py").read_text())
    result = CliRunner().invoke(cli, ["scan", str(tmp_path)])
    assert result.exit_code == 0
    assert "ghost.py: cannot read: No such file or directory" in result.output
    assert "latin.py: not valid Python (line 2): (unicode error) 'utf-8' codec can't decode" in result.output
    assert "cookie.py:4" in result.output
    assert "ok.py:9" in result.output


def legacy_call() -> bytes:
    return b'openai.ChatCompletion.create(model="gpt-3.5-turbo", messages=[])\n'


def test_one_file_can_be_scanned() -> None:
    result = scan_tree(CORPUS / "ts_ai_sdk" / "route.ts")
    assert [c.where for c in result.calls] == ["route.ts:7", "route.ts:14", "route.ts:18"]


def test_bad_flags_exit_2() -> None:
    result = CliRunner().invoke(cli, ["scan", str(CORPUS), "--jsn"])
    assert result.exit_code == 2
    assert (
        result.output
        == "Error: No such option '--jsn'. Did you mean '--json'? (see `alveare-migrate scan --help`)\n"
    )
    missing = CliRunner().invoke(cli, ["scan"])
    assert missing.exit_code == 2 and missing.output.count("\n") == 1
