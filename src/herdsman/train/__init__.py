"""Training the herd: student bases, prompt wrappers, data, the causal (TRL) and seq2seq paths, model cards."""
