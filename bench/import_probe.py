"""Run lwa as the layer does (`lwa/__main__.py` as a file) while recording every module import:
(monotonic time, thread, name).

    BENCH_IMPORT_LOG=FILE python -E -S -B /path/to/bench/import_probe.py   (cwd: where lwa is)

The log is written at exit (atexit or os._exit) as tab-separated lines; `run.py` keeps the imports made before the
first `GET /invocation/next` by any thread but the urllib3 import thread (`lwa-import`). A
meta-path finder sees only real imports (modules not yet in sys.modules) and returns None, so
lwa imports exactly what it would without the probe (runpy here is the probe's, not lwa's).
"""

import os
import sys
import time

_records: list = []
_out = os.environ.get("BENCH_IMPORT_LOG", "")


class _Recorder:
    @staticmethod
    def find_spec(name, path=None, target=None):
        current = getattr(sys.modules.get("threading"), "current_thread", None)  # None mid-import
        thread = current().name if current is not None else "MainThread"
        _records.append((time.monotonic(), thread, name))
        return None


def _dump():
    if _out:
        with open(_out, "w") as f:
            f.writelines(f"{t:.6f}\t{thread}\t{name}\n" for t, thread, name in list(_records))


sys.path[0] = os.getcwd()  # as `-m` does: the working directory, not this file's folder
sys.meta_path.insert(0, _Recorder)
import atexit  # noqa: E402 - after the recorder, which must see lwa's imports only

atexit.register(_dump)
_real_exit = os._exit


def _exit(code):  # the daemon leaves through os._exit, which skips atexit
    _dump()
    _real_exit(code)


os._exit = _exit
import runpy  # noqa: E402

runpy.run_path("lwa/__main__.py", run_name="__main__")  # as extension/layer-launcher.sh runs it
