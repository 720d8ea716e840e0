"""Concord: curated document-level entity and relation datasets from web crawls."""
