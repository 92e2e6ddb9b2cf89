"""`python -m lwa invoke` and `python -m lwa serve`: debug on this host, without Lambda.

Both run `loop.handle`, the daemon's own code path for one invocation, with a stand-in for the
Runtime API that prints the result (`invoke.py`) or writes it back as the HTTP answer
(`serve.py`, which also plays the front door: `frontdoor.py`). This module parses the command
line only; each mode is imported when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:
    import argparse

DEFAULT_TIMEOUT_S = 300.0  # the Runtime Interface Emulator's default function timeout
DEFAULT_SERVE_PORT = 9000
SOURCES = ("alb", "v1", "v2")


def _parser(kind: str, environ: Mapping[str, str]) -> argparse.ArgumentParser:
    import argparse  # noqa: PLC0415 - subcommands only

    timeout = float(environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT") or DEFAULT_TIMEOUT_S)
    footer = (
        "The app is reached at AWS_LWA_HOST:AWS_LWA_PORT (default 127.0.0.1:8080) and every AWS_LWA_*\n"
        "variable applies as in Lambda (see `python -m lwa --help`). Logs go to stderr."
    )
    if kind == "invoke":
        p = argparse.ArgumentParser(
            prog="python -m lwa invoke", formatter_class=argparse.RawDescriptionHelpFormatter,
            description="Send one Lambda event to the app already running on this host, through the same\n"
                        "translators as in Lambda, and print the Lambda response payload on stdout.\n"
                        "An invocation error prints {\"errorType\",\"errorMessage\"} and exits 1.",
            epilog=footer,
        )
        p.add_argument("event", metavar="EVENT.json", help="the event file; - reads it from stdin")
        p.add_argument("--stream", action="store_true",
                       help="answer as a response stream (as AWS_LWA_INVOKE_MODE=response_stream): the prelude "
                            "JSON, 8 NUL bytes, then the body as it arrives")
        p.add_argument("--pretty", action="store_true",
                       help="indent the JSON result (streamed: the prelude, a newline, then the body)")
        p.add_argument("--request-id", metavar="ID", help="the Lambda request id [a random UUID]")
        p.add_argument("--tenant-id", metavar="T", help="the tenant id, sent to the app as x-amz-tenant-id")
    else:
        p = argparse.ArgumentParser(
            prog="python -m lwa serve", formatter_class=argparse.RawDescriptionHelpFormatter,
            usage="python -m lwa serve [options] [-- APP COMMAND...]",
            description="A local HTTP front door: each request becomes the event API Gateway, a Function\n"
                        "URL or an ALB would send, goes through lwa as in Lambda, and the Lambda response\n"
                        "is written back. Invocation errors answer 502 with the error JSON. Ctrl-C stops.\n"
                        "-- APP COMMAND... first starts the app (PORT and AWS_LWA_PORT set for it), waits\n"
                        "until it is ready (AWS_LWA_READINESS_CHECK_*), and stops it with SIGTERM at exit.",
            epilog=footer,
        )
        p.add_argument("--port", type=int, default=DEFAULT_SERVE_PORT,
                       help=f"port to listen on; 0 picks a free one [{DEFAULT_SERVE_PORT}]")
        p.add_argument("--host", default="127.0.0.1", help="address to listen on [127.0.0.1]")
        p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                       help="also answer requests whose Host is NAME (repeatable); by default only "
                            "loopback names and the --host address are answered, others get 421")
        p.add_argument("--allow-any-host", action="store_true",
                       help="answer requests whatever their Host (no DNS-rebinding protection)")
        p.add_argument("--source", choices=SOURCES, default="v2",
                       help="event shape: v2 = HTTP API payload 2.0 / Function URL, v1 = REST API, "
                            "alb = Application Load Balancer [v2]")
        p.add_argument("--alb-multi-value", action="store_true",
                       help="with --source alb: multi-value headers mode (multiValueHeaders and "
                            "multiValueQueryStringParameters)")
        p.add_argument("--stream", action="store_true",
                       help="stream responses (as AWS_LWA_INVOKE_MODE=response_stream): chunked (close-delimited "
                            "for HTTP/1.0 clients), each piece sent to the client as the app writes it")
    p.add_argument("--timeout", type=float, default=timeout, metavar="S",
                   help=f"the invocation deadline in seconds, like the function timeout "
                        f"[AWS_LAMBDA_FUNCTION_TIMEOUT or {DEFAULT_TIMEOUT_S:.0f}]")
    return p


def main(args: list[str], environ: Mapping[str, str]) -> int:
    """`args` is argv after `python -m lwa`, starting with `invoke` or `serve`."""
    kind, rest = args[0], list(args[1:])
    command: list[str] = []
    if kind == "serve" and "--" in rest:
        cut = rest.index("--")
        rest, command = rest[:cut], rest[cut + 1:]
    parser = _parser(kind, environ)
    opts = parser.parse_args(rest)
    if opts.timeout <= 0:
        parser.error("--timeout must be a number of seconds > 0")
    if kind == "invoke":
        from . import invoke  # noqa: PLC0415 - one mode per run

        return invoke.run(opts, environ)
    if "--" in args and not command:
        parser.error("nothing after --: give the command that starts the app")
    from . import serve  # noqa: PLC0415 - one mode per run

    return serve.run(opts, command, environ)
