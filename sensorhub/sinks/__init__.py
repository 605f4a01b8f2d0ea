"""Where events go: each sink drains its own bounded queue (see pipeline.runner)."""
