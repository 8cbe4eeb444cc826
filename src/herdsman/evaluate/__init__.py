"""Evaluating the herd: lm-eval benchmarks, the offline task suite, imitation, model answers, the A-D judge and rubric."""
