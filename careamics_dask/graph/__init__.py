"""The patch-graph builder: batch tasks, statistics, filters, transforms."""
