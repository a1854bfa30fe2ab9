"""How long `alveare-migrate scan` takes on a generated 10,000-file tree, against reading the same tree.

The tree mixes Python, TypeScript and JavaScript files about the size of real modules (~60 lines); a share of
them (``--openai-share``, default 20%) are copies of the example corpus (tests/migrate_cli/scan/corpus), the rest ordinary
code that never mentions OpenAI. The baseline is walking the tree and reading every file's bytes, measured in
the same run, so the ratio says what the parsing and analysis cost on top of the disk.

    .venv/bin/python bench/scan_speed.py [--files 10000] [--openai-share 0.2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from migrate_cli.scan.walk import SKIP_DIRS, scan_tree

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "migrate_cli" / "scan" / "corpus"
PLAIN = {
    ".py": "def handler_{n}(items: list[int]) -> int:\n    total = 0\n    for item in items:\n        total += item * {n}\n    return total\n",
    ".ts": "export function handler{n}(items: number[]): number {{\n  let total = 0;\n  for (const item of items) total += item * {n};\n  return total;\n}}\n",
    ".js": "function handler{n}(items) {{\n  return items.reduce((a, b) => a + b * {n}, 0);\n}}\nmodule.exports = {{ handler{n} }};\n",
}


def generate(root: Path, files: int, openai_share: float) -> int:
    """Writes ``files`` files in folders of 50; returns how many are corpus copies."""
    samples = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in (".py", ".ts", ".js"))
    samples = [p for p in samples if p.name != "broken.py"]
    every = max(1, round(1 / openai_share)) if openai_share > 0 else files + 1
    copies = 0
    for number in range(files):
        folder = root / f"service{number // 500}" / f"pkg{number // 50}"
        folder.mkdir(parents=True, exist_ok=True)
        if number % every == 0:
            sample = samples[copies % len(samples)]
            (folder / f"m{number}{sample.suffix}").write_bytes(sample.read_bytes())
            copies += 1
            continue
        suffix = tuple(PLAIN)[number % len(PLAIN)]
        body = "".join(PLAIN[suffix].format(n=number * 12 + k) for k in range(12))
        (folder / f"m{number}{suffix}").write_text(body)
    return copies


def read_all(root: Path) -> int:
    """The baseline: walk the tree and read every file (what any scanner must at least do)."""
    total = 0
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for name in names:
            total += len(Path(folder, name).read_bytes())
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--openai-share", type=float, default=0.2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scan-bench-") as name:
        root = Path(name)
        copies = generate(root, args.files, args.openai_share)
        read_all(root)  # warm the page cache for both measurements
        started = time.perf_counter()
        size = read_all(root)
        baseline = time.perf_counter() - started
        started = time.perf_counter()
        result = scan_tree(root)
        scan = time.perf_counter() - started
    print(f"tree: {args.files} files ({size / 1e6:.1f} MB), {copies} copies of the example corpus")
    print(f"read every file (baseline): {baseline:.2f} s")
    print(
        f"scan: {scan:.2f} s  ({scan / baseline:.1f}x the baseline), {result.files_parsed} files parsed, "
        f"{len(result.calls)} call sites, {len(result.problems)} problems"
    )


if __name__ == "__main__":
    main()
