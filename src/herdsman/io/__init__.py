"""The floor: files (JSONL, atomic writes, YAML with line numbers, mapping files), packaged data, HTML templates."""
