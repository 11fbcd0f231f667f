"""``make demo``: the documented example through the shim, then through the vendor's own method.

``run_example.py OLD_PYTHON NATIVE_PYTHON`` starts one simulator on 127.0.0.1:11111 (the port
docs/example.py connects to; FUTU_BUYBACKS_PORT moves both) and runs the example twice, each time
in a process of its own: with OLD_PYTHON, whose SDK lacks ``get_corporate_actions_buybacks``
(futu-api 10.5), so ``futu_buybacks.install()`` patches it in; then with NATIVE_PYTHON, whose SDK
(futu-api 10.11) ships it, so ``install()`` keeps the vendor's. Each process prints what
``install()`` did and the example's table, and pickles the example's ``(ret, data)``. The demo
fails unless the two are identical: ``ret``, ``next_key``, and both frames' columns, index,
dtypes and values.

The two environments must hold the same numpy, pandas and pyarrow (the Makefile installs the
main environment's into the old-SDK one): a pickle is read by the pandas that wrote it, and a
dtype such as pandas 3's string storage (pyarrow or Python) depends on them, not on the shim.
The demo refuses to compare results made with different versions.

``run_example.py --half EXAMPLE OUT`` is one of the two processes (the tests run it too).
"""

import importlib
import importlib.metadata
import importlib.util
import logging
import os
import pickle
import re
import runpy
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict

import pandas as pd

import futu_buybacks

HERE = Path(__file__).resolve()
EXAMPLE = HERE.with_name("example.py")
METHOD = "get_corporate_actions_buybacks"
TIMEOUT = 60


def frame_packages() -> str:
    versions = []
    for name in ("numpy", "pandas", "pyarrow"):
        found = importlib.util.find_spec(name) is not None
        versions.append(f"{name} {importlib.metadata.version(name) if found else 'absent'}")
    return ", ".join(versions)


def run_half(example: Path, out: Path) -> None:
    """Import the example's SDK, ``install()``, run the example, pickle its ``(ret, data)`` to ``out``.

    The SDK is imported before ``install()`` so that the report says what was done to it
    (``patched`` or ``native``) rather than ``deferred``; the example's own ``install()`` then
    finds it done. The SDK's own console lines (connected, disconnected) are turned down to warnings
    so that the table stands out. The example must close its context, or this process never exits.
    """
    source = example.read_text(encoding="utf-8")
    package = re.search(r"^from (futu|moomoo) import \*", source, flags=re.M).group(1)
    sdk = importlib.import_module(package)
    sdk.logger.console_level = logging.WARNING
    distribution = f"{package}-api {importlib.metadata.version(package + '-api')}"
    own = "its own" if hasattr(sdk.OpenQuoteContext, METHOD) else "no"
    print(f"== {distribution}, which has {own} {METHOD}", flush=True)
    report = futu_buybacks.install()
    method = getattr(sdk.OpenQuoteContext, METHOD)
    answered_by = f"{method.__module__}.{method.__qualname__}"
    print(f"futu_buybacks.install(): {report}", flush=True)
    print(f"OpenQuoteContext.{METHOD} is {answered_by}", flush=True)
    print(f"$ python docs/{example.name}", flush=True)
    port = os.environ.get("FUTU_BUYBACKS_PORT", "11111")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp, example.name)
        script.write_text(source.replace("port=11111", f"port={port}"), encoding="utf-8")
        namespace = runpy.run_path(str(script), run_name="__main__")
    half = {"sdk": distribution, "status": report[package], "answered_by": answered_by,
            "frame_packages": frame_packages(), "result": (namespace["ret"], namespace["data"])}
    out.write_bytes(pickle.dumps(half))


