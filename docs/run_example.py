"""``make demo``: start the simulator on 127.0.0.1:11111 and run docs/example.py against it.

The example is the vendor's documented one, verbatim, plus ``futu_buybacks.install()``; it
connects to port 11111, so that is where the simulator listens (set FUTU_BUYBACKS_PORT to use
another port, in which case the example's port is rewritten to match).
"""

import os
import runpy
import sys
import tempfile
from pathlib import Path

from futu_buybacks.simulator import Simulator

EXAMPLE = Path(__file__).with_name("example.py")


def main() -> int:
    port = int(os.environ.get("FUTU_BUYBACKS_PORT", "11111"))
    with Simulator(port=port) as sim:
        print(f"simulator listening on {sim.host}:{sim.port}; running {EXAMPLE.name} through a real SDK\n",
              file=sys.stderr, flush=True)
        source = EXAMPLE.read_text(encoding="utf-8")
        if sim.port != 11111:
            source = source.replace("port=11111", f"port={sim.port}")
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp, "example.py")
            script.write_text(source, encoding="utf-8")
            runpy.run_path(str(script), run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
