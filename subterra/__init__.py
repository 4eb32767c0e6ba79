"""The `subterra` command line (`subterra.cli`), on top of harness, compile and gate."""