def assert_identical(left: Any, right: Any) -> None:
    """Raise AssertionError unless two ``(ret, data)`` results are the same, frames exactly."""
    assert left[0] == right[0], f"ret: {left[0]!r} != {right[0]!r}"
    assert type(left[1]) is type(right[1]), f"data: {type(left[1])} != {type(right[1])}"
    if not isinstance(left[1], dict):
        assert left[1] == right[1], f"data: {left[1]!r} != {right[1]!r}"
        return
    assert list(left[1]) == list(right[1]), f"keys: {list(left[1])} != {list(right[1])}"
    for key, value in left[1].items():
        other = right[1][key]
        assert type(value) is type(other), f"{key}: {type(value)} != {type(other)}"
        if not isinstance(value, pd.DataFrame):
            assert value == other, f"{key}: {value!r} != {other!r}"
            continue
        columns, other_columns = list(value.columns), list(other.columns)
        assert columns == other_columns, f"{key} columns: {columns} != {other_columns}"
        dtypes = {name: (mine, theirs) for name, mine, theirs in zip(value.columns, value.dtypes, other.dtypes)
                  if mine != theirs}
        assert not dtypes, f"{key} dtypes (left, right): {dtypes}"
        try:
            pd.testing.assert_frame_equal(value, other, check_exact=True, check_index_type=True,
                                          check_column_type=True)
        except AssertionError as exc:
            raise AssertionError(f"{key}: {exc}") from None


def describe(result: Any) -> str:
    ret, data = result
    if not isinstance(data, dict):
        return f"ret {ret}, {data!r}"
    parts = [f"ret {ret}"] + [f"{key} {value!r}" if not isinstance(value, pd.DataFrame)
                              else f"{key} {value.shape[0]} rows x {value.shape[1]} columns"
                              for key, value in data.items()]
    return ", ".join(parts)


def run(python: str, example: Path, port: int, tmp: str, name: str) -> Dict[str, Any]:
    out = Path(tmp, f"{name}.pickle")
    env = dict(os.environ, FUTU_BUYBACKS_PORT=str(port))
    try:
        done = subprocess.run([python, str(HERE), "--half", str(example), str(out)], env=env, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"{example.name} on {python} did not exit within {TIMEOUT} s "
                         "(an open context keeps the SDK's threads alive)") from None
    if done.returncode != 0:
        raise SystemExit(f"{example.name} on {python} failed (exit {done.returncode})")
    print(flush=True)
    return pickle.loads(out.read_bytes())


def main(old_python: str, native_python: str) -> int:
    from futu_buybacks.simulator import Simulator

    port = int(os.environ.get("FUTU_BUYBACKS_PORT", "11111"))
    try:
        sim = Simulator(port=port).start()
    except OSError as exc:
        raise SystemExit(f"cannot listen on 127.0.0.1:{port} ({exc.strerror}): is OpenD running there? "
                         "FUTU_BUYBACKS_PORT=N make demo uses port N") from None
    with sim, tempfile.TemporaryDirectory() as tmp:
        print(f"simulator (an offline OpenD) on {sim.host}:{sim.port}\n", flush=True)
        old = run(old_python, EXAMPLE, sim.port, tmp, "old")
        native = run(native_python, EXAMPLE, sim.port, tmp, "native")
    if old["status"] != "patched" or native["status"] != "native":
        print(f"not a demo of the shim: install() said {old['status']!r} on {old['sdk']} (want 'patched') "
              f"and {native['status']!r} on {native['sdk']} (want 'native')", file=sys.stderr)
        return 1
    if old["frame_packages"] != native["frame_packages"]:
        print(f"cannot compare exactly: {old['frame_packages']} on {old['sdk']}, "
              f"{native['frame_packages']} on {native['sdk']}", file=sys.stderr)
        return 1
    try:
        assert_identical(old["result"], native["result"])
    except AssertionError as exc:
        print(f"DIFFERENT: {old['sdk']} + futu-buybacks and {native['sdk']}'s own method: {exc}", file=sys.stderr)
        return 1
    print(f"identical: {old['sdk']} through futu-buybacks and {native['sdk']} through its own method "
          f"returned the same (ret, data)\n  {describe(old['result'])}: same columns, index, dtypes and "
          f"values ({old['frame_packages']} on both sides)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--half":
        run_half(Path(sys.argv[2]), Path(sys.argv[3]))
    elif len(sys.argv) == 3:
        sys.exit(main(sys.argv[1], sys.argv[2]))
    else:
        sys.exit(f"usage: {sys.argv[0]} OLD_SDK_PYTHON NATIVE_SDK_PYTHON | --half EXAMPLE OUT")
