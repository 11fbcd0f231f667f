"""``futu-buybacks`` with a real Ctrl-C at a chosen moment, for the interrupt tests.

    python ctrl_c_at.py MODULE:FUNCTION [futu-buybacks arguments...]

The process sends itself SIGINT as FUNCTION of MODULE (``Class.method`` also works) is entered,
the first time, then runs it; so the signal lands at that moment of every run, not somewhere
around it as a signal from outside would.
"""

import importlib
import os
import signal
import sys


def interrupt_at(target: str) -> None:
    module_name, path = target.split(":")
    owner = importlib.import_module(module_name)
    *parents, name = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    original = getattr(owner, name)
    sent = []

    def interrupted(*args, **kwargs):
        if not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGINT)
        return original(*args, **kwargs)

    setattr(owner, name, interrupted)


if __name__ == "__main__":
    interrupt_at(sys.argv[1])
    from futu_buybacks._cli import main
    sys.exit(main(sys.argv[2:]))
