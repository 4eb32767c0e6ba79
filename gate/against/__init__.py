"""`--against REF`: the edited procedure beside its version at a git ref.

`git_ref` reads files and the suite as they were at REF; `preview` is what `subterra gate
--against` prints before the run; `reuse` decides which conversations of REF's version the
edit cannot have changed; `comparison` holds the numbers and verdicts of before vs after
(pure); `regression_checks` runs both versions and turns the comparison into the gate's
checks (`gate.checks.AggregateCheck`, like the suite's thresholds).
"""
