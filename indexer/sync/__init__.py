"""The sync flows (backfill, incremental sync, expired sweep, full re-sync) and their pipeline."""
