"""The dataset stages: build (decontaminate, split, export, card), read LaMini data, analyze its diversity."""
