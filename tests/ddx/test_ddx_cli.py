"""``calcscan ddx`` end to end through the real CLI (subprocess): contract output and errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from calcscan.ddx import findings_from_record
from calcscan.errors import InputError

DATA = Path(__file__).resolve().parent / "data"
RECORD = DATA / "facial_record.json"


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "calcscan", "ddx", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_json_from_file_matches_contract(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_text(json.dumps({
        "age_years": 19, "sex": "M", "body_region": "pelvis_hip", "compartment": "bursa",
        "morphology": ["lobulated", "fluid_calcium_level"], "labs": {"phosphate_mg_dl": 6.4,
        "renal_failure": False}}), encoding="utf-8")  # fmt: skip
    proc = _run(str(path), "--json", "--top", "4")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert len(out["differential"]) == 4
    assert out["differential"][0]["id"] == "tumoral_calcinosis"
    assert out["differential"][0]["label"] == "Tumoral calcinosis"
    assert "tumoural calcinosis" in out["differential"][0]["synonyms"]
    assert out["knowledge_base_version"]
    assert isinstance(out["mechanism"], dict) and isinstance(out["next_steps"], list)


def test_stdin_empty_object_is_prior_only() -> None:
    proc = _run("-", "--json", stdin="{}")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["prior_only"] is True


def test_quick_flags_and_table() -> None:
    proc = _run("--age", "45", "--sex", "F", "--compartment", "subcutaneous",
                "--morphology", "punctate",
                "--distribution", "face,multiple,symmetric")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Primary miliary osteoma cutis" in proc.stdout
    assert "Next steps" in proc.stdout


def test_lab_flag() -> None:
    proc = _run("--json", "--compartment", "cartilage", "--body-region", "knee",
                "--lab", "calcium_mg_dl=11.9", "--lab", "pth=high")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["differential"][0]["id"] == "primary_hyperparathyroidism"


@pytest.mark.parametrize(
    ("args", "stdin", "needle"),
    [
        (["-"], '{"colour": "red"}', "accepted keys"),
        (["-"], '{"compartment": "bone"}', "accepted values"),
        (["--morphology", "spiky"], None, "accepted values"),
        (["-"], "{not json", "not valid JSON"),
        (["-"], "[1, 2]", "one JSON object"),
        (["/nonexistent/findings.json"], None, "not found"),
        (["--lab", "phosphate"], None, "KEY=VALUE"),
    ],
)
def test_bad_input_exit_1_one_line(args: list[str], stdin: str | None, needle: str) -> None:
    proc = _run(*args, "--json", stdin=stdin)
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert needle in lines[0]
    assert "Traceback" not in proc.stderr


def test_from_record_explains_miliary_osteoma_cutis() -> None:
    proc = _run("--from-record", str(RECORD), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    ids = [d["id"] for d in out["differential"]]
    assert ids[0] == "miliary_osteoma_cutis"
    assert "secondary_osteoma_cutis" in ids or "dermal_filler" in ids
    assert out["findings"]["distribution"] == ["face", "multiple", "bilateral", "symmetric"]
    assert out["record"]["nodule_count"] == 5
    assert any("miliary osteoma cutis" in n for n in out["facial_nodule_notes"])
    table = _run("--from-record", str(RECORD))
    assert table.returncode == 0 and "facial dermal nodules" in table.stdout


def test_record_to_findings_mapping() -> None:
    record = json.loads(RECORD.read_text(encoding="utf-8"))
    f = findings_from_record(record)
    assert f.body_region == "head_face"
    assert f.compartment == "subcutaneous"
    assert f.morphology == ("punctate", "ring_like", "central_lucency")
    assert f.age_years == 61.0 and f.sex == "F"
    assert f.size_mm == 1.0
    one = dict(record, nodules=[dict(record["nodules"][0], depth_mm=1.2)])
    f1 = findings_from_record(one)
    assert f1.compartment == "cutaneous"
    assert "solitary" in f1.distribution and "symmetric" not in f1.distribution


def test_record_without_nodules_is_input_error() -> None:
    record = json.loads(RECORD.read_text(encoding="utf-8"))
    with pytest.raises(InputError, match="no nodules"):
        findings_from_record(dict(record, nodules=[], possible_nodules=[]))
    with pytest.raises(InputError, match="region"):
        findings_from_record(dict(record, nodules=[dict(record["nodules"][0], region="chin")]))


def test_custom_kb_folder_is_validated(tmp_path: Path) -> None:
    import shutil

    kb_src = Path(__file__).resolve().parents[2] / "src" / "calcscan" / "ddx" / "kb"
    kb = tmp_path / "kb"
    shutil.copytree(kb_src, kb)
    ok = _run("--kb", str(kb), "--json", "--compartment", "muscle", "--morphology", "rice_grain")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["differential"][0]["id"] == "cysticercosis"
    broken = kb / "entities" / "parasitic.yaml"
    broken.write_text(
        broken.read_text(encoding="utf-8").replace(
            "rice_grain: pathognomonic", "rice: pathognomonic"
        ),
        encoding="utf-8",
    )
    bad = _run("--kb", str(kb), "--json")
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1
    assert "cysticercosis" in bad.stderr and "morphology" in bad.stderr
    missing = _run("--kb", str(tmp_path / "nowhere"), "--json")
    assert missing.returncode == 1 and "cannot read" in missing.stderr


def test_record_falls_back_to_possible_nodules_and_skips_unknown_demographics() -> None:
    from calcscan.ddx.record import record_summary

    record = json.loads(RECORD.read_text(encoding="utf-8"))
    faint = dict(
        record,
        nodules=[],
        nodule_count=0,
        possible_nodules=record["nodules"][:2],
        patient_sex="O",
        patient_age_years=None,
    )
    f = findings_from_record(faint)
    assert f.sex is None and f.age_years is None
    assert record_summary(faint)["from_possible_nodules"] is True
    assert "bilateral" in f.distribution
