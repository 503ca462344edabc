"""Data sets in their upstream formats, where they live, and how batches are drawn."""
