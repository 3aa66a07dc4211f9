"""YAML configs for ``chase rft train`` (a package so that they install with the wheel)."""
