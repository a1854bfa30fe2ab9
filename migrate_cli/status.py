"""`alveare-migrate status`: where the rollout stands, what the running proxies report, what the store holds.

Also home of the formatting the store-reading commands share (history lines, timestamps).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import click

from migrate_cli.app import App, command, store_options

if TYPE_CHECKING:
    from core.store import RolloutEntry, Store


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


@command()
@store_options
@click.option("--last", default=5, show_default=True, help="How many rollout history entries to show.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.pass_obj
def status(app: App, *, last: int, as_json: bool) -> None:
    """Show the current percent, the latest rollout entries, the live proxies and the recorded pairs."""
    store = app.store
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
    """Recorded live pairs: in all, by the side that served, how many have both answers (comparable); and
    how many `alveare-migrate replay` added (never counted as traffic)."""
    rows = store.pair_summary()
    replayed = store.count_pairs(source="replay")
    served = {str(r["served_side"]): int(r["n"]) for r in rows}
    return {
        "total": sum(served.values()),
        "served": {"incumbent": served.get("incumbent", 0), "candidate": served.get("candidate", 0)},
        "both_answers": sum(int(r["both"] or 0) for r in rows),
        "last_ts": max((float(r["last_ts"]) for r in rows if r["last_ts"] is not None), default=None),
        "replayed": replayed,
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
        + (f"; {pairs['replayed']} replayed" if pairs.get("replayed") else "")
    )
    proxies = report["proxies"]
    lines.append(f"live proxies: {len(proxies)}" + ("" if proxies else " (none reported in the last 30s)"))
    for name, info in sorted(proxies.items()):
        lines.append(_proxy_line(name, info))
        if info.get("passthrough_responses"):
            lines.append(
                f"    {info['passthrough_responses']} /v1/responses requests passed through to the incumbent "
                "unsplit and unrecorded (only chat completions are split; see docs/adoption.md)"
            )
    return "\n".join(lines)


NO_MODEL_NOTE = "; NO MODEL MAPPED: nothing is split (add models: and specialists: to its config)"


def _proxy_line(name: str, info: dict[str, Any]) -> str:
    requests = info.get("requests", {})
    pairs = info.get("pairs", {})
    seen = max(0.0, time.time() - float(info.get("ts", 0.0)))
    return (
        f"  {name} on {info.get('host') or '?'} v{info.get('version') or '?'} ({info.get('listen', '?')}), "
        f"last seen {seen:.0f}s ago, {info.get('served', 0)} requests served, limits {info.get('limits', 'local')}: "
        f"at {info.get('percent', 0):g}%, "
        f"requests incumbent {requests.get('incumbent', 0)} / candidate {requests.get('candidate', 0)}, "
        f"pairs incumbent {pairs.get('incumbent', 0)} / candidate {pairs.get('candidate', 0)}, "
        f"mirrored {info.get('mirrored', 0)}, failovers {info.get('failovers', 0)}, "
        f"mirror drops {info.get('mirror_dropped', 0)}, record drops {info.get('record_dropped', 0)}, "
        f"circuit {info.get('circuit', '?')}" + (NO_MODEL_NOTE if info.get("models_mapped") == 0 else "")
    )
