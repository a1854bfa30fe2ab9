"""`alveare-migrate rollout`: move the split by hand (gated by the policy) or let the controller drive it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from migrate_cli.app import App, command, store_options
from migrate_cli.rollback import cli_actor

if TYPE_CHECKING:
    from core.config import Settings
    from core.store import Store
    from policies.model import Policy


@command()
@store_options
@click.option(
    "--percent", type=float, default=None, help="Set the candidate's share to this percent (0-100)."
)
@click.option("--reason", default=None, help="Why, for the history.")
@click.option(
    "--force", is_flag=True, help="Go up even though the gates have not passed (recorded as forced)."
)
@click.option("--auto", is_flag=True, help="Run the controller: evaluate, advance or roll back, until done.")
@click.option(
    "--interval", default="60s", show_default=True, help="With --auto: how often to evaluate (500ms, 2s, 1m)."
)
@click.option(
    "--max-iterations", type=int, default=None, help="With --auto: stop after this many evaluations."
)
@click.option(
    "--policy",
    "policy_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Policy YAML (default: the config's `policy`, else the shipped policies/default.yaml).",
)
@click.pass_obj
def rollout(
    app: App,
    *,
    percent: float | None,
    reason: str | None,
    force: bool,
    auto: bool,
    interval: str,
    max_iterations: int | None,
    policy_path: Path | None,
) -> None:
    """Change how much split traffic the candidate serves.

    --percent N goes down at once; it goes up only to the next stage and only if the current stage's gates
    PASS (it says which did not, with the numbers); --force overrides, and the history says so.

    --auto runs the controller: it evaluates the gates every --interval, advances a stage when they PASS and
    the stage's minimums are met, rolls back to 0% at once on a rollback trigger, and prints each decision.
    Exit codes: 0 the last stage passed, 1 rolled back, 3 stopped while inconclusive, 4 another controller
    holds this store.
    """
    if auto == (percent is not None):
        raise click.UsageError("give exactly one of --percent N or --auto")
    config = app.settings
    store = app.store
    policy = _policy(config, policy_path)
    if percent is not None:
        _manual(store, policy, config, percent, reason=reason, force=force)
        return
    _auto(store, policy, config, interval=interval, max_iterations=max_iterations)


def _policy(config: Settings, policy_path: Path | None) -> Policy:
    from policies.model import load_policy

    return load_policy(policy_path or config.policy_path())


def _manual(
    store: Store, policy: Policy, config: Settings, target: float, *, reason: str | None, force: bool
) -> None:
    from policies.controller import check_manual, derive_state, result_dict
    from policies.runner import store_gate_check

    if not 0 <= target <= 100:
        raise click.BadParameter(f"{target:g} is not a percent; give 0 to 100", param_hint="--percent")
    state = derive_state(policy, store.rollout_history())
    check = check_manual(policy, state, target)
    results = []
    if check.needs_gates and state.stage_index is not None:
        judge = store_gate_check(store, policy, config.evaluation)
        results = judge(policy.stages[state.stage_index], state.stage_started)
        check = check_manual(policy, state, target, results)
    if not check.allowed and not force:
        raise click.ClickException(
            f"refusing to go from {state.percent:g}% to {target:g}%: {check.reason}. "
            "Wait for more pairs (`alveare-migrate status`), or pass --force to override (recorded as forced)"
        )
    evidence = {"action": "manual", "check": check.reason, "gates": [result_dict(r) for r in results]}
    store.append_rollout(
        target,
        actor=cli_actor(),
        reason=reason or f"set by hand ({check.reason})",
        forced=not check.allowed,
        evidence=evidence,
    )
    note = " (FORCED: the gates had not passed)" if not check.allowed else ""
    click.echo(f"rollout: {state.percent:g}% -> {target:g}%{note}")


def _auto(
    store: Store, policy: Policy, config: Settings, *, interval: str, max_iterations: int | None
) -> None:
    from policies.model import parse_duration
    from policies.runner import Outcome, Runner, store_gate_check

    try:
        interval_s = parse_duration(interval)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--interval") from None
    if interval_s <= 0:
        raise click.BadParameter("must be more than 0, e.g. 500ms or 60s", param_hint="--interval")
    if max_iterations is not None and max_iterations < 1:
        raise click.BadParameter("must be at least 1", param_hint="--max-iterations")
    judge = store_gate_check(store, policy, config.evaluation)
    runner = Runner(store, policy, judge, interval_s=interval_s, emit=click.echo)
    click.echo(f"controller {runner.owner}: policy {policy.source}, every {interval_s:g}s")
    try:
        outcome = runner.run(max_iterations)
    except KeyboardInterrupt:
        click.echo("interrupted; the split stays where it is")
        outcome = Outcome.INCONCLUSIVE
    if outcome is not Outcome.COMPLETED:
        raise click.exceptions.Exit(int(outcome))
