"""The `patchgen` console entry: one subcommand per leg of the trip."""

import argparse
import os
import sys

from patchgen.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="patchgen",
        description="Train printable adversarial patches with EOT, print them at exact size, score photos of them.")
    from patchgen import __version__

    parser.add_argument("--version", action="version", version=f"patchgen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    from patchgen import commands as spine_commands
    from printing import commands as printing_commands
    from capture import commands as capture_commands

    spine_commands.add_commands(sub)
    printing_commands.add_commands(sub)
    capture_commands.add_commands(sub)
    return parser


def os_error_line(err: OSError) -> str:
    """`PATH: reason` (both paths for a failed rename), else the error's own text."""
    if err.filename is None:
        return str(err)
    paths = f"{err.filename} -> {err.filename2}" if err.filename2 else str(err.filename)
    return f"{paths}: {err.strerror or err}"


def _process_group_up() -> bool:
    """Under torchrun: the ranks have started working together, so an error now may be this rank's alone (before
    that, each rank checks the same config and rank 0 says it for all)."""
    distributed = sys.modules.get("torch.distributed")
    return distributed is not None and distributed.is_available() and distributed.is_initialized()


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as err:
        rank = int(os.environ.get("RANK", "0"))  # torchrun's: every process checks the same config
        if rank == 0 or _process_group_up():
            where = f"[rank {rank}] " if rank else ""
            print(f"patchgen {args.command}: error: {where}{err}", file=sys.stderr)
        return 2
    except OSError as err:  # the file system said no (a file where a folder should be, a full disk...): the
        # user's to fix, so one line naming the path, from every command
        print(f"patchgen {args.command}: error: {os_error_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"patchgen {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
