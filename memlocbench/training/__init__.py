"""Fine-tuning: the memorising model (noisy labels) and its clean twin, as in the paper."""
