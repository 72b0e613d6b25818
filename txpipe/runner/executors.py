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
:class:`DaskExecutor`     ``--scheduler local`` (a LocalCluster), ``--scheduler slurm``
                          (SLURM jobs through dask-jobqueue) or ``--scheduler ADDRESS``
                          (an existing scheduler)
========================  ===========================================================

This is the only module that imports Dask, and it does so only when a DaskExecutor is created,
so Dask stays an optional extra (``pip install -e '.[dask]'`` in a clone). Separate processes, not
threads, are the default because h5py serialises threads on one global lock.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from txpipe.errors import ConfigurationError

PARENT_CHECK_S = 1.0
"""How often (s) a pool worker checks that the batch process that started it is still alive."""

_PR_SET_PDEATHSIG = 1

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
    """What :func:`txpipe.runner.batch.run_batch` needs from an executor.

    When ``map`` is left early (an exception in the consumer, e.g. a signal), the executor cancels
    the queued tasks, stops the running ones and sets :attr:`aborted`: for every unreported item
    index, ``"cancelled"`` (never started) or ``"stopped"`` (was running, or may have been).
    """

    n_workers: int
    aborted: dict[int, str]

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[Completed[T, R]]: ...

    def close(self) -> None: ...

    def describe(self) -> str: ...


class _Base:
    n_workers = 1
    aborted: dict[int, str] = {}

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
        items = list(items)
        self.aborted = {}
        n_reported = 0
        try:
            for i, item in enumerate(items):
                try:
                    value = fn(item)
                except Exception as exc:  # a task's failure is data, see the module docstring
                    done: Completed[T, R] = Completed(i, item, None, exc)
                else:
                    done = Completed(i, item, value, None)
                n_reported += 1
                yield done
        except BaseException:
            self.aborted = {j: ("stopped" if j == n_reported else "cancelled") for j in range(n_reported, len(items))}
            raise

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

    Workers never outlive this process: each asks the kernel for SIGTERM when its parent dies
    (``PR_SET_PDEATHSIG`` on Linux) and also checks every :data:`PARENT_CHECK_S` seconds that its
    parent is alive. Workers ignore SIGINT (a Ctrl-C reaches the whole process group): the parent
    decides. Leaving ``map`` early (a signal in the parent) cancels the queued tasks, terminates
    the running workers and waits for them, so no process is left behind.
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
        self.aborted = {}
        ctx = multiprocessing.get_context("spawn")
        pool = cf.ProcessPoolExecutor(max_workers=min(self.n_workers, len(items)), mp_context=ctx,
                                      initializer=_worker_init, initargs=(os.getpid(),))
        futures: dict[cf.Future[R], int] = {}
        reported: set[int] = set()
        try:
            for i, item in enumerate(items):
                futures[pool.submit(fn, item)] = i
            for fut in cf.as_completed(futures):
                i = futures[fut]
                exc = fut.exception()
                reported.add(i)
                yield Completed(i, items[i], None if exc else fut.result(), exc)
        except BaseException:
            self.aborted = _abort_pool(pool, futures, reported)
            raise
        else:
            pool.shutdown(wait=True)
        finally:
            _stop_resource_tracker()

    def describe(self) -> str:
        return f"process pool ({self.n_workers} worker{'s' if self.n_workers != 1 else ''}, spawn)"


