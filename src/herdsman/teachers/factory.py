"""Build the teacher that :class:`~herdsman.teachers.options.TeacherOptions` describe."""

from __future__ import annotations

import os

from herdsman.errors import HerdsmanError
from herdsman.teachers import OPENAI_DEFAULT_URL
from herdsman.teachers.base import Teacher
from herdsman.teachers.options import TeacherOptions, key_may_go_to
from herdsman.teachers.pricing import PriceTable


def build_teacher(options: TeacherOptions) -> Teacher:
    """Construct the teacher the options describe.

    Raises:
        HerdsmanError: Missing model name, missing API key for the OpenAI API,
            or a local model path that does not exist.
    """
    if options.ray_address:
        from herdsman.teachers.ray_pool import RayTeacher

        if options.backend == "openai":
            raise HerdsmanError("Ray runs local or vllm teachers; the openai backend needs no Ray")
        return RayTeacher(
            options,
            options.ray_address,
            options.ray_workers,
            gpus_per_worker=float(options.engine_args.gpus()) if options.backend == "vllm" else 0.0,
        )
    if options.backend == "openai":
        from herdsman.teachers.openai_http import OpenAISettings, OpenAITeacher

        if not options.model:
            raise HerdsmanError("--model is required with --teacher openai")
        key = os.environ.get(options.api_key_env) or None
        if (
            key is not None
            and not options.allow_insecure_key
            and not key_may_go_to(options.base_url)
        ):
            raise HerdsmanError(
                f"refusing to send the API key in ${options.api_key_env} to {options.base_url}: "
                "keys go only over https or to a loopback address (set allow_insecure_key: true "
                "or pass --allow-insecure-key if you mean it)"
            )
        if key is None and options.base_url.rstrip("/") == OPENAI_DEFAULT_URL:
            raise HerdsmanError(
                f"environment variable {options.api_key_env} is not set "
                "(the OpenAI API needs a key; use --api-key-env to name another variable)"
            )
        settings = OpenAISettings(
            base_url=options.base_url,
            concurrency=options.concurrency,
            timeout_s=options.timeout_s,
            max_retries=options.max_retries,
            rpm=options.rpm,
            tpm=options.tpm,
        )
        prices = PriceTable.from_file(options.prices) if options.prices else PriceTable()
        if options.batch_api:
            from herdsman.teachers.openai_batch import BatchSettings, OpenAIBatchTeacher

            if options.batch_journal is None:
                raise HerdsmanError("the Batch API needs a journal file (batch_journal)")
            batch = BatchSettings(
                base_url=options.base_url,
                journal=options.batch_journal,
                poll_s=options.batch_poll_s,
                timeout_s=options.timeout_s,
            )
            return OpenAIBatchTeacher(options.model, key, batch, prices)
        return OpenAITeacher(options.model, key, settings, prices)
    if options.backend == "vllm":
        from herdsman.teachers.vllm_offline import VLLMTeacher

        return VLLMTeacher(
            options.model, window=options.window, engine_args=options.engine_args.as_kwargs()
        )
    from herdsman.teachers.local import LocalTeacher

    return LocalTeacher(options.model, batch_size=options.batch_size, device=options.device)
