"""Read a BEIR-layout dataset and lay it out as a markdown vault.

BEIR's layout is the common currency of retrieval benchmarks: ``corpus.jsonl``
(``_id``, ``title``, ``text``), ``queries.jsonl`` (``_id``, ``text``) and
``qrels/<split>.tsv`` (header ``query-id corpus-id score``). We index the corpus
through the product's own path (vault -> chunk -> embed -> store), so every
document becomes a note; ``DocIdMap`` maps note paths back to document ids so
search results can be judged.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from qmdr.bench.metrics import Qrels

# File names stay well under every filesystem's 255-byte limit even with the
# hash suffix, and short enough to read in a results table.
MAX_SLUG_CHARS = 80
# Ten hex digits (40 bits) of sha256 make a collision between two ids of one
# corpus vanishingly unlikely (BEIR's largest corpora have ~10^7 documents).
ID_HASH_CHARS = 10
# Characters that are safe in a file name on every OS and never special to the
# vault scanner (no leading dot: dot-files are ignored as hidden).
_UNSAFE = re.compile(r"[^a-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class BeirDoc:
    doc_id: str
    title: str
    text: str


@dataclass(slots=True)
class BeirDataset:
    """A loaded dataset: documents in file order, queries, and graded judgements."""

    name: str
    docs: list[BeirDoc]
    queries: dict[str, str]  # query id -> text, in file order
    qrels: Qrels  # query id -> {doc id: graded score}

    def judged_queries(self) -> dict[str, str]:
        """Queries with at least one relevant (score > 0) document.

        Queries without any are left out of every metric, as trec_eval and
        BEIR do: they would score 0 whatever the system returns.
        """
        return {
            qid: text
            for qid, text in self.queries.items()
            if any(score > 0 for score in self.qrels.get(qid, {}).values())
        }


def _read_jsonl(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from exc


def load_qrels(path: Path) -> Qrels:
    """Read a ``query-id corpus-id score`` TSV (header line optional)."""
    qrels: Qrels = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for row_no, row in enumerate(csv.reader(fh, delimiter="\t"), start=1):
            if not row or not "".join(row).strip():
                continue
            if row_no == 1 and row[0].strip().lower() in {"query-id", "query_id", "qid"}:
                continue
            if len(row) < 3:
                raise ValueError(f"{path}:{row_no}: expected query-id, corpus-id, score")
            qid, doc_id, score = row[0].strip(), row[1].strip(), row[2].strip()
            try:
                qrels.setdefault(qid, {})[doc_id] = int(float(score))
            except ValueError as exc:
                raise ValueError(f"{path}:{row_no}: score {score!r} is not a number") from exc
    return qrels


def load_beir(dataset_dir: Path, split: str = "test") -> BeirDataset:
    """Load ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv`` from one folder."""
    dataset_dir = Path(dataset_dir)
    missing = [
        name for name in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv") if not (dataset_dir / name).is_file()
    ]
    if missing:
        raise FileNotFoundError(f"{dataset_dir} is not a BEIR dataset: missing {', '.join(missing)}")
    docs = [
        BeirDoc(str(row["_id"]), str(row.get("title") or ""), str(row.get("text") or ""))
        for row in _read_jsonl(dataset_dir / "corpus.jsonl")
    ]
    queries = {str(row["_id"]): str(row["text"]) for row in _read_jsonl(dataset_dir / "queries.jsonl")}
    qrels = load_qrels(dataset_dir / "qrels" / f"{split}.tsv")
    return BeirDataset(dataset_dir.name, docs, queries, qrels)


def note_name_for(doc_id: str) -> str:
    """A safe, stable note file name for a document id.

    Ids that are already safe lower-case slugs keep their name (``doc-12.md``);
    any other id (slashes, spaces, upper case, unicode, leading dots) gets a slug
    plus a hash of the exact id, so two ids that slug alike (``A/b`` and ``a_b``)
    never share a file, and case-insensitive filesystems cannot merge them.
    """
    slug = _UNSAFE.sub("_", doc_id.lower()).strip("_-")[:MAX_SLUG_CHARS] or "doc"
    if slug == doc_id:
        return f"{slug}.md"
    digest = hashlib.sha256(doc_id.encode("utf-8")).hexdigest()[:ID_HASH_CHARS]
    return f"{slug}-{digest}.md"


def note_markdown(doc: BeirDoc) -> str:
    """The note text for a document: its title as the top heading, then its text."""
    title = " ".join(doc.title.split())
    body = doc.text.strip()
    return f"# {title}\n\n{body}\n" if title else f"{body}\n"


@dataclass(slots=True)
class DocIdMap:
    """Note path (relative, POSIX) <-> document id, both ways."""

    path_to_doc: dict[str, str] = field(default_factory=dict)
    doc_to_path: dict[str, str] = field(default_factory=dict)

    def add(self, doc_id: str, path: str) -> None:
        if path in self.path_to_doc and self.path_to_doc[path] != doc_id:
            raise ValueError(f"ids {self.path_to_doc[path]!r} and {doc_id!r} map to one note {path}")
        self.path_to_doc[path] = doc_id
        self.doc_to_path[doc_id] = path

    def doc_for(self, note_path: str) -> str | None:
        return self.path_to_doc.get(note_path.removeprefix("./"))


def write_vault(dataset: BeirDataset, root: Path) -> DocIdMap:
    """Write every document as a note under ``root`` and return the path map.

    Duplicate document ids (a broken corpus) keep the last text, as BEIR's own
    loader does.
    """
    root.mkdir(parents=True, exist_ok=True)
    mapping = DocIdMap()
    for doc in dataset.docs:
        name = note_name_for(doc.doc_id)
        mapping.add(doc.doc_id, name)
        (root / name).write_text(note_markdown(doc), encoding="utf-8")
    return mapping
