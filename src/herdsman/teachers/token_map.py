"""Map the tokens an OpenAI-compatible server names in ``logprobs`` onto a tokenizer's ids.

The chat-completions API names each answer token by its text (``token``) and,
usually, its UTF-8 bytes (``bytes``), not by its id; a vLLM server started
with ``--return-tokens-as-token-ids`` names it ``token_id:N``. Students that
train on the teacher's log-probabilities need ids of the teacher's own
tokenizer (``teacher.tokenizer``: the served model's folder or cached hub
id). A token is found by, in order: its ``token_id:N`` form; its bytes in the
byte-level alphabet of GPT-2-style BPE vocabularies; its text as a vocabulary
entry (SentencePiece and WordPiece vocabularies); the byte-level form of its
text. A token found nowhere stops the run with one line: ids from another
tokenizer would train a student on nonsense.
"""

from __future__ import annotations

import functools
from typing import Any

from herdsman.errors import TeacherFatalError


@functools.cache
def byte_alphabet() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters (byte-level BPE vocabularies)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars), strict=True))


class TokenMap:
    """Token ids of a tokenizer's vocabulary, looked up from what a server says of a token.

    Args:
        vocab: The tokenizer's token -> id mapping (``tokenizer.get_vocab()``).
        name: The tokenizer's name, for messages.
    """

    def __init__(self, vocab: dict[str, int], name: str) -> None:
        self.vocab = vocab
        self.name = name
        self.alphabet = byte_alphabet()

    @classmethod
    def from_pretrained(cls, source: str) -> TokenMap:
        """The vocabulary of a tokenizer folder or cached hub id (nothing is downloaded).

        Raises:
            TeacherFatalError: The tokenizer cannot be loaded.
        """
        from transformers import AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise TeacherFatalError(f"tokenizer {source}: cannot load it ({exc})") from None
        return cls(dict(tokenizer.get_vocab()), source)

    def _byte_level(self, data: bytes) -> str:
        return "".join(self.alphabet[b] for b in data)

    def find(self, entry: dict[str, Any]) -> int:
        """The id of one ``logprobs`` entry (``{"token", "bytes"?, "logprob"}``).

        Raises:
            TeacherFatalError: The token is not in the vocabulary.
        """
        token = str(entry.get("token", ""))
        if token.startswith("token_id:") and token[9:].isdigit():
            return int(token[9:])
        raw = entry.get("bytes")
        if isinstance(raw, list) and all(isinstance(b, int) and 0 <= b < 256 for b in raw):
            found = self.vocab.get(self._byte_level(bytes(raw)))
            if found is not None:
                return found
        found = self.vocab.get(token)
        if found is None:
            found = self.vocab.get(self._byte_level(token.encode("utf-8", "surrogatepass")))
        if found is None:
            raise TeacherFatalError(
                f"the server's token {token!r} is not in the vocabulary of tokenizer {self.name}: "
                "teacher.tokenizer must be the served model's"
            )
        return found
