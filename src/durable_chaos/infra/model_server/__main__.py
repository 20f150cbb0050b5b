"""``python -m durable_chaos.infra.model_server``: see :mod:`durable_chaos.infra.model_server.cli`."""

import sys

from durable_chaos.infra.model_server.cli import main

sys.exit(main())
