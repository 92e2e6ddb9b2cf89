"""AWS's Runtime Interface Emulator (RIE) for e2e tests: start it, invoke it, stop it, read its log.

`Rie` runs the binary that `rie_binary` fetches (RIE's quirks a test must allow for: one invoke
at a time in plain mode, `400 Runtime.Unavailable` in Managed Instances mode, errors as 200s;
RIE starts the runtime command itself and passes it its whole environment). Every failure
raised here carries the tail of RIE's log, where the runtime's and the extensions' output also
land. This module is also the runtime command the RIE tests start, a web app that records each
request it gets and answers what the test asked for:

    python -m tests.support.rie --port N [--state DIR] [--sleep S] [--sigterm-file F]

With `--state DIR` every request is appended to DIR/requests.jsonl before it is answered, and
the answer is DIR/reply.json when that file exists (see `AppState.reply`), else a JSON echo of
the request. GET /healthz answers 200 and is not recorded (AWS_LWA_READINESS_CHECK_PATH=/healthz).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.client
import itertools
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from . import rie_binary
from .process import StopTimeout, stop_process

REPO = Path(__file__).resolve().parents[2]
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
HEALTH_PATH = "/healthz"
LOG_TAIL_LINES = 150

# Variables of this machine that would change lwa's or the app's behaviour under RIE.
_STRIP_PREFIXES = ("AWS_", "LAMBDA_", "RIE_", "_X_AMZN", "LWA_")
_STRIP_NAMES = ("_HANDLER", "PORT", "HOST", "READINESS_CHECK_PORT", "READINESS_CHECK_PATH",
                "READINESS_CHECK_PROTOCOL", "REMOVE_BASE_PATH", "ASYNC_INIT", "RUST_LOG", "LOG_LEVEL",
                "PYTHONHOME", "PYTHONSTARTUP")


class RieError(AssertionError):
    """RIE did not do what a test needed; the message ends with RIE's log."""


@functools.lru_cache(maxsize=1)
def unavailable() -> str | None:
    """Why no RIE test can run here, or None: the binary cannot be had."""
    try:
        rie_binary.binary_path()
    except rie_binary.RieUnavailable as exc:
        return str(exc)
    return None


def needs_root() -> str | None:
    """Why RIE cannot show a directory as /opt (layers, extensions) or run Managed Instances
    mode here, or None: both need a private mount namespace, so root and unshare."""
    if os.geteuid() != 0:
        return ("RIE with a layer or extension on /opt, or in Managed Instances mode, needs root "
                "(a private mount namespace)")
    if shutil.which("unshare") is None:
        return "RIE with /opt or Managed Instances mode needs unshare (util-linux)"
    return None


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment minus anything Lambda- or lwa-related, plus `extra`.

    RIE passes its whole environment to the runtime and the extensions, so this is what they
    see, with RIE's own AWS_LAMBDA_* values added (function name test_function, 3008 MB...)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(_STRIP_PREFIXES) and k not in _STRIP_NAMES}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def public_dir(prefix: str) -> Path:
    """A new directory under the system temp dir that every user can read and enter (755): RIE's
    Managed Instances mode runs the function as uid 993, and pytest's tmp_path is 700."""
    base = Path(tempfile.gettempdir())
    d = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    d.chmod(0o755)
    return d


def write_script(path: Path, text: str) -> Path:
    """An executable (755) file, parents created 755."""
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _port_pair() -> int:
    """A port p with p and p + 1 free (RIE's invoke API and Runtime API), below the ephemeral range."""
    for _ in range(200):
        p = random.randrange(20000, 32000)
        if _port_free(p) and _port_free(p + 1):
            return p
    raise RieError("no free pair of ports in 20000-32000")


@dataclass
class Invoked:
    """RIE's answer to one invoke."""

    status: int
    headers: dict[str, str]  # names lowercased
    body: bytes
    elapsed_s: float
    request_id: str | None

    def json(self) -> Any:
        return json.loads(self.body)


