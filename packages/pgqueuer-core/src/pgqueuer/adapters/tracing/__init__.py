"""Tracing adapters: ``opentelemetry`` (extra ``tracing``), ``logfire``, ``sentry``.

Each imports its SDK when it is constructed and degrades to a no-op when the SDK is missing.
"""
