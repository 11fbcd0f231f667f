"""docs/api.md lists every column of the schema, in order, with its Chinese name."""

import re
from pathlib import Path

import pytest

from futu_buybacks._schema import FRAMES

API = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("schema", FRAMES, ids=lambda s: s.key)
def test_column_table_matches_schema(schema):
    section = API.split(f"### `{schema.key}`")[1].split("###")[0]
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \| (\w+) \| ([^|]+) \|", section, flags=re.M)
    assert [(name, kind, zh.strip()) for _, name, kind, zh in rows] == [
        (c.name, c.kind, c.zh) for c in schema.columns]
