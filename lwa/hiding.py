"""Import a module while others are hidden from it, so optional imports it would make cost nothing.

urllib3 imports brotli (to decode "br" answers lwa never asks for) and http.client imports ssl
(for TLS lwa never speaks to the app): hiding them keeps both out of memory and off start-up.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import ModuleType


def import_hiding(module: str, hidden: tuple[str, ...]) -> ModuleType:
    """`import module` while each name in `hidden` not yet loaded imports as missing; afterwards
    those names are importable again (a later `import brotli` loads the real one)."""
    masked = [name for name in hidden if name not in sys.modules]
    for name in masked:
        sys.modules[name] = None  # type: ignore[assignment]  # None in sys.modules: ImportError
    try:
        __import__(module)  # not importlib: neither it nor `types` is loaded this early
        return sys.modules[module]
    finally:
        for name in masked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
