"""Jinja2 mail templates: the first line of each is the subject."""

from pathlib import Path

TEMPLATE_DIR = Path(__file__).parent
