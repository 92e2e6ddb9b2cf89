"""What an invocation needs but the way to the first poll must not wait for, built on one
background thread: `lwa.loop` with the translators, then urllib3 and the app pool (docs/behaviour.md
§2.2: Lambda starts the app once every extension has registered, so this hides behind the app's
own boot).
"""

from __future__ import annotations

import sys
import threading

from .errors import LwaError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .app import App
    from .config import Config

# While the background import runs, a thread back from a socket call gets the GIL within this,
# not within CPython's default 5 ms: the start-up path is a chain of such calls (bench/README.md).
STARTUP_SWITCH_INTERVAL_S = 0.0005
_DEFAULT_SWITCH_INTERVAL_S = sys.getswitchinterval()

# Hidden while lwa.app imports urllib3 (and http.client), which load them only for TLS: lwa talks
# plain HTTP to the app (docs/behaviour.md §5.8). Saves ~5 MB of RSS (libssl, libcrypto) and part
# of the import. In the daemon only (its own process): the main thread imports neither module
# meanwhile (tests/unit/test_imports.py), and no code of this process hashes or speaks TLS later
# (hashlib keeps its built-in, non-OpenSSL constructors).
TLS_MODULES = ("ssl", "_hashlib")


def import_app() -> type[App]:
    """`lwa.app.App`, imported without TLS support, and without `importlib.metadata`: urllib3's
    HTTP/2 module imports it at once (with zipfile, pathlib, csv, lzma, bz2, tempfile, ~15 ms and
    ~2 MB) only to check h2's version when HTTP/2 over TLS is switched on, which lwa never does.
    A stand-in serves that import; should its `version` ever be called, it loads the real one."""
    from .hiding import import_hiding  # noqa: PLC0415 - the background thread's, not the start-up path's

    stand_in = None
    if "importlib.metadata" not in sys.modules:
        stand_in = type(sys)("importlib.metadata")
        stand_in.__dict__["version"] = _metadata_version
        sys.modules["importlib.metadata"] = stand_in
    try:
        return import_hiding("lwa.app", TLS_MODULES).App
    finally:
        if stand_in is not None and sys.modules.get("importlib.metadata") is stand_in:
            del sys.modules["importlib.metadata"]


def _metadata_version(name: str) -> str:
    from importlib.metadata import version  # noqa: PLC0415 - the real one, if ever asked

    return version(name)


class AppHolder:
    """The shared App, built on a background thread (`lwa-import`) after `lwa.loop` is preloaded;
    slots wait for each at their first need."""

    def __init__(self, config: Config, preload: tuple[str, ...] = ("lwa.loop",)) -> None:
        self.config = config
        self.preload = preload
        self.preloaded = threading.Event()
        self.ready = threading.Event()
        self.app: App | None = None
        self.error: BaseException | None = None
        threading.Thread(target=self._build, name="lwa-import", daemon=True).start()

    def _build(self) -> None:
        try:
            for name in self.preload:
                __import__(name)
        except BaseException as exc:  # noqa: BLE001 - reported when a slot needs what failed to load
            self.error = exc
        finally:
            self.preloaded.set()
        try:
            if self.error is None:
                self.app = import_app()(self.config)
                "app".encode("idna")  # urllib3 checks host names with this codec at its first connect
        except BaseException as exc:  # noqa: BLE001 - reported to every invocation by get()
            self.error = exc
        finally:
            sys.setswitchinterval(_DEFAULT_SWITCH_INTERVAL_S)  # nothing CPU-bound competes any more
            self.ready.set()

    def get(self) -> App:
        self.ready.wait()
        if self.app is None:
            raise LwaError(f"cannot load the HTTP client: {self.error}")
        return self.app
