"""Temporal's command-line options (see :mod:`durable_chaos.infra.engines.command_line`)."""

from durable_chaos.infra.engines.command_line import CommandLineOption

OPTIONS = [
    CommandLineOption(
        "--chaos-temporal-namespace",
        "DURABLE_CHAOS_TEMPORAL_NAMESPACE",
        "NAMESPACE",
        "namespace on the Temporal server TEMPORAL_ADDRESS names (default: default); "
        "also DURABLE_CHAOS_TEMPORAL_NAMESPACE",
    )
]
