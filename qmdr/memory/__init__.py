"""Memory: vaults, indexing, note writes, watch, context and feedback."""
