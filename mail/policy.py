"""The email policy of every mail MCS reads or writes: Python's default, with header classes made
once.

Python's `HeaderRegistry` makes a new class (`type(...)`) for every header it parses or sets. That
cost the worker about a third of building each notification, and the API a share of reading each
email's From:; and every such class is garbage only the cyclic collector frees. The class depends
only on the kind of header (its entry in the registry), so one per kind serves: a bounded set,
however many header names a hostile mail makes up.
"""

from email import policy
from email.headerregistry import BaseHeader, HeaderRegistry


class _Registry(HeaderRegistry):
    """A header registry that makes each header class once."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[type, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        kind = self.registry.get(name.lower(), self.default_class)
        made = self._made.get(kind)
        if made is None:  # two threads may both make it: either class serves
            made = self._made[kind] = type("_" + kind.__name__, (kind, self.base_class), {})
        return made


POLICY = policy.default.clone(header_factory=_Registry())
