"""The HTTP front door of MCS."""
