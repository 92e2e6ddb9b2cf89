"""`serve -- APP COMMAND...`: the app as a child process, started with its port set, watched so
that `serve` stops when it dies, and stopped with SIGTERM (then SIGKILL) when `serve` ends."""

from __future__ import annotations

import subprocess
import threading
from typing import TYPE_CHECKING, Mapping

from ..logs import log

if TYPE_CHECKING:
    from ..signals import StopFlag

STOP_S = 10.0  # SIGTERM, then this long before SIGKILL


class Child:
    """The running app; `exit_code` is set (and `stop` raised) if it exits on its own."""

    def __init__(self, command: list[str], environ: Mapping[str, str], port: int, stop: StopFlag) -> None:
        env = dict(environ)
        env["PORT"] = env["AWS_LWA_PORT"] = str(port)
        self.proc = subprocess.Popen(command, env=env)  # OSError when it cannot be started
        self.exit_code: int | None = None
        threading.Thread(target=self._watch, args=(stop,), name="lwa-child", daemon=True).start()

    def _watch(self, stop: StopFlag) -> None:
        while not stop.wait(0.1):
            if self.proc.poll() is not None:
                self.exit_code = self.proc.returncode
                stop.set()
                return

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_S)
            except subprocess.TimeoutExpired:
                log.warning("the app did not stop within %.0fs of SIGTERM; killing it", STOP_S)
                self.proc.kill()
                self.proc.wait()