def _worker_init(parent_pid: int) -> None:
    """Pool worker setup: ignore SIGINT, die with the parent (kernel request + a watcher thread)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the watcher below still works
            pass
    if os.getppid() != parent_pid:  # the parent died before the request above took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="txpipe-parent-watch", daemon=True).start()


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(PARENT_CHECK_S)
        if os.getppid() != parent_pid:
            os._exit(1)


def _abort_pool(pool: cf.ProcessPoolExecutor, futures: dict[Any, int], reported: set[int]) -> dict[int, str]:
    """Cancel queued tasks, terminate running workers and wait for them; say what happened to each."""
    status: dict[int, str] = {}
    for fut, i in futures.items():
        if i in reported:
            continue
        status[i] = "cancelled" if fut.cancel() else "stopped"
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + 5.0
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(1.0)
    pool.shutdown(wait=True, cancel_futures=True)
    return status


def _stop_resource_tracker() -> None:
    """Stop and reap multiprocessing's resource tracker process if this process started it.

    It would otherwise outlive this process and, under an init that does not reap orphans
    (containers), stay behind as a defunct child. It restarts on demand if needed again.
    """
    try:
        from multiprocessing import resource_tracker

        tracker = resource_tracker._resource_tracker
        if getattr(tracker, "_pid", None) is not None:
            tracker._stop()
    except Exception:  # best effort: a private API of the standard library
        pass


class DaskExecutor(_Base):
    """
    Run tasks on Dask distributed: a new LocalCluster, SLURM jobs, or an existing scheduler.

    Args:
        scheduler: ``"local"`` starts a ``distributed.LocalCluster`` on this machine;
            ``"slurm"`` starts a dask-jobqueue ``SLURMCluster`` configured by your
            ``jobqueue.yaml`` (see :func:`slurm_cluster`) whose workers are SLURM jobs, scaled
            between 0 and *n_workers* jobs as work remains; any other string is a scheduler
            address (``tcp://10.0.0.5:8786``) to connect a ``Client`` to.
        n_workers: workers of the LocalCluster, or the most SLURM jobs at once (ignored for an
            address).
        processes: LocalCluster workers are processes (True, the default) or threads of this
            process (False; light, for tests).
        connect_timeout_s: how long to try reaching a scheduler address, in s.
        dashboard_address: where the LocalCluster serves its dashboard (default ``":0"``, a
            free port; None turns it off). The link is :attr:`dashboard_link`.
        cluster_kwargs: extra ``LocalCluster`` / ``SLURMCluster`` arguments.

    Raises:
        ConfigurationError: Dask (or dask-jobqueue for ``"slurm"``) is not installed
            (``pip install -e '.[dask]'``), the SLURM configuration is incomplete, or the
            scheduler cannot be reached.
    """

    def __init__(
        self,
        scheduler: str = "local",
        *,
        n_workers: int | None = None,
        processes: bool = True,
        connect_timeout_s: float = 20.0,
        dashboard_address: str | None = ":0",
        **cluster_kwargs: Any,
    ) -> None:
        try:
            import distributed
        except ImportError as exc:
            raise ConfigurationError(
                "the Dask engine needs dask.distributed: pip install -e '.[dask]' in your txpipe clone"
            ) from exc
        self.scheduler = scheduler
        self._cluster: Any = None
        self.aborted = {}
        if scheduler == "local":
            n = n_workers if n_workers is not None else (os.cpu_count() or 1)
            opts: dict[str, Any] = {"dashboard_address": dashboard_address, "threads_per_worker": 1}
            opts.update(cluster_kwargs)
            self._cluster = distributed.LocalCluster(n_workers=n, processes=processes, **opts)
            self._client = distributed.Client(self._cluster)
            self.n_workers = n
        elif scheduler == "slurm":
            n = n_workers if n_workers is not None else 1
            self._cluster = slurm_cluster(**cluster_kwargs)
            self._cluster.adapt(minimum_jobs=0, maximum_jobs=n)
            self._client = distributed.Client(self._cluster)
            self.n_workers = n
        else:
            try:
                self._client = distributed.Client(scheduler, timeout=f"{connect_timeout_s}s")
            except OSError as exc:
                raise ConfigurationError(f"cannot connect to the Dask scheduler at {scheduler}: {exc}") from exc
            self.n_workers = max(1, len(self._client.scheduler_info().get("workers", {})))

    @property
    def dashboard_link(self) -> str | None:
        """URL of the Dask dashboard (None when it is off or unavailable)."""
        client = getattr(self, "_client", None)
        if client is None:
            return None
        try:
            info = client.scheduler_info().get("services", {})
        except Exception:  # a closed client: no dashboard
            return None
        return client.dashboard_link if "dashboard" in info else None

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[Completed[T, R]]:
        from distributed import as_completed

        items = list(items)
        self.aborted = {}
        if not items:
            return
        futures = self._client.map(fn, items, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        reported: set[int] = set()
        try:
            for fut in as_completed(futures):
                i = index[fut.key]
                reported.add(i)
                if fut.status == "error":
                    yield Completed(i, items[i], None, fut.exception())
                else:
                    yield Completed(i, items[i], fut.result(), None)
                fut.release()
        except BaseException:
            rest = [f for f in futures if index[f.key] not in reported]
            self.aborted = {index[f.key]: "stopped" for f in rest}
            try:
                self._client.cancel(rest, force=True)
            except Exception:  # the cluster is going away anyway
                pass
            raise

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
        where = {"local": "LocalCluster", "slurm": "SLURM jobs"}.get(self.scheduler, f"scheduler {self.scheduler}")
        return f"dask ({where}, {self.n_workers} worker{'s' if self.n_workers != 1 else ''})"


def _seconds(walltime: str) -> int:
    """SLURM walltime ``[D-]HH:MM:SS``, ``HH:MM`` or ``MM`` in seconds."""
    days, _, rest = walltime.strip().rpartition("-")
    parts = [int(x) for x in rest.split(":")]
    if len(parts) == 1:
        parts = [0, parts[0], 0]
    elif len(parts) == 2:
        parts = [parts[0], parts[1], 0]
    h, m, sec = parts
    return (int(days) if days else 0) * 86400 + h * 3600 + m * 60 + sec


def worker_lifetime(walltime: str) -> tuple[str, str]:
    """
    ``(--lifetime, --lifetime-stagger)`` for Dask workers inside SLURM jobs of *walltime*.

    A worker retires (hands its tasks back and exits cleanly) 5 minutes before its job would be
    killed (at least 20 % of the walltime before), with up to 10 % (at most 4 minutes) of
    random stagger so that jobs started together do not all leave at once. Returned as Dask
    duration strings in seconds, e.g. ``("2640s", "240s")`` for ``01:00:00`` (the worker leaves
    between 40 and 48 minutes into its one-hour job).
    """
    total = _seconds(walltime)
    if total <= 0:
        raise ConfigurationError(f"SLURM walltime {walltime!r} must be positive")
    margin = max(300, total // 5) if total > 600 else total // 5
    stagger = min(240, total // 10)
    return f"{total - margin - stagger}s", f"{stagger}s"


def slurm_cluster(**overrides: Any) -> Any:
    """
    A dask-jobqueue ``SLURMCluster`` from your ``jobqueue.yaml`` (section ``jobqueue: slurm:``
    of ``~/.config/dask/jobqueue.yaml``: queue, account, cores, memory, walltime, …), with
    *overrides* applied on top.

    Each worker gets ``--lifetime`` and ``--lifetime-stagger`` from :func:`worker_lifetime` of
    the walltime, unless the configuration already passes
    ``--lifetime`` in ``worker_extra_args``: workers then retire before SLURM kills their job
    and the adaptive cluster submits fresh jobs for the remaining recordings. No job is
    submitted here (``DaskExecutor`` scales the cluster); ``cluster.job_script()`` shows the
    job script.

    Raises:
        ConfigurationError: dask-jobqueue is missing or the configuration lacks cores/memory.
    """
    try:
        import dask
        from dask_jobqueue import SLURMCluster
    except ImportError as exc:
        raise ConfigurationError("--scheduler slurm needs dask-jobqueue: pip install -e '.[dask]' in your txpipe clone") from exc
    conf = dask.config.get("jobqueue.slurm", default={}) or {}
    opts = dict(overrides)
    walltime = str(opts.get("walltime") or conf.get("walltime") or "00:30:00")
    extra = list(opts.get("worker_extra_args") or conf.get("worker-extra-args") or conf.get("worker_extra_args") or [])
    if "--lifetime" not in extra:
        lifetime, stagger = worker_lifetime(walltime)
        extra += ["--lifetime", lifetime, "--lifetime-stagger", stagger]
    opts["worker_extra_args"] = extra
    opts.setdefault("walltime", walltime)
    try:
        return SLURMCluster(**opts)
    except ValueError as exc:
        raise ConfigurationError(
            f"SLURM cluster configuration incomplete ({exc}); set cores, memory and walltime under "
            "'jobqueue: slurm:' in ~/.config/dask/jobqueue.yaml (docs/batch.md)"
        ) from exc


def make_executor(*, workers: int | None = None, scheduler: str | None = None) -> Executor:
    """
    The executor ``txpipe batch`` uses for ``--workers`` / ``--scheduler``.

    No scheduler: :class:`SerialExecutor` when ``workers == 1``, else :class:`ProcessExecutor`.
    ``scheduler="local"``, ``"slurm"`` or an address: :class:`DaskExecutor`.
    """
    if workers is not None and workers < 1:
        raise ConfigurationError(f"--workers must be at least 1, got {workers}")
    if scheduler:
        return DaskExecutor(scheduler, n_workers=workers)
    if workers == 1:
        return SerialExecutor()
    return ProcessExecutor(workers)
