"""The conventions crosswalk is built from the registered subjects, not typed by hand."""

from __future__ import annotations

import json

from refpe.conformance.conventions import COLUMNS, crosswalk, crosswalk_json
from refpe.conformance.subjects import subjects


def test_rows_come_from_subject_conventions():
    rows = crosswalk()
    by_name = {r["subject"]: r for r in rows}
    recorded = [s for s in subjects() if s.convention]
    assert len(rows) == len(recorded)
    for s in recorded:
        row = by_name[s.name]
        assert row["spec"] == s.spec
        for key, value in s.convention.items():
            assert row[key] == str(value)
        if "library" not in s.convention:
            assert row["library"] == s.library
        assert row["available"] == (s.unavailable() or "yes")
        assert set(COLUMNS) <= set(row)
        for key in set(s.convention) - set(COLUMNS):
            assert f"{key}: {s.convention[key]}" in row["notes"]


def test_known_conventions_are_in_the_table():
    rope = {r["subject"]: r for r in crosswalk("rope")}
    assert rope["transformers.LlamaRotaryEmbedding"]["layout"].startswith("half")
    assert rope["transformers.gptj.apply_rotary_pos_emb"]["layout"].startswith("interleaved")
    assert rope["torchtune.RotaryPositionalEmbeddings"]["layout"].startswith("interleaved")
    assert "float32" in rope["transformers.LlamaRotaryEmbedding"]["frequency dtype"]
    sine = {r["library"] for r in crosswalk("pe-sinusoidal")}
    assert {"fairseq (transcribed)", "tensor2tensor (transcribed)"} <= sine
    assert all(r["spec"] == "alibi" for r in crosswalk("alibi"))


def test_sorted_and_json_round_trip():
    rows = crosswalk()
    keys = [(r["spec"], r["library"], r["subject"]) for r in rows]
    assert keys == sorted(keys)
    data = json.loads(crosswalk_json())
    assert data["columns"] == list(COLUMNS)
    assert data["rows"] == rows
    assert json.loads(crosswalk_json("t5-bias", indent=None))["rows"] == crosswalk("t5-bias")
    assert crosswalk("no-such-spec") == []
