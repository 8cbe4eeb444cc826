"""Build the teacher that a backend's settings describe, on Ray when they ask for it."""

from __future__ import annotations

from herdsman.teachers.base import Teacher
from herdsman.teachers.options import RayOptions, TeacherOptions


def build_teacher(options: TeacherOptions) -> Teacher:
    """Construct the teacher the options describe.

    Raises:
        HerdsmanError: Settings the backend cannot work with (see each backend's ``build``).
    """
    if isinstance(options, RayOptions) and options.ray_address:
        from herdsman.teachers.ray_pool import RayTeacher

        engine = getattr(options, "engine_args", None)
        return RayTeacher(
            options,
            options.ray_address,
            options.ray_workers,
            gpus_per_worker=float(engine.gpus()) if engine is not None else 0.0,
        )
    return options.build()
