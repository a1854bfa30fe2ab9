"""The ``alveare-migrate`` command line: one subcommand per module, loaded lazily so ``--help`` is instant."""
