"""``python -m vaekit``: the command line (as torchrun and other launchers need it)."""

from vaekit.cli import main

if __name__ == "__main__":
    main()
