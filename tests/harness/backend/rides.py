"""A team's own tool logic (`python: module:function`), as the backend tests use it."""

from __future__ import annotations

from typing import Any


def book(state: dict[str, list[dict[str, Any]]], arguments: dict[str, Any]) -> dict[str, Any]:
    """Book when a free driver serves the address; raise on an address named 'CRASH'."""
    if arguments["address"] == "CRASH":
        raise RuntimeError("driver service is down")
    drivers = [d for d in state["drivers"] if d["zone"] == arguments["address"] and d["free"] == "yes"]
    if not drivers:
        return {"result": "unavailable"}
    drivers[0]["free"] = "no"
    state["rides"].append({"to": arguments["address"], "seats": arguments["seats"]})
    return {"result": "booked", "ride": len(state["rides"])}


def arrange(state: dict[str, list[dict[str, Any]]], arguments: dict[str, Any], result: str) -> None:
    """Make `book` come to `result` for these arguments."""
    for driver in state["drivers"]:
        if driver["zone"] == arguments["address"]:
            driver["free"] = "yes" if result == "booked" else "no"


def slow(state: dict[str, list[dict[str, Any]]], arguments: dict[str, Any]) -> dict[str, Any]:
    import time

    time.sleep(2)
    return {"result": "booked"}
