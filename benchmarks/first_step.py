"""Run ``vaekit ARGS`` and end the process the moment its first optimizer step returns.

restart.py times this process from launch to exit: that is a user's wait from pressing Enter to
the first step of training. Patching the optimizer (vaekit's Adam, ``vaekit.train.adam``) imports torch
a little earlier than the command itself would, the same modules in all.

    python benchmarks/first_step.py train --data DIR --out RUN ...
"""

import os
import sys

from vaekit.train.adam import Adam


def main() -> None:
    step = Adam.step

    def first_step(self, *args, **kwargs):
        step(self, *args, **kwargs)
        sys.stdout.flush()
        os._exit(0)

    Adam.step = first_step
    from vaekit.cli import main as vaekit

    sys.argv = ["vaekit", *sys.argv[1:]]
    vaekit()
    sys.exit("the command ended without a training step")


if __name__ == "__main__":
    main()
