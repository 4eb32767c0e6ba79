"""The recompile gate, on top of `harness` and `compile`: suites, one gate run, its cases
and checks, the shared results store, `--against` reuse, the report and the pytest plugin."""
