"""Orchestration that steps and commands share: persist, change, rollback, drift, alert.

An engine takes typed options and returns a typed result. It never parses arguments and
never prints: a step (or a command) builds the options from its arguments, calls the
engine and turns the result into outputs, a summary or terminal text.
"""
