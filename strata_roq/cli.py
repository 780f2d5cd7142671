"""The ``strata-roq`` command: one subcommand per job.

Each subcommand lives in ``strata_roq/commands/<name>.py`` with ``add_arguments(parser)``
and ``run(args) -> int``. Heavy imports (PyAV, aioquic) happen inside ``run`` so that
``--help`` and URL errors are instant. Bad input becomes one line on stderr and exit code 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from strata_roq import __version__
from strata_roq.errors import UsageError

#: (subcommand, module under strata_roq.commands, one-line help)
COMMANDS: list[tuple[str, str, str]] = [
    ("demo", "demo", "run the built-in demo: test source -> 3 emulated paths -> receive -> probe"),
    ("testsrc", "testsrc", "encode a moving test pattern with audio and send it live"),
    ("probe", "probe", "receive a stream and report frames, decodability and latency"),
    ("send", "send", "take UDP/RTP in and send it as RoQ or RIST"),
    ("receive", "receive", "receive RoQ or RIST and hand it on as UDP/RTP"),
    ("netsim", "netsim", "relay UDP through emulated links (delay, loss, bursts, rate, traces)"),
    ("gateway", "gateway", "take a RIST/UDP feed in and serve it to browsers over WebTransport"),
    ("certs", "certs", "make a self-signed certificate browsers accept by hash"),
    ("token", "token", "mint a signed, expiring viewer token"),
]

log = logging.getLogger("strata_roq")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="strata-roq",
        description="Carry live video over several unreliable networks as RTP over QUIC. "
        "Endpoints: udp://[@][host]:port, rtp://..., rist://...?, roq://... ('@' = listen).",
    )
    parser.add_argument("--version", action="version", version=f"strata-roq {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name, help_text in COMMANDS:
        module = importlib.import_module(f"strata_roq.commands.{module_name}")
        p = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip())
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s: %(message)s",
                        stream=sys.stderr)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args._run(args) or 0)
    except UsageError as exc:
        print(f"strata-roq {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
