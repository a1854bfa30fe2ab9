"""Alembic migrations of the store, shipped inside the package and run by :mod:`core.store_migrate`."""
