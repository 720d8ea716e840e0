"""The one compiled module, app.crawl_batch._native; everything else is configured in pyproject.toml.

It is optional: where no C compiler is at hand the build goes on without it, and ingestion uses the pure Python
definitions of the same steps (slower, equal results).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "app.crawl_batch._native",
            sources=["app/crawl_batch/_native.c"],
            optional=True,
        )
    ]
)
