"""Small shared helpers with no qmdr dependencies: an LRU map, a stdlib-sqlite file, awaiting several calls,
replacing a file atomically."""
