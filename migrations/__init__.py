"""Alembic migrations of every MCS table (`mcs db upgrade`)."""
