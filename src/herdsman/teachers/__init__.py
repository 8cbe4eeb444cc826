"""Teacher backends: one small interface (:class:`Teacher`), several implementations."""

from herdsman.teachers.base import ChatRequest, Completion, ResultSink, Teacher
from herdsman.teachers.factory import TeacherOptions, build_teacher

__all__ = [
    "ChatRequest",
    "Completion",
    "ResultSink",
    "Teacher",
    "TeacherOptions",
    "build_teacher",
]
