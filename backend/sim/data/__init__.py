"""Package data: the bundled task dataset (``tasks.jsonl``) and the script that generates it."""
