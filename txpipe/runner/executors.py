"""
Where batch tasks run: in this process, in a local process pool, or on a Dask cluster.

Every executor has one method, :meth:`~Executor.map`, which runs ``fn(item)`` for each item and
yields a :class:`Completed` record per item **in completion order**. A task that raises, or whose
worker process dies, yields a record with ``error`` set; ``map`` itself does not raise for a task's
failure, so one bad recording never stops the others.

========================  ===========================================================
executor                  use
========================  ===========================================================
:class:`SerialExecutor`   one worker (``--workers 1``), tests, debugging with pdb
:class:`ProcessExecutor`  the default: ``concurrent.futures`` process pool, *spawn* start
:class:`DaskExecutor`     ``--scheduler local`` (a LocalCluster) or ``--scheduler ADDRESS``
                          (an existing scheduler, e.g. started by dask-jobqueue on SLURM)
========================  ===========================================================

This is the only module that imports Dask, and it does so only when a DaskExecutor is created,
so Dask stays an optional extra (``pip install 'txpipe[dask]'``). Separate processes, not
threads, are the default because h5py serialises threads on one global lock.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from txpipe.errors import ConfigurationError

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Completed(Generic[T, R]):
    """One finished task.

    Attributes:
        index: position of the item in the input.
        item: the item given to ``fn``.
        value: ``fn(item)``'s return value (None if it failed).
        error: the exception the task raised, or the one standing for its lost worker
            (``BrokenProcessPool``, Dask's ``KilledWorker``); None on success.
    """

    index: int
    item: T
    value: R | None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Executor(Protocol):
    """What :func:`txpipe.runner.batch.run_batch` needs from an executor."""

    n_workers: int

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[Completed[T, R]]: ...

    def close(self) -> None: ...

    def describe(self) -> str: ...


class _Base:
    n_workers = 1

    def close(self) -> None:
        """Release workers (idempotent)."""

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{self.describe()}>"


class SerialExecutor(_Base):
    """Run every task in this process, one after the other (exceptions are captured per task)."""

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[Completed[T, R]]:
        for i, item in enumerate(items):
            try:
                value = fn(item)
            except Exception as exc:  # a task's failure is data, see the module docstring
                yield Completed(i, item, None, exc)
            else:
                yield Completed(i, item, value, None)

    def describe(self) -> str:
        return "serial (1 process)"


class ProcessExecutor(_Base):
    """
    A ``concurrent.futures`` process pool with the *spawn* start method.

    Args:
        n_workers: worker processes (default: the CPU count).

    If a worker process dies (killed by the OS or a scheduler, or crashed in native code), the
    pool is broken: the task that was running and every task not yet finished are reported
    with a ``BrokenProcessPool`` error. Tasks finished before that keep their results; rerunning
    the batch completes only what is missing.
    """

    def __init__(self, n_workers: int | None = None) -> None:
        n = n_workers if n_workers is not None else (os.cpu_count() or 1)
        if n < 1:
            raise ConfigurationError(f"ProcessExecutor: n_workers must be at least 1, got {n}")
        self.n_workers = n

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[Completed[T, R]]:
        items = list(items)
        if not items:
            return
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=min(self.n_workers, len(items)), mp_context=ctx) as pool:
            futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
            for fut in cf.as_completed(futures):
                i = futures[fut]
                exc = fut.exception()
                yield Completed(i, items[i], None if exc else fut.result(), exc)

    def describe(self) -> str:
        return f"process pool ({self.n_workers} worker{'s' if self.n_workers != 1 else ''}, spawn)"


class DaskExecutor(_Base):
    """
    Run tasks on Dask distributed: a new LocalCluster, or an existing scheduler.

    Args:
        scheduler: ``"local"`` starts a ``distributed.LocalCluster`` on this machine; any other
            string is a scheduler address (``tcp://10.0.0.5:8786``) to connect a ``Client`` to,
            e.g. a cluster started with dask-jobqueue (``docs/batch.md``).
        n_workers: workers of the LocalCluster (ignored for an address).
        processes: LocalCluster workers are processes (True, the default) or threads of this
            process (False; light, for tests).
        connect_timeout_s: how long to try reaching a scheduler address, in s.
        cluster_kwargs: extra ``LocalCluster`` arguments.

    Raises:
        ConfigurationError: Dask is not installed (``pip install 'txpipe[dask]'``) or the
            scheduler cannot be reached.
    """

    def __init__(
        self,
        scheduler: str = "local",
        *,
        n_workers: int | None = None,
        processes: bool = True,
        connect_timeout_s: float = 20.0,
        **cluster_kwargs: Any,
    ) -> None:
        try:
            import distributed
        except ImportError as exc:
            raise ConfigurationError(
                "the Dask engine needs dask.distributed: pip install 'txpipe[dask]'"
            ) from exc
        self.scheduler = scheduler
        self._cluster: Any = None
        if scheduler == "local":
            n = n_workers if n_workers is not None else (os.cpu_count() or 1)
            opts: dict[str, Any] = {"dashboard_address": None, "threads_per_worker": 1}
            opts.update(cluster_kwargs)
            self._cluster = distributed.LocalCluster(n_workers=n, processes=processes, **opts)
            self._client = distributed.Client(self._cluster)
            self.n_workers = n
        else:
            try:
                self._client = distributed.Client(scheduler, timeout=f"{connect_timeout_s}s")
            except OSError as exc:
                raise ConfigurationError(f"cannot connect to the Dask scheduler at {scheduler}: {exc}") from exc
            self.n_workers = max(1, len(self._client.scheduler_info().get("workers", {})))

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[Completed[T, R]]:
        from distributed import as_completed

        items = list(items)
        if not items:
            return
        futures = self._client.map(fn, items, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        for fut in as_completed(futures):
            i = index[fut.key]
            if fut.status == "error":
                yield Completed(i, items[i], None, fut.exception())
            else:
                yield Completed(i, items[i], fut.result(), None)
            fut.release()

    def close(self) -> None:
        client, cluster = getattr(self, "_client", None), self._cluster
        self._client, self._cluster = None, None
        errors: list[BaseException] = []
        for part in (client, cluster):
            if part is None:
                continue
            try:
                part.close()
            except Exception as exc:  # try every part, report the first failure
                errors.append(exc)
        if errors:
            raise errors[0]

    def describe(self) -> str:
        where = "LocalCluster" if self.scheduler == "local" else f"scheduler {self.scheduler}"
        return f"dask ({where}, {self.n_workers} worker{'s' if self.n_workers != 1 else ''})"


def make_executor(*, workers: int | None = None, scheduler: str | None = None) -> Executor:
    """
    The executor ``txpipe batch`` uses for ``--workers`` / ``--scheduler``.

    No scheduler: :class:`SerialExecutor` when ``workers == 1``, else :class:`ProcessExecutor`.
    ``scheduler="local"`` or an address: :class:`DaskExecutor`.
    """
    if workers is not None and workers < 1:
        raise ConfigurationError(f"--workers must be at least 1, got {workers}")
    if scheduler:
        return DaskExecutor(scheduler, n_workers=workers)
    if workers == 1:
        return SerialExecutor()
    return ProcessExecutor(workers)
