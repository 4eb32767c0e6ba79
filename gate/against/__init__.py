"""`--against REF`: the edited procedure beside its version at a git ref — which earlier
conversations still hold, the before/after comparison and the regression checks."""
