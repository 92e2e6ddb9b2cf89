"""`NamedTuple` for lwa's frozen values, without importing `typing` at run time.

`typing` alone costs more than the rest of lwa's way to the first poll (bench/README.md), so at
run time `class X(NamedTuple): field: type = default` builds a `collections.namedtuple` through a
small metaclass; type checkers see `typing.NamedTuple` itself.
"""

from __future__ import annotations

from collections import namedtuple


class _RecordMeta(type):
    """The annotated names of a class body become a `collections.namedtuple`, everything else in
    the body (methods, properties, docstring) its members."""

    def __new__(mcls, name: str, bases: tuple, namespace: dict):
        if not bases:
            return super().__new__(mcls, name, bases, namespace)
        fields = list(namespace.get("__annotations__", ()))
        defaults = [namespace.pop(field) for field in fields if field in namespace]
        namespace["__slots__"] = ()
        return type(name, (namedtuple(name, fields, defaults=defaults),), namespace)


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:

    class NamedTuple(metaclass=_RecordMeta):
        """Base of lwa's frozen values (see _RecordMeta)."""
