"""Spread teacher calls over a Ray cluster: one teacher per worker, the run store on the driver.

:class:`RayTeacher` is a :class:`Teacher` like any other, so ``respond`` and
``generate`` use it unchanged: :func:`herdsman.store.calls.execute` still filters out
finished calls and commits every result to the run store on the driver (so a
run on Ray is resumable, never duplicates a record, and can be finished by a
single process, or the other way round). Each worker is a Ray actor holding
one teacher built from the same backend settings (``local`` on CPU
workers, ``vllm`` with one GPU per actor); the driver hands out chunks of
requests and collects answers as each chunk finishes. Before any actor starts,
the cluster's free CPUs and GPUs are checked against what the workers ask for
(Ray would otherwise queue an actor that can never be placed, and the run
would wait forever); a worker that dies ends the run with a one-line teacher
error, and the chunks that had not come back are asked again on the next run.

Why long-lived actors (``ray.util.ActorPool``) and not Ray Data's
``map_batches``: a Ray Data pipeline starts its actors for each execution, and
``generate`` calls the teacher in many small waves (generate, filter, dedup,
generate more), so every wave would reload the model on every worker. The
actors here load it once per run. A task is one ``batch_size`` batch of a
``local`` teacher, or one ``window`` of a ``vllm`` teacher (thousands of
requests: a vLLM engine keeps the GPU busy only with hundreds of sequences in
flight), and at most one task per worker is in flight, so memory on the
driver stays flat however many requests stream through. The call key is the inner teacher's, so
outputs are identical to a single-process run for the same inputs and
greedy decoding.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from typing import Any

from herdsman.errors import TeacherFatalError
from herdsman.teachers.base import ChatRequest, Completion, ResultSink, Teacher


class _ListSink:
    """Collects a teacher's outcomes inside a worker."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Completion]] = []

    def put(self, request: ChatRequest, completion: Completion) -> None:
        self.items.append((request.key, completion))

    def flush(self) -> None:
        """Nothing to make durable inside a worker."""


class TeacherWorker:
    """A Ray actor body: one teacher, answering chunks of requests."""

    def __init__(self, options: dict[str, Any]) -> None:
        """Build the teacher (weights load on the first chunk)."""
        from herdsman.teachers.factory import build_teacher
        from herdsman.teachers.registry import parse_teacher

        self.teacher = build_teacher(parse_teacher(options))

    def answer(self, requests: list[ChatRequest]) -> list[tuple[str, Completion]]:
        """Answer one chunk."""
        sink = _ListSink()
        self.teacher.run(requests, sink)
        return sink.items


def start_ray(address: str) -> None:
    """Connect to a cluster (``auto``, ``ray://HOST:PORT``) or start a local one (``local``).

    Raises:
        TeacherFatalError: Ray is not installed or the cluster cannot be reached.
    """
    try:
        import ray
    except ImportError:
        raise TeacherFatalError("--ray needs Ray: pip install 'herdsman[ray]'") from None
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    try:
        ray.init(
            address=None if address == "local" else address,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise TeacherFatalError(f"Ray cluster at {address!r}: {exc}") from None


def _last_line(exc: BaseException) -> str:
    """The last non-blank line of a Ray error: its cause (the lines above are its traceback)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[-1] if lines else type(exc).__name__


def check_resources(
    resources: dict[str, float], workers: int, cpus_per_worker: float, gpus_per_worker: float
) -> None:
    """Refuse a pool the cluster cannot place (Ray would wait for it forever).

    Args:
        resources: ``ray.cluster_resources()``.
        workers: Actors to start.
        cpus_per_worker: CPUs each asks for.
        gpus_per_worker: GPUs each asks for.

    Raises:
        TeacherFatalError: More CPUs or GPUs asked for than the cluster has.
    """
    for name, each, flag in (
        ("GPU", gpus_per_worker, "GPUs"),
        ("CPU", cpus_per_worker, "CPUs"),
    ):
        need, have = workers * each, float(resources.get(name, 0.0))
        if need > have:
            raise TeacherFatalError(
                f"{workers} Ray workers need {need:g} {flag} ({each:g} each) and the cluster has "
                f"{have:g}: lower teacher.ray_workers (--ray-workers)"
                + (" or tensor_parallel_size" if name == "GPU" else "")
            )


class RayTeacher(Teacher):
    """A teacher whose calls run on Ray workers.

    Args:
        options: The inner teacher's options (``ray_address`` ignored inside workers).
        address: ``local``, ``auto`` or a ``ray://`` address.
        workers: Number of worker actors.
        cpus_per_worker: CPUs reserved per actor (``local`` backend).
        gpus_per_worker: GPUs per actor (``vllm``: one engine per GPU).
    """

    def __init__(
        self,
        options: Any,
        address: str = "local",
        workers: int = 2,
        cpus_per_worker: float = 1.0,
        gpus_per_worker: float = 0.0,
    ) -> None:
        from herdsman.teachers.factory import build_teacher

        inner = options.model_copy(update={"ray_address": None})
        identity = build_teacher(inner)  # names the calls exactly as one process would
        self.backend = identity.backend
        self.model = identity.model
        self.endpoint = identity.endpoint
        if gpus_per_worker == 0 and inner.backend == "local":
            # Recent Ray no longer hides GPUs from actors that asked for none:
            # without this, every CPU worker would load its model on cuda:0.
            inner = inner.model_copy(update={"device": "cpu"})
        self._options = inner.model_dump(mode="json")
        self.address, self.workers = address, max(1, workers)
        self.cpus, self.gpus = cpus_per_worker, gpus_per_worker
        self.chunk = inner.in_flight()  # one worker's width (ray_address is unset here)
        self._pool: Any = None
        self._actors: list[Any] = []

    def _start(self) -> Any:
        if self._pool is None:
            import ray
            from ray.util import ActorPool

            start_ray(self.address)
            check_resources(ray.cluster_resources(), self.workers, self.cpus, self.gpus)
            actor = ray.remote(num_cpus=self.cpus, num_gpus=self.gpus)(TeacherWorker)
            self._actors = [actor.remote(self._options) for _ in range(self.workers)]
            self._pool = ActorPool(self._actors)
        return self._pool

    def run(self, requests: Iterable[ChatRequest], sink: ResultSink) -> None:
        """Answer requests on the workers; each chunk's outcomes reach the sink as it ends."""
        stream = iter(requests)
        size = max(1, int(self.chunk))
        chunks = iter(lambda: list(itertools.islice(stream, size)), [])
        by_key: dict[str, ChatRequest] = {}

        def submit(actor: Any, chunk: list[ChatRequest]) -> Any:
            by_key.update((r.key, r) for r in chunk)
            return actor.answer.remote(chunk)

        def drain_one() -> None:
            import ray

            try:
                answered = pool.get_next_unordered()
            except ray.exceptions.RayError as exc:
                # What came back is in the store; the rest is asked again on the next run.
                raise TeacherFatalError(f"a Ray teacher worker failed: {_last_line(exc)}") from None
            for key, completion in answered:
                sink.put(by_key.pop(key), completion)
            sink.flush()

        pool = self._start()
        for chunk in chunks:  # at most one chunk per worker in flight: memory stays flat
            while not pool.has_free():
                drain_one()
            pool.submit(submit, chunk)
        while pool.has_next():
            drain_one()

    def close(self) -> None:
        """Stop the workers (the cluster stays up)."""
        if self._actors:
            import ray

            for actor in self._actors:
                ray.kill(actor)
        self._actors, self._pool = [], None
