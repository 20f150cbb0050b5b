"""Injection points beneath durable units: the model HTTP transport and the tool body."""
