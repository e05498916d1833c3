"""Task data: loading (hub or local mirror), the paper's label noise, tokenised batches."""
