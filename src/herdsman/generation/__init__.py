"""Building the instruction set: seeds, topics, prompts, parsing teacher replies, filters, dedup, generate, respond."""
