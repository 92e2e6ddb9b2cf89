"""`python -m lwa`: no subcommand runs the adapter daemon; `invoke` and `serve` debug locally."""

from __future__ import annotations

import os
import sys

if __name__ == "__main__" and not __package__:
    # Run as a file (`python -E -S -B lwa/__main__.py`, as the layer's launcher runs it): `-m`
    # would import runpy and importlib.util first, ~10 ms before registration on every cold start
    # (bench/coldstart.py). The package's parent goes first on sys.path, as `-m` from there would;
    # under -I (the self-contained launcher) sys.path has no script directory to replace.
    parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if getattr(sys.flags, "safe_path", False):
        sys.path.insert(0, parent)
    else:
        sys.path[0] = parent
    from lwa.__main__ import main as _main

    sys.exit(_main())

HELP = """\
usage: python -m lwa                      run the adapter (as a Lambda extension)
       python -m lwa invoke EVENT.json|- [--stream] [--pretty] [--request-id ID] [--tenant-id T]
                                          send one event to the running app, print the Lambda result
       python -m lwa serve [--port 9000] [--source v2|v1|alb] [--stream] [-- APP COMMAND...]
                                          a local HTTP front door: each request becomes an event
       python -m lwa invoke --help | serve --help   every option of a subcommand
       python -m lwa --version | --help

Inside Lambda (AWS_LAMBDA_RUNTIME_API set) lwa registers as the external extension
`lambda-adapter`, waits until the app answers its readiness check, then long-polls the Runtime
API and turns each event into an HTTP request to the app. Outside Lambda it does nothing unless
asked to `invoke` or `serve`, which run the same translators against the app on this host.

Variables (same names and defaults as upstream Lambda Web Adapter):
  AWS_LWA_PORT (or PORT)                   app port [8080]
  AWS_LWA_HOST                             app host [127.0.0.1]
  AWS_LWA_READINESS_CHECK_PORT             readiness port [AWS_LWA_PORT]
  AWS_LWA_READINESS_CHECK_PATH             readiness path [/]
  AWS_LWA_READINESS_CHECK_PROTOCOL         http or tcp [http]
  AWS_LWA_READINESS_CHECK_HEALTHY_STATUS   healthy statuses, e.g. 200-399,404 [100-499]
  AWS_LWA_READINESS_CHECK_TIMEOUT_SECONDS  bound the readiness wait, then fail Init [unbounded]
  AWS_LWA_ASYNC_INIT                       stop waiting at 9.8 s, finish at the first invoke [false]
  AWS_LWA_REMOVE_BASE_PATH                 base path stripped once from request paths []
  AWS_LWA_PASS_THROUGH_PATH                path for non-HTTP events [/events]
  AWS_LWA_AUTHORIZATION_SOURCE             header renamed to Authorization []
  AWS_LWA_ERROR_STATUS_CODES               statuses that fail the invocation, e.g. 500,502-504 []
  AWS_LWA_INVOKE_MODE                      buffered or response_stream [buffered]
  AWS_LWA_ENABLE_COMPRESSION               gzip/br for buffered responses [false]
  AWS_LWA_LAMBDA_RUNTIME_API_PROXY         send /runtime/* through this host:port []
  AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH app path POSTed before a SnapStart snapshot []
  AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH     app path POSTed after a SnapStart restore []
  AWS_LWA_SNAPSTART_HOOK_TIMEOUT_SECONDS   bound for each SnapStart hook [60]
  AWS_LWA_DEADLINE_MARGIN_MS               stop waiting for the app this long before the deadline [100]
  AWS_LAMBDA_MAX_CONCURRENCY               long-poll slots (Lambda Managed Instances) [1]
  AWS_LAMBDA_LOG_LEVEL / RUST_LOG          DEBUG, INFO, WARN, ERROR [INFO]
  AWS_LAMBDA_LOG_FORMAT                    TEXT or JSON [TEXT]
Deprecated (warned): HOST, READINESS_CHECK_PORT, READINESS_CHECK_PATH, READINESS_CHECK_PROTOCOL,
  REMOVE_BASE_PATH, ASYNC_INIT, AWS_LWA_READINESS_CHECK_MIN_UNHEALTHY_STATUS.
"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help", "help"):
        sys.stdout.write(HELP)
        return 0
    if args and args[0] in ("-V", "--version"):
        from . import __version__  # noqa: PLC0415 - only this path needs it

        sys.stdout.write(f"lwa {__version__}\n")
        return 0
    if args and args[0] in ("invoke", "serve"):
        from . import local  # noqa: PLC0415 - local debugging only

        return local.main(args, dict(os.environ))
    if args:
        sys.stderr.write(f"lwa: unknown command {args[0]!r}\n\n{HELP}")
        return 2
    from . import daemon  # noqa: PLC0415

    code = daemon.main(dict(os.environ))
    # Leave without interpreter finalization: it resets signal handlers to the default, so a
    # SIGTERM arriving while daemon threads are torn down would kill us with -15 instead of 0.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
