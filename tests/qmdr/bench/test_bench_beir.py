"""BEIR loading and the doc id <-> note path mapping."""

import json
from pathlib import Path

import pytest

from qmdr.bench.beir import DocIdMap, load_beir, load_qrels, note_name_for, write_vault

ODD_IDS = [
    "12",
    "doc-7",
    "A/b",
    "a_b",
    "a b",
    "../escape",
    ".hidden",
    "Ünïcode/ü",
    "MixedCase",
    "mixedcase",
    "x" * 300,
    "",
    "a:b*c?",
]


def write_dataset(root: Path, docs: list[dict], queries: list[dict], qrels: list[tuple[str, str, int]]) -> Path:
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in docs) + "\n", encoding="utf-8")
    (root / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries) + "\n", encoding="utf-8")
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in qrels]
    (root / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_load_beir_reads_corpus_queries_and_graded_qrels(tmp_path):
    ds = write_dataset(
        tmp_path / "tiny",
        [{"_id": "d1", "title": "Wings", "text": "lift"}, {"_id": 2, "title": "", "text": "drag"}],
        [{"_id": "q1", "text": "lift of wings"}, {"_id": "q2", "text": "nothing judged"}],
        [("q1", "d1", 2), ("q1", "2", 0), ("q2", "d1", 0)],
    )
    data = load_beir(ds)
    assert data.name == "tiny"
    assert [(d.doc_id, d.title, d.text) for d in data.docs] == [("d1", "Wings", "lift"), ("2", "", "drag")]
    assert data.qrels == {"q1": {"d1": 2, "2": 0}, "q2": {"d1": 0}}
    # q2 has no document with score > 0: left out of evaluation
    assert data.judged_queries() == {"q1": "lift of wings"}


def test_load_beir_names_missing_files(tmp_path):
    (tmp_path / "corpus.jsonl").write_text("")
    with pytest.raises(FileNotFoundError, match=r"queries.jsonl.*qrels/test.tsv"):
        load_beir(tmp_path)


def test_qrels_without_header_and_bad_score(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text("1\t5\t3\n")
    assert load_qrels(path) == {"1": {"5": 3}}
    path.write_text("query-id\tcorpus-id\tscore\n1\t5\thigh\n")
    with pytest.raises(ValueError, match="not a number"):
        load_qrels(path)


def test_note_names_are_safe_and_unique_for_odd_ids():
    names = [note_name_for(i) for i in ODD_IDS]
    assert len(set(names)) == len(ODD_IDS)
    # case-insensitive filesystems must not merge two ids either
    assert len({n.lower() for n in names}) == len(ODD_IDS)
    for name in names:
        assert "/" not in name and "\\" not in name and not name.startswith(".")
        assert name.endswith(".md") and len(name.encode()) < 255
    assert note_name_for("doc-7") == "doc-7.md"  # already-safe ids stay readable
    assert note_name_for("A/b") == note_name_for("A/b")  # stable


def test_vault_round_trip_maps_note_paths_back_to_ids(tmp_path):
    docs = [{"_id": i, "title": f"Title {n}", "text": f"body {n}"} for n, i in enumerate(ODD_IDS)]
    ds = write_dataset(tmp_path / "odd", docs, [{"_id": "q", "text": "x"}], [("q", ODD_IDS[0], 1)])
    data = load_beir(ds)
    vault = tmp_path / "vault"
    mapping = write_vault(data, vault)
    files = sorted(p.relative_to(vault).as_posix() for p in vault.rglob("*.md"))
    assert len(files) == len(ODD_IDS)
    assert sorted(mapping.doc_for(f) for f in files) == sorted(ODD_IDS)
    assert mapping.doc_for("./" + files[0]) == mapping.doc_for(files[0])
    note = (vault / mapping.doc_to_path["A/b"]).read_text()
    assert note.startswith("# Title 2\n\n") and "body 2" in note


def test_doc_id_map_refuses_two_ids_on_one_path():
    mapping = DocIdMap()
    mapping.add("a", "x.md")
    with pytest.raises(ValueError, match="map to one note"):
        mapping.add("b", "x.md")
