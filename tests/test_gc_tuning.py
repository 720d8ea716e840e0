"""The web server and the workers tune the garbage collector once, when their process is ready."""

import gc
from collections.abc import Iterator

import pytest
from celery import signals
from celery.utils.dispatch import Signal

from app.gc_tuning import THRESHOLDS, tune_gc
from workers import celery_app  # noqa: F401  (connects the worker signal handlers)


@pytest.fixture
def default_gc() -> Iterator[None]:
    """CPython's default collector settings for the test, whatever earlier tests tuned; restored after."""
    before = gc.get_threshold()
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("default_gc")
def test_tuning_raises_the_thresholds_and_freezes_what_is_alive() -> None:
    tune_gc()
    assert gc.get_threshold() == THRESHOLDS
    assert gc.get_freeze_count() > 0
    frozen = gc.get_freeze_count()
    tune_gc()  # once per process: a second call changes nothing
    assert gc.get_freeze_count() == frozen


@pytest.mark.usefixtures("default_gc")
@pytest.mark.parametrize("signal", [signals.worker_init, signals.worker_process_init])
def test_a_worker_tunes_the_collector_when_it_starts(signal: Signal) -> None:
    assert gc.get_threshold() == (700, 10, 10)
    signal.send(sender=None)
    assert gc.get_threshold() == THRESHOLDS
