"""The dependency matrix: named cells of SDK x protobuf x Python x pandas, on uv virtualenvs.

Run with ``make matrix`` (all cells) or ``.venv/bin/nox -s "tests(futu-9.6-pb3.20-py3.9)"``.
"""

import glob
import os
import shutil

import nox

nox.options.default_venv_backend = "uv"
nox.options.error_on_missing_interpreters = True

# (name, python, SDK requirement, protobuf, pandas (and pyarrow), extra environment)
CELLS = [
    ("futu-9.6-pb3.20-py3.9-pd2.2", "3.9", "futu-api==9.6.5608", "protobuf==3.20.3", "pandas==2.2.*", {}),
    ("futu-10.5-pbnewest-py3.11-pdnewest", "3.11", "futu-api==10.5.6508", "protobuf", "pandas", {}),
    ("futu-10.5-pb6-py3.11-json", "3.11", "futu-api==10.5.6508", "protobuf==6.*", "pandas", {}),
    ("futu-10.11-pb6-py3.10-pd2.3-pyarrow-native-json", "3.10", "futu-api==10.11.7108", "protobuf==6.*",
     "pandas==2.3.* pyarrow", {}),
    ("futu-10.11-pbnewest-py3.13-native", "3.13", "futu-api==10.11.7108", "protobuf", "pandas", {}),
    ("moomoo-9.6-pb3.20-py3.10-pd2.2", "3.10", "moomoo-api==9.6.5608", "protobuf==3.20.3", "pandas==2.2.*", {}),
    ("moomoo-10.11-pbnewest-py3.12-native", "3.12", "moomoo-api==10.11.7108", "protobuf", "pandas", {}),
    ("futu-10.5-pbnewest-purepython-py3.12", "3.12", "futu-api==10.5.6508", "protobuf", "pandas",
     {"PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python"}),
    ("futu-10.11-pbnewest-py3.11-pyarrow-reference-frames", "3.11", "futu-api==10.11.7108", "protobuf",
     "pandas pyarrow", {"FUTU_BUYBACKS_FRAMES": "reference"}),
    ("futu-9.6-pb3.20-purepython-py3.11", "3.11", "futu-api==9.6.5608", "protobuf==3.20.3", "pandas==2.2.*",
     {"PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python"}),
]


def interpreter(version: str) -> str:
    """``python3.X`` on PATH, else the pyenv build of that version (no downloads)."""
    found = shutil.which(f"python{version}")
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    builds = sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", f"python{version}")))
    if builds and (found is None or "/shims/" in found):
        return builds[-1]
    return found or version


@nox.session
@nox.parametrize(
    "python, sdk, protobuf, pandas, env",
    [nox.param(interpreter(py), sdk, pb, pd, env, id=name) for name, py, sdk, pb, pd, env in CELLS],
)
def tests(session: nox.Session, sdk: str, protobuf: str, pandas: str, env: dict) -> None:
    session.install("-e", ".[test]", sdk, protobuf, *pandas.split())
    session.run("python", "-c", "import google.protobuf, pandas, sys, importlib.util as u; from "
                "google.protobuf.internal import api_implementation as a; print('python', sys.version.split()[0], "
                "'protobuf', google.protobuf.__version__, a.Type(), 'pandas', pandas.__version__, 'pyarrow', "
                "u.find_spec('pyarrow') is not None)", env=env)
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist", "worksteal",
                *session.posargs, env=env)
