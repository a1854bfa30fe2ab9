"""The shared core every layer builds on: the store and its pairs, configuration, the YAML mapping reader and
OpenAI's wire shapes. It imports none of proxy/, evaluator/, policies/, backend/ or migrate_cli/."""
