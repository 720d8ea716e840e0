"""Celery jobs: thin wrappers that re-fetch rows by id and call one service function."""
