"""Contracts (pydantic) and tables (SQLModel) of MCS."""
