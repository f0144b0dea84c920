"""A ready-to-paste markdown block of memory for an agent's prompt, within a token budget.

``build_context`` searches every query (in the chosen vaults), fuses the
queries' results by RRF, and fills the budget in three passes:

1. the best chunks, full text, best first;
2. a chunk that no longer fits is tried as its snippet;
3. then the *neighbours* of the notes already included: notes they link to
   (``[[wiki-links]]`` and markdown links, kept in the index as ``links``) and
   notes named in their frontmatter (``related``, ``see_also``, ``up``,
   ``parent``), each with its first chunk.

No chunk appears twice, and a chunk overlapping one already included (chunk
overlap repeats lines) is left out. Tokens are counted on the *whole rendered
block* with the embedded model's tokenizer (``count_tokens`` of the embedder;
an approximation only when the embedder has none), and an entry is added only
when the block still fits, so the block never exceeds its budget.

With ``since`` (an agent picking up where another left off) only notes changed
after that date count (``qmdr.memory.handoff``). With queries, the block holds
their hits among the changed notes (searched deeper, since the top ``k`` may
hold none of them); without a query, the changed notes themselves, newest
first, chunk by chunk (``kind: "changed"``). Linked neighbours are left out:
they did not change. Superseded notes (``superseded_by`` in their frontmatter)
are left out of hits, neighbours and changes unless ``include_superseded``. Filters
(``where``, ``after``, ``before``, path and tags) hold for hits, neighbours and changes alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import anyio.to_thread

from qmdr.memory.handoff import ChangedNote, changed_notes
from qmdr.memory.hub import MemoryHit, VaultHub
from qmdr.memory.superseded import is_superseded
from qmdr.search.fusion import reciprocal_rank_fusion
from qmdr.search.limits import DEFAULT_CONTEXT_MIN_RELEVANCE
from qmdr.search.searcher import MAX_K
from qmdr.store.base import Filters
from qmdr.store.filtering import is_unfiltered, stored_note_passes
from vault import approx_token_count

ProfileName = Literal["brief", "balanced", "deep"]
#: frontmatter keys whose values name related notes (Obsidian and Dendron conventions)
RELATED_KEYS = ("related", "see_also", "see-also", "seealso", "up", "parent")
#: at most this many queries per context request: each one is a full search of every chosen vault
MAX_CONTEXT_QUERIES = 8
#: with ``since``, each query's search goes this deep before keeping the changed notes' hits
SINCE_SEARCH_DEPTH = MAX_K


@dataclass(frozen=True, slots=True)
class Profile:
    """How a context block is filled."""

    name: str
    k: int  # chunks retrieved per query and vault
    full_text: bool  # full chunk text (else only snippets)
    neighbours: int  # chunks taken from each linked note; 0 = no neighbours


PROFILES: dict[str, Profile] = {
    # a few snippets: a reminder in a tight prompt
    "brief": Profile("brief", k=5, full_text=False, neighbours=0),
    # the best chunks in full, then one chunk of each linked note
    "balanced": Profile("balanced", k=10, full_text=True, neighbours=1),
    # more candidates and two chunks of each linked note, for research-style tasks
    "deep": Profile("deep", k=25, full_text=True, neighbours=2),
}


@dataclass(slots=True)
class ContextEntry:
    vault: str
    path: str
    title: str
    heading: str
    text: str
    relevance: float | None  # percent; None for a linked neighbour
    chunk_hash: str
    start_line: int
    end_line: int
    kind: str = "hit"  # "hit", "linked", or "changed" (a note changed after ``since``)
    via: str | None = None  # for "linked": the note that links here

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("text")
        return data


@dataclass(slots=True)
class ContextBlock:
    markdown: str
    tokens: int
    budget: int
    profile: str
    entries: list[ContextEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def render(queries: Sequence[str], entries: Sequence[ContextEntry], since: datetime | None = None) -> str:
    """The markdown block: one section per vault, entries in the order they were chosen."""
    if not entries:
        return ""
    header = f"# Memory for: {'; '.join(queries)}" if queries else "# Memory"
    if since is not None:
        stamp = since.isoformat(timespec="seconds")
        header += f" (changed since {stamp})" if queries else f" changed since {stamp}"
    lines = [header]
    vaults = list(dict.fromkeys(e.vault for e in entries))
    for vault in vaults:
        lines += ["", f"## Vault: {vault}"]
        for e in (e for e in entries if e.vault == vault):
            where = f"`{e.path}` lines {e.start_line}-{e.end_line}"
            if e.heading:
                where += f" › {e.heading}"
            label = (
                f"{e.relevance:.0f}%"
                if e.relevance is not None
                else f"changed {e.via}"
                if e.kind == "changed"
                else f"linked from `{e.via}`"
            )
            lines += ["", f"### {e.title} ({label})", where, "", e.text.strip()]
    return "\n".join(lines) + "\n"


def _link_targets(note: dict[str, Any]) -> list[str]:
    """Link targets of a stored note: body links, then frontmatter-related names."""
    targets = list(note.get("links") or [])
    frontmatter = note.get("frontmatter") or {}
    for key in RELATED_KEYS:
        value = frontmatter.get(key)
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, str) and item.strip():
                name = item.strip().removeprefix("[[").removesuffix("]]").split("|", 1)[0].split("#", 1)[0]
                targets.append(name.strip())
    return list(dict.fromkeys(t for t in targets if t))


def resolve_link(target: str, paths: Sequence[str]) -> str | None:
    """The vault path a link names: exact path, path + .md, then the shortest path whose stem matches."""
    known = set(paths)
    for candidate in (target, f"{target}.md", f"{target}.markdown"):
        if candidate in known:
            return candidate
    wanted = target.casefold()
    matches = [
        p
        for p in paths
        if p.casefold().rsplit(".", 1)[0] == wanted or p.casefold().rsplit(".", 1)[0].endswith("/" + wanted)
    ]
    return min(matches, key=lambda p: (p.count("/"), p)) if matches else None


async def build_context(
    hub: VaultHub,
    queries: Sequence[str],
    *,
    budget: int,
    profile: str = "balanced",
    vaults: Sequence[str] | None = None,
    filters: Filters = Filters(),
    mode: str = "hybrid",
    count_tokens: Callable[[str], int] | None = None,
    since: datetime | None = None,
    include_superseded: bool = False,
    min_relevance: float = DEFAULT_CONTEXT_MIN_RELEVANCE,
) -> ContextBlock:
    """Fill ``budget`` tokens with the best memory for ``queries``; see the module docstring. Hits under
    ``min_relevance`` percent are left out; the rest go in by relevance, the most relevant first."""
    from qmdr.errors import InvalidQuery

    chosen = PROFILES.get(profile)
    if chosen is None:
        raise InvalidQuery(f"profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    queries = [q.strip() for q in queries if q and q.strip()]
    if not queries and since is None:
        raise InvalidQuery("give at least one query (or since)")
    if len(queries) > MAX_CONTEXT_QUERIES:
        raise InvalidQuery(f"at most {MAX_CONTEXT_QUERIES} queries per context request")
    if budget < 1:
        raise InvalidQuery("the token budget must be positive")
    count = count_tokens or getattr(hub.embedder, "count_tokens", None) or approx_token_count
    warnings: list[str] = []
    lists: dict[str, list[tuple[str, str, int]]] = {}
    hits: dict[tuple[str, str, int], MemoryHit] = {}
    changed = await changed_notes(hub, since, vaults) if since is not None else None
    allowed = {(n.vault, n.path) for n in changed} if changed is not None else None
    for i, query in enumerate(queries if allowed is None or allowed else []):
        # with since, search deeper and keep the changed notes' hits: the top k may hold none of them
        depth = chosen.k if allowed is None else SINCE_SEARCH_DEPTH
        found = await hub.search(
            query,
            vaults=vaults,
            k=depth,
            filters=filters,
            mode=mode,
            include_superseded=include_superseded,
            min_relevance=min_relevance,
        )
        warnings.extend(found.warnings)
        keys = []
        for hit in found.results:
            if allowed is not None and (hit.vault, hit.result.path) not in allowed:
                continue
            key = (hit.vault, hit.result.chunk_hash, hit.result.start_line)
            keys.append(key)
            if key not in hits or hit.relevance > hits[key].relevance:
                hits[key] = hit
        lists[f"q{i}"] = keys
    # calibrated relevance compares across queries and vaults: the most relevant first (RRF breaks ties)
    fused = [key for key, _ in reciprocal_rank_fusion(lists)]
    order = sorted(fused, key=lambda key: -hits[key].relevance)

    filler = _Filler(queries, budget, count, since)
    for key in order:
        hit = hits[key]
        r = hit.result
        entry = ContextEntry(
            hit.vault,
            r.path,
            r.title,
            " › ".join(r.heading_trail),
            r.text if chosen.full_text else r.snippet,
            hit.relevance,
            r.chunk_hash,
            r.start_line,
            r.end_line,
        )
        if not filler.add(entry) and chosen.full_text and r.snippet != r.text:
            entry.text = r.snippet
            filler.add(entry)
    if changed and not queries:
        await _add_changed(hub, filler, changed, include_superseded, filters)
    elif chosen.neighbours and changed is None:
        await _add_neighbours(hub, filler, chosen.neighbours, include_superseded, filters)
    markdown = render(queries, filler.entries, since)
    return ContextBlock(
        markdown=markdown,
        tokens=count(markdown) if markdown else 0,
        budget=budget,
        profile=chosen.name,
        entries=filler.entries,
        warnings=warnings,
    )


class _Filler:
    """Adds entries while the rendered block stays within the budget."""

    def __init__(
        self, queries: Sequence[str], budget: int, count: Callable[[str], int], since: datetime | None = None
    ) -> None:
        self.queries = queries
        self.since = since
        self.budget = budget
        self.count = count
        self.entries: list[ContextEntry] = []

    def has(self, entry: ContextEntry) -> bool:
        for e in self.entries:
            if e.vault != entry.vault:
                continue
            if e.chunk_hash == entry.chunk_hash:
                return True
            if e.path == entry.path and e.start_line <= entry.end_line and entry.start_line <= e.end_line:
                return True  # overlapping lines of one note: the same text again
        return False

    def add(self, entry: ContextEntry) -> bool:
        if self.has(entry) or not entry.text.strip():
            return False
        candidate = [*self.entries, entry]
        if self.count(render(self.queries, candidate, self.since)) > self.budget:
            return False
        self.entries.append(entry)
        return True


async def _add_neighbours(
    hub: VaultHub, filler: _Filler, per_note: int, include_superseded: bool = False, filters: Filters = Filters()
) -> None:
    """Linked and frontmatter-related notes of the notes already in the block (those ``filters`` keeps),
    first chunks first."""
    sources = list(dict.fromkeys((e.vault, e.path) for e in filler.entries))
    paths_by_vault: dict[str, list[str]] = {}
    included = {(e.vault, e.path) for e in filler.entries}
    for vault, path in sources:
        store = hub.open(vault).store
        note = await anyio.to_thread.run_sync(store.get_note, path)
        if note is None:
            continue
        if vault not in paths_by_vault:
            paths_by_vault[vault] = sorted(await anyio.to_thread.run_sync(store.note_hashes))
        for target in _link_targets(note):
            linked = resolve_link(target, paths_by_vault[vault])
            if linked is None or (vault, linked) in included:
                continue
            included.add((vault, linked))
            other = await anyio.to_thread.run_sync(store.get_note, linked)
            if other is None or (is_superseded(other) and not include_superseded):
                continue
            if not is_unfiltered(filters) and not stored_note_passes(other, filters):
                continue
            for chunk in other["chunks"][:per_note]:
                filler.add(
                    ContextEntry(
                        vault,
                        linked,
                        other["title"],
                        " › ".join(chunk["heading_trail"]),
                        chunk["text"],
                        None,
                        chunk["hash"],
                        chunk["start_line"],
                        chunk["end_line"],
                        kind="linked",
                        via=path,
                    )
                )


async def _add_changed(
    hub: VaultHub,
    filler: _Filler,
    changed: Sequence[ChangedNote],
    include_superseded: bool = False,
    filters: Filters = Filters(),
) -> None:
    """The changed notes themselves (those ``filters`` keeps), newest first, each chunk in order while
    the budget lasts."""
    for item in changed:
        note = await anyio.to_thread.run_sync(hub.open(item.vault).store.get_note, item.path)
        if note is None or (is_superseded(note) and not include_superseded):
            continue
        if not is_unfiltered(filters) and not stored_note_passes(note, filters):
            continue
        when = datetime.fromtimestamp(item.changed_at, tz=UTC).isoformat(timespec="seconds")
        for chunk in note["chunks"]:
            filler.add(
                ContextEntry(
                    item.vault,
                    item.path,
                    note["title"],
                    " › ".join(chunk["heading_trail"]),
                    chunk["text"],
                    None,
                    chunk["hash"],
                    chunk["start_line"],
                    chunk["end_line"],
                    kind="changed",
                    via=when,
                )
            )
