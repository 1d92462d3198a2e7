"""Business rules: plain functions over a session that raise domain errors and own the commit."""
