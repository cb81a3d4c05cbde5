"""The bad-input corpus: case tables per surface, and the world they run against."""
