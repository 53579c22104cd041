"""The ``neurocontrol`` command line.

Each subcommand is a thin layer over a documented Python function; a bad
argument prints one line to stderr and exits with status 2 (``--debug`` shows
the traceback).
"""

from __future__ import annotations

import argparse
import sys

import neurocontrol
from neurocontrol.exceptions import NeurocontrolError

__all__ = ["main", "build_parser"]


def _cmd_plant_demo(args: argparse.Namespace) -> int:
    from plants.helicopter.demo import run_demo

    run_demo(out=args.out, seconds=args.seconds, seed=args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``neurocontrol`` command."""
    parser = argparse.ArgumentParser(
        prog="neurocontrol",
        description="Adaptive neural control of MIMO plants (RTRN + RTRL + ILC).",
    )
    parser.add_argument("--version", action="version", version=f"neurocontrol {neurocontrol.__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("plant-demo", help="fly the helicopter plant open-loop around trim and plot it")
    demo.add_argument("--out", default="runs/plant-demo", help="folder for the plots (default: %(default)s)")
    demo.add_argument("--seconds", type=float, default=10.0, help="simulated time in s (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    demo.set_defaults(func=_cmd_plant_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (NeurocontrolError, OSError) as exc:
        if args.debug:
            raise
        print(f"neurocontrol: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
