"""Judges: the rubric every judge scores against (`rubric`), the LLM judge (`llm_judge`),
the trace judge (`trace`) and the offline scores built on it (`offline`), and how far two
judges agree (`agreement`). Import from the modules: the trace judge and the agreement
statistics load scikit-learn and scipy, which reading rubric scores does not need."""
