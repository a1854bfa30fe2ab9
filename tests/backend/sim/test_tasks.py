"""The bundled task dataset: its size and balance, its reference answers, and that it is not stale."""

from __future__ import annotations

import collections
import json
import re
from importlib import resources

import jsonschema
import pytest

from backend.sim.data import make_tasks
from backend.sim.tasks import CLASSIFY_LABELS, TaskItem, load_tasks, parse_item, request_kwargs

TASKS = load_tasks()


def test_sizes_balance_and_uniqueness() -> None:
    assert collections.Counter(i.task for i in TASKS) == {"classify": 120, "extract": 100, "summarise": 100}
    labels = collections.Counter(i.reference for i in TASKS if i.task == "classify")
    assert labels == dict.fromkeys(CLASSIFY_LABELS, 20)
    assert len({i.id for i in TASKS}) == len({i.prompt for i in TASKS}) == len(TASKS)


def test_extraction_references_satisfy_their_response_format() -> None:
    for item in (i for i in TASKS if i.task == "extract"):
        assert item.response_format is not None
        reference = json.loads(item.reference)
        jsonschema.validate(reference, item.response_format["json_schema"]["schema"])
        assert reference["order_id"] in item.prompt and reference["email"] in item.prompt


def test_summaries_keep_the_numbers_of_their_text() -> None:
    for item in (i for i in TASKS if i.task == "summarise"):
        numbers = re.findall(r"\d+", item.reference)
        assert numbers and all(n in item.prompt for n in numbers)


def test_request_kwargs() -> None:
    item = next(i for i in TASKS if i.task == "extract")
    kwargs = request_kwargs(item, model="qwen:extract")
    assert kwargs["model"] == "qwen:extract"
    assert kwargs["messages"] == [
        {"role": "system", "content": item.system},
        {"role": "user", "content": item.prompt},
    ]
    kwargs["response_format"]["type"] = "changed"
    assert item.response_format is not None and item.response_format["type"] == "json_schema"
    assert "response_format" not in TASKS[0].request_kwargs()


def test_committed_file_is_what_the_script_generates() -> None:
    bundled = (resources.files("backend.sim") / "data" / "tasks.jsonl").read_text(encoding="utf-8")
    assert bundled == make_tasks.render(make_tasks.build()), "run: python -m backend.sim.data.make_tasks"


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        (
            {"id": "x", "task": "classify", "system": "", "prompt": "", "reference": "", "colour": 1},
            "unknown",
        ),
        ({"id": "x", "task": "classify", "system": "", "prompt": ""}, "missing"),
        ({"id": "x", "task": "poetry", "system": "", "prompt": "", "reference": ""}, "not one of"),
    ],
)
def test_parse_item_rejects_bad_records(record: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_item(record, where="f.jsonl:3")


def test_load_from_a_path(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "t.jsonl"
    path.write_text(
        json.dumps({"id": "a", "task": "summarise", "system": "s", "prompt": "p", "reference": "r"}) + "\n"
    )
    assert load_tasks(path) == [TaskItem("a", "summarise", "s", "p", "r")]
