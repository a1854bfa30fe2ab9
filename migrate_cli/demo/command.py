"""`alveare-migrate demo`: the whole migration loop on this machine, offline, in about a minute."""

from __future__ import annotations

from pathlib import Path

import click

from migrate_cli.app import command


@command()
@click.option(
    "--worse-candidate",
    "worse",
    is_flag=True,
    help="Make the candidate clearly worse (40% of its answers differ): the rollout rolls back to 0%.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Directory for the store, the proxy config, the logs and the parity reports.",
)
@click.option(
    "--quick", is_flag=True, help="Send the traffic as fast as the machine allows (the test suite's variant)."
)
@click.option(
    "--requests",
    type=click.IntRange(min=1),
    default=6000,
    show_default=True,
    help="The most requests the workload sends; the rollout needs a few thousand to go all the way.",
)
def demo(*, worse: bool, out_dir: Path, quick: bool, requests: int) -> None:
    """Run a canary rollout from OpenAI to SGLang specialists, locally: no key, no GPU, no network.

    Starts a stand-in OpenAI (the incumbent) and a stand-in SGLang server (the candidate) that answer the
    bundled classify / extract / summarise dataset, the proxy in front of them, and an app sending those
    requests through the official openai SDK. The automatic rollout then walks 10% -> 50% -> 100% under
    policies/demo.yaml (the default policy's gates and margins, with demo-sized stage minimums), evaluating
    the paired answers as they are recorded, and writes parity reports (md, json, junit, html) to --out.

    Exit code: 0 when the rollout decided (the candidate accepted, or rejected and rolled back to 0%), 3 when
    it stopped undecided (too few --requests), 1 when the demo itself could not run.
    """
    from migrate_cli.demo.run import DemoOptions, run_demo

    options = DemoOptions(out_dir=out_dir, worse=worse, quick=quick, requests=requests)
    try:
        code = run_demo(options, click.echo)
    except KeyboardInterrupt:
        click.echo("interrupted: the demo's servers are stopped", err=True)
        raise click.exceptions.Exit(130) from None
    if code:
        raise click.exceptions.Exit(code)