class Rie:
    """One RIE process: `with Rie(cmd, env=...) as rie: rie.invoke(event)`; always stopped on exit.

    `opt` is RIE_OPT (its entries appear under /opt; executables in opt/extensions start as
    extensions at the first invoke), `concurrency` RIE_CONCURRENCY (Managed Instances mode),
    `timeout_s` RIE_TIMEOUT. Plain mode serialises this object's invokes (RIE panics on two at
    once); Managed Instances mode retries `400 Runtime.Unavailable` for up to `retry_s`.
    """

    def __init__(self, cmd: Sequence[str], *, env: Mapping[str, str] | None = None, opt: Path | None = None,
                 concurrency: int | None = None, timeout_s: int | None = None, cwd: Path = REPO,
                 retry_s: float = 10.0) -> None:
        self.cmd = [str(c) for c in cmd]
        self.env = dict(clean_env() if env is None else env)
        self.opt = opt
        self.concurrency = concurrency or 0
        self.timeout_s = timeout_s
        self.lmi = bool(concurrency)
        self.cwd = cwd
        self.retry_s = retry_s
        self.port = 0
        self.pid = 0
        self.proc: subprocess.Popen | None = None
        self.runtime_api = ""
        self.state: Path | None = None
        self.log_path: Path | None = None
        self.final_log: str | None = None
        self.started_at = 0.0
        self.leftovers: list[str] = []
        """Processes RIE had started that were still alive after `stop` (killed by pid)."""
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    # ---- lifecycle ------------------------------------------------------------------------

    def _argv(self, binary: Path) -> tuple[list[str], dict[str, str]]:
        """RIE's command line and environment: plain, or inside a private mount namespace where
        `state/opt` (links to `opt`'s entries, plus the LMI bootstrap) is mounted on /opt."""
        assert self.state is not None
        rie = [str(binary), "--runtime-interface-emulator-address", f"127.0.0.1:{self.port}",
               "--runtime-api-address", f"127.0.0.1:{self.port + 1}"]
        env = {k: v for k, v in self.env.items() if k != "AWS_LAMBDA_MAX_CONCURRENCY"}
        if self.timeout_s:
            env["AWS_LAMBDA_FUNCTION_TIMEOUT"] = str(self.timeout_s)
        if self.opt is None and not self.lmi:
            return rie + self.cmd, env
        reason = needs_root()
        if reason:
            import pytest  # only tests reach here; the module also runs as a plain app

            pytest.skip(reason)
        opt = self.state / "opt"
        opt.mkdir(mode=0o755)
        if self.opt is not None:  # every entry, as a layer's files appear in /opt
            for entry in sorted(Path(self.opt).resolve().iterdir()):
                (opt / entry.name).symlink_to(entry)
        mounts = 'mount --bind "$0" /opt'
        if self.lmi:
            # LMI mode ignores the command line: it runs /opt/bootstrap (after /var/runtime/bootstrap
            # and /var/task/bootstrap, hidden by a tmpfs on /var) from /var/task, as uid 993.
            (opt / "bootstrap").unlink(missing_ok=True)  # may be a link into `opt`: never write through it
            write_script(opt / "bootstrap", "#!/bin/sh\nexec " + " ".join(shlex.quote(c) for c in self.cmd) + "\n")
            env["AWS_LAMBDA_MAX_CONCURRENCY"] = str(self.concurrency)
            mounts += " && mount -t tmpfs tmpfs /var && mkdir -p /var/task"
        else:
            rie += self.cmd
        return ["unshare", "-m", "--propagation", "private", "sh", "-c", mounts + ' && exec "$@"', str(opt), *rie], env

    def start(self) -> Rie:
        binary = rie_binary.binary_path()
        last = ""
        for _ in range(5):
            self.port = _port_pair()
            self.state = public_dir(f"lwa-rie-{self.port}-")
            self.log_path = self.state / "rie.log"
            argv, env = self._argv(binary)
            with self.log_path.open("wb") as log:
                self.proc = subprocess.Popen(argv, cwd=self.cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, start_new_session=True)
            self.pid = self.proc.pid
            self.runtime_api = f"127.0.0.1:{self.port + 1}"
            if self._wait_listening():
                self.started_at = time.monotonic()
                return self
            last = self._read_log()
            self.stop()
            if "address already in use" not in last:
                break
        raise RieError(f"aws-lambda-rie on port {self.port} with {' '.join(self.cmd)} did not start:\n{last[-3000:]}")

    def _wait_listening(self, timeout: float = 10.0) -> bool:
        """True once RIE accepts connections on its invoke port; False if it died first."""
        assert self.proc is not None
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.proc.poll() is None:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return True
            time.sleep(0.02)
        return False

    def __enter__(self) -> Rie:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> float:
        """SIGTERM RIE (SHUTDOWN to extensions, SIGTERM/SIGKILL to the runtime), SIGKILL after
        5 s, then kill by pid whatever RIE had started and left behind. Returns the seconds it
        took. Idempotent."""
        if not self.pid or self.proc is None:
            return 0.0
        t0 = time.monotonic()
        try:
            stop_process(self.proc, 5.0)
        except StopTimeout:
            pass  # killed: RIE's own shutdown hung, the leftovers are reaped below
        finally:
            elapsed = time.monotonic() - t0
            self.pid = 0
            self.leftovers = self._reap()
            self.final_log = self._read_log()
            if self.state is not None:  # `opt` holds only symlinks, which rmtree removes without following
                shutil.rmtree(self.state, ignore_errors=True)
        return elapsed

    def _reap(self) -> list[str]:
        """SIGKILL, by pid, processes whose environment names this RIE's Runtime API (only RIE's
        children have it): the runtime or extensions that outlived RIE."""
        found = []
        for pid, cmdline in self.processes():
            found.append(f"{pid} {' '.join(cmdline)}")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return found

    def processes(self) -> list[tuple[int, list[str]]]:
        """(pid, argv) of live processes started by this RIE (found by AWS_LAMBDA_RUNTIME_API)."""
        needle = f"AWS_LAMBDA_RUNTIME_API={self.runtime_api}".encode()
        out = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
                if needle not in environ:
                    continue
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":
                out.append((int(entry), [a.decode("utf-8", "replace") for a in argv if a]))
        return out

    # ---- the log --------------------------------------------------------------------------

    def _read_log(self) -> str:
        if self.log_path is None:
            return ""
        try:
            return self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""

    @property
    def log(self) -> str:
        """RIE's log so far (with the runtime's and the extensions' output); frozen at stop."""
        return self.final_log if self.final_log is not None else self._read_log()

    def error(self, message: str) -> RieError:
        """An AssertionError whose message ends with the tail of RIE's log."""
        tail = "\n".join(self.log.splitlines()[-LOG_TAIL_LINES:])
        where = "kept in memory, file removed at stop" if self.final_log is not None else str(self.log_path)
        return RieError(f"{message}\n--- RIE log ({where}), last {LOG_TAIL_LINES} lines ---\n{tail}")

    def check(self, condition: object, message: str) -> None:
        """`assert condition`, with RIE's log in the failure message."""
        if not condition:
            raise self.error(message)

    @contextlib.contextmanager
    def explained(self) -> Iterator[None]:
        """Re-raise an AssertionError from the block with RIE's log appended."""
        try:
            yield
        except RieError:
            raise
        except AssertionError as exc:
            raise self.error(str(exc)) from None

    def wait_log(self, text: str, timeout: float = 10.0) -> str:
        """The first log line containing `text`, waiting for it up to `timeout` seconds."""
        end = time.monotonic() + timeout
        while True:
            for line in self.log.splitlines():
                if text in line:
                    return line
            if time.monotonic() >= end:
                raise self.error(f"RIE's log never showed {text!r} within {timeout}s")
            time.sleep(0.02)

    # ---- invoking -------------------------------------------------------------------------

    def invoke(self, event: bytes | str | Mapping[str, Any] | list, headers: Mapping[str, str] | None = None,
               *, request_id: str | None = "auto", timeout: float = 60.0) -> Invoked:
        """POST the event to RIE's invoke API and return its answer, whatever the status.

        `request_id="auto"` sends a fresh `X-Amzn-RequestId` (RIE hands it to the runtime as
        Lambda-Runtime-Aws-Request-Id), None sends none. Bytes go out verbatim; other values
        as JSON."""
        if not self.port:
            raise RieError("RIE is not running")
        if isinstance(event, str):
            body = event.encode("utf-8")
        elif isinstance(event, bytes):
            body = event
        else:
            body = json.dumps(event).encode("utf-8")
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        if request_id == "auto":
            request_id = f"rie-{self.port}-{next(self._ids)}-{random.randrange(1 << 30):08x}"
        if request_id is not None:
            hdrs["X-Amzn-RequestId"] = request_id
        retry_until = time.monotonic() + (self.retry_s if self.lmi else 0.0)
        while True:
            if self.lmi:
                got = self._post(body, hdrs, timeout, request_id)
            else:
                with self._lock:  # plain RIE crashes on a second concurrent invoke
                    got = self._post(body, hdrs, timeout, request_id)
            unavailable_now = got.status == 400 and got.headers.get("error-type") == "Runtime.Unavailable"
            if not unavailable_now or time.monotonic() >= retry_until:
                return got
            time.sleep(0.005)

    def _post(self, body: bytes, headers: dict[str, str], timeout: float, request_id: str | None) -> Invoked:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        t0 = time.monotonic()
        try:
            conn.request("POST", INVOKE_PATH, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise self.error(f"invoke failed after {time.monotonic() - t0:.2f}s: {exc!r}") from None
        finally:
            conn.close()
        return Invoked(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data,
                       time.monotonic() - t0, request_id)


# ---- the recording app, test side ----------------------------------------------------------

class AppState:
    """The test's side of the recording app: what it received, and what it should answer next."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.requests_file = directory / "requests.jsonl"
        self.reply_file = directory / "reply.json"

    def reply(self, status: int = 200, headers: Sequence[tuple[str, str]] = (), body: bytes = b"", *,
              repeat: int = 1, chunks: Sequence[bytes] | None = None, pause_s: float = 0.0) -> None:
        """Every following request gets this answer: `body * repeat` with Content-Length, or,
        with `chunks`, a chunked response written chunk by chunk `pause_s` apart."""
        spec = {"status": status, "headers": [list(h) for h in headers],
                "body_b64": base64.b64encode(body).decode("ascii"), "repeat": repeat,
                "chunks_b64": None if chunks is None else [base64.b64encode(c).decode("ascii") for c in chunks],
                "pause_s": pause_s}
        tmp = self.reply_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(spec))
        os.replace(tmp, self.reply_file)

    def echo(self) -> None:
        """Back to the default answer: 200 JSON describing the request."""
        self.reply_file.unlink(missing_ok=True)

    def requests(self) -> list[dict[str, Any]]:
        """Every request recorded so far (see `_record`), oldest first."""
        try:
            text = self.requests_file.read_text("utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def count(self) -> int:
        return len(self.requests())


def header_all(record: Mapping[str, Any], name: str) -> list[str]:
    """Every value of header `name` in a recorded request, in wire order."""
    name = name.lower()
    return [v for n, v in record["headers"] if n == name]


def header(record: Mapping[str, Any], name: str) -> str | None:
    """The single value of `name`; None if absent; AssertionError if repeated."""
    values = header_all(record, name)
    assert len(values) <= 1, f"header {name!r} repeated: {values!r}"
    return values[0] if values else None


# ---- the recording app, process side -------------------------------------------------------

def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _record(seen: Any) -> dict[str, Any]:
    return {
        "method": seen.method, "target": seen.target, "path": seen.path, "query": seen.query,
        "headers": [[n, _decode(v)] for n, v in seen.headers],
        "body_b64": base64.b64encode(seen.body).decode("ascii"),
        "conn_id": seen.conn_id, "pid": os.getpid(), "received_at": time.time(),
    }


def _make_handler(state: Path | None, sleep_s: float):
    write_lock = threading.Lock()

    def handler(seen: Any, w: Any) -> None:
        rec = _record(seen)
        if state is not None:
            with write_lock, open(state / "requests.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")
        if sleep_s and w.stopping.wait(sleep_s):
            return
        spec = None
        if state is not None:
            try:
                spec = json.loads((state / "reply.json").read_text())
            except FileNotFoundError:
                spec = None
        if spec is None:
            rec["answered_at"] = time.time()
            w.respond(200, [("Content-Type", "application/json")], json.dumps(rec).encode("utf-8"))
            return
        headers = [tuple(h) for h in spec["headers"]]
        if spec.get("chunks_b64") is not None:
            w.start(spec["status"], headers)
            for i, c in enumerate(spec["chunks_b64"]):
                if i and spec["pause_s"] and w.stopping.wait(spec["pause_s"]):
                    return
                w.chunk(base64.b64decode(c))
            w.end()
            return
        w.respond(spec["status"], headers, base64.b64decode(spec["body_b64"]) * spec["repeat"])

    return handler


def main(argv: list[str] | None = None) -> int:
    """`python -m tests.support.rie`: serve until SIGTERM/SIGINT (SIGTERM writes --sigterm-file)."""
    import argparse  # process mode only

    from .apps import AppServer, serve_until_signalled

    p = argparse.ArgumentParser(prog="python -m tests.support.rie")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--state", type=Path)
    p.add_argument("--sleep", type=float, default=0.0, help="seconds each request waits before its answer")
    p.add_argument("--sigterm-file", type=Path)
    args = p.parse_args(argv)

    server = AppServer(_make_handler(args.state, args.sleep), args.port, health_path=HEALTH_PATH)
    serve_until_signalled(server, str(args.sigterm_file) if args.sigterm_file else None)
    return 0


# ---- misc helpers for the tests ------------------------------------------------------------

def unzip_with_modes(zip_path: Path, dest: Path) -> None:
    """Extract like `unzip`, applying each entry's Unix mode (zipfile.extractall drops modes)."""
    import zipfile  # only the zip-layer test needs it

    with zipfile.ZipFile(zip_path) as z:
        for info in z.infolist():
            target = dest / info.filename
            z.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                target.chmod(mode)


def world_readable(path: Path) -> bool:
    """True when every directory from / to `path` lets others enter, and `path` lets them read."""
    p = path.resolve()
    for d in [*reversed(p.parents)]:
        if not os.stat(d).st_mode & stat.S_IXOTH:
            return False
    return bool(os.stat(p).st_mode & stat.S_IROTH)


INIT_REPORT = re.compile(r"INIT REPORT\(durationMs: ([0-9.]+)\)")


def init_report_ms(log: str) -> float | None:
    """RIE's own Init duration (plain mode's `INIT REPORT(durationMs: N)`), if logged."""
    m = INIT_REPORT.search(log)
    return float(m.group(1)) if m else None


if __name__ == "__main__":
    raise SystemExit(main())
