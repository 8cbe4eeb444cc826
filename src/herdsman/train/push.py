"""Pushing a trained student to the Hugging Face Hub (``students[i].push_to_hub``).

The student's folder goes up as it is: weights, tokenizer, the model card
(``README.md``, with its Hugging Face front matter), the loss curve and
``herdsman-train.json``; training checkpoints and hidden files stay behind.
It needs ``hub: online`` and a token (:func:`herdsman.io.hub.push_token`),
checked before any stage runs.
"""

from __future__ import annotations

from pathlib import Path

from herdsman.errors import HerdsmanError
from herdsman.io.hub import hub_errors

#: What stays behind: checkpoints of an interrupted run and hidden files.
NOT_PUSHED = (".checkpoints/*", ".*")


def push_student(folder: Path, repo_id: str, token: str, *, private: bool = True) -> str:
    """Upload a trained student folder, with its model card, to a hub model repository.

    Args:
        folder: The student folder (``students/NAME``).
        repo_id: The repository (``owner/name``); created when missing.
        token: A Hugging Face token with write access.
        private: Create a missing repository as private (an existing one keeps its setting).

    Returns:
        The repository's URL.

    Raises:
        HerdsmanError: The folder has no model card (not a trained student), or the hub
            refused or could not be reached (one line).
    """
    if not (folder / "README.md").is_file() or not (folder / "config.json").is_file():
        raise HerdsmanError(f"{folder}: not a trained student (no model card or config.json)")
    from huggingface_hub import HfApi

    with hub_errors(f"pushing {folder} to {repo_id}"):
        api = HfApi(token=token)
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        api.upload_folder(
            folder_path=folder,
            repo_id=repo_id,
            repo_type="model",
            ignore_patterns=list(NOT_PUSHED),
            commit_message=f"herdsman: student {folder.name}",
        )
    return str(url)
