"""DBOS's command-line options (see :mod:`durable_chaos.infra.engines.command_line`)."""

from durable_chaos.infra.engines.command_line import CommandLineOption

OPTIONS = [
    CommandLineOption(
        "--chaos-dbos-url",
        "DURABLE_CHAOS_DBOS_DATABASE_URL",
        "URL",
        "run DBOS trials on this PostgreSQL server (one database per trial); "
        "also DURABLE_CHAOS_DBOS_DATABASE_URL",
    )
]
