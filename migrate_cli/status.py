"""`alveare-migrate status`: where the rollout stands, what the running proxies report, what the store holds.

Also home of the ``--config``/``--store`` options the store-reading commands share (rollout, rollback,
history, keys, savings, status).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from core.config import Config
    from core.store import RolloutEntry, Store

F = TypeVar("F", bound=Callable[..., Any])


def store_options(command: F) -> F:
    """``--config PATH`` and ``--store URL`` (the flag beats $ALVEARE_STORE, which beats the file)."""
    command = click.option(
        "--store",
        "store_url",
        default=None,
        metavar="URL",
        help="Where pairs and the rollout live: sqlite:///PATH (beats the config's `store`). [env: ALVEARE_STORE]",
    )(command)
    return click.option(
        "--config",
        "-c",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="alveare.yaml (its `store`, `policy`, `limits`, `pricing`).",
    )(command)


def load_cli_config(config_path: Path | None, store_url: str | None) -> Config:
    from core.config import ConfigError, load_config

    try:
        return load_config(config_path, {"store": store_url})
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def open_cli_store(config: Config) -> Store:
    from core.store import Store, StoreError

    try:
        return Store.open(config.store)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None


def format_ts(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def entry_dict(entry: RolloutEntry) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(entry)


def history_line(item: dict[str, Any], previous: float | None) -> str:
    """One rollout history entry (as :func:`entry_dict`): when, the move, who, why, and whether forced."""
    move = f"{item['percent']:g}%" if previous is None else f"{previous:g}% -> {item['percent']:g}%"
    forced = "  [FORCED]" if item["forced"] else ""
    return f"{format_ts(item['ts'])}  {move:<14}  {item['actor']}: {item['reason']}{forced}"


@click.command()
@store_options
@click.option("--last", default=5, show_default=True, help="How many rollout history entries to show.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def status(*, config_path: Path | None, store_url: str | None, last: int, as_json: bool) -> None:
    """Show the current percent, the latest rollout entries, the live proxies and the recorded pairs."""
    store = open_cli_store(load_cli_config(config_path, store_url))
    report = collect_status(store, last=last)
    click.echo(json.dumps(report, indent=2, default=str) if as_json else format_status(report))


def collect_status(store: Store, *, last: int = 5) -> dict[str, Any]:
    history = store.rollout_history(limit=last) if last > 0 else []
    return {
        "percent": store.current_percent(),
        "history": [entry_dict(e) for e in history],
        "proxies": store.statuses(),
        "pairs": pair_counts(store),
    }


def pair_counts(store: Store) -> dict[str, Any]:
    """Recorded pairs: in all, by the side that served, and how many have both answers (comparable)."""
    rows = store.execute(
        "SELECT served_side, count(*), sum(incumbent IS NOT NULL AND candidate IS NOT NULL), max(ts)"
        " FROM pairs GROUP BY served_side"
    )
    served = {str(side): int(n) for side, n, _, _ in rows}
    return {
        "total": sum(served.values()),
        "served": {"incumbent": served.get("incumbent", 0), "candidate": served.get("candidate", 0)},
        "both_answers": sum(int(both or 0) for _, _, both, _ in rows),
        "last_ts": max((float(ts) for *_, ts in rows if ts is not None), default=None),
    }


def format_status(report: dict[str, Any]) -> str:
    lines = [f"rollout: the candidate serves {report['percent']:g}% of split traffic"]
    previous: float | None = None
    for item in report["history"]:
        lines.append("  " + history_line(item, previous))
        previous = item["percent"]
    pairs = report["pairs"]
    served = pairs["served"]
    lines.append(
        f"pairs recorded: {pairs['total']} (served by incumbent {served['incumbent']}, "
        f"candidate {served['candidate']}; {pairs['both_answers']} with both answers)"
    )
    proxies = report["proxies"]
    lines.append(f"live proxies: {len(proxies)}" + ("" if proxies else " (none reported in the last 30s)"))
    lines += [_proxy_line(name, info) for name, info in sorted(proxies.items())]
    return "\n".join(lines)


NO_MODEL_NOTE = "; NO MODEL MAPPED: nothing is split (add models: and specialists: to its config)"


def _proxy_line(name: str, info: dict[str, Any]) -> str:
    requests = info.get("requests", {})
    pairs = info.get("pairs", {})
    return (
        f"  {name} ({info.get('listen', '?')}): at {info.get('percent', 0):g}%, "
        f"requests incumbent {requests.get('incumbent', 0)} / candidate {requests.get('candidate', 0)}, "
        f"pairs incumbent {pairs.get('incumbent', 0)} / candidate {pairs.get('candidate', 0)}, "
        f"mirrored {info.get('mirrored', 0)}, failovers {info.get('failovers', 0)}, "
        f"mirror drops {info.get('mirror_dropped', 0)}, record drops {info.get('record_dropped', 0)}, "
        f"circuit {info.get('circuit', '?')}" + (NO_MODEL_NOTE if info.get("models_mapped") == 0 else "")
    )
