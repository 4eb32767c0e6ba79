"""A toy procedure's conversations (pet grooming booking) for the dataset and trainer tests.

The real generator produces the same `Conversation` objects; this one is a few fixed agent and
customer lines with variables, so a tiny model can learn it in seconds.
"""

from __future__ import annotations

import random

import pytest

from harness.transcript import Conversation, Turn

SYSTEM_PROMPT = "You are a helpful pet grooming assistant."
GREETINGS = [
    "Hi, welcome to Paws and Suds! Which pet are we pampering today?",
    "Hello and welcome to Paws and Suds! Who is coming in for grooming?",
]
PETS = ["Biscuit", "Luna", "Mochi", "Pepper", "Ziggy", "Olive"]
ANIMALS = ["dog", "cat", "rabbit"]
SERVICES = {"bath": 30, "haircut": 45, "nail trim": 15}
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


def toy_conversation(index: int, seed: int = 0) -> Conversation:
    rng = random.Random(f"{seed}:{index}")
    pet, animal, day = rng.choice(PETS), rng.choice(ANIMALS), rng.choice(DAYS)
    service = rng.choice(sorted(SERVICES))
    turns = [
        Turn(speaker="agent", node="greet", text=rng.choice(GREETINGS)),
        Turn(speaker="user", node="ask", text=f"This is {pet}, my {animal}. I would like a {service}."),
        Turn(speaker="agent", node="ask_day", text=f"Lovely, a {service} for {pet}. Which day suits you?"),
    ]
    path = ["greet", "ask", "ask_day"]
    if rng.random() < 0.5:
        turns += [
            Turn(speaker="user", node="price", text="How much does that cost?"),
            Turn(speaker="agent", node="quote", text=f"A {service} is {SERVICES[service]} dollars. Which day suits you?"),
        ]
        path += ["price", "quote"]
    turns += [
        Turn(speaker="user", node="day", text=f"{day} would be great."),
        Turn(speaker="agent", node="confirm", text=f"Done! {pet} is booked for a {service} on {day}. See you then!"),
    ]
    path += ["day", "confirm"]
    return Conversation(id=f"toy-s{seed}-{index:04d}", procedure="toy_grooming", scenario_index=index, seed=seed,
                        path=path, variables={"pet": pet, "animal": animal, "service": service, "day": day},
                        persona={}, turns=turns)


@pytest.fixture(scope="session")
def toy_train() -> list[Conversation]:
    return [toy_conversation(i) for i in range(48)]


@pytest.fixture(scope="session")
def toy_eval() -> list[Conversation]:
    return [toy_conversation(i, seed=1) for i in range(12)]


@pytest.fixture(scope="session")
def system_prompt() -> str:
    return SYSTEM_PROMPT


MICRO_MODEL = {"vocab_size": 384, "hidden_size": 64, "intermediate_size": 128, "num_layers": 2,
               "num_heads": 2, "num_kv_heads": 1, "max_position_embeddings": 512}


@pytest.fixture
def micro_recipe():
    """The tiny-cpu recipe shrunk to train on the toy data in a few seconds."""
    from compile.recipe import load_recipe

    def make(**overrides):
        base = {"model.scratch": MICRO_MODEL, "max_seq_len": 512, "lr": 1e-2, "per_device_batch": 4,
                "epochs": 10, "early_stopping_patience": None}
        return load_recipe("tiny-cpu", {**base, **overrides})

    return make
