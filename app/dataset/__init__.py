"""Curated datasets: export records, exporters, evaluation, agreement metrics and charts."""
