"""``python -m pgqueuer``: hand over to the pgq command line when it is installed."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from pgqueuer_cli.main import main as cli_main  # noqa: TID251 (optional, lazy)
    except ImportError:
        sys.stderr.write("python -m pgqueuer needs the command line: pip install pgqueuer-cli\n")
        raise SystemExit(1) from None
    cli_main(prog_name="python -m pgqueuer")


if __name__ == "__main__":
    main()
