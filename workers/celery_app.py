"""The Celery application, configured from app.config (embedded Redis or REDIS_URL)."""

from typing import Any

from celery import Celery, signals

from app.config import get_settings
from app.gc_tuning import tune_gc

JOB_MODULES = ["workers.health", "workers.crawl_batch", "workers.annotation", "workers.dataset", "workers.training"]


def make_celery() -> Celery:
    settings = get_settings()
    app = Celery("concord", broker=settings.broker_url, include=JOB_MODULES)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        # Status lives on domain rows; nobody waits on Celery results.
        task_ignore_result=True,
        # A job is acknowledged when it finishes, so a killed worker's job is delivered again.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        # Redelivery of an unacknowledged job waits this long; jobs are idempotent and checkpoint.
        # Our key prefix on every broker key too: several deployments (or test runs) can share one Redis.
        broker_transport_options={
            "visibility_timeout": settings.job_visibility_timeout_seconds,
            "global_keyprefix": settings.redis_key_prefix,
        },
        task_default_queue="concord",
        # Model calls wait on the network: they go to a thread-pool worker, CPU work to processes.
        task_routes={
            "annotation.run": {"queue": "llm"},
            "annotation.augment": {"queue": "llm"},
            "annotation.verify": {"queue": "llm"},
            # Long and CPU- (or GPU-) bound: a queue of its own, so a training run never holds a slot of ingestion.
            "training.train": {"queue": "training"},
        },
        worker_hijack_root_logger=False,
        timezone="UTC",
    )
    return app


celery_app = make_celery()


@signals.worker_init.connect
@signals.worker_process_init.connect
def _tune_worker_gc(**_kwargs: Any) -> None:
    """Workers tune the collector as the web server does: the solo and thread pools run jobs in the worker's
    own process (worker_init), the prefork pool in its children (worker_process_init)."""
    tune_gc()
