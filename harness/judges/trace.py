"""The trace judge: maps every turn of a transcript onto the flowchart and checks the walk.

A node classifier (TF-IDF features of the turn and the turn before it, logistic
regression) is trained on the node-labelled synthetic turns the procedure was compiled
from. One agent turn may carry out a chain of agent steps (`harness.procedure.turns`): the
chain is one class (its steps joined), so decoding recovers every step of it, and per-node
visits and passes count each step. A limit of that choice: a message that leaves out a
middle step of its chain is placed on the nearest chain the training data holds, so a step
skipped inside one message is not reported as skipped. Decoding is Viterbi over the flowchart: staying on edges is free, leaving them costs
a fixed penalty, so a transcript that follows the procedure decodes to a valid path and
one that skips, jumps or loops where the chart has no edge shows exactly where.

The previous turn is context, and context alone would place an agent turn that says
nothing (empty, gibberish, off topic) wherever the customer's last words point. So an
agent turn whose own words are unlike every agent turn of the training data (TF-IDF cosine
to the nearest one below `UNRECOGNISED_BELOW`) is reported as unrecognised, and a trace
with unrecognised turns is not valid.

It is deterministic, free and offline. It measures procedure adherence, not language
quality; scores derived from it (`offline_scores`) are labelled offline wherever shown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np
from pydantic import BaseModel, Field
from scipy.sparse import hstack

if TYPE_CHECKING:   # scikit-learn loads when a judge is fitted: reading verdicts needs none of it
    from scipy.sparse import csr_matrix
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

from harness.procedure import Procedure, Role, loop_edges, to_digraph
from harness.transcript import Conversation, Turn

OFF_CHART_PENALTY = 3.0       # log-prob cost of a step with no flowchart edge
NEAR_DUPLICATE = 0.8           # word-set Jaccard at which an agent turn repeats an earlier one
# Cosine to the nearest training agent turn below which an agent turn is unrecognised. Low on
# purpose: held-out synthetic turns score >= 0.66 and the base model's own wordy phrasing
# >= 0.14 on travel; empty turns and gibberish score 0.
UNRECOGNISED_BELOW = 0.1


class TraceVerdict(BaseModel):
    nodes: list[str]                                 # decoded node per turn (a chain's last step)
    confidence: list[float]                          # classifier probability of that node
    valid: bool                                      # every step follows an edge, every turn recognised
    off_chart_steps: list[tuple[int, str, str]]      # (turn index, from, to) without an edge
    unrecognised_turns: list[int] = []               # agent turns unlike any the procedure has
    skipped_nodes: list[str]                         # nodes an off-chart step jumped over
    terminal: str | None                             # last node, if it is a terminal
    terminal_kind: str | None
    expected_terminal: str | None
    terminal_fits: bool | None                       # reached the terminal the scenario intends
    repeated_questions: list[int]                    # agent turn indices repeating an earlier one
    node_visits: dict[str, int]
    node_passes: dict[str, int]                      # visits entered by an on-chart step
    edge_visits: dict[str, int]                      # "a->b" for on-chart steps taken
    # Decoded steps per turn: one node, or every step of a chain of agent steps.
    steps: list[list[str]] = Field(default_factory=list)


CHAIN = ">"                     # joins a chain's steps into one class label (not an id character)


def _steps(label: str) -> list[str]:
    return label.split(CHAIN)


def _is_tool_turn(turn: Turn) -> bool:
    """An agent's tool call or a tool's result: placed by the call, not by its words."""
    return turn.tool_call is not None


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


class TraceJudge:
    """Fit once per procedure on synthetic conversations; then judge any transcript."""

    def __init__(self, procedure: Procedure, current: TfidfVectorizer, previous: TfidfVectorizer,
                 classifier: LogisticRegression, agent_turns: csr_matrix) -> None:
        self.procedure = procedure
        self._current, self._previous, self._clf = current, previous, classifier
        self._agent_turns = agent_turns          # L2-normalised TF-IDF rows of the training agent turns
        self._classes = len(classifier.classes_)
        # Tool steps are placed by the call they make, not by words: they are not the
        # classifier's classes, and come after them.
        self._labels: list[str] = list(classifier.classes_) + [
            nid for nid, node in procedure.nodes.items() if node.role is Role.TOOL and nid not in classifier.classes_]
        self._graph = to_digraph(procedure)
        self._loops = set(loop_edges(procedure))

    # ---- training -------------------------------------------------------------------

    @classmethod
    def fit(cls, procedure: Procedure, conversations: Sequence[Conversation], seed: int = 0) -> TraceJudge:
        texts, prev, labels = [], [], []
        for conv in conversations:
            for i, turn in enumerate(conv.turns):
                if turn.node is None:
                    raise ValueError(f"conversation {conv.id} turn {i} has no node label")
                if _is_tool_turn(turn):
                    continue
                texts.append(turn.text)
                prev.append(conv.turns[i - 1].text if i else "")
                labels.append(CHAIN.join(turn.steps))   # a chain of agent steps is one class
        if len(set(labels)) < 2:
            raise ValueError("the trace judge needs labelled turns of at least two nodes to learn from")
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        current = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
        previous = TfidfVectorizer(ngram_range=(1, 1), sublinear_tf=True, min_df=1)
        features = hstack([current.fit_transform(texts), 0.5 * previous.fit_transform(prev)]).tocsr()
        clf = LogisticRegression(C=20.0, max_iter=2000, random_state=seed)
        clf.fit(features, labels)
        agent = [t for conv in conversations for t in conv.turns if t.speaker == "agent" and t.tool_call is None]
        return cls(procedure, current, previous, clf, current.transform([t.text for t in agent]).tocsr())

    def recognition(self, turns: Sequence[Turn]) -> list[float | None]:
        """Per turn: cosine of an agent turn to its nearest training agent turn (None for users)."""
        agent = [i for i, t in enumerate(turns) if t.speaker == "agent" and t.tool_call is None]
        out: list[float | None] = [None] * len(turns)
        if agent and self._agent_turns.shape[0]:
            sims = self._current.transform([turns[i].text for i in agent]) @ self._agent_turns.T
            for i, best in zip(agent, sims.max(axis=1).toarray().ravel(), strict=True):
                out[i] = float(best)
        return out

    # ---- decoding -------------------------------------------------------------------

    def node_log_probs(self, turns: Sequence[Turn]) -> np.ndarray:
        """log P(node | turn), shape (turns, nodes in `self.labels`), masked to the speaker's role."""
        texts = [t.text for t in turns]
        prev = [turns[i - 1].text if i else "" for i in range(len(turns))]
        feats = hstack([self._current.transform(texts), 0.5 * self._previous.transform(prev)]).tocsr()
        logp = np.full((len(turns), len(self._labels)), -np.inf)
        if turns:
            logp[:, :self._classes] = self._clf.predict_log_proba(feats)
        roles = np.array([self.procedure.nodes[_steps(n)[0]].role.value for n in self._labels])
        tools = np.array([self.procedure.nodes[_steps(n)[0]].tool or "" for n in self._labels])
        for i, turn in enumerate(turns):
            if _is_tool_turn(turn):    # a call is placed at the tool steps that call that tool
                called = turn.tool_call.name if turn.tool_call else ""
                fits = (roles == Role.TOOL.value) & (tools == called)
                fits = fits if fits.any() else roles == Role.TOOL.value
                logp[i] = np.where(fits, -np.log(max(int(fits.sum()), 1)), -np.inf)
                continue
            want = Role.AGENT.value if turn.speaker == "agent" else Role.USER.value
            mask = roles != want
            logp[i, mask] = -np.inf
            finite = logp[i, ~mask]
            if finite.size:  # renormalise over the speaker's nodes
                logp[i, ~mask] = finite - np.logaddexp.reduce(finite)
        return logp

    def decode(self, turns: Sequence[Turn]) -> tuple[list[str], list[float]]:
        """The most likely node sequence, preferring flowchart edges (Viterbi); one label per
        turn, a chain's steps joined by `CHAIN` (see `decode_steps`)."""
        if not turns:
            return [], []
        # A tool's result turn belongs to the call before it: decode without it, then copy.
        units = [i for i, t in enumerate(turns) if not (t.speaker == "tool" and i and _is_tool_turn(turns[i - 1]))]
        if len(units) < len(turns):
            nodes_u, conf_u = self.decode([turns[i] for i in units])
            by_unit = dict(zip(units, zip(nodes_u, conf_u, strict=True), strict=True))
            out, last = [], ("", 0.0)
            for i in range(len(turns)):
                last = by_unit.get(i, last)
                out.append(last)
            return [n for n, _ in out], [c for _, c in out]
        emit = self.node_log_probs(turns)
        labels = self._labels
        k = len(labels)
        first = [_steps(n)[0] for n in labels]
        last = [_steps(n)[-1] for n in labels]
        trans = np.array([[0.0 if self._graph.has_edge(last[i], first[j]) else -OFF_CHART_PENALTY
                           for j in range(k)] for i in range(k)])
        start = np.array([0.0 if f == self.procedure.start else -OFF_CHART_PENALTY for f in first])
        score = start + emit[0]
        back = np.zeros((len(turns), k), dtype=int)
        for t in range(1, len(turns)):
            cand = score[:, None] + trans           # from i to j
            back[t] = np.argmax(cand, axis=0)
            score = cand[back[t], np.arange(k)] + emit[t]
        best = [int(np.argmax(score))]
        for t in range(len(turns) - 1, 0, -1):
            best.append(int(back[t, best[-1]]))
        best.reverse()
        nodes = [labels[i] for i in best]
        conf = [float(np.exp(emit[t, i])) for t, i in enumerate(best)]
        return nodes, conf

    # ---- verdict --------------------------------------------------------------------

    def decode_steps(self, turns: Sequence[Turn]) -> tuple[list[list[str]], list[float]]:
        """Per turn, the decoded steps: one node, or every step of a chain."""
        labels, conf = self.decode(turns)
        return [_steps(label) for label in labels], conf

    def judge(self, turns: Sequence[Turn], intended_path: Sequence[str] | None = None) -> TraceVerdict:
        steps, conf = self.decode_steps(turns)
        nodes = [s[-1] for s in steps]           # where each turn ends up
        g = self._graph
        off: list[tuple[int, str, str]] = []
        skipped: list[str] = []
        visits: dict[str, int] = {}
        passes: dict[str, int] = {}
        edges: dict[str, int] = {}
        for i, chain in enumerate(steps):
            if turns[i].speaker == "tool" and i and _is_tool_turn(turns[i - 1]):
                continue                     # the tool's result: part of the call before it
            node = chain[0]
            on_chart = node == self.procedure.start if i == 0 else g.has_edge(nodes[i - 1], node)
            for k, step in enumerate(chain):  # a chain's inner edges are the flowchart's own
                visits[step] = visits.get(step, 0) + 1
                if on_chart:
                    passes[step] = passes.get(step, 0) + 1
                    frm = chain[k - 1] if k else (nodes[i - 1] if i else None)
                    if frm is not None:
                        key = f"{frm}->{step}"
                        edges[key] = edges.get(key, 0) + 1
            if not on_chart:
                frm = nodes[i - 1] if i else "(start)"
                off.append((i, frm, node))
                src = nodes[i - 1] if i else self.procedure.start
                if nx.has_path(g, src, node):
                    between = nx.shortest_path(g, src, node)[1:-1]
                    skipped.extend(n for n in between if n not in skipped and n not in nodes[: i + 1])
        last = nodes[-1] if nodes else None
        terminals = self.procedure.terminals()
        terminal = last if last in terminals else None
        expected = intended_path[-1] if intended_path else None
        # A near-duplicate agent turn is a repeat unless the walk took a loop edge in
        # between (the flowchart itself sends the agent back to ask again).
        flat = [(i, step) for i, chain in enumerate(steps) for step in chain]
        loop_steps = [flat[k][0] for k in range(1, len(flat)) if (flat[k - 1][1], flat[k][1]) in self._loops]
        repeated = []
        agent_words = [(i, _words(t.text)) for i, t in enumerate(turns) if t.speaker == "agent" and t.tool_call is None]
        for j, (i, words) in enumerate(agent_words):
            for e, earlier in agent_words[:j]:
                union = words | earlier
                looped = any(e < k <= i for k in loop_steps)
                if union and len(words & earlier) / len(union) >= NEAR_DUPLICATE and not looped:
                    repeated.append(i)
                    break
        unrecognised = [i for i, sim in enumerate(self.recognition(turns))
                        if sim is not None and sim < UNRECOGNISED_BELOW]
        return TraceVerdict(
            nodes=nodes, confidence=[round(c, 6) for c in conf], valid=not off and not unrecognised,
            off_chart_steps=off, unrecognised_turns=unrecognised,
            skipped_nodes=skipped, terminal=terminal,
            terminal_kind=terminals[terminal].value if terminal else None,
            expected_terminal=expected, terminal_fits=(terminal == expected) if expected else None,
            repeated_questions=repeated, node_visits=visits, node_passes=passes, edge_visits=edges,
            steps=steps)
