"""The one compiled module, app.webtext._native; everything else is configured in pyproject.toml.

It is optional: where no C compiler is at hand the build goes on without it, and ingestion uses the pure Python
definitions of the same steps (slower, equal results).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "app.webtext._native",
            sources=["app/webtext/_native.c"],
            optional=True,
        )
    ]
)
